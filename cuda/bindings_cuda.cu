// bigcore._cuda: the CUDA backend module, loaded only when present and usable.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "device.cuh"

PYBIND11_MODULE(_cuda, m) {
  m.def("device_count", &bc::cuda::device_count);
  m.def("device_name", &bc::cuda::device_name);
}

// Run-time settings: threads, the CPU paths of the kernel families, what the CPU and BLAS are.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings/bindings.h"
#include "isa/isa.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "kernels/quant/quant.h"

namespace py = pybind11;

void bind_config(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads expects n >= 1, got " + std::to_string(n));
    bc::set_num_threads(n);
  }, py::arg("n"));
  m.def("get_num_threads", &bc::get_num_threads);
  m.def("cpu_features", &bc::isa::feature_names);
  m.def("best_isa", &bc::best_isa);
  m.def("set_isa", &bc::set_isa, py::arg("name"));
  m.def("current_isa", [] { return std::string(bc::kernels().name); });
  m.def("blas_info", [] { return std::string(bc::blas_info()); });
  m.def("quant_isa", &bc::quant_isa);
  m.def("quant_best_isa", &bc::quant_best_isa);
  m.def("quant_isa_supported", &bc::quant_isa_supported, py::arg("name"));
  m.def("quant_set_isa", &bc::quant_set_isa, py::arg("name"));
}

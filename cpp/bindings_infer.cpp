// Bindings of the serving path's kernels (cpp/isa_small_gemm_impl.h), for tests and benchmarks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "common.h"
#include "cpu.h"

namespace py = pybind11;

namespace {

using F32 = py::array_t<float, py::array::c_style>;

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// A 2-D C-contiguous float32 array, never converted (a silent copy would lose the writes to y).
const py::array& f32_2d(const py::array& a, const char* what) {
  if (!py::isinstance<F32>(a) || !(a.flags() & py::array::c_style) || a.ndim() != 2)
    throw py::value_error(std::string(what) + " must be a 2-D C-contiguous float32 array, got dtype " +
                          py::str(a.dtype()).cast<std::string>() + " and shape " + shape_of(a));
  return a;
}

}  // namespace

void bind_infer(py::module_& m) {
  // y (M,N) (+)= x (M,K) @ W (K,N) through the current ISA's small-M kernel, whatever M is.
  m.def("small_gemm", [](const py::array& x, const py::array& W, py::array& y, bool accumulate) {
    f32_2d(x, "x");
    f32_2d(W, "W");
    f32_2d(y, "y");
    if (!y.writeable()) throw py::value_error("y must be writeable");
    if (x.shape(1) != W.shape(0) || y.shape(0) != x.shape(0) || y.shape(1) != W.shape(1))
      throw py::value_error("small_gemm shapes do not match: x " + shape_of(x) + ", W " + shape_of(W) +
                            ", y " + shape_of(y));
    const int M = static_cast<int>(x.shape(0)), K = static_cast<int>(x.shape(1)), N = static_cast<int>(W.shape(1));
    const float* xp = static_cast<const float*>(x.data());
    const float* wp = static_cast<const float*>(W.data());
    float* yp = static_cast<float*>(y.mutable_data());
    py::gil_scoped_release release;
    bc::FlushDenormals ftz;  // as in the native steps
    bc::kernels().small_gemm(yp, N, xp, K, wp, N, M, N, K, accumulate);
  }, py::arg("x"), py::arg("W"), py::arg("y"), py::arg("accumulate") = false);
}

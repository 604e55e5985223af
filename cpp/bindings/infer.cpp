// Bindings of the serving path's kernels (kernels/float/small_gemm.h), for tests and benchmarks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "core/common.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"

namespace py = pybind11;
using arrays::shape_str;

namespace {
// x (M,K), W (K,N), y (M,N) of a product binding, checked: float32, 2-D, the shapes agreeing.
struct Product {
  const float *x, *W;
  float* y;
  int M, K, N;
};

Product checked_product(const char* name, const py::array& x, const py::array& W, py::array& y) {
  Product p{arrays::checked<float>(x, "x", 2), arrays::checked<float>(W, "W", 2), arrays::writeable<float>(y, "y", 2),
            0, 0, 0};
  if (x.shape(1) != W.shape(0) || y.shape(0) != x.shape(0) || y.shape(1) != W.shape(1))
    throw py::value_error(std::string(name) + " shapes do not match: x " + shape_str(x) + ", W " + shape_str(W) +
                          ", y " + shape_str(y));
  p.M = arrays::dim(x, 0);
  p.K = arrays::dim(x, 1);
  p.N = arrays::dim(W, 1);
  return p;
}
}  // namespace

void bind_infer(py::module_& m) {
  // y (M,N) (+)= x (M,K) @ W (K,N) through the current ISA's small-M kernel, whatever M is.
  m.def("small_gemm", [](const py::array& x, const py::array& W, py::array& y, bool accumulate) {
    const Product p = checked_product("small_gemm", x, W, y);
    py::gil_scoped_release release;
    bc::FlushDenormals ftz;  // as in the native steps
    bc::kernels().small_gemm(p.y, p.N, p.x, p.K, p.W, p.N, p.M, p.N, p.K, accumulate);
  }, py::arg("x"), py::arg("W"), py::arg("y"), py::arg("accumulate") = false);
  // The same product with W packed once (the recurrent layers' per-call packing), threaded as gemm.
  m.def("packed_gemm", [](const py::array& x, const py::array& W, py::array& y, bool accumulate) {
    const Product p = checked_product("packed_gemm", x, W, y);
    py::gil_scoped_release release;
    bc::FlushDenormals ftz;
    bc::PackedGemmWeights pw;
    if (!pw.pack(p.W, p.N, p.K, p.N)) throw std::runtime_error("packed_gemm: the own GEMM is not in use on this CPU");
    bc::gemm_packed(p.M, p.x, p.K, pw, accumulate, p.y, p.N);
  }, py::arg("x"), py::arg("W"), py::arg("y"), py::arg("accumulate") = false);
}

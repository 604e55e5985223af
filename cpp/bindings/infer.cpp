// Bindings of the serving path's kernels (kernels/float/small_gemm.h), for tests and benchmarks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "core/common.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"

namespace py = pybind11;
using arrays::shape_str;

void bind_infer(py::module_& m) {
  // y (M,N) (+)= x (M,K) @ W (K,N) through the current ISA's small-M kernel, whatever M is.
  m.def("small_gemm", [](const py::array& x, const py::array& W, py::array& y, bool accumulate) {
    const float* xp = arrays::checked<float>(x, "x", 2);
    const float* wp = arrays::checked<float>(W, "W", 2);
    float* yp = arrays::writeable<float>(y, "y", 2);
    if (x.shape(1) != W.shape(0) || y.shape(0) != x.shape(0) || y.shape(1) != W.shape(1))
      throw py::value_error("small_gemm shapes do not match: x " + shape_str(x) + ", W " + shape_str(W) +
                            ", y " + shape_str(y));
    const int M = arrays::dim(x, 0), K = arrays::dim(x, 1), N = arrays::dim(W, 1);
    py::gil_scoped_release release;
    bc::FlushDenormals ftz;  // as in the native steps
    bc::kernels().small_gemm(yp, N, xp, K, wp, N, M, N, K, accumulate);
  }, py::arg("x"), py::arg("W"), py::arg("y"), py::arg("accumulate") = false);
  // The same product with W packed once (the recurrent layers' per-call packing), threaded as gemm.
  m.def("packed_gemm", [](const py::array& x, const py::array& W, py::array& y, bool accumulate) {
    const float* xp = arrays::checked<float>(x, "x", 2);
    const float* wp = arrays::checked<float>(W, "W", 2);
    float* yp = arrays::writeable<float>(y, "y", 2);
    if (x.shape(1) != W.shape(0) || y.shape(0) != x.shape(0) || y.shape(1) != W.shape(1))
      throw py::value_error("packed_gemm shapes do not match: x " + shape_str(x) + ", W " + shape_str(W) +
                            ", y " + shape_str(y));
    const int M = arrays::dim(x, 0), K = arrays::dim(x, 1), N = arrays::dim(W, 1);
    py::gil_scoped_release release;
    bc::FlushDenormals ftz;
    bc::PackedGemmWeights pw;
    if (!pw.pack(wp, N, K, N)) throw std::runtime_error("packed_gemm: the own GEMM is not in use on this CPU");
    bc::gemm_packed(M, xp, K, pw, accumulate, yp, N);
  }, py::arg("x"), py::arg("W"), py::arg("y"), py::arg("accumulate") = false);
}

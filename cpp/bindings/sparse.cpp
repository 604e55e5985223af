// Python bindings of the sparse Dense kernels (kernels/sparse) and their native ops
// (ops/sparse_dense.h): buffers checked (dtype, contiguity, shape), plain C++ called with the GIL
// released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "kernels/sparse/sparse.h"
#include "ops/sparse_dense.h"
#include "runtime/program.h"

namespace py = pybind11;
using arrays::dim;

namespace {

template <class L>
const float* input_of(const L& s, const py::array& x) {
  const float* p = arrays::checked<float>(x, "x", 2);
  if (dim(x, 1) != s.K())
    throw py::value_error("x must have shape (M, " + std::to_string(s.K()) + "), got " + arrays::shape_str(x));
  return p;
}

}  // namespace

void bind_sparse(py::module_& m) {
  py::class_<bc::SparseLinear>(m, "SparseLinear")
      .def(py::init([](const py::array& W) {
             const float* w = arrays::checked<float>(W, "W", 2);
             py::gil_scoped_release release;
             return bc::SparseLinear(w, dim(W, 0), dim(W, 1));
           }), py::arg("W"), "Compresses W (K, N) float32 (its zeros dropped) into the SELL-16 layout.")
      .def_property_readonly("K", &bc::SparseLinear::K)
      .def_property_readonly("N", &bc::SparseLinear::N)
      .def_property_readonly("nnz", &bc::SparseLinear::nnz)
      .def_property_readonly("bytes", &bc::SparseLinear::bytes)
      .def("to_dense", [](const bc::SparseLinear& s) {
        py::array_t<float> W({s.K(), s.N()});
        s.to_dense(W.mutable_data());
        return W;
      })
      .def("forward", [](const bc::SparseLinear& s, const py::array& x, const py::object& bias, int act) {
        const float* xp = input_of(s, x);
        const float* b = arrays::optional_vector(bias, "bias", s.N());
        py::array_t<float> y({dim(x, 0), s.N()});
        float* yp = y.mutable_data();
        py::gil_scoped_release release;
        s.forward(yp, xp, b, dim(x, 0), act);
        return y;
      }, py::arg("x"), py::arg("bias") = py::none(), py::arg("act") = 0, "y (M, N) = act(x @ W + bias).");

  py::class_<bc::QSparseLinear>(m, "QSparseLinear")
      .def(py::init([](const py::array& wq, const py::array& scale) {
             const int8_t* w = arrays::checked<int8_t>(wq, "wq", 2);
             const float* s = arrays::shaped<float>(scale, "scale", {wq.shape(1)});
             py::gil_scoped_release release;
             return bc::QSparseLinear(w, s, dim(wq, 0), dim(wq, 1));
           }), py::arg("wq"), py::arg("scale"),
           "Compresses int8 weights wq (K, N) in [-127, 127] with per-column scales (N,).")
      .def_property_readonly("K", &bc::QSparseLinear::K)
      .def_property_readonly("N", &bc::QSparseLinear::N)
      .def_property_readonly("nnz", &bc::QSparseLinear::nnz)
      .def_property_readonly("bytes", &bc::QSparseLinear::bytes)
      .def("to_dense", [](const bc::QSparseLinear& s) {
        py::array_t<int8_t> W({s.K(), s.N()});
        s.to_dense(W.mutable_data());
        return W;
      })
      .def("scales", [](const bc::QSparseLinear& s) {
        py::array_t<float> out(s.N());
        std::copy(s.scales(), s.scales() + s.N(), out.mutable_data());
        return out;
      })
      .def("forward", [](const bc::QSparseLinear& s, const py::array& x, const py::object& bias, int act,
                         float x_scale) {
        const float* xp = input_of(s, x);
        const float* b = arrays::optional_vector(bias, "bias", s.N());
        py::array_t<float> y({dim(x, 0), s.N()});
        float* yp = y.mutable_data();
        py::gil_scoped_release release;
        s.forward(yp, xp, b, dim(x, 0), act, x_scale);
        return y;
      }, py::arg("x"), py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("x_scale") = 0.0f,
         "y (M, N) = act(int8 x @ W_q * scales + bias), bit-equal to QLinear.forward.");

  // Ops of the native program (free functions: program.cpp binds the Program class).
  m.def("add_sparse_dense", [](bc::Program& p, int in, int out, const py::array& W, long b, int act) {
    const float* w = arrays::checked<float>(W, "add_sparse_dense: W", 2);
    p.add_op(std::make_unique<bc::SparseDenseOp>(in, out, w, b, dim(W, 0), dim(W, 1), act));
  }, py::arg("program"), py::arg("x"), py::arg("out"), py::arg("W"), py::arg("b"), py::arg("act"));
  m.def("add_qsparse_dense", [](bc::Program& p, int in, int out, const py::array& wq, const py::array& scale, long b,
                                int act, float x_scale) {
    const int8_t* w = arrays::checked<int8_t>(wq, "add_qsparse_dense: wq", 2);
    const float* s = arrays::shaped<float>(scale, "scale", {wq.shape(1)});
    p.add_op(std::make_unique<bc::QSparseDenseOp>(in, out, w, s, b, dim(wq, 0), dim(wq, 1), act, x_scale));
  }, py::arg("program"), py::arg("x"), py::arg("out"), py::arg("wq"), py::arg("scale"), py::arg("b"),
     py::arg("act"), py::arg("x_scale"));
}

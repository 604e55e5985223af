// Kernels on numpy arrays: the random fills and the loss value the Python layers use, one entry
// point per float kernel for tests and benchmarks (the table in use runs it), and the int8 QLinear.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "bindings/metric_params.h"
#include "core/finite.h"
#include "core/rng.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "kernels/loss/loss.h"
#include "kernels/quant/quant.h"

namespace py = pybind11;
using arrays::dim;
using arrays::shape_str;

namespace {

void bind_random(py::module_& m) {
  m.def("fill_uniform", [](py::array out, uint64_t seed, uint64_t stream, float low, float high) {
    float* p = arrays::writeable<float>(out, "out");
    bc::fill_uniform(p, out.size(), bc::rng_key(seed, stream, 0), low, high);
  }, py::arg("out"), py::arg("seed"), py::arg("stream"), py::arg("low"), py::arg("high"));
  m.def("fill_normal", [](py::array out, uint64_t seed, uint64_t stream, float mean, float stddev,
                          bool truncated) {
    float* p = arrays::writeable<float>(out, "out");
    bc::fill_normal(p, out.size(), bc::rng_key(seed, stream, 0), mean, stddev, truncated);
  }, py::arg("out"), py::arg("seed"), py::arg("stream"), py::arg("mean"), py::arg("stddev"), py::arg("truncated"));
  m.def("fill_orthogonal", [](py::array out, uint64_t seed, uint64_t stream, float gain) {
    float* p = arrays::writeable<float>(out, "out", 2);
    bc::fill_orthogonal(p, dim(out, 0), dim(out, 1), bc::rng_key(seed, stream, 0), gain);
  }, py::arg("out"), py::arg("seed"), py::arg("stream"), py::arg("gain"));
  m.def("rng_key", [](uint64_t seed, uint64_t a, uint64_t b) { return bc::rng_key(seed, a, b); },
        py::arg("seed"), py::arg("a"), py::arg("b"), "The stream key of (seed, a, b), as the ops derive it.");
  m.def("permutation", [](size_t n, uint64_t seed, uint64_t stream, uint64_t epoch) {
    py::array_t<int64_t> out(static_cast<py::ssize_t>(n));
    bc::permutation(out.mutable_data(), n, bc::rng_key(seed, stream, epoch));
    return out;
  }, py::arg("n"), py::arg("seed"), py::arg("stream"), py::arg("epoch"));
}

void bind_float(py::module_& m) {
  // The batch loss of one loss kind on numpy arrays (losses.Loss.__call__), Keras-reduced.
  m.def("loss_value", [](py::array pred, py::array target, py::object sw, int kind, int C, bool from_logits,
                         float label_smoothing, py::object param) {
    size_t rows, trows;
    const float* p = arrays::samples(pred, "y_pred", &rows, static_cast<size_t>(C));
    const float* t = arrays::samples(target, "y_true", &trows);
    size_t want = kind == bc::LOSS_SPARSE_CCE ? 1 : static_cast<size_t>(C);
    if (trows != rows || static_cast<size_t>(target.size()) != rows * want)
      throw py::value_error("y_true has shape " + shape_str(target) + ", expected " + std::to_string(rows) +
                            " rows of " + std::to_string(want));
    const float* w = nullptr;
    if (!sw.is_none()) {
      size_t wr;
      w = arrays::samples(arrays::as_array(sw, "sample_weight"), "sample_weight", &wr, 1);
      if (wr != rows) throw py::value_error("sample_weight needs one value per row");
    }
    std::vector<float> grad(rows * C);
    double s = bc::loss_forward_backward(grad.data(), p, t, w, static_cast<int>(rows), C, kind, from_logits, -1,
                                         label_smoothing, arrays::numbers(param, "param"), 1.0f);
    return rows ? s / rows : 0.0;
  }, py::arg("y_pred"), py::arg("y_true"), py::arg("sample_weight"), py::arg("kind"), py::arg("C"),
     py::arg("from_logits") = false, py::arg("label_smoothing") = 0.0f, py::arg("param") = py::float_(0.0));

  // One batch's counts of a metric on numpy arrays (metrics.Metric.update_state): the native
  // counter fit runs. params: as Program.set_metrics takes them.
  m.def("metric_counts", [](py::array pred, py::array target, py::object row_weight, int kind, int C,
                            float threshold, py::dict a) {
    size_t rows, trows;
    const float* p = arrays::samples(pred, "y_pred", &rows, static_cast<size_t>(C));
    const float* t = arrays::samples(target, "y_true", &trows);
    bc::MetricParams mp;
    mp.threshold = threshold;
    metric_params::read(a, mp);
    if (kind < bc::MET_SPARSE_CAT_ACC || kind >= bc::MET_VALUES)
      throw py::value_error("metric_counts: unknown metric kind " + std::to_string(kind));
    if (kind == bc::MET_CONFUSION && (mp.thresholds.empty() || (mp.evenly && mp.thresholds.size() < 2)))
      throw py::value_error("metric_counts: confusion counts need thresholds");
    if ((kind == bc::MET_TOP_K || kind == bc::MET_SPARSE_TOP_K) && mp.k < 1)
      throw py::value_error("metric_counts: top-k needs k >= 1");
    if (kind == bc::MET_LOSS && (mp.loss_kind < bc::LOSS_MSE || mp.loss_kind >= bc::LOSS_VALUES))
      throw py::value_error("metric_counts: a loss metric needs a known loss kind");
    const bool sparse = kind == bc::MET_SPARSE_CAT_ACC || kind == bc::MET_SPARSE_TOP_K ||
                        (kind == bc::MET_LOSS && mp.loss_kind == bc::LOSS_SPARSE_CCE);
    const size_t want = sparse ? 1 : static_cast<size_t>(C);
    if (trows != rows || static_cast<size_t>(target.size()) != rows * want)
      throw py::value_error("y_true has shape " + shape_str(target) + ", expected " + std::to_string(rows) +
                            " rows of " + std::to_string(want));
    if (mp.class_id >= C) throw py::value_error("class_id is out of range for y_pred's last axis");
    if (!mp.label_weights.empty() && mp.label_weights.size() != static_cast<size_t>(C))
      throw py::value_error("label_weights need one value per column of y_pred");
    const float* w = nullptr;
    if (!row_weight.is_none()) {
      size_t wr;
      w = arrays::samples(arrays::as_array(row_weight, "sample_weight"), "sample_weight", &wr, 1);
      if (wr != rows) throw py::value_error("sample_weight needs one value per row");
    }
    std::vector<double> out(bc::metric_width(kind, mp, C), 0.0);
    bc::metric_update(p, t, w, static_cast<int>(rows), C, kind, mp, out.data());
    return py::array_t<double>(static_cast<py::ssize_t>(out.size()), out.data());
  }, py::arg("y_pred"), py::arg("y_true"), py::arg("row_weight"), py::arg("kind"), py::arg("C"),
     py::arg("threshold") = 0.5f, py::arg("params") = py::dict());

  // Test and benchmark entry points: each runs one kernel of the table in use.
  m.def("bias_act_forward", [](py::array y, py::object b, int act) {
    float* yp = arrays::writeable<float>(y, "y");
    int N = static_cast<int>(y.ndim() == 2 ? y.shape(1) : y.size());
    if (!bc::act_valid(act)) throw py::value_error("unknown activation id " + std::to_string(act));
    if (y.size() == 0) return;  // nothing to do (and no division by an empty axis)
    const float* bp = nullptr;
    if (!b.is_none()) {
      py::array ba = arrays::as_array(b, "b");
      bp = arrays::checked<float>(ba, "b");
      if (ba.size() != N) throw py::value_error("bias must have N values");
    }
    bc::kernels().bias_act_forward(yp, bp, static_cast<int>(y.size() / N), N, act);
  }, py::arg("y"), py::arg("b"), py::arg("act"));
  m.def("act_needs_input", [](int act) {
    if (!bc::act_valid(act)) throw py::value_error("unknown activation id " + std::to_string(act));
    return bc::act_needs_input(act);
  }, py::arg("act"), "Whether act_backward takes the activation's input z (else its output y).");
  m.def("act_backward", [](py::array dy, py::array y, int act) {
    float* d = arrays::writeable<float>(dy, "dy");
    const float* yp = arrays::checked<float>(y, "y");
    if (dy.size() != y.size() || y.ndim() != 2) throw py::value_error("dy and y must be (B, N) alike");
    if (!bc::act_valid(act)) throw py::value_error("unknown activation id " + std::to_string(act));
    if (bc::act_needs_input(act)) bc::kernels().act_backward_z(d, yp, dim(y, 0), dim(y, 1), act);
    else bc::kernels().act_backward(d, yp, dim(y, 0), dim(y, 1), act);
  }, py::arg("dy"), py::arg("y"), py::arg("act"),
     "dy <- dL/dz in place; y: the activation's output, or its input z where act_needs_input(act).");
  m.def("dropout_forward", [](const py::array& x, float rate, uint64_t key, uint64_t first) {
    const float* xp = arrays::checked<float>(x, "x", 1);
    if (!(rate >= 0.0f && rate < 1.0f)) throw py::value_error("rate must be in [0, 1)");
    const size_t n = static_cast<size_t>(x.size());
    py::array_t<float> y(static_cast<py::ssize_t>(n));
    py::array_t<uint8_t> keep(static_cast<py::ssize_t>(n));
    bc::kernels().dropout_forward(y.mutable_data(), keep.mutable_data(), xp, n, rate, key, first);
    return py::make_tuple(y, keep);
  }, py::arg("x"), py::arg("rate"), py::arg("key"), py::arg("first"),
     "(y, keep): Dropout's forward of values first.. of stream key, on the path in use.");
  m.def("dropout_backward", [](py::array dx, const py::array& keep, const py::array& dy, float rate, bool accumulate) {
    float* d = arrays::writeable<float>(dx, "dx");
    const uint8_t* k = arrays::checked<uint8_t>(keep, "keep", 1);
    const float* g = arrays::checked<float>(dy, "dy", 1);
    if (dx.ndim() != 1 || dx.size() != dy.size() || keep.size() != dy.size())
      throw py::value_error("dx, keep and dy must be 1-D and of one length");
    if (!(rate >= 0.0f && rate < 1.0f)) throw py::value_error("rate must be in [0, 1)");
    bc::kernels().dropout_backward(d, k, g, static_cast<size_t>(dy.size()), rate, accumulate);
  }, py::arg("dx"), py::arg("keep"), py::arg("dy"), py::arg("rate"), py::arg("accumulate"),
     "dx (=|+=) keep ? dy / (1 - rate) : 0 in place, on the path in use.");
  m.def("first_nonfinite", [](const py::array& a) -> long {
    const float* x = arrays::checked<float>(a, "a");
    const size_t n = static_cast<size_t>(a.size());
    size_t i;
    {
      py::gil_scoped_release release;
      i = bc::first_nonfinite_parallel(x, n);
    }
    return i < n ? static_cast<long>(i) : -1L;
  }, py::arg("a"), "Flat index of the first NaN or inf in a float32 C-contiguous array, or -1 (on the team).");
  m.def("gemm", [](bool ta, bool tb, py::array A, py::array B, py::array C, float alpha, float beta) {
    if (A.ndim() != 2 || B.ndim() != 2 || C.ndim() != 2) throw py::value_error("gemm takes 2-D arrays");
    const float* a = arrays::checked<float>(A, "A");
    const float* b = arrays::checked<float>(B, "B");
    float* c = arrays::writeable<float>(C, "C");
    int M = dim(A, ta ? 1 : 0), K = dim(A, ta ? 0 : 1);
    int K2 = dim(B, tb ? 1 : 0), N = dim(B, tb ? 0 : 1);
    if (K != K2 || C.shape(0) != M || C.shape(1) != N) throw py::value_error("gemm shapes do not match");
    py::gil_scoped_release release;
    bc::gemm(ta, tb, M, N, K, alpha, a, dim(A, 1), b, dim(B, 1), beta, c, N);
  }, py::arg("trans_a"), py::arg("trans_b"), py::arg("A"), py::arg("B"), py::arg("C"), py::arg("alpha"),
     py::arg("beta"));
}

// int8 kernels (kernels/quant), for tests, benchmarks and the quantized runtime.
void bind_quant(py::module_& m) {
  py::class_<bc::QLinear>(m, "QLinear")
      .def(py::init([](const py::array& W) {
             const float* w = arrays::checked<float>(W, "W", 2);
             py::gil_scoped_release release;
             return bc::QLinear(w, dim(W, 0), dim(W, 1));
           }), py::arg("W"), "Quantizes W (K, N) float32 per output column and packs it.")
      .def_static("from_int8", [](const py::array& wq, const py::array& scale) {
             const int8_t* w = arrays::checked<int8_t>(wq, "wq", 2);
             const float* s = arrays::shaped<float>(scale, "scale", {wq.shape(1)});
             return bc::QLinear(w, s, dim(wq, 0), dim(wq, 1));
           }, py::arg("wq"), py::arg("scale"), "Packs already-quantized weights wq (K, N) in [-127, 127].")
      .def_property_readonly("K", &bc::QLinear::K)
      .def_property_readonly("N", &bc::QLinear::N)
      .def_property_readonly("packed_bytes", &bc::QLinear::packed_bytes)
      .def("scales", [](const bc::QLinear& q) {
        py::array_t<float> out(q.N());
        std::copy(q.scales(), q.scales() + q.N(), out.mutable_data());
        return out;
      })
      .def("weights_q", [](const bc::QLinear& q) {
        py::array_t<int8_t> out({q.K(), q.N()});
        q.unpack(out.mutable_data());
        return out;
      })
      .def("acc", [](const bc::QLinear& q, const py::array& xq) {
        const int8_t* x = arrays::checked<int8_t>(xq, "xq", 2);
        if (dim(xq, 1) != q.K())
          throw py::value_error("xq must have shape (M, " + std::to_string(q.K()) + "), got " + shape_str(xq));
        py::array_t<int32_t> out({dim(xq, 0), q.N()});
        int32_t* o = out.mutable_data();
        py::gil_scoped_release release;
        q.acc(o, x, dim(xq, 0));
        return out;
      }, py::arg("xq"), "acc (M, N) int32 = xq (M, K) @ W_q, exact.")
      .def("forward", [](const bc::QLinear& q, const py::array& x, const py::object& bias, int act, float x_scale) {
        const float* xp = arrays::checked<float>(x, "x", 2);
        if (dim(x, 1) != q.K())
          throw py::value_error("x must have shape (M, " + std::to_string(q.K()) + "), got " + shape_str(x));
        const float* b = arrays::optional_vector(bias, "bias", q.N());
        py::array_t<float> out({dim(x, 0), q.N()});
        float* o = out.mutable_data();
        py::gil_scoped_release release;
        q.forward(o, xp, b, dim(x, 0), act, x_scale);
        return out;
      }, py::arg("x"), py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("x_scale") = 0.0f,
         "y (M, N) = act(int8 x @ W_q * scales + bias); x_scale > 0 fixes the activation scale.");
  m.def("quantize_rows", [](const py::array& x, float x_scale) {
    const float* xp = arrays::checked<float>(x, "x", 2);
    py::array_t<int8_t> q({dim(x, 0), dim(x, 1)});
    py::array_t<float> s(dim(x, 0));
    int8_t* qp = q.mutable_data();
    float* sp = s.mutable_data();
    {
      py::gil_scoped_release release;
      bc::quantize_rows(qp, sp, xp, dim(x, 0), dim(x, 1), x_scale);
    }
    return py::make_tuple(q, s);
  }, py::arg("x"), py::arg("x_scale") = 0.0f, "(x_q int8 (M, K), scale float32 (M)) from x (M, K).");
}

}  // namespace

void bind_kernels(py::module_& m) {
  bind_random(m);
  bind_float(m);
  bind_quant(m);
}

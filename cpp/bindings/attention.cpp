// Transformer pieces: the attention and normalization ops of a Program (add_attention, add_norm)
// and their kernels on numpy arrays for tests and benchmarks (the paths in use run them).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "core/rng.h"
#include "kernels/attention/attention.h"
#include "kernels/norm/norm.h"
#include "ops/attention.h"
#include "ops/global_pool.h"
#include "ops/norm.h"
#include "runtime/program.h"

namespace py = pybind11;
using arrays::dim;
using arrays::shape_str;
using bc::Program;

namespace {

// q (B, Tq, Nq, H), k (B, S, Nkv, H), v (B, S, Nkv, Hv): the sizes, checked.
bc::AttnDims attn_dims(const py::array& q, const py::array& k, const py::array& v) {
  arrays::checked<float>(q, "q", 4);
  arrays::checked<float>(k, "k", 4);
  arrays::checked<float>(v, "v", 4);
  bc::AttnDims d;
  d.B = dim(q, 0), d.Tq = dim(q, 1), d.Nq = dim(q, 2), d.H = dim(q, 3);
  d.S = dim(k, 1), d.Nkv = dim(k, 2), d.Hv = dim(v, 3);
  if (dim(k, 0) != d.B || dim(k, 3) != d.H || dim(v, 0) != d.B || dim(v, 1) != d.S || dim(v, 2) != d.Nkv)
    throw py::value_error("attention: q " + shape_str(q) + ", k " + shape_str(k) + " and v " + shape_str(v) +
                          " do not fit (B, Tq, Nq, H), (B, S, Nkv, H), (B, S, Nkv, Hv)");
  if (d.Nq % d.Nkv) throw py::value_error("attention: the query heads must be a multiple of the key/value heads");
  return d;
}

const float* optional_mask(const py::object& m, const char* what, const std::vector<py::ssize_t>& shape) {
  if (m.is_none()) return nullptr;
  return arrays::shaped<float>(arrays::as_array(m, what), what, shape);
}

bc::AttnMasks attn_masks(const bc::AttnDims& d, const py::object& qmask, const py::object& kmask,
                         const py::object& kmask2, const py::object& amask, bool causal, bool zero_full_rows) {
  bc::AttnMasks m;
  m.qmask = optional_mask(qmask, "qmask", {d.B, d.Tq});
  m.kmask = optional_mask(kmask, "kmask", {d.B, d.S});
  m.kmask2 = optional_mask(kmask2, "kmask2", {d.B, d.S});
  m.amask = optional_mask(amask, "amask", {d.B, d.Tq, d.S});
  m.causal = causal;
  m.zero_full_rows = zero_full_rows;
  return m;
}

bc::AttnDropout attn_dropout(float rate, uint64_t seed, uint64_t stream, uint64_t step, uint64_t row0) {
  if (!(rate >= 0.0f && rate < 1.0f)) throw py::value_error("attention dropout must be in [0, 1)");
  bc::AttnDropout drop;
  drop.rate = rate;
  drop.key = bc::rng_key(seed, stream, step);
  drop.row0 = row0;
  return drop;
}

bc::AttnPath attn_path(const std::string& path) {
  if (path == "auto") return bc::AttnPath::Auto;
  if (path == "flash") return bc::AttnPath::Flash;
  if (path == "tile") return bc::AttnPath::Tile;
  throw py::value_error("attention path must be 'auto', 'flash' or 'tile', received '" + path + "'");
}

void bind_attention_kernels(py::module_& m) {
  m.def("attention_uses_tile", [](int B, int Tq, int S, int Nq, int Nkv, int H, int Hv) {
    bc::AttnDims d;
    d.B = B, d.Tq = Tq, d.S = S, d.Nq = Nq, d.Nkv = Nkv, d.H = H, d.Hv = Hv;
    return bc::attention_uses_tile(d);
  }, py::arg("B"), py::arg("Tq"), py::arg("S"), py::arg("Nq"), py::arg("Nkv"), py::arg("H"), py::arg("Hv"),
     "Whether attention of these sizes takes the materialized-tile path (else flash).");
  m.def("attention_exp", [](const py::array& x) {
    const float* xp = arrays::checked<float>(x, "x", 1);
    const size_t n = static_cast<size_t>(dim(x, 0));
    py::array_t<float> y(static_cast<py::ssize_t>(n));
    float* yp = y.mutable_data();
    std::copy(xp, xp + n, yp);
    bc::attention_kernels().exp(yp, n);
    return y;
  }, py::arg("x"), "exp of a float32 vector by the attention kernels' vectorized exp (the path in use).");
  m.def("attention_forward", [](const py::array& q, const py::array& k, const py::array& v, float scale,
                                const py::object& qmask, const py::object& kmask, const py::object& kmask2,
                                const py::object& amask, bool causal, bool zero_full_rows, bool return_probs,
                                float dropout, uint64_t seed, uint64_t stream, uint64_t step, const std::string& path,
                                uint64_t row0) {
    const bc::AttnDims d = attn_dims(q, k, v);
    const bc::AttnMasks mk = attn_masks(d, qmask, kmask, kmask2, amask, causal, zero_full_rows);
    const bc::AttnDropout drop = attn_dropout(dropout, seed, stream, step, row0);
    const bc::AttnPath ap = attn_path(path);
    py::array_t<float> o({d.B, d.Tq, d.Nq, d.Hv}), lse({d.B, d.Nq, d.Tq});
    py::array_t<float> probs(return_probs ? std::vector<py::ssize_t>{d.B, d.Nq, d.Tq, d.S}
                                          : std::vector<py::ssize_t>{0});
    float *op = o.mutable_data(), *lp = lse.mutable_data(), *pp = return_probs ? probs.mutable_data() : nullptr;
    const float *qp = static_cast<const float*>(q.data()), *kp = static_cast<const float*>(k.data()),
                *vp = static_cast<const float*>(v.data());
    {
      py::gil_scoped_release release;
      bc::attention_forward(op, lp, pp, qp, kp, vp, d, mk, scale, drop, ap);
    }
    return py::make_tuple(o, lse, return_probs ? py::object(probs) : py::object(py::none()));
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("scale"), py::arg("qmask") = py::none(),
     py::arg("kmask") = py::none(), py::arg("kmask2") = py::none(), py::arg("amask") = py::none(),
     py::arg("causal") = false, py::arg("zero_full_rows") = false, py::arg("return_probs") = false,
     py::arg("dropout") = 0.0f, py::arg("seed") = 0, py::arg("stream") = 0, py::arg("step") = 0,
     py::arg("path") = "auto", py::arg("row0") = 0,
     "(o (B, Tq, Nq, Hv), lse (B, Nq, Tq), probs (B, Nq, Tq, S) or None) of scaled dot-product attention. "
     "path: 'auto', 'flash' or 'tile'; row0: the batch's first row in a larger batch (the dropout draws).");

  m.def("attention_backward", [](const py::array& dout, const py::array& q, const py::array& k, const py::array& v,
                                 const py::array& o, const py::array& lse, float scale, const py::object& qmask,
                                 const py::object& kmask, const py::object& kmask2, const py::object& amask,
                                 bool causal, bool zero_full_rows, const py::object& probs, const py::object& dprobs,
                                 float dropout, uint64_t seed, uint64_t stream, uint64_t step, const std::string& path,
                                uint64_t row0) {
    const bc::AttnDims d = attn_dims(q, k, v);
    const bc::AttnMasks mk = attn_masks(d, qmask, kmask, kmask2, amask, causal, zero_full_rows);
    const bc::AttnDropout drop = attn_dropout(dropout, seed, stream, step, row0);
    const bc::AttnPath ap = attn_path(path);
    const float* dp = arrays::shaped<float>(dout, "dout", {d.B, d.Tq, d.Nq, d.Hv});
    const float* opp = arrays::shaped<float>(o, "o", {d.B, d.Tq, d.Nq, d.Hv});
    const float* lp = arrays::shaped<float>(lse, "lse", {d.B, d.Nq, d.Tq});
    const float* pp = optional_mask(probs, "probs", {d.B, d.Nq, d.Tq, d.S});
    const float* dpp = optional_mask(dprobs, "dprobs", {d.B, d.Nq, d.Tq, d.S});
    if (dpp && !pp) throw py::value_error("dprobs needs probs");
    py::array_t<float> dq({d.B, d.Tq, d.Nq, d.H}), dk({d.B, d.S, d.Nkv, d.H}), dv({d.B, d.S, d.Nkv, d.Hv});
    float *dqp = dq.mutable_data(), *dkp = dk.mutable_data(), *dvp = dv.mutable_data();
    const float *qp = static_cast<const float*>(q.data()), *kp = static_cast<const float*>(k.data()),
                *vp = static_cast<const float*>(v.data());
    {
      py::gil_scoped_release release;
      bc::attention_backward(dqp, dkp, dvp, false, false, false, dp, dpp, pp, qp, kp, vp, opp, lp, d, mk, scale, drop,
                             ap);
    }
    return py::make_tuple(dq, dk, dv);
  }, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("o"), py::arg("lse"), py::arg("scale"),
     py::arg("qmask") = py::none(), py::arg("kmask") = py::none(), py::arg("kmask2") = py::none(),
     py::arg("amask") = py::none(), py::arg("causal") = false, py::arg("zero_full_rows") = false,
     py::arg("probs") = py::none(), py::arg("dprobs") = py::none(), py::arg("dropout") = 0.0f, py::arg("seed") = 0,
     py::arg("stream") = 0, py::arg("step") = 0, py::arg("path") = "auto", py::arg("row0") = 0,
     "(dq, dk, dv) of attention_forward's output given dout (the weights recomputed from lse). path and "
     "row0 as attention_forward's.");

  m.def("norm_forward", [](const py::array& x, const py::object& res, const py::object& gamma,
                           const py::object& beta, float eps, bool rms) {
    const float* xp = arrays::checked<float>(x, "x", 2);
    const int rows = dim(x, 0), C = dim(x, 1);
    const float* rp = optional_mask(res, "res", {rows, C});
    const float* gp = arrays::optional_vector(gamma, "gamma", C);
    const float* bp = arrays::optional_vector(beta, "beta", C);
    py::array_t<float> y({rows, C}), mean(rows), rstd(rows);
    float *yp = y.mutable_data(), *mp = mean.mutable_data(), *sp = rstd.mutable_data();
    {
      py::gil_scoped_release release;
      bc::norm_forward(yp, mp, sp, xp, rp, gp, bp, rows, C, eps, rms);
    }
    return py::make_tuple(y, mean, rstd);
  }, py::arg("x"), py::arg("res") = py::none(), py::arg("gamma") = py::none(), py::arg("beta") = py::none(),
     py::arg("eps") = 1e-3f, py::arg("rms") = false, "(y, mean, rstd) of layer (or RMS) normalization of x (+ res).");

  m.def("norm_backward", [](const py::array& dy, const py::array& x, const py::object& res, const py::array& mean,
                            const py::array& rstd, const py::object& gamma, bool rms) {
    const float* xp = arrays::checked<float>(x, "x", 2);
    const int rows = dim(x, 0), C = dim(x, 1);
    const float* dyp = arrays::shaped<float>(dy, "dy", {rows, C});
    const float* rp = optional_mask(res, "res", {rows, C});
    const float* mp = arrays::shaped<float>(mean, "mean", {rows});
    const float* sp = arrays::shaped<float>(rstd, "rstd", {rows});
    const float* gp = arrays::optional_vector(gamma, "gamma", C);
    py::array_t<float> dx({rows, C}), dgamma(C), dbeta(C);
    float *dxp = dx.mutable_data(), *dgp = dgamma.mutable_data(), *dbp = dbeta.mutable_data();
    {
      py::gil_scoped_release release;
      bc::norm_backward(dxp, false, nullptr, false, dgp, rms ? nullptr : dbp, false, dyp, xp, rp, mp, sp, gp, rows, C,
                        rms);
    }
    return py::make_tuple(dx, dgamma, rms ? py::object(py::none()) : py::object(dbeta));
  }, py::arg("dy"), py::arg("x"), py::arg("res"), py::arg("mean"), py::arg("rstd"), py::arg("gamma") = py::none(),
     py::arg("rms") = false, "(dx (= dres), dgamma, dbeta or None) of norm_forward given dy.");
}

void bind_ops(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Program>>(m.attr("Program"));
  cls.def("add_attention", [](Program& p, int q, int k, int v, int o, int probs, int qmask, int kmask, int kmask2,
                              int amask, int num_heads, int num_kv_heads, int head_dim, int value_dim, float scale,
                              bool causal, bool zero_full_rows, bool qmask_zero_rows, float dropout,
                              uint64_t stream) {
    bc::AttentionConfig c;
    c.Nq = num_heads, c.Nkv = num_kv_heads, c.H = head_dim, c.Hv = value_dim, c.scale = scale;
    c.causal = causal, c.zero_full_rows = zero_full_rows, c.qmask_zero_rows = qmask_zero_rows;
    c.dropout = dropout, c.stream = stream;
    p.add_op(std::make_unique<bc::AttentionOp>(c, q, k, v, qmask, kmask, kmask2, amask, o, probs));
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("probs"), py::arg("qmask"), py::arg("kmask"),
     py::arg("kmask2"), py::arg("amask"), py::arg("num_heads"), py::arg("num_kv_heads"), py::arg("head_dim"),
     py::arg("value_dim"), py::arg("scale"), py::arg("causal"), py::arg("zero_full_rows"),
     py::arg("qmask_zero_rows"), py::arg("dropout"), py::arg("stream"),
     "Fused attention over projected q (B, Tq, heads*head_dim), k, v; probs/mask ids -1 when absent.");
  cls.def("add_scale", [](Program& p, int x, int out, size_t w) {
    if (p.per_sample(x) != p.per_sample(out)) throw py::value_error("add_scale: x and out differ in size");
    p.add_op(std::make_unique<bc::ScaleOp>(x, out, w));
  }, py::arg("x"), py::arg("out"), py::arg("w"), "out = x * w[0], w a one-value arena segment.");
  cls.def("add_global_pool_1d", [](Program& p, int x, int mask, int out, int channels, bool max, bool channels_first) {
    p.add_op(std::make_unique<bc::GlobalPool1DOp>(x, mask, out, channels, max, channels_first));
  }, py::arg("x"), py::arg("mask"), py::arg("out"), py::arg("channels"), py::arg("max"), py::arg("channels_first"),
     "Mean (masked when mask >= 0) or max of x over its steps.");
  cls.def("add_norm", [](Program& p, int x, int res, int out, long gamma, long beta, int width, float eps, bool rms) {
    p.add_op(std::make_unique<bc::NormOp>(x, res, out, gamma, beta, width, eps, rms));
  }, py::arg("x"), py::arg("res"), py::arg("out"), py::arg("gamma"), py::arg("beta"), py::arg("width"), py::arg("eps"),
     py::arg("rms"), "LayerNorm (or RMSNorm) over the last `width` values of x (+ res, when res >= 0).");
}

}  // namespace

void bind_attention(py::module_& m) {
  bind_attention_kernels(m);
  bind_ops(m);
}

#include "ops/attention.h"

#include <algorithm>
#include <string>

#include "core/rng.h"

namespace bc {

void AttentionRun::forward(float* o, float* probs, const float* q, const float* k, const float* v,
                           const AttnDims& d, const AttnMasks& m, float scale, const AttnDropout& drop) {
  lse_.resize(static_cast<size_t>(d.B) * d.Nq * d.Tq);
  attention_forward(o, lse_.data(), probs, q, k, v, d, m, scale, drop, AttnPath::Auto);
}

void AttentionRun::backward(float* dq, float* dk, float* dv, bool acc_q, bool acc_k, bool acc_v, const float* dout,
                            const float* dprobs, const float* probs, const float* q, const float* k, const float* v,
                            const float* o, const AttnDims& d, const AttnMasks& m, float scale,
                            const AttnDropout& drop) const {
  BC_CHECK(lse_.size() == static_cast<size_t>(d.B) * d.Nq * d.Tq, "attention: backward without its forward");
  attention_backward(dq, dk, dv, acc_q, acc_k, acc_v, dout, dprobs, probs, q, k, v, o, lse_.data(), d, m, scale,
                     drop, AttnPath::Auto);
}

AttentionOp::AttentionOp(const AttentionConfig& cfg, int q, int k, int v, int qmask, int kmask, int kmask2,
                         int amask, int o, int probs)
    : cfg_(cfg), probs_(probs >= 0) {
  BC_CHECK(cfg.Nq > 0 && cfg.Nkv > 0 && cfg.Nq % cfg.Nkv == 0 && cfg.H > 0 && cfg.Hv > 0,
           "attention: bad head sizes");
  BC_CHECK(cfg.dropout >= 0.0f && cfg.dropout < 1.0f, "attention dropout must be in [0, 1)");
  in = {q, k, v};
  auto add = [this](int t, int* pos) {
    if (t < 0) return;
    *pos = static_cast<int>(in.size());
    in.push_back(t);
  };
  add(qmask, &qmask_);
  add(kmask, &kmask_);
  add(kmask2, &kmask2_);
  add(amask, &amask_);
  out = {o};
  if (probs >= 0) out.push_back(probs);
}

void AttentionOp::dims(const Ctx& c, int* Tq, int* S) const {
  const size_t qw = static_cast<size_t>(cfg_.Nq) * cfg_.H, kw = static_cast<size_t>(cfg_.Nkv) * cfg_.H,
               vw = static_cast<size_t>(cfg_.Nkv) * cfg_.Hv;
  BC_CHECK(c.per_sample(in[0]) % qw == 0 && c.per_sample(in[1]) % kw == 0, "attention: q/k widths do not match");
  *Tq = static_cast<int>(c.per_sample(in[0]) / qw);
  *S = static_cast<int>(c.per_sample(in[1]) / kw);
  BC_CHECK(c.per_sample(in[2]) == static_cast<size_t>(*S) * vw,
           "attention: the value has " + std::to_string(c.per_sample(in[2])) + " values per sample, expected " +
               std::to_string(static_cast<size_t>(*S) * vw));
  BC_CHECK(c.per_sample(out[0]) == static_cast<size_t>(*Tq) * cfg_.Nq * cfg_.Hv, "attention: bad output size");
  if (qmask_ >= 0) BC_CHECK(c.per_sample(in[qmask_]) == static_cast<size_t>(*Tq), "attention: bad query mask");
  if (kmask_ >= 0) BC_CHECK(c.per_sample(in[kmask_]) == static_cast<size_t>(*S), "attention: bad value mask");
  if (kmask2_ >= 0) BC_CHECK(c.per_sample(in[kmask2_]) == static_cast<size_t>(*S), "attention: bad key mask");
  if (amask_ >= 0)
    BC_CHECK(c.per_sample(in[amask_]) == static_cast<size_t>(*Tq) * *S,
             "attention: attention_mask must be (batch, " + std::to_string(*Tq) + ", " + std::to_string(*S) + ")");
  if (probs_)
    BC_CHECK(c.per_sample(out[1]) == static_cast<size_t>(cfg_.Nq) * *Tq * *S, "attention: bad scores size");
}

namespace {
AttnMasks masks_of(Ctx& c, const std::vector<int>& in, int qm, int km, int km2, int am, const AttentionConfig& cfg) {
  AttnMasks m;
  m.qmask = qm >= 0 && !cfg.qmask_zero_rows ? c.val(in[qm]) : nullptr;
  m.kmask = km >= 0 ? c.val(in[km]) : nullptr;
  m.kmask2 = km2 >= 0 ? c.val(in[km2]) : nullptr;
  m.amask = am >= 0 ? c.val(in[am]) : nullptr;
  m.causal = cfg.causal;
  m.zero_full_rows = cfg.zero_full_rows;
  return m;
}

AttnDropout dropout_of(const Ctx& c, const AttentionConfig& cfg) {
  AttnDropout d;
  if (c.training && cfg.dropout > 0.0f) {
    d.rate = cfg.dropout;
    d.key = rng_key(c.seed, cfg.stream, c.step);
    d.row0 = c.row0;
  }
  return d;
}
}  // namespace

void AttentionOp::forward(Ctx& c) {
  AttnDims d;
  dims(c, &d.Tq, &d.S);
  d.B = c.B;
  d.Nq = cfg_.Nq;
  d.Nkv = cfg_.Nkv;
  d.H = cfg_.H;
  d.Hv = cfg_.Hv;
  run_.forward(c.val(out[0]), probs_ ? c.val(out[1]) : nullptr, c.val(in[0]), c.val(in[1]), c.val(in[2]), d,
               masks_of(c, in, qmask_, kmask_, kmask2_, amask_, cfg_), cfg_.scale, dropout_of(c, cfg_));
  if (cfg_.qmask_zero_rows && qmask_ >= 0) {  // output rows the query mask blanks are 0
    const float* qm = c.val(in[qmask_]);
    const size_t w = static_cast<size_t>(cfg_.Nq) * cfg_.Hv;
    float* o = c.val(out[0]);
    for (size_t r = 0; r < static_cast<size_t>(d.B) * d.Tq; ++r)
      if (qm[r] == 0.0f) std::fill_n(o + r * w, w, 0.0f);
  }
}

void AttentionOp::backward(Ctx& c) {
  AttnDims d;
  dims(c, &d.Tq, &d.S);
  d.B = c.B;
  d.Nq = cfg_.Nq;
  d.Nkv = cfg_.Nkv;
  d.H = cfg_.H;
  d.Hv = cfg_.Hv;
  float* g[3];
  for (int i = 0; i < 3; ++i) g[i] = need_dx[i] ? c.grad(in[i]) : nullptr;
  const float* dout = c.grad(out[0]);
  if (cfg_.qmask_zero_rows && qmask_ >= 0) {  // those rows' gradient stops at the zeroing
    const float* qm = c.val(in[qmask_]);
    const size_t w = static_cast<size_t>(cfg_.Nq) * cfg_.Hv, rows = static_cast<size_t>(d.B) * d.Tq;
    dout_.assign(dout, dout + rows * w);
    for (size_t r = 0; r < rows; ++r)
      if (qm[r] == 0.0f) std::fill_n(dout_.data() + r * w, w, 0.0f);
    dout = dout_.data();
  }
  run_.backward(g[0], g[1], g[2], accum_dx[0], accum_dx[1], accum_dx[2], dout, probs_ ? c.grad(out[1]) : nullptr,
                probs_ ? c.val(out[1]) : nullptr, c.val(in[0]), c.val(in[1]), c.val(in[2]), c.val(out[0]), d,
                masks_of(c, in, qmask_, kmask_, kmask2_, amask_, cfg_), cfg_.scale, dropout_of(c, cfg_));
}

ScaleOp::ScaleOp(int x, int y, size_t w) {
  in = {x};
  out = {y};
  params = {w};
}

void ScaleOp::forward(Ctx& c) {
  const size_t n = c.B * c.per_sample(in[0]);
  const float w = c.params[params[0]];
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  for (size_t i = 0; i < n; ++i) y[i] = x[i] * w;
}

// dw (+)= sum dy * x in index order; dx (+)= dy * w.
void ScaleOp::backward(Ctx& c) {
  const size_t n = c.B * c.per_sample(in[0]);
  const float w = c.params[params[0]];
  const float* x = c.val(in[0]);
  const float* dy = c.grad(out[0]);
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(dy[i]) * x[i];
  float* g = c.grads + params[0];
  *g = accum_dw[0] ? *g + static_cast<float>(s) : static_cast<float>(s);
  if (!need_dx[0]) return;
  float* dx = c.grad(in[0]);
  if (accum_dx[0]) {
    for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * w;
  } else {
    for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * w;
  }
}

}  // namespace bc

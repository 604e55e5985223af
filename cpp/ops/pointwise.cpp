#include "ops/pointwise.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "ops/activation.h"
#include "ops/parallel.h"

namespace bc {

namespace {
inline uint32_t to_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
inline float from_bits(uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// Elementwise ops over a large activation (a Conv1D classifier's 32 x 500 x 64) run on the team in
// spans of 16K floats: one thread streamed 1M values in 0.7 ms, half the time of the convolution's
// GEMM beside it.
constexpr size_t kSpan = 1 << 14;
}  // namespace

ReluOp::ReluOp(int in_t, int out_t, float negative_slope, float max_value, float threshold)
    : slope_(negative_slope), max_(max_value < 0.0f ? std::numeric_limits<float>::infinity() : max_value),
      threshold_(threshold) {
  BC_CHECK(negative_slope >= 0.0f && threshold >= 0.0f, "ReLU: negative_slope and threshold must be >= 0");
  in = {in_t};
  out = {out_t};
}

void ReluOp::forward_span(Ctx& c, size_t a, size_t m) const {
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const float t = threshold_, s = slope_, mx = max_;
  for (size_t i = a; i < a + m; ++i) {
    float pos = x[i] > t ? x[i] : 0.0f;
    pos = std::min(std::max(pos, 0.0f), mx);
    const float neg = std::max(t - x[i], 0.0f);
    y[i] = pos - s * neg;
  }
}

void ReluOp::forward(Ctx& c) {
  parallel_spans(c.B * c.per_sample(in[0]), kSpan, [&](size_t a, size_t m) { forward_span(c, a, m); });
}

void ReluOp::forward_rows(Ctx& c, int s0, int s1) {
  const size_t ps = c.per_sample(in[0]);
  forward_span(c, s0 * ps, (s1 - s0) * ps);
}

// dy/dx = 1 where threshold < x < max_value (and x > 0), slope where x < threshold.
void ReluOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t n = c.B * c.per_sample(in[0]);
  const float* x = c.val(in[0]);
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const float t = threshold_, s = slope_, mx = max_;
  // Bit masks instead of branches: GCC vectorizes this, where the branchy select (it will not
  // if-convert a conditional multiply) mispredicted on every sign change of x: ~5 ms per 1M values,
  // the largest non-GEMM cost of bench/profile_ops.py's Conv1D classifier. pass and leak never hold
  // together, so the result is d, s * d or +0.0 as before, bit for bit.
  auto grad = [t, s, mx](float xi, float di) {
    const uint32_t pass = 0u - static_cast<uint32_t>((xi > t) & (xi > 0.0f) & (xi <= mx));
    const uint32_t leak = 0u - static_cast<uint32_t>(xi < t);
    return from_bits((to_bits(di) & pass) | (to_bits(s * di) & leak));
  };
  const bool acc = accum_dx[0];
  parallel_spans(n, kSpan, [&](size_t a, size_t m) {
    if (acc) {
      for (size_t i = a; i < a + m; ++i) dx[i] += grad(x[i], d[i]);
    } else {
      for (size_t i = a; i < a + m; ++i) dx[i] = grad(x[i], d[i]);
    }
  });
}

EluOp::EluOp(int in_t, int out_t, float alpha) : alpha_(alpha) {
  in = {in_t};
  out = {out_t};
}

void EluOp::forward(Ctx& c) {
  const size_t n = c.B * c.per_sample(in[0]);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha_ * std::expm1(x[i]);
}

void EluOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t n = c.B * c.per_sample(in[0]);
  const float* x = c.val(in[0]);
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  for (size_t i = 0; i < n; ++i) {
    const float g = x[i] > 0.0f ? d[i] : d[i] * alpha_ * std::exp(x[i]);
    dx[i] = acc ? dx[i] + g : g;
  }
}

PReluOp::PReluOp(int in_t, int out_t, size_t alpha, std::vector<int32_t> index, int n_alpha)
    : index_(std::move(index)), n_alpha_(n_alpha) {
  for (int32_t k : index_) BC_CHECK(k >= 0 && k < n_alpha, "PReLU: alpha index out of range");
  in = {in_t};
  out = {out_t};
  params = {alpha};
}

void PReluOp::forward(Ctx& c) {
  const size_t ps = c.per_sample(in[0]);
  BC_CHECK(ps == index_.size(), "PReLU: the input's size per sample does not match alpha's index");
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const float* a = c.params + params[0];
  for (int b = 0; b < c.B; ++b)
    for (size_t i = 0; i < ps; ++i) {
      const float v = x[b * ps + i];
      y[b * ps + i] = v >= 0.0f ? v : a[index_[i]] * v;
    }
}

// Keras: y = relu(x) - alpha * relu(-x), so dalpha = sum of min(x, 0) * dy, in sample order.
void PReluOp::backward(Ctx& c) {
  const size_t ps = c.per_sample(in[0]);
  const float* x = c.val(in[0]);
  const float* d = c.grad(out[0]);
  const float* a = c.params + params[0];
  float* da = c.grads + params[0];
  if (!accum_dw[0]) std::fill(da, da + n_alpha_, 0.0f);
  for (int b = 0; b < c.B; ++b)
    for (size_t i = 0; i < ps; ++i) {
      const float v = x[b * ps + i];
      if (v < 0.0f) da[index_[i]] += v * d[b * ps + i];
    }
  if (!need_dx[0]) return;
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  for (int b = 0; b < c.B; ++b)
    for (size_t i = 0; i < ps; ++i) {
      const size_t j = b * ps + i;
      const float g = x[j] > 0.0f ? d[j] : (x[j] < 0.0f ? a[index_[i]] * d[j] : 0.0f);
      dx[j] = acc ? dx[j] + g : g;
    }
}

SoftmaxOp::SoftmaxOp(int in_t, int out_t, int mask_t, int outer, int n, int inner)
    : outer_(outer), n_(n), inner_(inner), masked_(mask_t >= 0) {
  BC_CHECK(outer >= 0 && n >= 0 && inner > 0 && (outer > 0 || n > 0),
           "Softmax: sizes must be positive (outer or n 0: read per call)");
  in = {in_t};
  if (masked_) in.push_back(mask_t);
  out = {out_t};
}

// (the rows before the axis, the axis's length): fixed, or (outer_ or n_ 0) what this call's
// run-time lengths give.
std::pair<long, int> SoftmaxOp::sizes(const Ctx& c) const {
  const size_t ps = c.per_sample(in[0]);
  const size_t known = static_cast<size_t>(outer_ > 0 ? outer_ : 1) * (n_ > 0 ? n_ : 1) * inner_;
  BC_CHECK(ps % known == 0 && (outer_ > 0 && n_ > 0 ? ps == known : true),
           "Softmax: the input's size does not match its axes");
  const size_t rest = ps / known;
  return {outer_ > 0 ? outer_ : static_cast<long>(rest), n_ > 0 ? n_ : static_cast<int>(rest)};
}

void SoftmaxOp::forward(Ctx& c) {
  const auto [outer_n, n] = sizes(c);
  const float* x = c.val(in[0]);
  const float* m = masked_ ? c.val(in[1]) : nullptr;
  float* y = c.val(out[0]);
  const long step = inner_;
  for (long row = 0; row < static_cast<long>(c.B) * outer_n; ++row)
    for (int k = 0; k < inner_; ++k) {
      const long base = row * n * inner_ + k;
      auto in_v = [&](int j) {
        const long i = base + j * step;
        return m && m[i] == 0.0f ? -1e9f : x[i];
      };
      float mx = -std::numeric_limits<float>::infinity();
      for (int j = 0; j < n; ++j) mx = std::max(mx, in_v(j));
      float s = 0.0f;
      for (int j = 0; j < n; ++j) {
        const float e = std::exp(in_v(j) - mx);
        y[base + j * step] = e;
        s += e;
      }
      for (int j = 0; j < n; ++j) {
        const long i = base + j * step;
        y[i] = m && m[i] == 0.0f ? 0.0f : y[i] / s;
      }
    }
}

// dx = y * (dy - sum(dy * y)) over the axis; masked values get none (their input was replaced).
void SoftmaxOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const float* y = c.val(out[0]);
  const float* d = c.grad(out[0]);
  const float* m = masked_ ? c.val(in[1]) : nullptr;
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  const long step = inner_;
  const auto [outer_n, n] = sizes(c);
  for (long row = 0; row < static_cast<long>(c.B) * outer_n; ++row)
    for (int k = 0; k < inner_; ++k) {
      const long base = row * n * inner_ + k;
      float dot = 0.0f;
      for (int j = 0; j < n; ++j) dot += d[base + j * step] * y[base + j * step];
      for (int j = 0; j < n; ++j) {
        const long i = base + j * step;
        const float g = m && m[i] == 0.0f ? 0.0f : y[i] * (d[i] - dot);
        dx[i] = acc ? dx[i] + g : g;
      }
    }
}

}  // namespace bc

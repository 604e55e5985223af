#include "ops/group_norm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace bc {

GroupNormOp::GroupNormOp(int in_t, int out_t, int C, int groups, long gamma, long beta, float epsilon)
    : C_(C), G_(groups), gamma_(gamma), beta_(beta), eps_(epsilon) {
  BC_CHECK(C > 0 && groups >= 0 && (groups == 0 || C % groups == 0), "normalization: groups must divide channels");
  BC_CHECK(epsilon > 0.0f, "normalization: epsilon must be > 0");
  in = {in_t};
  out = {out_t};
  if (gamma >= 0) params.push_back(static_cast<size_t>(gamma));
  if (beta >= 0) params.push_back(static_cast<size_t>(beta));
}

void GroupNormOp::shape(size_t ps, int* P, int* n_inst, int* width) const {
  *P = static_cast<int>(ps / C_);
  *n_inst = G_ == 0 ? *P : G_;
  *width = G_ == 0 ? C_ : C_ / G_;
}

// Instance i of a sample visits (p, k) for p in its positions and k in its channels: layer mode
// p = i, k = 0..C; group mode p = 0..P, k = i*width .. (i+1)*width. fn(offset in the sample, k).
namespace {
template <class Fn>
void for_instance(int G, int C, int P, int width, int i, Fn&& fn) {
  const int p0 = G == 0 ? i : 0, p1 = G == 0 ? i + 1 : P;
  const int k0 = G == 0 ? 0 : i * width, k1 = G == 0 ? C : (i + 1) * width;
  for (int p = p0; p < p1; ++p)
    for (int k = k0; k < k1; ++k) fn(static_cast<long>(p) * C + k, k);
}
}  // namespace

void GroupNormOp::forward(Ctx& c) {
  int P, n_inst, width;
  shape(c.per_sample(in[0]), &P, &n_inst, &width);
  const size_t ps = c.per_sample(in[0]);
  mean_.resize(static_cast<size_t>(c.B) * n_inst);
  inv_.resize(mean_.size());
  const float* g = gamma_ >= 0 ? c.params + gamma_ : nullptr;
  const float* bt = beta_ >= 0 ? c.params + beta_ : nullptr;
  const double count = static_cast<double>(G_ == 0 ? C_ : static_cast<long>(P) * width);
  for (int b = 0; b < c.B; ++b) {
    const float* x = c.val(in[0]) + b * ps;
    float* y = c.val(out[0]) + b * ps;
    for (int i = 0; i < n_inst; ++i) {
      double s = 0.0;
      for_instance(G_, C_, P, width, i, [&](long at, int) { s += x[at]; });
      const double mean = s / count;
      double q = 0.0;
      for_instance(G_, C_, P, width, i, [&](long at, int) { q += (x[at] - mean) * (x[at] - mean); });
      const float inv = static_cast<float>(1.0 / std::sqrt(q / count + eps_));
      const float m = static_cast<float>(mean);
      mean_[b * n_inst + i] = m;
      inv_[b * n_inst + i] = inv;
      for_instance(G_, C_, P, width, i, [&](long at, int k) {
        y[at] = (x[at] - m) * inv * (g ? g[k] : 1.0f) + (bt ? bt[k] : 0.0f);
      });
    }
  }
}

// dxhat = dy * gamma; dx = inv * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) over the instance.
void GroupNormOp::backward(Ctx& c) {
  int P, n_inst, width;
  shape(c.per_sample(in[0]), &P, &n_inst, &width);
  const size_t ps = c.per_sample(in[0]);
  const float* g = gamma_ >= 0 ? c.params + gamma_ : nullptr;
  float* dg = gamma_ >= 0 ? c.grads + gamma_ : nullptr;
  float* db = beta_ >= 0 ? c.grads + beta_ : nullptr;
  size_t pi = 0;
  if (dg && !accum_dw[pi++]) std::fill(dg, dg + C_, 0.0f);
  if (db && !accum_dw[pi]) std::fill(db, db + C_, 0.0f);
  const double count = static_cast<double>(G_ == 0 ? C_ : static_cast<long>(P) * width);
  const bool acc = !need_dx.empty() && accum_dx[0];
  for (int b = 0; b < c.B; ++b) {
    const float* x = c.val(in[0]) + b * ps;
    const float* dy = c.grad(out[0]) + b * ps;
    float* dx = need_dx[0] ? c.grad(in[0]) + b * ps : nullptr;
    for (int i = 0; i < n_inst; ++i) {
      const float m = mean_[b * n_inst + i], inv = inv_[b * n_inst + i];
      double s1 = 0.0, s2 = 0.0;
      for_instance(G_, C_, P, width, i, [&](long at, int k) {
        const float xh = (x[at] - m) * inv;
        const float d = dy[at] * (g ? g[k] : 1.0f);
        s1 += d;
        s2 += d * xh;
        if (dg) dg[k] += dy[at] * xh;
        if (db) db[k] += dy[at];
      });
      if (!dx) continue;
      const float a1 = static_cast<float>(s1 / count), a2 = static_cast<float>(s2 / count);
      for_instance(G_, C_, P, width, i, [&](long at, int k) {
        const float xh = (x[at] - m) * inv;
        const float v = inv * (dy[at] * (g ? g[k] : 1.0f) - a1 - xh * a2);
        dx[at] = acc ? dx[at] + v : v;
      });
    }
  }
}

UnitNormOp::UnitNormOp(int in_t, int out_t, int width) : width_(width) {
  BC_CHECK(width > 0, "UnitNormalization: the width must be positive");
  in = {in_t};
  out = {out_t};
}

void UnitNormOp::forward(Ctx& c) {
  const long rows = static_cast<long>(c.B) * (c.per_sample(in[0]) / width_);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  inv_.resize(rows);
  for (long r = 0; r < rows; ++r) {
    float s = 0.0f;
    for (int k = 0; k < width_; ++k) s += x[r * width_ + k] * x[r * width_ + k];
    const float inv = std::min(1.0f / std::sqrt(s), 1e12f);
    inv_[r] = inv;
    for (int k = 0; k < width_; ++k) y[r * width_ + k] = x[r * width_ + k] * inv;
  }
}

// Where the norm is above 1e-12: dx = inv * (dy - y * sum(dy * y)); below, dx = 1e12 * dy.
void UnitNormOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const long rows = static_cast<long>(c.B) * (c.per_sample(in[0]) / width_);
  const float* y = c.val(out[0]);
  const float* dy = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  for (long r = 0; r < rows; ++r) {
    const float inv = inv_[r];
    float dot = 0.0f;
    const bool clipped = inv >= 1e12f;
    if (!clipped)
      for (int k = 0; k < width_; ++k) dot += dy[r * width_ + k] * y[r * width_ + k];
    for (int k = 0; k < width_; ++k) {
      const long i = r * width_ + k;
      const float v = clipped ? dy[i] * inv : inv * (dy[i] - y[i] * dot);
      dx[i] = acc ? dx[i] + v : v;
    }
  }
}

}  // namespace bc

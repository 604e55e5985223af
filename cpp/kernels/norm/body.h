// Normalization row kernels compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and
// avx512.cpp include this file with their own flags. Anonymous namespace: the per-ISA copies never
// merge. Plain loops for the auto-vectorizer, FMA contraction off and fixed lanes for every sum,
// so every path gives the reference's bits (norm.h).
#pragma once
#include <cmath>
#include <type_traits>

#include "kernels/float/math.h"  // kLanes, lane_sum, lane_dot (shared, same bits)
#include "kernels/norm/norm.h"

namespace bc {
namespace {

#define BC_NORM_INLINE inline __attribute__((always_inline))

void rows_forward(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                  const float* beta, int R, int C, float eps, bool rms) {
  const float inv_c = 1.0f / static_cast<float>(C);
  for (int r = 0; r < R; ++r) {
    float* yr = y + static_cast<size_t>(r) * C;
    const float* xr = x + static_cast<size_t>(r) * C;
    if (res) {
      const float* rr = res + static_cast<size_t>(r) * C;
      for (int j = 0; j < C; ++j) yr[j] = xr[j] + rr[j];
    } else if (yr != xr) {
      for (int j = 0; j < C; ++j) yr[j] = xr[j];
    }
    float mu = 0.0f;
    if (!rms) {
      mu = lane_sum(yr, C) * inv_c;
      for (int j = 0; j < C; ++j) yr[j] -= mu;
    }
    const float inv = 1.0f / std::sqrt(lane_dot(yr, yr, C) * inv_c + eps);
    mean[r] = mu;
    rstd[r] = inv;
    for (int j = 0; j < C; ++j) yr[j] *= inv;
    if (gamma)
      for (int j = 0; j < C; ++j) yr[j] *= gamma[j];
    if (beta)
      for (int j = 0; j < C; ++j) yr[j] += beta[j];
  }
}

// xhat = (s - mean) * rstd, g = dy * gamma; dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
// (rms: no mean(g) term).
void rows_backward(float* dx, bool acc_x, float* dres, bool acc_res, float* gsum, float* bsum, const float* dy,
                   const float* x, const float* res, const float* mean, const float* rstd, const float* gamma,
                   int R, int C, bool rms, float* work) {
  const float inv_c = 1.0f / static_cast<float>(C);
  float* xhat = work;
  float* g = work + C;
  for (int r = 0; r < R; ++r) {
    const float* xr = x + static_cast<size_t>(r) * C;
    const float* dyr = dy + static_cast<size_t>(r) * C;
    const float mu = mean[r], inv = rstd[r];
    if (res) {
      const float* rr = res + static_cast<size_t>(r) * C;
      for (int j = 0; j < C; ++j) xhat[j] = ((xr[j] + rr[j]) - mu) * inv;
    } else {
      for (int j = 0; j < C; ++j) xhat[j] = (xr[j] - mu) * inv;
    }
    if (gsum)
      for (int j = 0; j < C; ++j) gsum[j] += dyr[j] * xhat[j];
    if (bsum)
      for (int j = 0; j < C; ++j) bsum[j] += dyr[j];
    if (!dx && !dres) continue;
    if (gamma) {
      for (int j = 0; j < C; ++j) g[j] = dyr[j] * gamma[j];
    } else {
      for (int j = 0; j < C; ++j) g[j] = dyr[j];
    }
    const float a = rms ? 0.0f : lane_sum(g, C) * inv_c;
    const float b = lane_dot(g, xhat, C) * inv_c;
    for (int j = 0; j < C; ++j) g[j] = ((g[j] - a) - xhat[j] * b) * inv;  // g now holds ds
    for (float* out : {dx, dres}) {
      if (!out) continue;
      float* o = out + static_cast<size_t>(r) * C;
      if ((out == dx && acc_x) || (out == dres && acc_res)) {
        for (int j = 0; j < C; ++j) o[j] += g[j];
      } else {
        for (int j = 0; j < C; ++j) o[j] = g[j];
      }
    }
  }
}

// ---- rows of C = 16 V (V <= 8): each row held in registers ---------------------------------------
// The generic loops above run C unknown at compile time: for a Transformer's short rows (d_model 32)
// their loop set-up and tails cost more than the arithmetic. Here the row stays in registers from
// load to store, and the weight gradients' partial sums stay in registers across the rows. Every
// element sees the same operations in the same order as above: the kLanes running lane sums are
// kLanes / kNW vectors of this path's width (element i adds into lane i % kLanes, vectors in order
// from +0), then lane_tree's fixed tree, so the bits are the same.
constexpr int kMaxRowVectors = 8;
constexpr int kNW = kPathW;
constexpr int kAccV = kLanes / kNW;  // vectors of running lane sums
typedef path_vf nvf;

BC_NORM_INLINE nvf ldv(const float* p) { return *reinterpret_cast<const path_vfu*>(p); }
BC_NORM_INLINE void stv(float* p, nvf v) { *reinterpret_cast<path_vfu*>(p) = v; }

// lane_tree over the kLanes sums held as kAccV vectors.
BC_NORM_INLINE float tree(const nvf (&acc)[kAccV]) {
  float t[kLanes];
  for (int a = 0; a < kAccV; ++a) stv(t + a * kNW, acc[a]);
  float b[8], c[4];
  for (int l = 0; l < 8; ++l) b[l] = t[l] + t[l + 8];
  for (int l = 0; l < 4; ++l) c[l] = b[l] + b[l + 4];
  return (c[0] + c[2]) + (c[1] + c[3]);
}

template <int V>
void rows_forward_v(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                    const float* beta, int R, float eps, bool rms) {
  constexpr int C = V * kLanes, NV = C / kNW;
  const float inv_c = 1.0f / static_cast<float>(C);
  for (int r = 0; r < R; ++r) {
    const size_t o = static_cast<size_t>(r) * C;
    nvf s[NV];
    for (int u = 0; u < NV; ++u) s[u] = res ? ldv(x + o + u * kNW) + ldv(res + o + u * kNW) : ldv(x + o + u * kNW);
    float mu = 0.0f;
    if (!rms) {
      nvf acc[kAccV] = {};
      for (int u = 0; u < NV; ++u) acc[u % kAccV] += s[u];
      mu = tree(acc) * inv_c;
      for (int u = 0; u < NV; ++u) s[u] -= mu;
    }
    nvf acc[kAccV] = {};
    for (int u = 0; u < NV; ++u) acc[u % kAccV] += s[u] * s[u];
    const float inv = 1.0f / std::sqrt(tree(acc) * inv_c + eps);
    mean[r] = mu;
    rstd[r] = inv;
    for (int u = 0; u < NV; ++u) {
      nvf t = s[u] * inv;
      if (gamma) t *= ldv(gamma + u * kNW);
      if (beta) t += ldv(beta + u * kNW);
      stv(y + o + u * kNW, t);
    }
  }
}

template <int V>
void rows_backward_v(float* dx, bool acc_x, float* dres, bool acc_res, float* gsum, float* bsum, const float* dy,
                     const float* x, const float* res, const float* mean, const float* rstd, const float* gamma,
                     int R, bool rms) {
  constexpr int C = V * kLanes, NV = C / kNW;
  const float inv_c = 1.0f / static_cast<float>(C);
  nvf gs[NV], bs[NV];
  for (int u = 0; u < NV; ++u) {
    gs[u] = gsum ? ldv(gsum + u * kNW) : nvf{};
    bs[u] = bsum ? ldv(bsum + u * kNW) : nvf{};
  }
  for (int r = 0; r < R; ++r) {
    const size_t o = static_cast<size_t>(r) * C;
    const float mu = mean[r], inv = rstd[r];
    nvf xh[NV], g[NV];
    for (int u = 0; u < NV; ++u) {
      const nvf s = res ? ldv(x + o + u * kNW) + ldv(res + o + u * kNW) : ldv(x + o + u * kNW);
      xh[u] = (s - mu) * inv;
      const nvf d = ldv(dy + o + u * kNW);
      gs[u] += d * xh[u];
      bs[u] += d;
      g[u] = gamma ? d * ldv(gamma + u * kNW) : d;
    }
    if (!dx && !dres) continue;
    nvf sa[kAccV] = {}, sb[kAccV] = {};
    for (int u = 0; u < NV; ++u) {
      sa[u % kAccV] += g[u];
      sb[u % kAccV] += g[u] * xh[u];
    }
    const float a = rms ? 0.0f : tree(sa) * inv_c;
    const float b = tree(sb) * inv_c;
    for (int u = 0; u < NV; ++u) {
      const nvf d = ((g[u] - a) - xh[u] * b) * inv;
      if (dx) stv(dx + o + u * kNW, acc_x ? ldv(dx + o + u * kNW) + d : d);
      if (dres) stv(dres + o + u * kNW, acc_res ? ldv(dres + o + u * kNW) + d : d);
    }
  }
  for (int u = 0; u < NV; ++u) {
    if (gsum) stv(gsum + u * kNW, gs[u]);
    if (bsum) stv(bsum + u * kNW, bs[u]);
  }
}

// f(std::integral_constant<int, V>) for the V with C == 16 V (V <= kMaxRowVectors); false when none.
template <int V = 1, class F>
bool with_row_vectors(int C, F&& f) {
  if constexpr (V > kMaxRowVectors) {
    return false;
  } else {
    if (C != V * kLanes) return with_row_vectors<V + 1>(C, f);
    f(std::integral_constant<int, V>{});
    return true;
  }
}

void rows_forward_any(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                      const float* beta, int R, int C, float eps, bool rms) {
  // In place (y == x, no res) the generic loop's copy is skipped; the vector path reads the row
  // before writing it, so it is safe there too.
  if (!with_row_vectors(C, [&](auto v) { rows_forward_v<v()>(y, mean, rstd, x, res, gamma, beta, R, eps, rms); }))
    rows_forward(y, mean, rstd, x, res, gamma, beta, R, C, eps, rms);
}

void rows_backward_any(float* dx, bool acc_x, float* dres, bool acc_res, float* gsum, float* bsum, const float* dy,
                       const float* x, const float* res, const float* mean, const float* rstd, const float* gamma,
                       int R, int C, bool rms, float* work) {
  if (!with_row_vectors(C, [&](auto v) {
        rows_backward_v<v()>(dx, acc_x, dres, acc_res, gsum, bsum, dy, x, res, mean, rstd, gamma, R, rms);
      }))
    rows_backward(dx, acc_x, dres, acc_res, gsum, bsum, dy, x, res, mean, rstd, gamma, R, C, rms, work);
}

void fill_norm_from_body(NormKernels& k, const char* name) {
  k.name = name;
  k.rows_forward = rows_forward_any;
  k.rows_backward = rows_backward_any;
}

}  // namespace
}  // namespace bc

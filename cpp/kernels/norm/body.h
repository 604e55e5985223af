// Normalization row kernels compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and
// avx512.cpp include this file with their own flags. Anonymous namespace: the per-ISA copies never
// merge. Plain loops for the auto-vectorizer, FMA contraction off and fixed lanes for every sum,
// so every path gives the reference's bits (norm.h).
#pragma once
#include <cmath>

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

// ---- rows of C = 16 V (V <= 8): each row held in V lane vectors -------------------------------
// The generic loops above run C unknown at compile time: for a Transformer's short rows (d_model 32)
// their loop set-up and tails cost more than the arithmetic. Here the row stays in registers from
// load to store, and the weight gradients' partial sums stay in registers across the rows. Every
// element sees the same operations in the same order as above (lane l of vector v is element
// 16 v + l; lane sums start from +0 and add the vectors in order), so the bits are the same.
constexpr int kMaxRowVectors = 8;

// References, not values: a vector passed or returned by value changes the ABI by the file's flags.
BC_NORM_INLINE const lanes_vu& ldv(const float* p) { return *reinterpret_cast<const lanes_vu*>(p); }
BC_NORM_INLINE lanes_vu& at(float* p) { return *reinterpret_cast<lanes_vu*>(p); }

template <int V>
void rows_forward_v(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                    const float* beta, int R, float eps, bool rms) {
  constexpr int C = V * kLanes;
  const float inv_c = 1.0f / static_cast<float>(C);
  for (int r = 0; r < R; ++r) {
    const size_t o = static_cast<size_t>(r) * C;
    lanes_v s[V];
    for (int v = 0; v < V; ++v) s[v] = res ? ldv(x + o + v * kLanes) + ldv(res + o + v * kLanes) : ldv(x + o + v * kLanes);
    float mu = 0.0f;
    if (!rms) {
      lanes_v acc = {};
      for (int v = 0; v < V; ++v) acc += s[v];
      mu = lane_tree(acc) * inv_c;
      for (int v = 0; v < V; ++v) s[v] -= mu;
    }
    lanes_v acc = {};
    for (int v = 0; v < V; ++v) acc += s[v] * s[v];
    const float inv = 1.0f / std::sqrt(lane_tree(acc) * inv_c + eps);
    mean[r] = mu;
    rstd[r] = inv;
    for (int v = 0; v < V; ++v) {
      lanes_v t = s[v] * inv;
      if (gamma) t *= ldv(gamma + v * kLanes);
      if (beta) t += ldv(beta + v * kLanes);
      at(y + o + v * kLanes) = t;
    }
  }
}

template <int V>
void rows_backward_v(float* dx, bool acc_x, float* dres, bool acc_res, float* gsum, float* bsum, const float* dy,
                     const float* x, const float* res, const float* mean, const float* rstd, const float* gamma,
                     int R, bool rms) {
  constexpr int C = V * kLanes;
  const float inv_c = 1.0f / static_cast<float>(C);
  lanes_v gs[V], bs[V];
  for (int v = 0; v < V; ++v) {
    gs[v] = gsum ? ldv(gsum + v * kLanes) : lanes_v{};
    bs[v] = bsum ? ldv(bsum + v * kLanes) : lanes_v{};
  }
  for (int r = 0; r < R; ++r) {
    const size_t o = static_cast<size_t>(r) * C;
    const float mu = mean[r], inv = rstd[r];
    lanes_v xh[V], g[V];
    for (int v = 0; v < V; ++v) {
      const lanes_v s = res ? ldv(x + o + v * kLanes) + ldv(res + o + v * kLanes) : ldv(x + o + v * kLanes);
      xh[v] = (s - mu) * inv;
      const lanes_v d = ldv(dy + o + v * kLanes);
      gs[v] += d * xh[v];
      bs[v] += d;
      g[v] = gamma ? d * ldv(gamma + v * kLanes) : d;
    }
    if (!dx && !dres) continue;
    lanes_v sa = {}, sb = {};
    for (int v = 0; v < V; ++v) {
      sa += g[v];
      sb += g[v] * xh[v];
    }
    const float a = rms ? 0.0f : lane_tree(sa) * inv_c;
    const float b = lane_tree(sb) * inv_c;
    for (int v = 0; v < V; ++v) {
      const lanes_v d = ((g[v] - a) - xh[v] * b) * inv;
      if (dx) at(dx + o + v * kLanes) = acc_x ? ldv(dx + o + v * kLanes) + d : d;
      if (dres) at(dres + o + v * kLanes) = acc_res ? ldv(dres + o + v * kLanes) + d : d;
    }
  }
  for (int v = 0; v < V; ++v) {
    if (gsum) at(gsum + v * kLanes) = gs[v];
    if (bsum) at(bsum + v * kLanes) = bs[v];
  }
}

template <int V>
bool rows_forward_if(int C, float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                     const float* beta, int R, float eps, bool rms) {
  if constexpr (V > kMaxRowVectors) {
    return false;
  } else {
    if (C != V * kLanes) return rows_forward_if<V + 1>(C, y, mean, rstd, x, res, gamma, beta, R, eps, rms);
    rows_forward_v<V>(y, mean, rstd, x, res, gamma, beta, R, eps, rms);
    return true;
  }
}

template <int V>
bool rows_backward_if(int C, float* dx, bool acc_x, float* dres, bool acc_res, float* gsum, float* bsum,
                      const float* dy, const float* x, const float* res, const float* mean, const float* rstd,
                      const float* gamma, int R, bool rms) {
  if constexpr (V > kMaxRowVectors) {
    return false;
  } else {
    if (C != V * kLanes)
      return rows_backward_if<V + 1>(C, dx, acc_x, dres, acc_res, gsum, bsum, dy, x, res, mean, rstd, gamma, R, rms);
    rows_backward_v<V>(dx, acc_x, dres, acc_res, gsum, bsum, dy, x, res, mean, rstd, gamma, R, rms);
    return true;
  }
}

void rows_forward_any(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                      const float* beta, int R, int C, float eps, bool rms) {
  // In place (y == x, no res) the generic loop's copy is skipped; the vector path reads the row
  // before writing it, so it is safe there too.
  if (!rows_forward_if<1>(C, y, mean, rstd, x, res, gamma, beta, R, eps, rms))
    rows_forward(y, mean, rstd, x, res, gamma, beta, R, C, eps, rms);
}

void rows_backward_any(float* dx, bool acc_x, float* dres, bool acc_res, float* gsum, float* bsum, const float* dy,
                       const float* x, const float* res, const float* mean, const float* rstd, const float* gamma,
                       int R, int C, bool rms, float* work) {
  if (!rows_backward_if<1>(C, dx, acc_x, dres, acc_res, gsum, bsum, dy, x, res, mean, rstd, gamma, R, rms))
    rows_backward(dx, acc_x, dres, acc_res, gsum, bsum, dy, x, res, mean, rstd, gamma, R, C, rms, work);
}

void fill_norm_from_body(NormKernels& k, const char* name) {
  k.name = name;
  k.rows_forward = rows_forward_any;
  k.rows_backward = rows_backward_any;
}

}  // namespace
}  // namespace bc

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

void fill_norm_from_body(NormKernels& k, const char* name) {
  k.name = name;
  k.rows_forward = rows_forward;
  k.rows_backward = rows_backward;
}

}  // namespace
}  // namespace bc

// Attention tile kernels compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and avx512.cpp
// include this file with their own flags. Anonymous namespace: the per-ISA copies never merge.
// Plain loops for the auto-vectorizer with a fixed operation order and FMA contraction off, so
// every path gives the reference's bits (attention.h).
#pragma once
#include <cmath>
#include <cstring>
#include <limits>

#include "core/rng.h"
#include "kernels/attention/attention.h"
#include "kernels/float/math.h"  // kLanes, exp_f, lane_sum (shared, same bits)

namespace bc {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The largest allowed value of x (n) (-inf when none): kLanes running maxima, so the loop vectorizes
// (a max does not depend on the order).
inline float lane_max(const float* x, const float* allow, int n) {
  float acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = kNegInf;
  int i = 0;
  if (allow) {
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] = (allow[i + l] != 0.0f && x[i + l] > acc[l]) ? x[i + l] : acc[l];
    for (int l = 0; i < n; ++i, ++l) acc[l] = (allow[i] != 0.0f && x[i] > acc[l]) ? x[i] : acc[l];
  } else {
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    for (int l = 0; i < n; ++i, ++l) acc[l] = x[i] > acc[l] ? x[i] : acc[l];
  }
  float mx = acc[0];
  for (int l = 1; l < kLanes; ++l) mx = acc[l] > mx ? acc[l] : mx;
  return mx;
}

void online_softmax(float* s, const float* allow, int R, int C, int ld, float* m, float* l, float* alpha) {
  for (int r = 0; r < R; ++r) {
    float* row = s + static_cast<size_t>(r) * ld;
    const float* a = allow ? allow + static_cast<size_t>(r) * ld : nullptr;
    const float mx = lane_max(row, a, C);
    const float m_new = m[r] > mx ? m[r] : mx;
    if (m_new == kNegInf) {  // nothing allowed yet in this row
      alpha[r] = 0.0f;
      for (int j = 0; j < C; ++j) row[j] = 0.0f;
      continue;
    }
    alpha[r] = m[r] == kNegInf ? 0.0f : exp_f(m[r] - m_new);
    if (a) {
      for (int j = 0; j < C; ++j) {
        const float p = exp_f(row[j] - m_new);
        row[j] = a[j] != 0.0f ? p : 0.0f;
      }
    } else {
      for (int j = 0; j < C; ++j) row[j] = exp_f(row[j] - m_new);
    }
    l[r] = l[r] * alpha[r] + lane_sum(row, C);
    m[r] = m_new;
  }
}

void probs_from_lse(float* s, const float* allow, int R, int C, int ld, const float* lse) {
  for (int r = 0; r < R; ++r) {
    float* row = s + static_cast<size_t>(r) * ld;
    const float* a = allow ? allow + static_cast<size_t>(r) * ld : nullptr;
    const float z = lse[r];
    if (a) {
      for (int j = 0; j < C; ++j) {
        const float p = exp_f(row[j] - z);
        row[j] = a[j] != 0.0f ? p : 0.0f;
      }
    } else {
      for (int j = 0; j < C; ++j) row[j] = exp_f(row[j] - z);
    }
  }
}

void dropout_scale(float* keep, int R, int C, int ld, const uint64_t* idx0, uint64_t key, float rate) {
  const float inv = 1.0f / (1.0f - rate);
  for (int r = 0; r < R; ++r) {
    float* row = keep + static_cast<size_t>(r) * ld;
    const uint64_t base = idx0[r];
    for (int j = 0; j < C; ++j) row[j] = rng_uniform(key, base + j) >= rate ? inv : 0.0f;
  }
}

void softmax_grad(float* dp, const float* p, int R, int C, int ld, const float* D, float scale) {
  for (int r = 0; r < R; ++r) {
    float* d = dp + static_cast<size_t>(r) * ld;
    const float* pr = p + static_cast<size_t>(r) * ld;
    const float Dr = D[r];
    for (int j = 0; j < C; ++j) d[j] = (pr[j] * (d[j] - Dr)) * scale;
  }
}

void row_dot(float* out, const float* a, int lda, const float* b, int ldb, int R, int C) {
  for (int r = 0; r < R; ++r) {
    const float* x = a + static_cast<size_t>(r) * lda;
    const float* y = b + static_cast<size_t>(r) * ldb;
    float acc[kLanes] = {0};
    int j = 0;
    for (; j + kLanes <= C; j += kLanes)
      for (int q = 0; q < kLanes; ++q) acc[q] += x[j + q] * y[j + q];
    for (int q = 0; j < C; ++j, ++q) acc[q] += x[j] * y[j];
    for (int w = kLanes / 2; w > 0; w /= 2)
      for (int q = 0; q < w; ++q) acc[q] += acc[q + w];
    out[r] = acc[0];
  }
}

void fill_attention_from_body(AttnKernels& k, const char* name) {
  k.name = name;
  k.online_softmax = online_softmax;
  k.probs_from_lse = probs_from_lse;
  k.dropout_scale = dropout_scale;
  k.softmax_grad = softmax_grad;
  k.row_dot = row_dot;
}

}  // namespace
}  // namespace bc

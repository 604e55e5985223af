// Attention tile kernels compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and avx512.cpp
// include this file with their own flags. Anonymous namespace: the per-ISA copies never merge.
// Plain loops for the auto-vectorizer with a fixed operation order and FMA contraction off, so
// every path gives the reference's bits (attention.h).
#pragma once
#include <cmath>
#include <cstdint>
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

// ---- the materialized-tile path: keys as rows, queries as columns (attention.h) --------------
// One vector of kW query columns per step, GCC vector extensions (SSE2 / AVX2 / AVX-512 registers
// by the file's flags). Every column is its own lane with the same operations in the same order,
// so the vector width never changes the bits.
#if defined(__AVX512F__)
constexpr int kW = 16;
#elif defined(__AVX2__)
constexpr int kW = 8;
#else
constexpr int kW = 4;
#endif
typedef float vf __attribute__((vector_size(kW * 4)));
typedef int32_t vi __attribute__((vector_size(kW * 4)));
typedef float vfu __attribute__((vector_size(kW * 4), aligned(4), may_alias));

inline vf splat(float x) { return vf{} + x; }
inline vf load_n(const float* p, int n) {  // n == kW: one unaligned load; else the first n, zeros after
  if (n == kW) return *reinterpret_cast<const vfu*>(p);
  vf v{};
  for (int l = 0; l < n; ++l) v[l] = p[l];
  return v;
}
inline void store_n(float* p, vf v, int n) {
  if (n == kW) {
    *reinterpret_cast<vfu*>(p) = v;
    return;
  }
  for (int l = 0; l < n; ++l) p[l] = v[l];
}

// exp_f (kernels/float/math.h) lane by lane: the same operations, so the same bits.
inline vf exp_v(vf x) {
  x = x < splat(-87.3f) ? splat(-87.3f) : x;
  x = x > splat(88.7f) ? splat(88.7f) : x;
  const vf magic = splat(12582912.0f);
  vf n = (x * 1.44269504088896341f + magic) - magic;
  n = n == n ? n : vf{};
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return p * reinterpret_cast<vf>(bits);
}

void exp_inplace(float* x, size_t n) {
  for (size_t i = 0; i < n; i += kW) {
    const int c = static_cast<int>(n - i < static_cast<size_t>(kW) ? n - i : kW);
    store_n(x + i, exp_v(load_n(x + i, c)), c);
  }
}

// s (S x Tq, ld; -inf = masked) -> the weights exp(s - m) / l of each column, 0 in a column that
// allows nothing (lse -inf). l: four partial sums over the rows j % 4, then (l0 + l1) + (l2 + l3).
void col_softmax(float* s, int S, int Tq, int ld, float* lse, float* work) {
  float* inv_l = work;
  const vf ninf = splat(kNegInf);
  for (int i0 = 0; i0 < Tq; i0 += kW) {
    const int c = Tq - i0 < kW ? Tq - i0 : kW;
    vf mx = ninf;
    for (int j = 0; j < S; ++j) {
      const vf x = load_n(s + static_cast<size_t>(j) * ld + i0, c);
      mx = x > mx ? x : mx;
    }
    const vf full = mx == ninf ? splat(1.0f) : vf{};
    mx = mx == ninf ? vf{} : mx;
    vf acc[4] = {vf{}, vf{}, vf{}, vf{}};
    for (int j = 0; j < S; ++j) {
      float* row = s + static_cast<size_t>(j) * ld + i0;
      const vf x = load_n(row, c);
      const vf e = x == ninf ? vf{} : exp_v(x - mx);
      acc[j & 3] += e;
      store_n(row, e, c);
    }
    const vf sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    const vf inv = full != vf{} ? vf{} : splat(1.0f) / sum;
    store_n(inv_l + i0, inv, c);
    for (int l2 = 0; l2 < c; ++l2)
      lse[i0 + l2] = full[l2] != 0.0f ? kNegInf : mx[l2] + std::log(sum[l2]);
  }
  for (int j = 0; j < S; ++j) {
    float* row = s + static_cast<size_t>(j) * ld;
    for (int i0 = 0; i0 < Tq; i0 += kW) {
      const int c = Tq - i0 < kW ? Tq - i0 : kW;
      store_n(row + i0, load_n(row + i0, c) * load_n(inv_l + i0, c), c);
    }
  }
}

// s (S x Tq, ld; -inf = masked) -> exp(s - lse[i]), 0 where masked or lse[i] is -inf.
void col_probs_from_lse(float* s, int S, int Tq, int ld, const float* lse) {
  const vf ninf = splat(kNegInf);
  for (int j = 0; j < S; ++j) {
    float* row = s + static_cast<size_t>(j) * ld;
    for (int i0 = 0; i0 < Tq; i0 += kW) {
      const int c = Tq - i0 < kW ? Tq - i0 : kW;
      const vf z = load_n(lse + i0, c), x = load_n(row + i0, c);
      const vf e = (x == ninf) | (z == ninf) ? vf{} : exp_v(x - z);
      store_n(row + i0, e, c);
    }
  }
}

// dp (S x Tq, ld) -> p * (dp - D[i]) * scale.
void col_softmax_grad(float* dp, const float* p, int S, int Tq, int ld, const float* D, float scale) {
  for (int j = 0; j < S; ++j) {
    float* d = dp + static_cast<size_t>(j) * ld;
    const float* pr = p + static_cast<size_t>(j) * ld;
    for (int i0 = 0; i0 < Tq; i0 += kW) {
      const int c = Tq - i0 < kW ? Tq - i0 : kW;
      store_n(d + i0, (load_n(pr + i0, c) * (load_n(d + i0, c) - load_n(D + i0, c))) * scale, c);
    }
  }
}

void fill_attention_from_body(AttnKernels& k, const char* name) {
  k.name = name;
  k.online_softmax = online_softmax;
  k.probs_from_lse = probs_from_lse;
  k.dropout_scale = dropout_scale;
  k.softmax_grad = softmax_grad;
  k.row_dot = row_dot;
  k.exp = exp_inplace;
  k.col_softmax = col_softmax;
  k.col_probs_from_lse = col_probs_from_lse;
  k.col_softmax_grad = col_softmax_grad;
}

}  // namespace
}  // namespace bc

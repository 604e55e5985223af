// The small-M GEMM (a few rows: batch-1 serving, the RNN's per-step recurrent product), compiled
// once per ISA by the per-ISA files after body.h (same anonymous-namespace rules: see there).
//
// y (M,N) = x (M,K) @ W (K,N), or y += x @ W. Each output starts from 0 (or y) and adds its K
// products in the order k = 0..K-1 with one fused multiply-add each (correctly rounded, so the bits
// do not depend on the ISA; the ref path calls std::fma). Only the columns are vectorized, so every
// path gives the same bits, and a row's result does not depend on the other rows in the call.
// GCC vector extensions hold the accumulators, one register each.
#pragma once
#include <immintrin.h>

#include <cmath>

#include "kernels/float/body.h"

namespace bc {
namespace {

// Per ISA: vec, the widest float vector (kL lanes); madd(a, x, w) = a + x * w with one rounding;
// load_part / store_part move the first n < kL lanes (the rest load as zero).
#if defined(__AVX512F__)
constexpr int kL = 16, kAcc = 16;  // 32 registers: 16 accumulators
typedef float vec __attribute__((vector_size(64)));
#define BC_INLINE inline __attribute__((always_inline))
BC_INLINE vec madd(vec a, float x, vec w) {
  return reinterpret_cast<vec>(_mm512_fmadd_ps(_mm512_set1_ps(x), reinterpret_cast<__m512>(w), reinterpret_cast<__m512>(a)));
}
BC_INLINE vec load_part(const float* p, int n) {
  return reinterpret_cast<vec>(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p));
}
BC_INLINE void store_part(float* p, vec v, int n) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), reinterpret_cast<__m512>(v));
}
#elif defined(__AVX2__)
constexpr int kL = 8, kAcc = 8;  // 16 registers: 8 accumulators
typedef float vec __attribute__((vector_size(32)));
#define BC_INLINE inline __attribute__((always_inline))
BC_INLINE vec madd(vec a, float x, vec w) {
  return reinterpret_cast<vec>(_mm256_fmadd_ps(_mm256_set1_ps(x), reinterpret_cast<__m256>(w), reinterpret_cast<__m256>(a)));
}
BC_INLINE __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
BC_INLINE vec load_part(const float* p, int n) { return reinterpret_cast<vec>(_mm256_maskload_ps(p, lane_mask(n))); }
BC_INLINE void store_part(float* p, vec v, int n) {
  _mm256_maskstore_ps(p, lane_mask(n), reinterpret_cast<__m256>(v));
}
#else
constexpr int kL = 4, kAcc = 8;
typedef float vec __attribute__((vector_size(16)));
#define BC_INLINE inline __attribute__((always_inline))
BC_INLINE vec madd(vec a, float x, vec w) {  // no FMA instruction on this path: std::fma, same bits
  for (int l = 0; l < kL; ++l) a[l] = std::fma(x, w[l], a[l]);
  return a;
}
#endif
#if !defined(__AVX512F__) && !defined(__AVX2__)
BC_INLINE vec load_part(const float* p, int n) {
  vec v{};
  for (int l = 0; l < n; ++l) v[l] = p[l];
  return v;
}
BC_INLINE void store_part(float* p, vec v, int n) {
  for (int l = 0; l < n; ++l) p[l] = v[l];
}
#endif
typedef float vecu __attribute__((vector_size(sizeof(vec)), aligned(4), may_alias));  // unaligned access
BC_INLINE vec load_vec(const float* p) { return *reinterpret_cast<const vecu*>(p); }
BC_INLINE void store_vec(float* p, vec v) { *reinterpret_cast<vecu*>(p) = v; }

// R rows x (kL * V) columns starting at column 0 of y (n < kL: one partial vector of n columns).
template <int R, int V>
BC_INLINE void small_gemm_block(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int K,
                                bool acc, int n = kL) {
  vec a[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      const float* yr = y + static_cast<size_t>(r) * ldy + kL * v;
      a[r][v] = !acc ? vec{} : (n == kL ? load_vec(yr) : load_part(yr, n));
    }
  for (int k = 0; k < K; ++k) {
    const float* w = W + static_cast<size_t>(k) * ldw;
    vec wv[V];
    for (int v = 0; v < V; ++v) wv[v] = n == kL ? load_vec(w + kL * v) : load_part(w + kL * v, n);
    for (int r = 0; r < R; ++r) {
      const float xr = x[static_cast<size_t>(r) * ldx + k];
      for (int v = 0; v < V; ++v) a[r][v] = madd(a[r][v], xr, wv[v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* yr = y + static_cast<size_t>(r) * ldy + kL * v;
      if (n == kL) store_vec(yr, a[r][v]);
      else store_part(yr, a[r][v], n);
    }
}

// Columns from j on in blocks of kL * V, then V / 2, ... 1 vectors; returns the first column left.
template <int R, int V>
int small_gemm_cols(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int N, int K, bool acc,
                    int j) {
  for (; j + kL * V <= N; j += kL * V) small_gemm_block<R, V>(y + j, ldy, x, ldx, W + j, ldw, K, acc);
  if constexpr (V > 1) return small_gemm_cols<R, V / 2>(y, ldy, x, ldx, W, ldw, N, K, acc, j);
  return j;
}

// R rows, all N columns: kAcc accumulators (R x V) when N allows, enough to hide the add latency.
template <int R>
void small_gemm_rows(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int N, int K,
                     bool acc) {
  constexpr int V = R == 1 ? kAcc : (R == 2 ? kAcc / 2 : kAcc / 4);
  int j = small_gemm_cols<R, V>(y, ldy, x, ldx, W, ldw, N, K, acc, 0);
  if (j < N) small_gemm_block<R, 1>(y + j, ldy, x, ldx, W + j, ldw, K, acc, N - j);
}

// y (M,N) (+)= x (M,K) @ W (K,N), row-major with leading dimensions; rows in groups of 4.
void small_gemm(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K,
                bool accumulate) {
  int i = 0;
  for (; i + 4 <= M; i += 4)
    small_gemm_rows<4>(y + static_cast<size_t>(i) * ldy, ldy, x + static_cast<size_t>(i) * ldx, ldx, W, ldw, N, K,
                       accumulate);
  float* yi = y + static_cast<size_t>(i) * ldy;
  const float* xi = x + static_cast<size_t>(i) * ldx;
  switch (M - i) {
    case 3: small_gemm_rows<3>(yi, ldy, xi, ldx, W, ldw, N, K, accumulate); break;
    case 2: small_gemm_rows<2>(yi, ldy, xi, ldx, W, ldw, N, K, accumulate); break;
    case 1: small_gemm_rows<1>(yi, ldy, xi, ldx, W, ldw, N, K, accumulate); break;
    default: break;
  }
}

void fill_small_gemm_from_impl(Kernels& k) { k.small_gemm = small_gemm; }

}  // namespace
}  // namespace bc

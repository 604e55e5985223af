// Attention tile kernels compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and avx512.cpp
// include this file with their own flags. Anonymous namespace: the per-ISA copies never merge.
// Plain loops for the auto-vectorizer with a fixed operation order and FMA contraction off, so
// every path gives the reference's bits (attention.h).
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/rng.h"
#include "kernels/attention/attention.h"
#include "kernels/float/math.h"  // kLanes, exp_f, lane_sum, lane_dot (shared, same bits)

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
    if (m_new == kNegInf) {  // nothing allowed yet in this row, or only NaN scores (the max skips them)
      bool nan = false;
      for (int j = 0; j < C; ++j) nan = nan || ((!a || a[j] != 0.0f) && row[j] != row[j]);
      if (nan) {  // NaN from here on: alpha and l NaN make the output and lse NaN
        alpha[r] = l[r] = m[r] = std::numeric_limits<float>::quiet_NaN();
        for (int j = 0; j < C; ++j) row[j] = alpha[r];
        continue;
      }
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

// dropout_scale (attention.h): a vector of kW columns at a time, their draws' low words hashed in
// 32-bit lanes as the float kernels' Dropout does; a vector whose indices cross a multiple of 2^32
// (their high words differ), and the masked tail's lanes, take drop_bits24 itself: the same bits.
void dropout_scale(float* keep, int R, int C, int ld, uint64_t first, uint64_t row_step, uint64_t col_step,
                   uint64_t key, float rate);

void softmax_grad(float* dp, const float* p, int R, int C, int ld, const float* D, float scale) {
  for (int r = 0; r < R; ++r) {
    float* d = dp + static_cast<size_t>(r) * ld;
    const float* pr = p + static_cast<size_t>(r) * ld;
    const float Dr = D[r];
    for (int j = 0; j < C; ++j) d[j] = (pr[j] * (d[j] - Dr)) * scale;
  }
}

// Short rows (a head's width: D = dout . o) add their products in column order, a row at a time:
// the rows' chains overlap, where lane_dot's horizontal tree cost ~90 cycles a 16-wide row. Long
// rows (dprobs . probs over the keys) keep lane_dot's lanes. Either way a fixed order per shape.
constexpr int kRowDotSerialMax = 32;
void row_dot(float* out, const float* a, int lda, const float* b, int ldb, int R, int C) {
  if (C > kRowDotSerialMax) {
    for (int r = 0; r < R; ++r)
      out[r] = lane_dot(a + static_cast<size_t>(r) * lda, b + static_cast<size_t>(r) * ldb, C);
    return;
  }
  for (int r = 0; r < R; ++r) {
    const float* ar = a + static_cast<size_t>(r) * lda;
    const float* br = b + static_cast<size_t>(r) * ldb;
    float acc = 0.0f;
    for (int j = 0; j < C; ++j) acc += ar[j] * br[j];
    out[r] = acc;
  }
}

// ---- the materialized-tile path: keys as rows, queries as columns (attention.h) --------------
// One vector of kW query columns per step, GCC vector extensions (SSE2 / AVX2 / AVX-512 registers
// by the file's flags). Every column is its own lane with the same operations in the same order,
// so the vector width never changes the bits. Each kernel runs its full vectors, then the last
// n < kW columns with masked loads and stores (by_chunks), both from one generic body.
constexpr int kW = kPathW;
typedef path_vf vf;
typedef path_vi vi;
typedef path_vfu vfu;
#define BC_ATT_INLINE inline __attribute__((always_inline))

struct Full {};  // a whole vector of columns
BC_ATT_INLINE vf ld(const float* p, Full) { return *reinterpret_cast<const vfu*>(p); }
BC_ATT_INLINE void st(float* p, vf v, Full) { *reinterpret_cast<vfu*>(p) = v; }
#if defined(__AVX512F__)
BC_ATT_INLINE vf ld(const float* p, int n) {
  return reinterpret_cast<vf>(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p));
}
BC_ATT_INLINE void st(float* p, vf v, int n) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), reinterpret_cast<__m512>(v));
}
#elif defined(__AVX2__)
BC_ATT_INLINE __m256i lanes_below(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
BC_ATT_INLINE vf ld(const float* p, int n) { return reinterpret_cast<vf>(_mm256_maskload_ps(p, lanes_below(n))); }
BC_ATT_INLINE void st(float* p, vf v, int n) { _mm256_maskstore_ps(p, lanes_below(n), reinterpret_cast<__m256>(v)); }
#else
BC_ATT_INLINE vf ld(const float* p, int n) {
  vf v{};
  for (int l = 0; l < n; ++l) v[l] = p[l];
  return v;
}
BC_ATT_INLINE void st(float* p, vf v, int n) {
  for (int l = 0; l < n; ++l) p[l] = v[l];
}
#endif

// f(i0, Full{}) for each whole vector of columns, then f(i0, n) for the n < kW left.
template <class F>
BC_ATT_INLINE void by_chunks(int Tq, F&& f) {
  int i0 = 0;
  for (; i0 + kW <= Tq; i0 += kW) f(i0, Full{});
  if (i0 < Tq) f(i0, Tq - i0);
}

// 2^x for x <= 0 or NaN (a log2-domain score minus its column's max or log2-sum): Cephes exp2f's
// polynomial (~1 ulp) on f = x - round(x), then round(x) added to the exponent bits. Against exp_fma_v:
// no Cody-Waite reduction and no final multiply, 6 multiply-adds instead of 11 multiplies, which is
// what bounds these loops. x clamped at -125: 2^-125 is still normal, so the exponent add is exact;
// the scores' -inf is masked by the callers. A NaN x stays NaN (the max keeps it, the add keeps it).
BC_ATT_INLINE vf exp2_v(vf x) {
  x = vmax(splat(-125.0f), x);
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const vf n = (x + magic) - magic;
  const vf f = x - n;  // exact, in [-0.5, 0.5]
  vf p = splat(1.535336188319500e-4f);
  p = fma_v(splat(1.339887440266574e-3f), p, f);
  p = fma_v(splat(9.618437357674640e-3f), p, f);
  p = fma_v(splat(5.550332471162809e-2f), p, f);
  p = fma_v(splat(2.402264791363012e-1f), p, f);
  p = fma_v(splat(6.931472028550421e-1f), p, f);
  p = fma_v(splat(1.0f), p, f);
  const vi bits = __builtin_convertvector(n, vi) << 23;
  return reinterpret_cast<vf>(reinterpret_cast<vi>(p) + bits);
}

// exp: math.h's exp_fma_v (Cephes expf, ~1 ulp, with fused multiply-adds: fma_v rounds once on
// every path, so the bits match across paths, not exp_f's).
void exp_inplace(float* x, size_t n) {
  size_t i = 0;
  for (; i + kW <= n; i += kW) st(x + i, exp_fma_v(ld(x + i, Full{})), Full{});
  if (i < n) st(x + i, exp_fma_v(ld(x + i, static_cast<int>(n - i))), static_cast<int>(n - i));
}

// The tile path's scores are in log2 units (the queries are scaled by log2(e) as well), so that its
// exponentials are exp2_v's: exp2(s2 - m2) = exp(s - m), and lse is handed back in natural units.
constexpr float kLn2 = 0.693147180559945309f;

// s (S x Tq, ld; log2 units, -inf = masked) -> 2^(s - m) of each column, unnormalized; inv_l = 1 / l,
// 0 in a column that allows nothing (lse -inf); lse = (m + log2 l) ln 2. l: four partial sums over the
// rows j % 4, then (l0 + l1) + (l2 + l3); m: four partial maxima (a max does not depend on the order).
void col_softmax(float* s, int S, int Tq, int ld_s, float* lse, float* inv_l) {
  const vf ninf = splat(kNegInf);
  by_chunks(Tq, [&](int i0, auto c) {
    vf m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;  // vmax(x, m): a NaN score is skipped
    int j = 0;
    for (; j + 4 <= S; j += 4) {
      const float* r = s + static_cast<size_t>(j) * ld_s + i0;
      m0 = vmax(ld(r, c), m0);
      m1 = vmax(ld(r + ld_s, c), m1);
      m2 = vmax(ld(r + 2 * static_cast<size_t>(ld_s), c), m2);
      m3 = vmax(ld(r + 3 * static_cast<size_t>(ld_s), c), m3);
    }
    for (; j < S; ++j) m0 = vmax(ld(s + static_cast<size_t>(j) * ld_s + i0, c), m0);
    vf mx = vmax(vmax(m0, m1), vmax(m2, m3));
    mx = mx == ninf ? vf{} : mx;
    auto e_at = [&](int j) {
      float* row = s + static_cast<size_t>(j) * ld_s + i0;
      const vf x = ld(row, c);
      const vf e = x == ninf ? vf{} : exp2_v(x - mx);
      st(row, e, c);
      return e;
    };
    vf a0{}, a1{}, a2{}, a3{};
    j = 0;
    for (; j + 4 <= S; j += 4) {
      a0 += e_at(j);
      a1 += e_at(j + 1);
      a2 += e_at(j + 2);
      a3 += e_at(j + 3);
    }
    if (j < S) a0 += e_at(j++);
    if (j < S) a1 += e_at(j++);
    if (j < S) a2 += e_at(j++);
    const vf sum = (a0 + a1) + (a2 + a3);
    // Nothing allowed: every score -inf, so the sum is 0 (an allowed max adds 2^0 = 1). A NaN
    // score (which the max skips, even in a column of nothing else) makes the sum NaN: NaN out.
    const auto full = sum == vf{};
    st(inv_l + i0, full ? vf{} : splat(1.0f) / sum, c);
    float tmp_m[kW], tmp_s[kW];
    st(tmp_m, mx, Full{});
    st(tmp_s, sum, Full{});
    const vf fl = full ? splat(1.0f) : vf{};
    for (int l = 0; l < kW && i0 + l < Tq; ++l)
      lse[i0 + l] = fl[l] != 0.0f ? kNegInf : (tmp_m[l] + std::log2(tmp_s[l])) * kLn2;
  });
}

// s (S x Tq, ld; log2 units, -inf = masked) -> 2^(s - z2[i]), 0 where masked or z2[i] is -inf
// (z2 = lse log2(e): col_softmax's m + log2 l again, to a rounding).
void col_probs_from_lse(float* s, int S, int Tq, int ld_s, const float* z2) {
  const vf ninf = splat(kNegInf);
  for (int j = 0; j < S; ++j) {
    float* row = s + static_cast<size_t>(j) * ld_s;
    by_chunks(Tq, [&](int i0, auto c) {
      const vf z = ld(z2 + i0, c), x = ld(row + i0, c);
      st(row + i0, (x == ninf) | (z == ninf) ? vf{} : exp2_v(x - z), c);
    });
  }
}

// s (scores) -> p (as col_probs_from_lse) and dp (S x Tq, ld) -> p * (dp - D[i]) * scale.
void col_probs_grad(float* s, float* dp, int S, int Tq, int ld_s, const float* z2, const float* D, float scale) {
  const vf ninf = splat(kNegInf);
  for (int j = 0; j < S; ++j) {
    float* row = s + static_cast<size_t>(j) * ld_s;
    float* d = dp + static_cast<size_t>(j) * ld_s;
    by_chunks(Tq, [&](int i0, auto c) {
      const vf z = ld(z2 + i0, c), x = ld(row + i0, c);
      const vf p = (x == ninf) | (z == ninf) ? vf{} : exp2_v(x - z);
      st(row + i0, p, c);
      st(d + i0, (p * (ld(d + i0, c) - ld(D + i0, c))) * scale, c);
    });
  }
}

typedef uint32_t vu32 __attribute__((vector_size(kW * 4)));

void dropout_scale(float* keep, int R, int C, int ld, uint64_t first, uint64_t row_step, uint64_t col_step,
                   uint64_t key, float rate) {
  const float inv = 1.0f / (1.0f - rate);
  vu32 lane;
  for (int l = 0; l < kW; ++l) lane[l] = static_cast<uint32_t>(l) * static_cast<uint32_t>(col_step);
  for (int r = 0; r < R; ++r) {
    float* row = keep + static_cast<size_t>(r) * ld;
    const uint64_t r0 = first + static_cast<uint64_t>(r) * row_step;
    by_chunks(C, [&](int c0, auto c) {
      const uint64_t e = r0 + static_cast<uint64_t>(c0) * col_step, last = e + (kW - 1) * col_step;
      vf u;
      if ((e >> 32) == (last >> 32)) {
        const vu32 h = drop_bits24_lo(key, e, static_cast<uint32_t>(e) + lane);
        u = __builtin_convertvector(reinterpret_cast<vi>(h), vf) * (1.0f / 16777216.0f);
      } else {
        for (int l = 0; l < kW; ++l)
          u[l] = static_cast<float>(static_cast<int32_t>(drop_bits24(key, e + l * col_step))) * (1.0f / 16777216.0f);
      }
      st(row + c0, u >= rate ? splat(inv) : vf{}, c);
    });
  }
}

// R rows x V vectors of y; the last vector is n columns wide (C: Full or int).
template <int R, int V, class C>
BC_ATT_INLINE void narrow_block(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int K, bool acc,
                                C n) {
  vf a[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      const float* yr = y + static_cast<size_t>(r) * ldy + kW * v;
      a[r][v] = !acc ? vf{} : (v + 1 < V ? ld(yr, Full{}) : ld(yr, n));
    }
  for (int k = 0; k < K; ++k) {
    const float* w = W + static_cast<size_t>(k) * ldw;
    vf wv[V];
    for (int v = 0; v < V; ++v) wv[v] = v + 1 < V ? ld(w + kW * v, Full{}) : ld(w + kW * v, n);
    for (int r = 0; r < R; ++r) {
      const vf xr = splat(x[static_cast<size_t>(r) * ldx + k]);
      for (int v = 0; v < V; ++v) a[r][v] = fma_v(a[r][v], xr, wv[v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* yr = y + static_cast<size_t>(r) * ldy + kW * v;
      if (v + 1 < V) st(yr, a[r][v], Full{});
      else st(yr, a[r][v], n);
    }
}

template <int V, class C>
void narrow_rows(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int K, bool acc, C n) {
  constexpr int R = V == 1 ? 8 : (V == 2 ? 6 : (V == 3 ? 3 : 2));
  int i = 0;
  for (; i + R <= M; i += R)
    narrow_block<R, V>(y + static_cast<size_t>(i) * ldy, ldy, x + static_cast<size_t>(i) * ldx, ldx, W, ldw, K, acc,
                       n);
  for (; i < M; ++i)
    narrow_block<1, V>(y + static_cast<size_t>(i) * ldy, ldy, x + static_cast<size_t>(i) * ldx, ldx, W, ldw, K, acc,
                       n);
}

template <int V>
void narrow_cols(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int K, bool acc, int n) {
  if (n == kW) narrow_rows<V>(y, ldy, x, ldx, W, ldw, M, K, acc, Full{});
  else narrow_rows<V>(y, ldy, x, ldx, W, ldw, M, K, acc, n);
}

// y (M x N) (+)= x (M x K) @ W (K x N) for N <= 4 kW, with small_gemm's bits (each output: its K
// products in k order, one fused multiply-add each) but more rows in flight: the tile path's
// products over queries into a head's few columns (dV, dK), whose long sums would otherwise wait
// on the add latency. Wider N: false (the caller takes small_gemm).
bool narrow_gemm(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K, bool acc) {
  const int V = (N + kW - 1) / kW, n = N - (V - 1) * kW;
  switch (V) {
    case 1: narrow_cols<1>(y, ldy, x, ldx, W, ldw, M, K, acc, n); return true;
    case 2: narrow_cols<2>(y, ldy, x, ldx, W, ldw, M, K, acc, n); return true;
    case 3: narrow_cols<3>(y, ldy, x, ldx, W, ldw, M, K, acc, n); return true;
    case 4: narrow_cols<4>(y, ldy, x, ldx, W, ldw, M, K, acc, n); return true;
    default: return false;
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
  k.col_probs_grad = col_probs_grad;
  k.narrow_gemm = narrow_gemm;
}

}  // namespace
}  // namespace bc

// bigcore's own float GEMM (the dense layers, the RNN's input and per-step recurrent products, the
// weight gradients, attention tiles), compiled once per ISA by the per-ISA files after body.h (same
// anonymous-namespace rules: see there). W is read in its own row-major layout (a panel is kKc rows
// of kL * kPanelV floats); only a large product packs its panels first (gemm_many_rows), to keep
// them within a few pages, which changes no product and no order.
//
// y (M,N) = op(x) (M,K) @ W (K,N), or y += op(x) @ W. Each output starts from 0 (or y) and adds its K
// products in the order k = 0..K-1 with one fused multiply-add each (correctly rounded, so the bits
// do not depend on the ISA; the ref path calls std::fma). Only the columns are vectorized, so every
// path gives the same bits, and a row's result does not depend on the other rows in the call, on how
// the caller cuts the product into tiles or on the thread count: a prediction does not depend on the
// batch it is in.
// GCC vector extensions hold the accumulators, one register each.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

// Element (r, k) of op(x): x[r * ldx + k], or x[k * ldx + r] when TA (x stored transposed, K x M).
template <bool TA>
BC_INLINE float x_at(const float* x, int ldx, int r, int k) {
  return TA ? x[static_cast<size_t>(k) * ldx + r] : x[static_cast<size_t>(r) * ldx + k];
}

// R rows x (kL * V) columns starting at column 0 of y (n < kL: the last vector holds n columns),
// over k in [k0, k1): the accumulators start from y when `load` (an earlier k block, or y +=),
// else from 0, so each output still adds its products in the order k = 0..K-1.
// pf: a panel to fetch into the caches meanwhile, a line per k (the next panel of W, so that its
// first rows group does not wait on L3 line by line).
template <int R, int V, bool TA, bool PF = false>
BC_INLINE void small_gemm_block(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int k0,
                                int k1, bool load, int n = kL, const float* pf = nullptr) {
  vec a[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      const float* yr = y + static_cast<size_t>(r) * ldy + kL * v;
      a[r][v] = !load ? vec{} : (v < V - 1 || n == kL ? load_vec(yr) : load_part(yr, n));
    }
  // Unrolled by 4: fewer loop instructions competing with the multiply-adds for issue slots (best of 5
  // on one core: AVX2 +4-9% over 256-1024 deep products, AVX-512 +0-6%). Same operations, same order.
#pragma GCC unroll 4
  for (int k = k0; k < k1; ++k) {
    const float* w = W + static_cast<size_t>(k) * ldw;
    if constexpr (PF) __builtin_prefetch(pf + static_cast<size_t>(k - k0) * 16, 0, 3);
    vec wv[V];
    for (int v = 0; v < V; ++v)
      wv[v] = v < V - 1 || n == kL ? load_vec(w + kL * v) : load_part(w + kL * v, n);
    for (int r = 0; r < R; ++r) {
      const float xr = x_at<TA>(x, ldx, r, k);
      for (int v = 0; v < V; ++v) a[r][v] = madd(a[r][v], xr, wv[v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* yr = y + static_cast<size_t>(r) * ldy + kL * v;
      if (v < V - 1 || n == kL) store_vec(yr, a[r][v]);
      else store_part(yr, a[r][v], n);
    }
}

// Row r of op(x), for stepping through rows.
template <bool TA>
BC_INLINE const float* x_row(const float* x, int ldx, int r) {
  return TA ? x + r : x + static_cast<size_t>(r) * ldx;
}

// Columns from j on in blocks of kL * V, then V / 2, ... 1 vectors; returns the first column left.
template <int R, int V, bool TA>
int small_gemm_cols(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int N, int k0, int k1,
                    bool load, int j) {
  for (; j + kL * V <= N; j += kL * V) small_gemm_block<R, V, TA>(y + j, ldy, x, ldx, W + j, ldw, k0, k1, load);
  if constexpr (V > 1) return small_gemm_cols<R, V / 2, TA>(y, ldy, x, ldx, W, ldw, N, k0, k1, load, j);
  return j;
}

// R rows, all N columns: kAcc accumulators (R x V) when N allows, enough to hide the add latency.
template <int R, bool TA>
void small_gemm_rows(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int N, int k0, int k1,
                     bool load) {
  constexpr int V = R == 1 ? kAcc : (R == 2 ? kAcc / 2 : kAcc / 4);
  int j = small_gemm_cols<R, V, TA>(y, ldy, x, ldx, W, ldw, N, k0, k1, load, 0);
  if (j < N) small_gemm_block<R, 1, TA>(y + j, ldy, x, ldx, W + j, ldw, k0, k1, load, N - j);
}

// The many-row case, cut for the caches: k in blocks of kKc, and within one, column panels of
// kL * kPanelV (kKc x panel of W: 32 KB on AVX-512, 16 KB on AVX2, stays in L1) swept down the rows
// in groups of kRows (kRows x kPanelV accumulators). Each k block reloads and stores every output
// once, so AVX2 takes 256 rows of k (16 KB panels): 128 had cost a tenth (1024^3 at 82 against 90
// GFLOP/s on one Zen 3 core, an LSTM's 128 x 2048 x 512 step at 77 against 87). Any kKc gives the
// same bits: each output still adds its products in the order k = 0..K-1.
#if defined(__AVX512F__)
constexpr int kKc = 128;
#else
constexpr int kKc = 256;
#endif
constexpr int kRows = 6;
constexpr int kPanelV = kAcc / 4;

// The row groups of a column block, f(first row, rows): kRows at a time, and a last group of 1-3
// rows, which keeps too few accumulators busy (2 rows: half the FMA rate; an LSTM thread's 32 rows
// end so), shares the last full group's rows evenly instead (7 rows as 4 + 3, 8 as 4 + 4, 9 as 5 + 4).
// Which group computes a row changes none of its bits.
template <class F>
BC_INLINE void for_row_groups(int M, F&& f) {
  const int rest = M % kRows, even = M >= kRows && rest > 0 && rest < 4 ? kRows + rest : rest;
  int i = 0;
  for (; i + even < M; i += kRows) f(i, kRows);
  if (M - i > kRows) {
    const int first = (M - i + 1) / 2;
    f(i, first);
    f(i + first, M - i - first);
  } else if (M > i) {
    f(i, M - i);
  }
}

// The row groups that fetch the next panel, a line per k each: as many as a panel row has lines, so
// that the whole panel is on its way when its first group starts, where one group had fetched a quarter
// of an AVX-512 panel (64 x 2048 x 512 from L3 on one thread 141 -> 155 GFLOP/s, 128 x 1024 x 512 151
// -> 159; 256-deep products unchanged).
constexpr int kPfGroups = std::max(1, kL * kPanelV * static_cast<int>(sizeof(float)) / 64);

// All M rows of one column block of kL * V columns (n < kL: the last vector partial), k in [k0, k1), by
// row groups while the block of W is still in L1. pf: the first kPfGroups groups fetch it meanwhile
// (small_gemm_block). PX: x is pack_rows's copy (ldx its kb, k0 = 0), each group read transposed.
template <int V, bool TA, bool PX = false>
BC_INLINE void gemm_column_block(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int k0,
                                 int k1, bool load, int n = kL, const float* pf = nullptr) {
  constexpr bool T = TA || PX;
  for_row_groups(M, [&](int i, int R) __attribute__((always_inline)) {  // n stays a constant kL
    float* yi = y + static_cast<size_t>(i) * ldy;
    const float* xi = PX ? x + static_cast<size_t>(i) * ldx : x_row<TA>(x, ldx, i);
    const int ld = PX ? R : ldx;
    switch (R) {
      case 6:
        if (pf && i < kPfGroups * kRows)
          small_gemm_block<6, V, T, true>(yi, ldy, xi, ld, W, ldw, k0, k1, load, n,
                                          pf + static_cast<size_t>(i / kRows) * (k1 - k0) * 16);
        else small_gemm_block<6, V, T>(yi, ldy, xi, ld, W, ldw, k0, k1, load, n);
        break;
      case 5: small_gemm_block<5, V, T>(yi, ldy, xi, ld, W, ldw, k0, k1, load, n); break;
      case 4: small_gemm_block<4, V, T>(yi, ldy, xi, ld, W, ldw, k0, k1, load, n); break;
      case 3: small_gemm_block<3, V, T>(yi, ldy, xi, ld, W, ldw, k0, k1, load, n); break;
      case 2: small_gemm_block<2, V, T>(yi, ldy, xi, ld, W, ldw, k0, k1, load, n); break;
      case 1: small_gemm_block<1, V, T>(yi, ldy, xi, ld, W, ldw, k0, k1, load, n); break;
      default: break;
    }
  });
}
static_assert(kRows == 6, "gemm_column_block's groups are written for 6 rows");

// Columns from j on in blocks of kL * V, then V / 2, ... 1 vectors, then one partial vector; 9-15
// columns left at two vectors go as a vector and a part (Dense(10)): 12 sums in flight per row
// group, where a vector and then a part kept 6 each (the FMA latency bound, 256 x 10 x 128 on one
// thread 17.7 -> 12.5 us).
template <int V, bool TA>
void gemm_columns(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int k0, int k1,
                  bool load, int j) {
  for (; j + kL * V <= N; j += kL * V) gemm_column_block<V, TA>(y + j, ldy, x, ldx, W + j, ldw, M, k0, k1, load);
  if constexpr (V == 2) {
    if (N - j > kL) return gemm_column_block<2, TA>(y + j, ldy, x, ldx, W + j, ldw, M, k0, k1, load, N - j - kL);
  }
  if constexpr (V > 1) {
    gemm_columns<V / 2, TA>(y, ldy, x, ldx, W, ldw, M, N, k0, k1, load, j);
  } else if (j < N) {
    gemm_column_block<1, TA>(y + j, ldy, x, ldx, W + j, ldw, M, k0, k1, load, N - j);
  }
}

// Large products, GotoBLAS's way but with the same products in the same order: for each k block,
// W's full panels are packed side by side (each panel's kKc rows contiguous) once, when W's rows lie
// far apart and enough row blocks reuse them (read in place, each row of a panel is another page or
// line: 42 against OpenBLAS's 92 GFLOP/s at 1024^3, one thread); the rows then go in blocks of kMc,
// whose kKc columns of x stay in L2 while every panel sweeps them.
constexpr int kPanel = kL * kPanelV;
constexpr int kMc = 16 * kRows;
constexpr int kPackMinLdw = 128, kPackMinRows = 4 * kRows;

template <int Which = 0>  // 0: W's panels, 1: x's rows
inline float* pack_buffer(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// op(x) = x^T's rows [0, rows), k in [0, kb) (x stored K x M, from the block's corner), copied
// group by group (for_row_groups): group i's element (r, k) at xp[i * kb + k * R + r], R its rows.
// In place, a group's kRows values at each k lie in another line of x (ldx floats apart), so a
// 256-deep block touched 256 lines per group and crowded the W panel out of L1 (Dense's dW).
inline void pack_rows_t(float* xp, const float* x, int ldx, int rows, int kb) {
  for_row_groups(rows, [&](int i, int R) {
    float* g = xp + static_cast<size_t>(i) * kb;
    for (int k = 0; k < kb; ++k)
      for (int r = 0; r < R; ++r) g[k * R + r] = x[static_cast<size_t>(k) * ldx + i + r];
  });
}

// x^T read in place (a weight gradient into a narrow W, Dense's dW at 6400 x 32 x 32) with more than
// one column panel: each panel sweeps the block's kb x M of x again, which at 256 deep (32 KB at M 32)
// no longer stays in L1 beside the panel; 64 deep it does (6400 x 32 x 32 on one thread 74 -> 87
// GFLOP/s, 64 x 64 x 1000 122 -> 89 us). One panel reads x once: there the extra reloads of y cost
// 4-9% (200 x 16 x 200, 128 x 10 x 256), so it keeps kKc.
constexpr int kKcT = 64;
constexpr int kPackRowsMinPanels = 8;  // fewer panels did not repay the copy (128 x 128 x 256 on 2 threads)

// kb rows of W's first `panels` panels into pw, panel p's row k at pw + (p * stride + k) * kPanel.
// kPackRows rows at a time, each read along its length: panel by panel, every row of a panel was
// another line (another page when W is wide) fetched on demand, and the copy took 60% of a
// 32 x 2048 x 2048 product (one thread, same-process A/B: 21-25 -> 42-46 GFLOP/s; 32 x 784 x 2048
// 20-31 -> 39-49; 256 x 784 x 512 52-68 -> 64-77). The same bits: only the copy's order changed.
constexpr int kPackRows = 8;

inline void pack_rows_of(float* dst, int stride, const float* src, int ldw, int rows, int panels) {
  for (int p = 0; p < panels; ++p) {
    float* d = dst + static_cast<size_t>(p) * stride * kPanel;
    const float* s = src + static_cast<size_t>(p) * kPanel;
    for (int g = 0; g < rows; ++g)
      for (int v = 0; v < kPanelV; ++v)
        store_vec(d + g * kPanel + v * kL, load_vec(s + static_cast<size_t>(g) * ldw + v * kL));
  }
}

inline void pack_block(float* pw, int stride, const float* W, int ldw, int kb, int panels) {
  for (int k = 0; k < kb; k += kPackRows)
    pack_rows_of(pw + static_cast<size_t>(k) * kPanel, stride, W + static_cast<size_t>(k) * ldw, ldw,
                 std::min(kPackRows, kb - k), panels);
}

template <bool TA>
void gemm_many_rows(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K,
                    bool accumulate) {
  const int panels = N / kPanel;
  // Also a column slice of a wider W (ldw > N: one head's columns of a projection), whose panel
  // rows share their cache lines with columns this product never reads.
  const bool pack = (ldw >= kPackMinLdw || ldw > N) && M >= kPackMinRows && panels > 0;
  for (int k0 = 0; k0 < K; k0 += kKc) {
    const int k1 = std::min(K, k0 + kKc), kb = k1 - k0;
    const bool load = accumulate || k0 > 0;
    if (!pack) {
      const int kc = TA && N > kPanel ? kKcT : kKc;
      for (int k2 = k0; k2 < k1; k2 += kc)
        gemm_columns<kPanelV, TA>(y, ldy, x, ldx, W, ldw, M, N, k2, std::min(k1, k2 + kc), load || k2 > k0, 0);
      continue;
    }
    float* pw = pack_buffer(static_cast<size_t>(panels) * kKc * kPanel);
    pack_block(pw, kKc, W + static_cast<size_t>(k0) * ldw, ldw, kb, panels);
    for (int m0 = 0; m0 < M; m0 += kMc) {
      const int rows = std::min(kMc, M - m0);
      // op(x)'s rows from m0 and columns from k0: the block then runs k over [0, kb).
      const float* xm = TA ? x + static_cast<size_t>(k0) * ldx + m0 : x + static_cast<size_t>(m0) * ldx + k0;
      float* ym = y + static_cast<size_t>(m0) * ldy;
      if (TA && panels >= kPackRowsMinPanels) {
        float* xp = pack_buffer<1>(static_cast<size_t>(kMc) * kKc);
        pack_rows_t(xp, xm, ldx, rows, kb);
        for (int p = 0; p < panels; ++p)
          gemm_column_block<kPanelV, TA, true>(ym + static_cast<size_t>(p) * kPanel, ldy, xp, kb,
                                               pw + static_cast<size_t>(p) * kKc * kPanel, kPanel, rows, 0, kb, load);
        continue;
      }
      for (int p = 0; p < panels; ++p)
        gemm_column_block<kPanelV, TA>(ym + static_cast<size_t>(p) * kPanel, ldy, xm, ldx,
                                       pw + static_cast<size_t>(p) * kKc * kPanel, kPanel, rows, 0, kb, load);
    }
    if (panels * kPanel < N) gemm_columns<kPanelV, TA>(y, ldy, x, ldx, W, ldw, M, N, k0, k1, load, panels * kPanel);
  }
}

// op(x) = x^T into a few columns (a weight gradient into a narrow W: a classifier's or regressor's
// head, dW = x^T dz at N 1-12), rows as lanes: a row of x (stored K x M) gives kL rows of y per load,
// each of W's values is broadcast, and every lane does useful work, where the column-lane kernels
// fill one lane of kL at N 1 (~6 GFLOP/s). Each output still adds its K products in k order with one
// fused multiply-add each, from 0 or y: the same bits. V vectors of rows x NB columns of
// accumulators (y's rows lie ldy apart, so they are gathered and scattered once a call); the last
// vector holds mrem < kL rows when partial.
#if defined(__AVX512F__)
constexpr int kNarrowV = 4, kNarrowNB = 6;  // 24 of 32 registers
#else
constexpr int kNarrowV = 3, kNarrowNB = 4;  // 12 of 16
#endif
constexpr int kNarrowMaxN = 12;

template <int V, int NB>
BC_INLINE void narrow_ta_block(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int K, bool load,
                               int mrem) {
  vec a[V][NB];
  float t[kL];
  for (int v = 0; v < V; ++v) {
    const int rows = v == V - 1 ? mrem : kL;
    for (int nb = 0; nb < NB; ++nb) {
      for (int l = 0; l < kL; ++l) t[l] = load && l < rows ? y[static_cast<size_t>(v * kL + l) * ldy + nb] : 0.0f;
      a[v][nb] = load_vec(t);
    }
  }
  for (int k = 0; k < K; ++k) {
    const float* xr = x + static_cast<size_t>(k) * ldx;
    const float* wr = W + static_cast<size_t>(k) * ldw;
    vec xv[V];
    for (int v = 0; v < V; ++v) xv[v] = v == V - 1 && mrem < kL ? load_part(xr + v * kL, mrem) : load_vec(xr + v * kL);
    for (int nb = 0; nb < NB; ++nb) {
      const float w = wr[nb];
      for (int v = 0; v < V; ++v) a[v][nb] = madd(a[v][nb], w, xv[v]);
    }
  }
  for (int v = 0; v < V; ++v) {
    const int rows = v == V - 1 ? mrem : kL;
    for (int nb = 0; nb < NB; ++nb) {
      store_vec(t, a[v][nb]);
      for (int l = 0; l < rows; ++l) y[static_cast<size_t>(v * kL + l) * ldy + nb] = t[l];
    }
  }
}

// Columns [0, N) of a block of V row vectors in chunks of kNarrowNB, then the rest.
template <int V>
void narrow_ta_cols(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int N, int K, bool load,
                    int mrem) {
  int j = 0;
  for (; j + kNarrowNB <= N; j += kNarrowNB)
    narrow_ta_block<V, kNarrowNB>(y + j, ldy, x, ldx, W + j, ldw, K, load, mrem);
  switch (N - j) {
    case 5: narrow_ta_block<V, 5>(y + j, ldy, x, ldx, W + j, ldw, K, load, mrem); break;
    case 4: narrow_ta_block<V, 4>(y + j, ldy, x, ldx, W + j, ldw, K, load, mrem); break;
    case 3: narrow_ta_block<V, 3>(y + j, ldy, x, ldx, W + j, ldw, K, load, mrem); break;
    case 2: narrow_ta_block<V, 2>(y + j, ldy, x, ldx, W + j, ldw, K, load, mrem); break;
    case 1: narrow_ta_block<V, 1>(y + j, ldy, x, ldx, W + j, ldw, K, load, mrem); break;
    default: break;
  }
}
static_assert(kNarrowNB <= 6, "narrow_ta_cols's remainders are written for chunks of up to 6");

// The last rows of a call (fewer than V vectors): vecs vectors, the last holding mrem rows.
template <int V>
void narrow_ta_tail(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int N, int K, bool load,
                    int vecs, int mrem) {
  if constexpr (V > 1)
    if (vecs < V) return narrow_ta_tail<V - 1>(y, ldy, x, ldx, W, ldw, N, K, load, vecs, mrem);
  narrow_ta_cols<V>(y, ldy, x, ldx, W, ldw, N, K, load, mrem);
}

// Blocks of V row vectors; fewer columns take more rows at once, so that enough sums are in flight.
template <int V>
void narrow_ta_rows(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K,
                    bool load) {
  constexpr int kBlock = V * kL;
  int i = 0;
  for (; i + kBlock <= M; i += kBlock)
    narrow_ta_cols<V>(y + static_cast<size_t>(i) * ldy, ldy, x + i, ldx, W, ldw, N, K, load, kL);
  if (i == M) return;
  const int rest = M - i, vecs = (rest + kL - 1) / kL;
  narrow_ta_tail<V>(y + static_cast<size_t>(i) * ldy, ldy, x + i, ldx, W, ldw, N, K, load, vecs,
                    rest - (vecs - 1) * kL);
}

void narrow_ta(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K, bool load) {
  constexpr int kRegs = kNarrowV * kNarrowNB;  // accumulators
  switch (N) {
    case 1: return narrow_ta_rows<8>(y, ldy, x, ldx, W, ldw, M, N, K, load);
    case 2: return narrow_ta_rows<std::min(8, kRegs / 2)>(y, ldy, x, ldx, W, ldw, M, N, K, load);
    case 3: return narrow_ta_rows<kRegs / 3>(y, ldy, x, ldx, W, ldw, M, N, K, load);
    default: return narrow_ta_rows<kNarrowV>(y, ldy, x, ldx, W, ldw, M, N, K, load);
  }
}

// x (M x K, in place) into 1-2 columns (a Dense(1) head's forward): blocks of 64 rows transposed
// (transpose32, SSE 4 x 4) and run rows as lanes (narrow_ta), where the column-lane kernel's block
// used one lane of eight and waited on broadcasts: 256 x 1 x 128 on one thread 8.8 -> 6.6 us,
// 256 x 1 x 784 52 -> 35, 256 x 2 x 128 9.0 -> 7.7; at 4 columns the transposes ate the gain. Same bits.
constexpr int kNarrowNtMaxN = 2, kNarrowNtRows = 64;

void narrow_nt(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K, bool load) {
  float* xt = pack_buffer<2>(static_cast<size_t>(K) * kNarrowNtRows);
  for (int i = 0; i < M; i += kNarrowNtRows) {
    const int rows = std::min(kNarrowNtRows, M - i);
    transpose32(xt, rows, x + static_cast<size_t>(i) * ldx, ldx, rows, K);  // xt (K x rows)
    narrow_ta(y + static_cast<size_t>(i) * ldy, ldy, xt, rows, W, ldw, rows, N, K, load);
  }
}

// y (M,N) (+)= op(x) (M,K) @ W (K,N), row-major with leading dimensions.
template <bool TA>
void fma_gemm_impl(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K,
                   bool accumulate) {
  if (K <= 0) {  // nothing to add: y stays, or becomes 0
    if (!accumulate)
      for (int i = 0; i < M; ++i) std::fill_n(y + static_cast<size_t>(i) * ldy, N, 0.0f);
    return;
  }
  if (TA && N <= kNarrowMaxN && M >= kL) return narrow_ta(y, ldy, x, ldx, W, ldw, M, N, K, accumulate);
  if (!TA && N <= kNarrowNtMaxN && M >= 2 * kL) return narrow_nt(y, ldy, x, ldx, W, ldw, M, N, K, accumulate);
  if (M >= kRows) return gemm_many_rows<TA>(y, ldy, x, ldx, W, ldw, M, N, K, accumulate);
  switch (M) {  // a few rows: all of K at once (W streams through once per call)
    case 5: small_gemm_rows<5, TA>(y, ldy, x, ldx, W, ldw, N, 0, K, accumulate); break;
    case 4: small_gemm_rows<4, TA>(y, ldy, x, ldx, W, ldw, N, 0, K, accumulate); break;
    case 3: small_gemm_rows<3, TA>(y, ldy, x, ldx, W, ldw, N, 0, K, accumulate); break;
    case 2: small_gemm_rows<2, TA>(y, ldy, x, ldx, W, ldw, N, 0, K, accumulate); break;
    case 1: small_gemm_rows<1, TA>(y, ldy, x, ldx, W, ldw, N, 0, K, accumulate); break;
    default: break;
  }
}

void small_gemm(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K,
                bool accumulate) {
  fma_gemm_impl<false>(y, ldy, x, ldx, W, ldw, M, N, K, accumulate);
}

void fma_gemm(float* y, int ldy, const float* x, int ldx, bool trans_x, const float* W, int ldw, int M, int N, int K,
              bool accumulate) {
  if (trans_x) fma_gemm_impl<true>(y, ldy, x, ldx, W, ldw, M, N, K, accumulate);
  else fma_gemm_impl<false>(y, ldy, x, ldx, W, ldw, M, N, K, accumulate);
}

// W's full panels for all of K in gemm_many_rows's packed layout, once for many products (a
// recurrent layer's R at every step of a call): k block k0 holds the panels side by side from
// pw + k0 * panels * kPanel, each its kb rows of kPanel floats. K * (N / kPanel) * kPanel floats.
void pack_panels(float* pw, const float* W, int ldw, int K, int N) {
  const int panels = N / kPanel;
  for (int k0 = 0; k0 < K; k0 += kKc) {
    const int kb = std::min(K, k0 + kKc) - k0;
    pack_block(pw + static_cast<size_t>(k0) * panels * kPanel, kb, W + static_cast<size_t>(k0) * ldw, ldw, kb, panels);
  }
}

// Columns [n0, n1) of y (M,N) (+)= x (M,K) @ W (K,N), W's panels read from pw (pack_panels of all
// its N columns; n0 a multiple of kPanel), the columns past the last full panel from W itself:
// gemm_many_rows's loops without its packing, so the same bits. A few rows (M < kRows) take W in
// place, as fma_gemm does.
void packed_gemm(float* y, int ldy, const float* x, int ldx, const float* pw, const float* W, int ldw, int M, int N,
                 int K, int n0, int n1, bool accumulate) {
  if (M < kRows || K <= 0)
    return fma_gemm_impl<false>(y + n0, ldy, x, ldx, W + n0, ldw, M, n1 - n0, K, accumulate);
  const int panels = N / kPanel, p0 = n0 / kPanel, pe = std::max(p0, std::min(panels, n1 / kPanel));
  for (int k0 = 0; k0 < K; k0 += kKc) {
    const int k1 = std::min(K, k0 + kKc), kb = k1 - k0;
    const bool load = accumulate || k0 > 0;
    const float* blk = pw + static_cast<size_t>(k0) * panels * kPanel;
    for (int m0 = 0; m0 < M; m0 += kMc) {
      const int rows = std::min(kMc, M - m0);
      const float* xm = x + static_cast<size_t>(m0) * ldx + k0;
      float* ym = y + static_cast<size_t>(m0) * ldy;
      for (int p = p0; p < pe; ++p)
        gemm_column_block<kPanelV, false>(ym + static_cast<size_t>(p) * kPanel, ldy, xm, ldx,
                                          blk + static_cast<size_t>(p) * kb * kPanel, kPanel, rows, 0, kb, load, kL,
                                          blk + static_cast<size_t>(p + 1) * kb * kPanel);
    }
    if (pe * kPanel < n1) gemm_columns<kPanelV, false>(y, ldy, x, ldx, W, ldw, M, n1, k0, k1, load, pe * kPanel);
  }
}

void fill_small_gemm_from_impl(Kernels& k) {
  k.small_gemm = small_gemm;
  k.fma_gemm = fma_gemm;
  k.gemm_panel = kPanel;
  k.gemm_packed_min_rows = kRows;
  k.pack_panels = pack_panels;
  k.packed_gemm = packed_gemm;
}

}  // namespace
}  // namespace bc

// Sparse Dense kernels for AVX-512 (flags in CMakeLists.txt): one zmm is one 16-lane slice step
// (rows path: a gather of x and an FMA) or 16 rows of one column (cols path). sparse.h has the
// layout and why every path gives the reference's bits.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "sparse.h"

namespace bc {
namespace {

inline __m512i load_idx(const uint16_t* p) {
  return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The int16 value and the next one as an int32 (little-endian: the value in the low half).
inline int32_t load32(const int16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline __mmask16 tail_mask(int n) { return n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1); }

// ---- rows path: two slices at a time (independent chains), each step one gather + FMA --------

void f32_rows(const SpTile& t) {
  const SellPattern& p = *t.p;
  const float* x = static_cast<const float*>(t.x);
  for (int m = 0; m < t.M; ++m) {
    const float* xr = x + static_cast<size_t>(m) * t.ld;
    float* yr = t.y + static_cast<size_t>(m) * p.N;
    for (int s = t.s0; s < t.s1; s += 2) {
      const bool two = s + 1 < t.s1;
      const int b0 = p.ptr[s], L0 = p.ptr[s + 1] - b0;
      const int b1 = two ? p.ptr[s + 1] : 0, L1 = two ? p.ptr[s + 2] - b1 : 0;
      __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
      const int L = std::min(L0, L1);
      int j = 0;
      for (; j < L; ++j) {
        const size_t e0 = static_cast<size_t>(b0 + j) * 16, e1 = static_cast<size_t>(b1 + j) * 16;
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(t.vf + e0), _mm512_i32gather_ps(load_idx(p.idx.data() + e0), xr, 4), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(t.vf + e1), _mm512_i32gather_ps(load_idx(p.idx.data() + e1), xr, 4), a1);
      }
      for (int i = j; i < L0; ++i) {
        const size_t e = static_cast<size_t>(b0 + i) * 16;
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(t.vf + e), _mm512_i32gather_ps(load_idx(p.idx.data() + e), xr, 4), a0);
      }
      for (int i = j; i < L1; ++i) {
        const size_t e = static_cast<size_t>(b1 + i) * 16;
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(t.vf + e), _mm512_i32gather_ps(load_idx(p.idx.data() + e), xr, 4), a1);
      }
      _mm512_mask_storeu_ps(yr + 16 * s, tail_mask(p.N - 16 * s), a0);
      if (two) _mm512_mask_storeu_ps(yr + 16 * s + 16, tail_mask(p.N - 16 * s - 16), a1);
    }
  }
}

// The int8 epilogue on 16 lanes: float(acc) * (t * s) + b, relu; then masked store.
inline void q8_store16(float* y, __m512i acc, __m512 t, __m512 s, const float* bias, bool relu, __mmask16 k) {
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(t, s));
  if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, bias));
  if (relu) v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_setzero_ps());
  _mm512_mask_storeu_ps(y, k, v);
}

// x w exactly: x holds x_q in its low 16 bits (0 above), w is sign-extended: x w + 0 * sign(w).
inline __m512i q8_step(const int16_t* w, const int32_t* x, const uint16_t* idx) {
  const __m512i w32 = _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
  return _mm512_madd_epi16(_mm512_i32gather_epi32(load_idx(idx), x, 4), w32);
}

void q8_rows(const SpTile& t) {
  const SellPattern& p = *t.p;
  const int32_t* x = static_cast<const int32_t*>(t.x);
  for (int m = 0; m < t.M; ++m) {
    const int32_t* xr = x + static_cast<size_t>(m) * t.ld;
    float* yr = t.y + static_cast<size_t>(m) * p.N;
    const __m512 tm = _mm512_set1_ps(t.x_scale[m]);
    for (int s = t.s0; s < t.s1; ++s) {
      __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();  // integer: any order
      int j = p.ptr[s];
      for (; j + 2 <= p.ptr[s + 1]; j += 2) {
        const size_t e = static_cast<size_t>(j) * 16;
        a0 = _mm512_add_epi32(a0, q8_step(t.vq + e, xr, p.idx.data() + e));
        a1 = _mm512_add_epi32(a1, q8_step(t.vq + e + 16, xr, p.idx.data() + e + 16));
      }
      if (j < p.ptr[s + 1]) a0 = _mm512_add_epi32(a0, q8_step(t.vq + 16 * size_t(j), xr, p.idx.data() + 16 * size_t(j)));
      const __mmask16 k = tail_mask(p.N - 16 * s);
      q8_store16(yr + 16 * s, _mm512_add_epi32(a0, a1), tm, _mm512_loadu_ps(t.w_scale + 16 * s),
                 t.bias ? t.bias + 16 * s : nullptr, t.relu, k);
    }
  }
}

// ---- cols path: one zmm = the 16 rows of a tile for one column ------------------------------

// Lanes [c, c + P) of a slice side by side (P independent chains: FMA latency), V vectors = 16 V rows each.
template <int V, int P>
void f32_cols_v(const SpTile& t) {
  const SellPattern& p = *t.p;
  const float* xT = static_cast<const float*>(t.x);
  alignas(64) float outT[16][V * 16];
  for (int s = t.s0; s < t.s1; ++s) {
    const size_t base = static_cast<size_t>(p.ptr[s]) * 16;
    const int32_t* len = p.len.data() + 16 * s;  // lanes past N have length 0
    for (int c = 0; c < 16; c += P) {
      __m512 a[P][V];
      int L = len[c];
      for (int l = 0; l < P; ++l) {
        L = std::min(L, len[c + l]);
        for (int v = 0; v < V; ++v) a[l][v] = _mm512_setzero_ps();
      }
      for (int j = 0; j < L; ++j) {
        const size_t e = base + static_cast<size_t>(j) * 16 + c;
        for (int l = 0; l < P; ++l) {
          const float* xr = xT + static_cast<size_t>(p.idx[e + l]) * t.ld;
          const __m512 w = _mm512_set1_ps(t.vf[e + l]);
          for (int v = 0; v < V; ++v) a[l][v] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xr + 16 * v), a[l][v]);
        }
      }
      for (int l = 0; l < P; ++l) {
        for (int j = L; j < len[c + l]; ++j) {
          const size_t e = base + static_cast<size_t>(j) * 16 + c + l;
          const float* xr = xT + static_cast<size_t>(p.idx[e]) * t.ld;
          const __m512 w = _mm512_set1_ps(t.vf[e]);
          for (int v = 0; v < V; ++v) a[l][v] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xr + 16 * v), a[l][v]);
        }
        for (int v = 0; v < V; ++v) _mm512_store_ps(outT[c + l] + 16 * v, a[l][v]);
      }
    }
    store_slice(t.y, p.N, 16 * s, t.M, outT[0], V * 16);
  }
}

// As f32_cols_v: lanes [c, c + P) side by side, V vectors = 16 V rows; exact int32 sums.
template <int V, int P>
void q8_cols_v(const SpTile& t) {
  const SellPattern& p = *t.p;
  const int32_t* xT = static_cast<const int32_t*>(t.x);
  alignas(64) float outT[16][V * 16];
  for (int s = t.s0; s < t.s1; ++s) {
    const size_t base = static_cast<size_t>(p.ptr[s]) * 16;
    const int32_t* len = p.len.data() + 16 * s;
    for (int c = 0; c < 16; c += P) {
      __m512i a[P][V];
      int L = len[c];
      for (int l = 0; l < P; ++l) {
        L = std::min(L, len[c + l]);
        for (int v = 0; v < V; ++v) a[l][v] = _mm512_setzero_si512();
      }
      for (int j = 0; j < L; ++j) {
        const size_t e = base + static_cast<size_t>(j) * 16 + c;
        for (int l = 0; l < P; ++l) {
          const int32_t* xr = xT + static_cast<size_t>(p.idx[e + l]) * t.ld;
          const __m512i w = _mm512_set1_epi32(load32(t.vq + e + l));
          for (int v = 0; v < V; ++v) a[l][v] = _mm512_add_epi32(a[l][v], _mm512_madd_epi16(_mm512_loadu_si512(xr + 16 * v), w));
        }
      }
      for (int l = 0; l < P; ++l) {
        for (int j = L; j < len[c + l]; ++j) {
          const size_t e = base + static_cast<size_t>(j) * 16 + c + l;
          const int32_t* xr = xT + static_cast<size_t>(p.idx[e]) * t.ld;
          const __m512i w = _mm512_set1_epi32(load32(t.vq + e));
          for (int v = 0; v < V; ++v) a[l][v] = _mm512_add_epi32(a[l][v], _mm512_madd_epi16(_mm512_loadu_si512(xr + 16 * v), w));
        }
        const int n = 16 * s + c + l;
        if (n >= p.N) continue;
        const __m512 sn = _mm512_set1_ps(t.w_scale[n]);
        const __m512 bn = _mm512_set1_ps(t.bias ? t.bias[n] : 0.0f);
        for (int v = 0; v < V; ++v) {
          const __m512 tv = _mm512_maskz_loadu_ps(tail_mask(t.M - 16 * v), t.x_scale + 16 * v);
          __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(a[l][v]), _mm512_mul_ps(tv, sn));
          if (t.bias) y = _mm512_add_ps(y, bn);
          if (t.relu) y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ), y, _mm512_setzero_ps());
          _mm512_store_ps(outT[c + l] + 16 * v, y);
        }
      }
    }
    store_slice(t.y, p.N, 16 * s, t.M, outT[0], V * 16);
  }
}

void f32_cols(const SpTile& t) { f32_cols_v<1, 8>(t); }  // ld = kRowTile = 16: one zmm per column

void q8_cols(const SpTile& t) { q8_cols_v<1, 8>(t); }

}  // namespace

void fill_sparse_avx512(SparseKernels& k) {
  k.name = "avx512";
  k.f32_rows = f32_rows;
  k.f32_cols = f32_cols;
  k.q8_rows = q8_rows;
  k.q8_cols = q8_cols;
}

}  // namespace bc

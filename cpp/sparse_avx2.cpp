// Sparse Dense kernels for AVX2 + FMA (flags in CMakeLists.txt): a 16-lane slice step is two ymm
// (rows path: two gathers of x and two FMAs); the cols path holds 8 rows of a column per ymm.
// sparse.h has the layout and why every path gives the reference's bits.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "sparse.h"

namespace bc {
namespace {

inline __m256i load_idx8(const uint16_t* p) {
  return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The int16 value and the next one as an int32 (little-endian: the value in the low half).
inline int32_t load32(const int16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline __m256i tail_mask8(int n) {  // lanes i < n set
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- rows path ---------------------------------------------------------------------------------

void f32_rows(const SpTile& t) {
  const SellPattern& p = *t.p;
  const float* x = static_cast<const float*>(t.x);
  for (int m = 0; m < t.M; ++m) {
    const float* xr = x + static_cast<size_t>(m) * t.ld;
    float* yr = t.y + static_cast<size_t>(m) * p.N;
    for (int s = t.s0; s < t.s1; ++s) {
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      for (int j = p.ptr[s]; j < p.ptr[s + 1]; ++j) {
        const size_t e = static_cast<size_t>(j) * 16;
        const uint16_t* ix = p.idx.data() + e;
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(t.vf + e), _mm256_i32gather_ps(xr, load_idx8(ix), 4), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(t.vf + e + 8), _mm256_i32gather_ps(xr, load_idx8(ix + 8), 4), a1);
      }
      const int rest = p.N - 16 * s;
      _mm256_maskstore_ps(yr + 16 * s, tail_mask8(rest), a0);
      if (rest > 8) _mm256_maskstore_ps(yr + 16 * s + 8, tail_mask8(rest - 8), a1);
    }
  }
}

// x w exactly (x_q in the low 16 bits of each int32, 0 above; w sign-extended), 8 lanes.
inline __m256i q8_step8(const int16_t* w, const int32_t* x, const uint16_t* idx) {
  const __m256i w32 = _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  return _mm256_madd_epi16(_mm256_i32gather_epi32(reinterpret_cast<const int*>(x), load_idx8(idx), 4), w32);
}

// The int8 epilogue on 8 lanes: float(acc) * (t * s) + b, relu; masked store.
inline void q8_store8(float* y, __m256i acc, __m256 t, __m256 s, const float* bias, bool relu, __m256i k) {
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(t, s));
  if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias, k));
  if (relu) v = _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
  _mm256_maskstore_ps(y, k, v);
}

void q8_rows(const SpTile& t) {
  const SellPattern& p = *t.p;
  const int32_t* x = static_cast<const int32_t*>(t.x);
  for (int m = 0; m < t.M; ++m) {
    const int32_t* xr = x + static_cast<size_t>(m) * t.ld;
    float* yr = t.y + static_cast<size_t>(m) * p.N;
    const __m256 tm = _mm256_set1_ps(t.x_scale[m]);
    for (int s = t.s0; s < t.s1; ++s) {
      __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
      for (int j = p.ptr[s]; j < p.ptr[s + 1]; ++j) {
        const size_t e = static_cast<size_t>(j) * 16;
        a0 = _mm256_add_epi32(a0, q8_step8(t.vq + e, xr, p.idx.data() + e));
        a1 = _mm256_add_epi32(a1, q8_step8(t.vq + e + 8, xr, p.idx.data() + e + 8));
      }
      const int rest = p.N - 16 * s;
      const float* b = t.bias ? t.bias + 16 * s : nullptr;
      q8_store8(yr + 16 * s, a0, tm, _mm256_loadu_ps(t.w_scale + 16 * s), b, t.relu, tail_mask8(rest));
      if (rest > 8)
        q8_store8(yr + 16 * s + 8, a1, tm, _mm256_loadu_ps(t.w_scale + 16 * s + 8), b ? b + 8 : nullptr, t.relu,
                  tail_mask8(rest - 8));
    }
  }
}

// ---- cols path: two ymm = the 16 rows of a tile for one column -------------------------------

// Lanes [c, c + P) of a slice side by side (P independent chains: FMA latency), V vectors = 8 V rows each.
template <int V, int P>
void f32_cols_v(const SpTile& t) {
  const SellPattern& p = *t.p;
  const float* xT = static_cast<const float*>(t.x);
  alignas(64) float outT[16][V * 8];
  for (int s = t.s0; s < t.s1; ++s) {
    const size_t base = static_cast<size_t>(p.ptr[s]) * 16;
    const int32_t* len = p.len.data() + 16 * s;  // lanes past N have length 0
    for (int c = 0; c < 16; c += P) {
      __m256 a[P][V];
      int L = len[c];
      for (int l = 0; l < P; ++l) {
        L = std::min(L, len[c + l]);
        for (int v = 0; v < V; ++v) a[l][v] = _mm256_setzero_ps();
      }
      for (int j = 0; j < L; ++j) {
        const size_t e = base + static_cast<size_t>(j) * 16 + c;
        for (int l = 0; l < P; ++l) {
          const float* xr = xT + static_cast<size_t>(p.idx[e + l]) * t.ld;
          const __m256 w = _mm256_set1_ps(t.vf[e + l]);
          for (int v = 0; v < V; ++v) a[l][v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xr + 8 * v), a[l][v]);
        }
      }
      for (int l = 0; l < P; ++l) {
        for (int j = L; j < len[c + l]; ++j) {
          const size_t e = base + static_cast<size_t>(j) * 16 + c + l;
          const float* xr = xT + static_cast<size_t>(p.idx[e]) * t.ld;
          const __m256 w = _mm256_set1_ps(t.vf[e]);
          for (int v = 0; v < V; ++v) a[l][v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xr + 8 * v), a[l][v]);
        }
        for (int v = 0; v < V; ++v) _mm256_store_ps(outT[c + l] + 8 * v, a[l][v]);
      }
    }
    store_slice(t.y, p.N, 16 * s, t.M, outT[0], V * 8);
  }
}

// As f32_cols_v: lanes [c, c + P) side by side, V vectors = 8 V rows; exact int32 sums.
template <int V, int P>
void q8_cols_v(const SpTile& t) {
  const SellPattern& p = *t.p;
  const int32_t* xT = static_cast<const int32_t*>(t.x);
  alignas(64) float outT[16][V * 8];
  for (int s = t.s0; s < t.s1; ++s) {
    const size_t base = static_cast<size_t>(p.ptr[s]) * 16;
    const int32_t* len = p.len.data() + 16 * s;
    for (int c = 0; c < 16; c += P) {
      __m256i a[P][V];
      int L = len[c];
      for (int l = 0; l < P; ++l) {
        L = std::min(L, len[c + l]);
        for (int v = 0; v < V; ++v) a[l][v] = _mm256_setzero_si256();
      }
      for (int j = 0; j < L; ++j) {
        const size_t e = base + static_cast<size_t>(j) * 16 + c;
        for (int l = 0; l < P; ++l) {
          const int32_t* xr = xT + static_cast<size_t>(p.idx[e + l]) * t.ld;
          const __m256i w = _mm256_set1_epi32(load32(t.vq + e + l));
          for (int v = 0; v < V; ++v) a[l][v] = _mm256_add_epi32(a[l][v], _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr + 8 * v)), w));
        }
      }
      for (int l = 0; l < P; ++l) {
        for (int j = L; j < len[c + l]; ++j) {
          const size_t e = base + static_cast<size_t>(j) * 16 + c + l;
          const int32_t* xr = xT + static_cast<size_t>(p.idx[e]) * t.ld;
          const __m256i w = _mm256_set1_epi32(load32(t.vq + e));
          for (int v = 0; v < V; ++v) a[l][v] = _mm256_add_epi32(a[l][v], _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr + 8 * v)), w));
        }
        const int n = 16 * s + c + l;
        if (n >= p.N) continue;
        const __m256 sn = _mm256_set1_ps(t.w_scale[n]);
        const __m256 bn = _mm256_set1_ps(t.bias ? t.bias[n] : 0.0f);
        for (int v = 0; v < V; ++v) {
          const __m256 tv = _mm256_maskload_ps(t.x_scale + 8 * v, tail_mask8(t.M - 8 * v));
          __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(a[l][v]), _mm256_mul_ps(tv, sn));
          if (t.bias) y = _mm256_add_ps(y, bn);
          if (t.relu) y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_LT_OQ));
          _mm256_store_ps(outT[c + l] + 8 * v, y);
        }
      }
    }
    store_slice(t.y, p.N, 16 * s, t.M, outT[0], V * 8);
  }
}

void f32_cols(const SpTile& t) { f32_cols_v<2, 4>(t); }  // ld = kRowTile = 16: two ymm per column

void q8_cols(const SpTile& t) { q8_cols_v<2, 4>(t); }

}  // namespace

void fill_sparse_avx2(SparseKernels& k) {
  k.name = "avx2";
  k.f32_rows = f32_rows;
  k.f32_cols = f32_cols;
  k.q8_rows = q8_rows;
  k.q8_cols = q8_cols;
}

}  // namespace bc

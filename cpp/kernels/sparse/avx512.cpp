// Sparse Dense kernels for AVX-512 (flags set by file name in CMakeLists.txt): one zmm is one 16-lane slice step
// (rows path: a gather of x and an FMA) or 16 rows of one column (cols path). sparse.h has the
// layout and why every path gives the reference's bits.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/sparse/sparse.h"

namespace bc {
namespace {

inline __m512i load_idx(const uint16_t* p) {
  return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
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

// ---- cols path: one zmm = the 16 rows of a tile for one column (cols.h) ----------

struct Vec {
  static constexpr int W = 16;
  using F = __m512;
  using I = __m512i;
  static F zero() { return _mm512_setzero_ps(); }
  static F splat(float w) { return _mm512_set1_ps(w); }
  static F fmadd(F w, const float* x, F a) { return _mm512_fmadd_ps(w, _mm512_loadu_ps(x), a); }
  static void store(float* y, F v) { _mm512_store_ps(y, v); }
  static I izero() { return _mm512_setzero_si512(); }
  static I isplat(int32_t w) { return _mm512_set1_epi32(w); }
  static I madd_add(I a, const int32_t* x, I w) { return _mm512_add_epi32(a, _mm512_madd_epi16(_mm512_loadu_si512(x), w)); }
  // float(acc) * (x_scale * s) + b, relu, for the rows < rows_left of x_scale
  static void q8_out(float* y, I acc, const float* x_scale, int rows_left, float s, float b, bool has_b, bool relu) {
    const __m512 tv = _mm512_maskz_loadu_ps(tail_mask(rows_left), x_scale);
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(tv, _mm512_set1_ps(s)));
    if (has_b) v = _mm512_add_ps(v, _mm512_set1_ps(b));
    if (relu) v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_setzero_ps());
    _mm512_store_ps(y, v);
  }
};

#include "kernels/sparse/cols.h"

void f32_cols(const SpTile& t) { f32_cols_v<Vec, 1, 8>(t); }  // ld = kRowTile = 16: one zmm per column

void q8_cols(const SpTile& t) { q8_cols_v<Vec, 1, 8>(t); }

}  // namespace

void fill_sparse_avx512(SparseKernels& k) {
  k.name = "avx512";
  k.f32_rows = f32_rows;
  k.f32_cols = f32_cols;
  k.q8_rows = q8_rows;
  k.q8_cols = q8_cols;
}

}  // namespace bc

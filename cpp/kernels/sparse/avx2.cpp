// Sparse Dense kernels for AVX2 + FMA (flags set by file name in CMakeLists.txt): a 16-lane slice step is two ymm
// (rows path: two gathers of x and two FMAs); the cols path holds 8 rows of a column per ymm.
// sparse.h has the layout and why every path gives the reference's bits.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/sparse/sparse.h"

namespace bc {
namespace {

inline __m256i load_idx8(const uint16_t* p) {
  return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
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

// ---- cols path: two ymm = the 16 rows of a tile for one column (cols.h) ----------

struct Vec {
  static constexpr int W = 8;
  using F = __m256;
  using I = __m256i;
  static F zero() { return _mm256_setzero_ps(); }
  static F splat(float w) { return _mm256_set1_ps(w); }
  static F fmadd(F w, const float* x, F a) { return _mm256_fmadd_ps(w, _mm256_loadu_ps(x), a); }
  static void store(float* y, F v) { _mm256_store_ps(y, v); }
  static I izero() { return _mm256_setzero_si256(); }
  static I isplat(int32_t w) { return _mm256_set1_epi32(w); }
  static I madd_add(I a, const int32_t* x, I w) {
    return _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), w));
  }
  // float(acc) * (x_scale * s) + b, relu, for the rows < rows_left of x_scale
  static void q8_out(float* y, I acc, const float* x_scale, int rows_left, float s, float b, bool has_b, bool relu) {
    const __m256 tv = _mm256_maskload_ps(x_scale, tail_mask8(rows_left));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(tv, _mm256_set1_ps(s)));
    if (has_b) v = _mm256_add_ps(v, _mm256_set1_ps(b));
    if (relu) v = _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
    _mm256_store_ps(y, v);
  }
};

#include "kernels/sparse/cols.h"

void f32_cols(const SpTile& t) { f32_cols_v<Vec, 2, 4>(t); }  // ld = kRowTile = 16: two ymm per column

void q8_cols(const SpTile& t) { q8_cols_v<Vec, 2, 4>(t); }

}  // namespace

void fill_sparse_avx2(SparseKernels& k) {
  k.name = "avx2";
  k.f32_rows = f32_rows;
  k.f32_cols = f32_cols;
  k.q8_rows = q8_rows;
  k.q8_cols = q8_cols;
}

}  // namespace bc

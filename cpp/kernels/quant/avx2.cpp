// int8 kernels for AVX2: vpmaddubsw with the sign trick (|x| as u8 times sign(x) * w as s8, so
// no 16-bit pair sum can saturate), widened by vpmaddwd. Flags for this file are set in
// CMakeLists.txt; quant.h has the scheme and the overflow argument.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/quant/quant.h"

namespace bc {
namespace {

constexpr int kRows = 4;  // rows per micro-tile; one 16-column block = 2 ymm: 8 accumulators

// round_half_away(clamp(x * r, -127, 127)) for 8 floats, as int32: the reference's rule.
// For |v| <= 127, trunc(v + copysign(0.5 - 2^-25, v)) is round_half_away(v) (checked for every
// float in [-127, 127]; adding 0.5 itself would round 0.49999997 up to 1).
inline __m256i quantize8(__m256 x, __m256 r) {
  __m256 v = _mm256_mul_ps(x, r);
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  const __m256 half = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)),
                                   _mm256_set1_ps(0x1.fffffep-2f));
  return _mm256_cvttps_epi32(_mm256_add_ps(v, half));
}

inline int8_t quantize1(float x, float r) {  // the tail: the ref path's scalar formula
  float v = x * r;
  v = v < -127.0f ? -127.0f : (v > 127.0f ? 127.0f : v);
  return static_cast<int8_t>(std::round(v));
}

void quantize_rows(uint8_t* xq, float* scale, const float* x, int M, int K, int Kp,
                   float x_scale, int offset) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(offset));
  for (int m = 0; m < M; ++m) {
    const float* r = x + static_cast<size_t>(m) * K;
    uint8_t* q = xq + static_cast<size_t>(m) * Kp;
    // max |x| as bits: for non-negative floats the unsigned integer order is the float order,
    // and Inf and NaN (>= 0x7F800000) sort above every finite value.
    __m256i amax = _mm256_setzero_si256();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + k));
      amax = _mm256_max_epu32(amax, _mm256_and_si256(a, abs_mask));
    }
    uint32_t lanes[8], bits = 0;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), amax);
    for (; k < K; ++k) {
      uint32_t a;
      std::memcpy(&a, r + k, 4);
      bits = std::max(bits, a & 0x7FFFFFFFu);
    }
    for (uint32_t l : lanes) bits = std::max(bits, l);
    float am;
    std::memcpy(&am, &bits, 4);
    const bool bad = bits >= 0x7F800000u;  // NaN or Inf
    const QuantScale s = quant_scale(am, bad, x_scale);
    scale[m] = s.t;
    if (bad) {
      std::memset(q, offset, Kp);
      continue;
    }
    const __m256 rv = _mm256_set1_ps(s.r);
    for (k = 0; k + 32 <= K; k += 32) {
      __m256i a = _mm256_packs_epi32(quantize8(_mm256_loadu_ps(r + k), rv),
                                     quantize8(_mm256_loadu_ps(r + k + 8), rv));
      __m256i b = _mm256_packs_epi32(quantize8(_mm256_loadu_ps(r + k + 16), rv),
                                     quantize8(_mm256_loadu_ps(r + k + 24), rv));
      __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), order);
      bytes = _mm256_xor_si256(bytes, flip);  // + offset, mod 256
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k), bytes);
    }
    for (; k < K; ++k) q[k] = static_cast<uint8_t>(quantize1(r[k], s.r)) ^ offset;
    for (k = K; k < Kp; ++k) q[k] = static_cast<uint8_t>(offset);
  }
}

// acc (R, 16) <- rows [i0, i0 + R) x block b of the tile over the whole K, in R x 2 ymm
// accumulators: p = |x| * (sign(x) w) pair sums in int16 (exact, see quant.h), widened by
// vpmaddwd with ones into the int32 sums of 4 products, one lane per column.
template <int R>
void dot(int32_t* acc, const QTile& t, int i0, int b) {
  __m256i a[R][2];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
  const int8_t* w = t.w + static_cast<size_t>(b) * t.Kp * 16;
  const uint8_t* x = t.xq + static_cast<size_t>(i0) * t.Kp;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int k = 0; k < t.Kp; k += 4) {
    const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16 * k));
    const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16 * k + 32));
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      int32_t x4;
      std::memcpy(&x4, x + static_cast<size_t>(r) * t.Kp + k, 4);
      const __m256i xb = _mm256_set1_epi32(x4);
      const __m256i ax = _mm256_abs_epi8(xb);  // -128 -> 0x80, read as u8 128: still exact
      const __m256i p0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xb));
      const __m256i p1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xb));
      a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(p0, ones));
      a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(p1, ones));
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + 16 * r), a[r][0]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + 16 * r + 8), a[r][1]);
  }
}

using Dot = void (*)(int32_t*, const QTile&, int, int);

template <int R = kRows>
Dot pick(int rows) {
  if constexpr (R == 1) return dot<1>;
  else return rows == R ? dot<R> : pick<R - 1>(rows);
}

void tile(const QTile& t) {
  alignas(32) int32_t acc[kRows * 16];
  for (int b = t.b0; b < t.b1; ++b)
    for (int i = 0; i < t.M; i += kRows) {
      const int rows = std::min(kRows, t.M - i);
      pick(rows)(acc, t, i, b);
      store_block_avx2(t, acc, i, rows, b, false);
    }
}

}  // namespace

// Rows [i0, i0 + R) x block b from acc (R, 16): subtract x_offset's 128 * colsum (when the path
// has one), then the int32 store or the float epilogue, masked to the N valid columns.
void store_block_avx2(const QTile& t, const int32_t* acc, int i0, int R, int b, bool offset) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int h = 0; h < 2 && 16 * b + 8 * h < t.N; ++h) {
    const int n0 = 16 * b + 8 * h;
    const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(t.N - n0), lane);
    const __m256i corr = offset
                             ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.corr + n0))
                             : _mm256_setzero_si256();
    auto row = [&](int r) {
      const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(acc + 16 * r + 8 * h));
      return _mm256_sub_epi32(a, corr);
    };
    if (!t.y) {
      for (int r = 0; r < R; ++r)
        _mm256_maskstore_epi32(t.acc + static_cast<size_t>(i0 + r) * t.N + n0, mk, row(r));
      continue;
    }
    const __m256 ws = _mm256_loadu_ps(t.w_scale + n0);
    const __m256 bias = t.bias ? _mm256_maskload_ps(t.bias + n0, mk) : _mm256_setzero_ps();
    for (int r = 0; r < R; ++r) {
      __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(row(r)),
                               _mm256_mul_ps(_mm256_set1_ps(t.x_scale[i0 + r]), ws));
      if (t.bias) v = _mm256_add_ps(v, bias);
      if (t.relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);  // 0 > v ? 0 : v: NaN passes
      float* y = t.y + static_cast<size_t>(i0 + r) * t.ldy + n0;
      if (t.add) v = _mm256_add_ps(_mm256_maskload_ps(y, mk), v);
      _mm256_maskstore_ps(y, mk, v);
    }
  }
}

void fill_quant_avx2(QuantKernels& k) {
  k.name = "avx2";
  k.x_offset = 0;
  k.quantize_rows = quantize_rows;
  k.tile = tile;
}

}  // namespace bc

// int8 kernels for AVX-512 VNNI: vpdpbusd on unsigned activations (x_q + 128) and signed
// weights, 16 columns x 4 products per instruction. Flags for this file are set in
// CMakeLists.txt; quant.h has the scheme and the overflow argument.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/quant/quant.h"

namespace bc {
namespace {

constexpr int kRows = 6;    // rows per micro-tile
constexpr int kBlocks = 4;  // 16-column blocks per micro-tile: 24 zmm accumulators

// round_half_away(clamp(x * r, -127, 127)) for 16 floats, as int32: the reference's rule.
// For |v| <= 127, trunc(v + copysign(0.5 - 2^-25, v)) is round_half_away(v) (checked for every
// float in [-127, 127]; adding 0.5 itself would round 0.49999997 up to 1).
inline __m512i quantize16(__m512 x, __m512 r) {
  __m512 v = _mm512_mul_ps(x, r);
  v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN));
  const __m512 half = _mm512_castsi512_ps(
      _mm512_or_si512(sign, _mm512_castps_si512(_mm512_set1_ps(0x1.fffffep-2f))));
  return _mm512_cvttps_epi32(_mm512_add_ps(v, half));
}

inline __mmask16 first(int n) { return n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1); }

void quantize_rows(uint8_t* xq, float* scale, const float* x, int M, int K, int Kp,
                   float x_scale, int offset) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  for (int m = 0; m < M; ++m) {
    const float* r = x + static_cast<size_t>(m) * K;
    uint8_t* q = xq + static_cast<size_t>(m) * Kp;
    // max |x| as bits: for non-negative floats the unsigned integer order is the float order,
    // and Inf and NaN (>= 0x7F800000) sort above every finite value.
    __m512i amax = _mm512_setzero_si512();
    for (int k = 0; k < K; k += 16) {
      const __m512i a = _mm512_maskz_loadu_epi32(first(K - k), r + k);
      amax = _mm512_max_epu32(amax, _mm512_and_si512(a, abs_mask));
    }
    const uint32_t bits = _mm512_reduce_max_epu32(amax);
    float am;
    std::memcpy(&am, &bits, 4);
    const QuantScale s = quant_scale(am, bits >= 0x7F800000u, x_scale);
    scale[m] = s.t;
    if (bits >= 0x7F800000u) {  // NaN or Inf: x_q = 0, t = NaN
      std::memset(q, offset, Kp);
      continue;
    }
    const __m512 rv = _mm512_set1_ps(s.r);
    const __m128i flip = _mm_set1_epi8(static_cast<char>(offset));  // + offset, mod 256
    // 64 at a time: two saturating packs (exact: |x_q| <= 127) interleave the four vectors by
    // 128-bit lane, one dword permute puts them back in order.
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    int k = 0;
    for (; k + 64 <= K; k += 64) {
      const __m512i ab = _mm512_packs_epi32(quantize16(_mm512_loadu_ps(r + k), rv),
                                            quantize16(_mm512_loadu_ps(r + k + 16), rv));
      const __m512i cd = _mm512_packs_epi32(quantize16(_mm512_loadu_ps(r + k + 32), rv),
                                            quantize16(_mm512_loadu_ps(r + k + 48), rv));
      const __m512i bytes = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(ab, cd));
      _mm512_storeu_si512(q + k, _mm512_xor_si512(bytes, _mm512_broadcast_i32x4(flip)));
    }
    for (; k < K; k += 16) {
      const __mmask16 mk = first(K - k);
      __m128i b = _mm512_cvtepi32_epi8(quantize16(_mm512_maskz_loadu_ps(mk, r + k), rv));
      _mm_mask_storeu_epi8(q + k, mk, _mm_xor_si128(b, flip));
    }
    for (int k = K; k < Kp; ++k) q[k] = static_cast<uint8_t>(offset);
  }
}

// acc (R, 16 B) <- rows [i0, i0 + R) x blocks [b, b + B) of the tile over the whole K, in R x B
// zmm accumulators (still offset by 128 * colsum). (At batch 1 this streams the weights at about
// the L2 bandwidth; more accumulator chains did not help.)
template <int R, int B>
void dot(int32_t* acc, const QTile& t, int i0, int b) {
  __m512i a[R][B];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int j = 0; j < B; ++j) a[r][j] = _mm512_setzero_si512();
  const size_t bstride = static_cast<size_t>(t.Kp) * 16;
  const int8_t* w = t.w + b * bstride;
  const uint8_t* x = t.xq + static_cast<size_t>(i0) * t.Kp;
  for (int k = 0; k < t.Kp; k += 4) {
    __m512i wv[B];
#pragma GCC unroll 16
    for (int j = 0; j < B; ++j) wv[j] = _mm512_load_si512(w + j * bstride + 16 * k);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      int32_t x4;
      std::memcpy(&x4, x + static_cast<size_t>(r) * t.Kp + k, 4);
      const __m512i xb = _mm512_set1_epi32(x4);
#pragma GCC unroll 16
      for (int j = 0; j < B; ++j) a[r][j] = _mm512_dpbusd_epi32(a[r][j], xb, wv[j]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int j = 0; j < B; ++j) _mm512_store_si512(acc + (r * B + j) * 16, a[r][j]);
}

// Rows [i0, i0 + R) x blocks [b, b + B) from acc (R, 16 B): subtract 128 * colsum, then the
// int32 store or the float epilogue, masked to the N valid columns.
void store(const QTile& t, const int32_t* acc, int i0, int R, int b, int B) {
  for (int j = 0; j < B; ++j) {
    const int n0 = 16 * (b + j);
    const __mmask16 mk = first(t.N - n0);
    const __m512i corr = _mm512_loadu_si512(t.corr + n0);
    if (!t.y) {
      for (int r = 0; r < R; ++r)
        _mm512_mask_storeu_epi32(t.acc + static_cast<size_t>(i0 + r) * t.N + n0, mk,
                                 _mm512_sub_epi32(_mm512_load_si512(acc + (r * B + j) * 16), corr));
      continue;
    }
    const __m512 ws = _mm512_loadu_ps(t.w_scale + n0);
    const __m512 bias = t.bias ? _mm512_maskz_loadu_ps(mk, t.bias + n0) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      const __m512i a = _mm512_sub_epi32(_mm512_load_si512(acc + (r * B + j) * 16), corr);
      __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(a),
                               _mm512_mul_ps(_mm512_set1_ps(t.x_scale[i0 + r]), ws));
      if (t.bias) v = _mm512_add_ps(v, bias);
      if (t.relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);  // 0 > v ? 0 : v: NaN passes
      float* y = t.y + static_cast<size_t>(i0 + r) * t.ldy + n0;
      if (t.add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, y), v);
      _mm512_mask_storeu_ps(y, mk, v);
    }
  }
}

using Dot = void (*)(int32_t*, const QTile&, int, int);

template <int R, int B = kBlocks>
Dot pick_blocks(int nb) {
  if constexpr (B == 1) return dot<R, 1>;
  else return nb == B ? dot<R, B> : pick_blocks<R, B - 1>(nb);
}

template <int R = kRows>
Dot pick(int rows, int nb) {
  if constexpr (R == 1) return pick_blocks<1>(nb);
  else return rows == R ? pick_blocks<R>(nb) : pick<R - 1>(rows, nb);
}

void tile(const QTile& t) {
  alignas(64) int32_t acc[kRows * kBlocks * 16];
  for (int b = t.b0; b < t.b1; b += kBlocks) {
    const int nb = std::min(kBlocks, t.b1 - b);
    for (int i = 0; i < t.M; i += kRows) {
      const int rows = std::min(kRows, t.M - i);
      pick(rows, nb)(acc, t, i, b);
      store(t, acc, i, rows, b, nb);
    }
  }
}

}  // namespace

void fill_quant_avx512vnni(QuantKernels& k) {
  k.name = "avx512vnni";
  k.x_offset = 128;
  k.quantize_rows = quantize_rows;
  k.tile = tile;
}

}  // namespace bc

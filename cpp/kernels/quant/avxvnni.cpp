// int8 kernels for AVX-VNNI (the VEX vpdpbusd of Alder Lake and later, 256-bit): unsigned
// activations (x_q + 128) times signed weights, 8 columns x 4 products per instruction. The
// quantizer is the avx2 one (asked for the +128 byte form). Flags for this file are set in
// CMakeLists.txt; quant.h has the scheme and the overflow argument.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/quant/quant.h"

namespace bc {
namespace {

constexpr int kRows = 6;  // rows per micro-tile; one 16-column block = 2 ymm: 12 accumulators

// acc (R, 16) <- rows [i0, i0 + R) x block b of the tile over the whole K, in R x 2 ymm
// accumulators (still offset by 128 * colsum).
template <int R>
void dot(int32_t* acc, const QTile& t, int i0, int b) {
  __m256i a[R][2];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
  const int8_t* w = t.w + static_cast<size_t>(b) * t.Kp * 16;
  const uint8_t* x = t.xq + static_cast<size_t>(i0) * t.Kp;
  for (int k = 0; k < t.Kp; k += 4) {
    const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16 * k));
    const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16 * k + 32));
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      int32_t x4;
      std::memcpy(&x4, x + static_cast<size_t>(r) * t.Kp + k, 4);
      const __m256i xb = _mm256_set1_epi32(x4);
      a[r][0] = _mm256_dpbusd_avx_epi32(a[r][0], xb, w0);
      a[r][1] = _mm256_dpbusd_avx_epi32(a[r][1], xb, w1);
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
      store_block_avx2(t, acc, i, rows, b, true);  // avx2.cpp
    }
}

}  // namespace

void fill_quant_avxvnni(QuantKernels& k) {
  fill_quant_avx2(k);  // the quantizer
  k.name = "avxvnni";
  k.x_offset = 128;
  k.tile = tile;
}

}  // namespace bc

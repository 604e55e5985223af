// int8 kernels, portable: plain loops that define every result (quant.h has the scheme); every
// SIMD path (avx2.cpp, avxvnni.cpp, avx512vnni.cpp) must give the same int32 accumulators.
#include <algorithm>
#include <cmath>

#include "kernels/quant/quant.h"

namespace bc {
namespace {

void quantize_rows_ref(uint8_t* xq, float* scale, const float* x, int M, int K, int Kp,
                       float x_scale, int offset) {
  for (int m = 0; m < M; ++m) {
    const float* r = x + static_cast<size_t>(m) * K;
    uint8_t* q = xq + static_cast<size_t>(m) * Kp;
    float amax = 0.0f;
    bool bad = false;
    for (int k = 0; k < K; ++k) {
      float a = std::fabs(r[k]);
      bad |= !(a <= 3.40282347e38f);  // NaN or Inf
      amax = a > amax ? a : amax;
    }
    const QuantScale s = quant_scale(amax, bad, x_scale);
    scale[m] = s.t;
    for (int k = 0; k < K; ++k) {
      float v = bad ? 0.0f : r[k] * s.r;
      v = v < -127.0f ? -127.0f : (v > 127.0f ? 127.0f : v);
      const int8_t i = static_cast<int8_t>(std::round(v));  // half away from zero
      q[k] = static_cast<uint8_t>(i) ^ offset;  // + offset, mod 256
    }
    for (int k = K; k < Kp; ++k) q[k] = static_cast<uint8_t>(offset);
  }
}

// The epilogue for one element, written once: the SIMD paths do the same float ops in order.
inline void store_ref(const QTile& t, int m, int n, int32_t a) {
  const size_t i = static_cast<size_t>(m) * t.N + n;
  if (t.acc) {
    t.acc[i] = a;
    return;
  }
  float v = static_cast<float>(a) * (t.x_scale[m] * t.w_scale[n]);
  if (t.bias) v += t.bias[n];
  if (t.relu) v = v < 0.0f ? 0.0f : v;  // NaN passes, as in Keras
  float& y = t.y[static_cast<size_t>(m) * t.ldy + n];
  y = t.add ? y + v : v;
}

void tile_ref(const QTile& t) {
  for (int b = t.b0; b < t.b1; ++b) {
    const int8_t* wb = t.w + static_cast<size_t>(b) * t.Kp * 16;
    const int cols = std::min(16, t.N - 16 * b);
    for (int m = 0; m < t.M; ++m) {
      const int8_t* x = reinterpret_cast<const int8_t*>(t.xq + static_cast<size_t>(m) * t.Kp);
      int32_t s[16] = {0};  // (x_offset 0: the bytes are x_q)
      for (int g = 0; g < t.Kp / 4; ++g)
        for (int c = 0; c < 16; ++c)
          for (int i = 0; i < 4; ++i) s[c] += int32_t{x[4 * g + i]} * wb[64 * g + 4 * c + i];
      for (int c = 0; c < cols; ++c) store_ref(t, m, 16 * b + c, s[c]);
    }
  }
}

}  // namespace

void fill_quant_ref(QuantKernels& k) {
  k.name = "ref";
  k.x_offset = 0;
  k.quantize_rows = quantize_rows_ref;
  k.tile = tile_ref;
}

}  // namespace bc

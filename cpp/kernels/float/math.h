// Scalar maths the per-ISA kernel bodies share (float/body.h, prim/body.h): written for the
// auto-vectorizer with a fixed operation order, so every ISA path gives the same bits. Like the
// bodies, everything sits in an anonymous namespace (each ISA file compiles its own copy).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace bc {
namespace {

constexpr int kLanes = 16;  // fixed reduction width, independent of the ISA

inline float exp_f(float x) {  // Cephes expf: ~1 ulp on [-87, 88]
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float n = (x * 1.44269504088896341f + magic) - magic;
  n = n == n ? n : 0.0f;  // NaN: keep the integer conversion defined; NaN still flows through r
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

inline float tanh_f(float x) {
  float ax = std::fabs(x);
  float e = exp_f(-2.0f * ax);
  float big = (1.0f - e) / (1.0f + e);
  float z = x * x;  // Cephes tanhf polynomial near 0, where 1 - e cancels
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = ax + ax * z * p;
  float t = ax < 0.625f ? small : big;
  return x < 0.0f ? -t : t;
}

// Sum of x (n) in kLanes fixed lanes, then a fixed tree: same bits on every ISA.
inline float lane_sum(const float* x, int n) {
  float acc[kLanes] = {0};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l];
  for (int l = 0; i < n; ++i, ++l) acc[l] += x[i];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

}  // namespace
}  // namespace bc

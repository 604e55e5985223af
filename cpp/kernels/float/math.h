// Scalar maths the per-ISA kernel bodies share (float/body.h, prim/body.h): written for the
// auto-vectorizer with a fixed operation order, so every ISA path gives the same bits. Like the
// bodies, everything sits in an anonymous namespace (each ISA file compiles its own copy).
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace bc {
namespace {

constexpr int kLanes = 16;  // fixed reduction width, independent of the ISA

// The widest float vector of the file's flags (SSE2 / AVX2 / AVX-512), as a GCC vector type, for
// kernels written lane by lane (each lane the same operations in the same order, so the width never
// changes the bits); path_vfu reads and writes it unaligned.
#if defined(__AVX512F__)
constexpr int kPathW = 16;
#elif defined(__AVX2__)
constexpr int kPathW = 8;
#else
constexpr int kPathW = 4;
#endif
typedef float path_vf __attribute__((vector_size(kPathW * 4)));
typedef float path_vfu __attribute__((vector_size(kPathW * 4), aligned(4), may_alias));
typedef int32_t path_vi __attribute__((vector_size(kPathW * 4)));
#define BC_PATH_INLINE inline __attribute__((always_inline))

// (not path_vf{} + x: without -ffast-math that is an add, -0 + 0 being +0)
#if defined(__AVX512F__)
BC_PATH_INLINE path_vf splat(float x) { return reinterpret_cast<path_vf>(_mm512_set1_ps(x)); }
#elif defined(__AVX2__)
BC_PATH_INLINE path_vf splat(float x) { return reinterpret_cast<path_vf>(_mm256_set1_ps(x)); }
#else
BC_PATH_INLINE path_vf splat(float x) { return reinterpret_cast<path_vf>(_mm_set1_ps(x)); }
#endif

// a + x * w with one rounding (std::fma's bits on every path).
#if defined(__AVX512F__)
BC_PATH_INLINE path_vf fma_v(path_vf a, path_vf x, path_vf w) {
  return reinterpret_cast<path_vf>(
      _mm512_fmadd_ps(reinterpret_cast<__m512>(x), reinterpret_cast<__m512>(w), reinterpret_cast<__m512>(a)));
}
#elif defined(__AVX2__)
BC_PATH_INLINE path_vf fma_v(path_vf a, path_vf x, path_vf w) {
  return reinterpret_cast<path_vf>(
      _mm256_fmadd_ps(reinterpret_cast<__m256>(x), reinterpret_cast<__m256>(w), reinterpret_cast<__m256>(a)));
}
#else
BC_PATH_INLINE path_vf fma_v(path_vf a, path_vf x, path_vf w) {
  for (int l = 0; l < kPathW; ++l) a[l] = std::fma(x[l], w[l], a[l]);
  return a;
}
#endif

// vmax(a, b) = a > b ? a : b and vmin(a, b) = a < b ? a : b, one instruction each (a NaN a gives
// b), where GCC makes a compare and a blend of the ternary, and of two clamps in a row some ten
// operations. The same semantics on every path.
#if defined(__AVX512F__)
BC_PATH_INLINE path_vf vmax(path_vf a, path_vf b) {
  return reinterpret_cast<path_vf>(_mm512_max_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b)));
}
BC_PATH_INLINE path_vf vmin(path_vf a, path_vf b) {
  return reinterpret_cast<path_vf>(_mm512_min_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b)));
}
#elif defined(__AVX2__)
BC_PATH_INLINE path_vf vmax(path_vf a, path_vf b) {
  return reinterpret_cast<path_vf>(_mm256_max_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b)));
}
BC_PATH_INLINE path_vf vmin(path_vf a, path_vf b) {
  return reinterpret_cast<path_vf>(_mm256_min_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b)));
}
#else
BC_PATH_INLINE path_vf vmax(path_vf a, path_vf b) {
  return reinterpret_cast<path_vf>(_mm_max_ps(reinterpret_cast<__m128>(a), reinterpret_cast<__m128>(b)));
}
BC_PATH_INLINE path_vf vmin(path_vf a, path_vf b) {
  return reinterpret_cast<path_vf>(_mm_min_ps(reinterpret_cast<__m128>(a), reinterpret_cast<__m128>(b)));
}
#endif

// n <= kPathW floats from p (the lanes past n zero), and back.
BC_PATH_INLINE path_vf load_n(const float* p, int n) {
  if (n == kPathW) return *reinterpret_cast<const path_vfu*>(p);
  path_vf v{};
  for (int l = 0; l < n; ++l) v[l] = p[l];
  return v;
}
BC_PATH_INLINE void store_n(float* p, path_vf v, int n) {
  if (n == kPathW) {
    *reinterpret_cast<path_vfu*>(p) = v;
    return;
  }
  for (int l = 0; l < n; ++l) p[l] = v[l];
}

// a * b + c: two roundings (the file's flags never contract them), or one with Fused (std::fma: the
// instruction where the file's flags have it, glibc's fmaf otherwise; the same bits on every path).
template <bool Fused>
inline float madd_f(float a, float b, float c) {
  if constexpr (Fused) return std::fma(a, b, c);
  return a * b + c;
}

// Cephes expf: ~1 ulp on [-87, 88]. Fused: every multiply-add with one rounding (exp_fma_f, for the
// recurrent cells, whose five exponentials a unit were a sixth of an LSTM inference step).
template <bool Fused>
inline float exp_t(float x) {
  // The clamps send NaN to a bound and the last line gives it back: with a NaN test in the middle
  // (n == n), GCC duplicated the whole polynomial for the NaN case and ran both under masks.
  float xc = x > -87.3f ? x : -87.3f;
  xc = xc < 88.7f ? xc : 88.7f;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float n = madd_f<Fused>(xc, 1.44269504088896341f, magic) - magic;
  float r = madd_f<Fused>(n, -0.693359375f, xc);  // xc - n * 0.693359375: the same rounding unfused
  r = madd_f<Fused>(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = madd_f<Fused>(p, r, 1.3981999507e-3f);
  p = madd_f<Fused>(p, r, 8.3334519073e-3f);
  p = madd_f<Fused>(p, r, 4.1665795894e-2f);
  p = madd_f<Fused>(p, r, 1.6666665459e-1f);
  p = madd_f<Fused>(p, r, 5.0000001201e-1f);
  p = madd_f<Fused>(p, r * r, r) + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x == x ? p * scale : x + x;  // NaN in, NaN out (quieted, as arithmetic on it would)
}

inline float exp_f(float x) { return exp_t<false>(x); }
inline float exp_fma_f(float x) { return exp_t<true>(x); }
inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }
inline float sigmoid_fma_f(float x) { return 1.0f / (1.0f + exp_fma_f(-x)); }

// exp with float32's overflow and underflow (exp_f alone clamps its argument): inf above
// log(FLT_MAX), 0 below the normal range (denormals are flushed in native steps anyway).
inline float exp_full(float x) {
  const float e = exp_f(x);
  return x > 88.72283935546875f ? std::numeric_limits<float>::infinity() : (x < -87.33654475f ? 0.0f : e);
}

// e^x - 1 without exp_f(x) - 1's cancellation near 0: Taylor's series to x^8 for |x| < 0.5 (the
// rest is below 2^-26 |x|), exp_f(x) - 1 beyond.
inline float expm1_f(float x) {
  float p = 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  p = p * x + 1.0f;
  const float small = x * p;
  const float big = exp_f(x) - 1.0f;
  return std::fabs(x) < 0.5f ? small : big;
}

// Cephes logf (~1 ulp) for positive normal x; +inf and NaN pass. The exponent and mantissa are
// taken apart with integer operations (no frexp call), so loops over it vectorize.
inline float log_f(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int32_t e = ((bits >> 23) & 0xff) - 126;  // x = m * 2^e, m in [0.5, 1)
  bits = (bits & 0x007fffff) | 0x3f000000;
  float m;
  std::memcpy(&m, &bits, sizeof m);
  const bool low = m < 0.70710678118654752f;
  const float fe = static_cast<float>(low ? e - 1 : e);
  m = low ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  p = p * m * z;
  p = p + fe * -2.12194440e-4f;
  p = p - 0.5f * z;
  const float r = (m + p) + fe * 0.693359375f;
  return x - x == 0.0f ? r : x + x;  // inf - inf and NaN - NaN are NaN: those come back as they were
}

// log(1 + u) for u >= 0 without losing a small u to the rounding of 1 + u (Goldberg's
// correction: w - 1 is exact, and log(w) / (w - 1) varies slowly).
inline float log1p_f(float u) {
  const float w = 1.0f + u;
  return w == 1.0f ? u : log_f(w) * (u / (w - 1.0f));
}

template <bool Fused>
inline float tanh_t(float x) {
  float ax = std::fabs(x);
  float e = exp_t<Fused>(-2.0f * ax);
  float big = (1.0f - e) / (1.0f + e);
  float z = x * x;  // Cephes tanhf polynomial near 0, where 1 - e cancels
  float p = -5.70498872745e-3f;
  p = madd_f<Fused>(p, z, 2.06390887954e-2f);
  p = madd_f<Fused>(p, z, -5.37397155531e-2f);
  p = madd_f<Fused>(p, z, 1.33314422036e-1f);
  p = madd_f<Fused>(p, z, -3.33332819422e-1f);
  float small = madd_f<Fused>(ax * z, p, ax);
  float t = ax < 0.625f ? small : big;
  return x < 0.0f ? -t : t;
}

inline float tanh_f(float x) { return tanh_t<false>(x); }
inline float tanh_fma_f(float x) { return tanh_t<true>(x); }

// exp_fma_f, sigmoid_fma_f and tanh_fma_f on a vector (the recurrent cells): each lane the scalar's
// operations in its order, the clamps as vmax / vmin (the ternaries' values, NaN too), so the same
// bits but a NaN's sign; some 20% fewer instructions than GCC's vectorization of the scalars.
BC_PATH_INLINE path_vf exp_fma_v(path_vf x) {
  const path_vf xc = vmin(vmax(x, splat(-87.3f)), splat(88.7f));
  const path_vf magic = splat(12582912.0f);
  const path_vf n = fma_v(magic, xc, splat(1.44269504088896341f)) - magic;
  path_vf r = fma_v(xc, n, splat(-0.693359375f));
  r = fma_v(r, n, splat(2.12194440e-4f));
  path_vf p = splat(1.9875691500e-4f);
  p = fma_v(splat(1.3981999507e-3f), p, r);
  p = fma_v(splat(8.3334519073e-3f), p, r);
  p = fma_v(splat(4.1665795894e-2f), p, r);
  p = fma_v(splat(1.6666665459e-1f), p, r);
  p = fma_v(splat(5.0000001201e-1f), p, r);
  p = fma_v(r, p, r * r) + 1.0f;
  const path_vi bits = (__builtin_convertvector(n, path_vi) + 127) << 23;
  return x == x ? p * reinterpret_cast<path_vf>(bits) : x + x;
}
BC_PATH_INLINE path_vf sigmoid_fma_v(path_vf x) { return 1.0f / (1.0f + exp_fma_v(-x)); }
BC_PATH_INLINE path_vf tanh_fma_v(path_vf x) {
  const path_vf ax = reinterpret_cast<path_vf>(reinterpret_cast<path_vi>(x) & 0x7fffffff);
  const path_vf e = exp_fma_v(-2.0f * ax);
  const path_vf big = (1.0f - e) / (1.0f + e);
  const path_vf z = x * x;
  path_vf p = splat(-5.70498872745e-3f);
  p = fma_v(splat(2.06390887954e-2f), p, z);
  p = fma_v(splat(-5.37397155531e-2f), p, z);
  p = fma_v(splat(1.33314422036e-1f), p, z);
  p = fma_v(splat(-3.33332819422e-1f), p, z);
  const path_vf small = fma_v(ax, ax * z, p);
  const path_vf t = ax < 0.625f ? small : big;
  return x < 0.0f ? -t : t;
}

// kLanes floats as one GCC vector (one zmm, two ymm or four xmm by the file's flags): the running
// lane sums stay in registers instead of an array on the stack.
typedef float lanes_v __attribute__((vector_size(kLanes * 4)));
typedef float lanes_half __attribute__((vector_size(kLanes * 2)));
typedef float lanes_quarter __attribute__((vector_size(kLanes)));
typedef float lanes_vu __attribute__((vector_size(kLanes * 4), aligned(4), may_alias));
static_assert(kLanes == 16, "lane_tree's shuffles are written for 16 lanes");

// The fixed tree over the lanes: lane l += lane l + w for w = 8, 4, 2, 1 (each add as the scalar
// loop would do it, so the same bits).
inline float lane_tree(const lanes_v& a) {  // (by reference: no vector in the ABI)
  const lanes_half b = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
                       __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
  const lanes_quarter c = __builtin_shufflevector(b, b, 0, 1, 2, 3) + __builtin_shufflevector(b, b, 4, 5, 6, 7);
  return (c[0] + c[2]) + (c[1] + c[3]);
}

// Sum of x (n) in kLanes fixed lanes (lane l adds x[i] for i % kLanes == l, in order from +0),
// then the fixed tree: same bits on every ISA.
inline float lane_sum(const float* x, int n) {
  lanes_v acc = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) acc += *reinterpret_cast<const lanes_vu*>(x + i);
  for (int l = 0; i < n; ++i, ++l) acc[l] += x[i];
  return lane_tree(acc);
}

// Sum of x[i] * y[i] (n) in the same lanes and tree.
inline float lane_dot(const float* x, const float* y, int n) {
  lanes_v acc = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    acc += *reinterpret_cast<const lanes_vu*>(x + i) * *reinterpret_cast<const lanes_vu*>(y + i);
  for (int l = 0; i < n; ++i, ++l) acc[l] += x[i] * y[i];
  return lane_tree(acc);
}

}  // namespace
}  // namespace bc

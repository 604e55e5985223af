#include "rng.h"

#include <cmath>

namespace bc {

void fill_uniform(float* out, size_t n, uint64_t key, float low, float high) {
  for (size_t i = 0; i < n; ++i) out[i] = low + (high - low) * rng_uniform(key, i);
}

namespace {
// Standard normal draw j for element i (Box-Muller on two 53-bit uniforms).
double normal_draw(uint64_t key, uint64_t i, uint64_t j) {
  uint64_t c = i * 64 + j;  // up to 64 redraws per element for the truncated case
  double u1 = ((rng_u64(key, 2 * c) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (rng_u64(key, 2 * c + 1) >> 11) * (1.0 / 9007199254740992.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}
}  // namespace

void fill_normal(float* out, size_t n, uint64_t key, float mean, float stddev, bool truncated) {
  for (size_t i = 0; i < n; ++i) {
    double z = normal_draw(key, i, 0);
    for (uint64_t j = 1; truncated && std::fabs(z) > 2.0 && j < 64; ++j) z = normal_draw(key, i, j);
    if (truncated && std::fabs(z) > 2.0) z = 0.0;  // 0.05^64: never in practice
    out[i] = static_cast<float>(mean + stddev * z);
  }
}

void permutation(int64_t* out, size_t n, uint64_t key) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(i);
  for (size_t i = n; i > 1; --i) {
    size_t j = static_cast<size_t>(rng_u64(key, i) % i);
    int64_t t = out[i - 1];
    out[i - 1] = out[j];
    out[j] = t;
  }
}

}  // namespace bc

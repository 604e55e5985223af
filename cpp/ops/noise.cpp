#include "ops/noise.h"

#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "ops/activation.h"

namespace bc {

namespace {
// A standard normal draw at counter i (Box-Muller on two 24-bit uniforms, the first kept off 0).
float normal_at(uint64_t key, uint64_t i) {
  const float u1 = 1.0f - rng_uniform(key, 2 * i);
  const float u2 = rng_uniform(key, 2 * i + 1);
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530718f * u2);
}
// SELU's constants, as Keras's AlphaDropout: alpha_p = -alpha * scale.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
}  // namespace

NoiseOp::NoiseOp(int in_t, int out_t, int kind, float amount, int channels, uint64_t stream)
    : kind_(kind), amount_(amount), channels_(channels), stream_(stream) {
  BC_CHECK(kind >= NOISE_GAUSSIAN && kind <= NOISE_SPATIAL_DROPOUT, "noise: unknown kind");
  BC_CHECK(kind == NOISE_GAUSSIAN ? amount >= 0.0f : (amount >= 0.0f && amount < 1.0f),
           "noise: the stddev must be >= 0, a rate in [0, 1)");
  BC_CHECK(kind != NOISE_SPATIAL_DROPOUT || channels > 0, "SpatialDropout: the channel count must be positive");
  in = {in_t};
  out = {out_t};
}

void NoiseOp::forward(Ctx& c) {
  const size_t ps = c.per_sample(in[0]), n = c.B * ps;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  drew_ = c.training && amount_ > 0.0f;
  if (!drew_) {
    std::memcpy(y, x, n * sizeof(float));
    return;
  }
  const uint64_t key = rng_key(c.seed, stream_, c.step);
  const float rate = amount_;
  if (kind_ == NOISE_SPATIAL_DROPOUT) {
    const int C = channels_;
    f_.resize(static_cast<size_t>(c.B) * C);
    for (int b = 0; b < c.B; ++b)
      for (int k = 0; k < C; ++k)
        f_[b * C + k] = rng_uniform(key, (c.row0 + b) * C + k) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
    for (int b = 0; b < c.B; ++b)
      for (size_t i = 0; i < ps; ++i) y[b * ps + i] = x[b * ps + i] * f_[b * C + i % C];
    return;
  }
  f_.resize(n);
  const uint64_t first = c.row0 * ps;
  if (kind_ == NOISE_GAUSSIAN) {
    for (size_t i = 0; i < n; ++i) y[i] = x[i] + amount_ * normal_at(key, first + i);
    return;
  }
  if (kind_ == NOISE_GAUSSIAN_DROPOUT) {
    const float sd = std::sqrt(rate / (1.0f - rate));
    for (size_t i = 0; i < n; ++i) {
      f_[i] = 1.0f + sd * normal_at(key, first + i);
      y[i] = x[i] * f_[i];
    }
    return;
  }
  // AlphaDropout: y = a * (x * keep + alpha_p * (1 - keep)) + b
  const double alpha_p = -kSeluAlpha * kSeluScale;
  const float a = static_cast<float>(std::pow((1.0 - rate) * (1.0 + rate * alpha_p * alpha_p), -0.5));
  const float bb = static_cast<float>(-a * alpha_p * rate);
  const float ap = static_cast<float>(alpha_p);
  for (size_t i = 0; i < n; ++i) {
    const bool keep = rng_uniform(key, first + i) >= rate;
    f_[i] = keep ? a : 0.0f;
    y[i] = a * (keep ? x[i] : ap) + bb;
  }
}

void NoiseOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t ps = c.per_sample(in[0]), n = c.B * ps;
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  if (!drew_ || kind_ == NOISE_GAUSSIAN) {
    add_or_copy(dx, d, n, acc);
    return;
  }
  if (kind_ == NOISE_SPATIAL_DROPOUT) {
    const int C = channels_;
    for (int b = 0; b < c.B; ++b)
      for (size_t i = 0; i < ps; ++i) {
        const float g = d[b * ps + i] * f_[b * C + i % C];
        dx[b * ps + i] = acc ? dx[b * ps + i] + g : g;
      }
    return;
  }
  for (size_t i = 0; i < n; ++i) dx[i] = acc ? dx[i] + d[i] * f_[i] : d[i] * f_[i];
}

}  // namespace bc

#include "ops/image_mix.h"

#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "ops/activation.h"
#include "ops/parallel.h"

namespace bc {

namespace {
constexpr double kItemFloats = 64e3;

double uniform_open(uint64_t key, uint64_t& i) {  // in (0, 1)
  return (static_cast<double>(rng_u64(key, i++) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
}  // namespace

double rng_gamma(uint64_t key, double shape) {
  uint64_t i = 0;
  double boost = 1.0;
  if (shape < 1.0) {  // Gamma(a) = Gamma(a + 1) U^(1 / a)
    boost = std::pow(uniform_open(key, i), 1.0 / shape);
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double z = std::sqrt(-2.0 * std::log(uniform_open(key, i))) * std::cos(2.0 * M_PI * uniform_open(key, i));
    double v = 1.0 + c * z;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double u = uniform_open(key, i);
    if (std::log(u) < 0.5 * z * z + d - d * v + d * std::log(v)) return d * v * boost;
  }
}

void mixup_draws(uint64_t key, uint64_t row0, int B, float alpha, std::vector<int>& perm, std::vector<float>& lam) {
  perm.resize(B);
  lam.resize(B);
  for (int b = 0; b < B; ++b) perm[b] = b;
  const uint64_t pk = mix64(key + 1);
  for (int b = B - 1; b > 0; --b) {  // Fisher-Yates
    const int j = static_cast<int>(rng_u64(pk, row0 + b) % static_cast<uint64_t>(b + 1));
    std::swap(perm[b], perm[j]);
  }
  for (int b = 0; b < B; ++b) {
    const double x = rng_gamma(rng_key(key, row0 + b, 1), alpha), y = rng_gamma(rng_key(key, row0 + b, 2), alpha);
    lam[b] = static_cast<float>(x / (x + y));
  }
}

MixUpOp::MixUpOp(int in_t, int out_t, long n, float alpha, uint64_t stream) : n_(n), alpha_(alpha), stream_(stream) {
  BC_CHECK(n > 0 && alpha > 0.0f, "MixUp: sizes and alpha must be positive");
  in = {in_t};
  out = {out_t};
}

void MixUpOp::forward(Ctx& c) {
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  perm_.clear();
  if (!c.training) {
    std::memcpy(y, x, c.B * n_ * sizeof(float));
    return;
  }
  mixup_draws(rng_key(c.seed, stream_, c.step), c.row0, c.B, alpha_, perm_, lam_);
  parallel_samples(c.B, static_cast<double>(n_), kItemFloats, [&](int b) {
    const float l = lam_[b], m = 1.0f - lam_[b];
    const float* xa = x + b * n_;
    const float* xb = x + static_cast<long>(perm_[b]) * n_;
    float* yb = y + b * n_;
    for (long i = 0; i < n_; ++i) yb[i] = l * xa[i] + m * xb[i];
  });
}

void MixUpOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const float* g = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  if (perm_.empty()) {
    add_or_copy(dx, g, c.B * n_, acc);
    return;
  }
  std::vector<int> inv(c.B);
  for (int b = 0; b < c.B; ++b) inv[perm_[b]] = b;
  parallel_samples(c.B, static_cast<double>(n_), kItemFloats, [&](int j) {
    const int i = inv[j];
    const float l = lam_[j], m = 1.0f - lam_[i];
    const float* gj = g + j * n_;
    const float* gi = g + static_cast<long>(i) * n_;
    float* o = dx + j * n_;
    for (long k = 0; k < n_; ++k) {
      const float v = l * gj[k] + m * gi[k];
      o[k] = acc ? o[k] + v : v;
    }
  });
}

}  // namespace bc

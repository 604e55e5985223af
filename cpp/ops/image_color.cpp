#include "ops/image_color.h"

#include <algorithm>
#include <cstring>

#include "core/rng.h"
#include "ops/activation.h"
#include "ops/parallel.h"

namespace bc {

namespace {
constexpr double kItemFloats = 64e3;
}  // namespace

ColorOp::ColorOp(int in_t, int out_t, int P, int C, int kind, float lower, float upper, float lo, float hi,
                 uint64_t stream)
    : P_(P), C_(C), kind_(kind), lower_(lower), upper_(upper), lo_(lo), hi_(hi), stream_(stream) {
  BC_CHECK(P > 0 && C > 0, "color augmentation: sizes must be positive");
  BC_CHECK(kind == COLOR_CONTRAST || kind == COLOR_BRIGHTNESS, "color augmentation: unknown kind");
  in = {in_t};
  out = {out_t};
}

void ColorOp::forward(Ctx& c) {
  const size_t ps = static_cast<size_t>(P_) * C_;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  f_.clear();
  if (!c.training) {
    std::memcpy(y, x, c.B * ps * sizeof(float));
    return;
  }
  const uint64_t key = rng_key(c.seed, stream_, c.step);
  f_.resize(c.B);
  pass_.resize(c.B * ps);
  for (int b = 0; b < c.B; ++b) {
    const float u = rng_uniform(key, c.row0 + b);
    if (kind_ == COLOR_CONTRAST) {
      const float a = 1.0f - lower_, z = 1.0f + upper_;
      f_[b] = a + u * (z - a);
    } else {
      f_[b] = (lower_ + u * (upper_ - lower_)) * (hi_ - lo_);
    }
  }
  const int spi = samples_per_item(c.B, static_cast<double>(ps), kItemFloats);
  parallel_items((c.B + spi - 1) / spi, [&](int it) {
    std::vector<double> mean(C_);
    for (int b = it * spi; b < std::min(c.B, (it + 1) * spi); ++b) {
      const float* xb = x + b * ps;
      float* yb = y + b * ps;
      char* pb = pass_.data() + b * ps;
      const float f = f_[b];
      if (kind_ == COLOR_CONTRAST) {
        std::fill(mean.begin(), mean.end(), 0.0);
        for (int p = 0; p < P_; ++p)
          for (int k = 0; k < C_; ++k) mean[k] += xb[static_cast<size_t>(p) * C_ + k];
        for (int k = 0; k < C_; ++k) mean[k] /= P_;
      }
      for (size_t i = 0; i < ps; ++i) {
        float v;
        if (kind_ == COLOR_CONTRAST) {
          const float m = static_cast<float>(mean[i % C_]);
          v = (xb[i] - m) * f + m;
        } else {
          v = xb[i] + f;
        }
        pb[i] = v >= lo_ && v <= hi_;
        yb[i] = std::min(std::max(v, lo_), hi_);
      }
    }
  });
}

void ColorOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t ps = static_cast<size_t>(P_) * C_;
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  if (f_.empty()) {
    add_or_copy(dx, d, c.B * ps, acc);
    return;
  }
  const int spi = samples_per_item(c.B, static_cast<double>(ps), kItemFloats);
  parallel_items((c.B + spi - 1) / spi, [&](int it) {
    std::vector<double> sum(C_);
    for (int b = it * spi; b < std::min(c.B, (it + 1) * spi); ++b) {
      const float* g = d + b * ps;
      float* o = dx + b * ps;
      const char* pb = pass_.data() + b * ps;
      const float f = f_[b];
      if (kind_ == COLOR_BRIGHTNESS) {
        for (size_t i = 0; i < ps; ++i) {
          const float v = pb[i] ? g[i] : 0.0f;
          o[i] = acc ? o[i] + v : v;
        }
        continue;
      }
      // y_i = f x_i + (1 - f) mean: dx_i = f g_i + (1 - f) / P * sum_j g_j, g passed by the clip
      std::fill(sum.begin(), sum.end(), 0.0);
      for (size_t i = 0; i < ps; ++i)
        if (pb[i]) sum[i % C_] += g[i];
      for (size_t i = 0; i < ps; ++i) {
        const float v = (pb[i] ? f * g[i] : 0.0f) + static_cast<float>((1.0 - f) * sum[i % C_] / P_);
        o[i] = acc ? o[i] + v : v;
      }
    }
  });
}

}  // namespace bc

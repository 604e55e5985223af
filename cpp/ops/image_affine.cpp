#include "ops/image_affine.h"

#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "ops/activation.h"
#include "ops/parallel.h"

namespace bc {

namespace {

constexpr double kItemFloats = 64e3;  // floats of input per work item

long floor_mod(long a, long n) {
  const long r = a % n;
  return r < 0 ? r + n : r;
}

// Keras's index fixers (torch backend): reflect is (d c b a | a b c d | d c b a), the mirror of
// 2i + 1 over a period of 2n + 1 halved; wrap is i mod n; constant and nearest clamp.
long fix_index(long i, long n, int fill) {
  if (fill == FILL_REFLECT) {
    const long s = 2 * n;  // mirror(2i + 1, 2n + 1): half-wavelength 2n
    const long m = std::labs(floor_mod(2 * i + 1 + s, 2 * s) - s);  // odd, so (m - 1) / 2 is exact
    return (m - 1) / 2;
  }
  if (fill == FILL_WRAP) return floor_mod(i, n);
  return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

// The (index, weight, valid) nodes of one coordinate along an axis of n: 2 for bilinear, 1 for nearest.
struct Nodes {
  long idx[2];
  float w[2];
  bool ok[2];
  int k;
};

Nodes nodes(float coord, long n, int interp, int fill) {
  Nodes r;
  if (interp == INTERP_NEAREST) {
    const long i = static_cast<long>(std::nearbyint(coord));  // round half to even, as torch.round
    r.k = 1;
    r.idx[0] = fix_index(i, n, fill);
    r.w[0] = 1.0f;
    r.ok[0] = fill != FILL_CONSTANT || (i >= 0 && i < n);
    return r;
  }
  const float lo = std::floor(coord);
  const long i = static_cast<long>(lo);
  const float wh = coord - lo;
  r.k = 2;
  r.w[0] = 1.0f - wh;
  r.w[1] = wh;
  for (int t = 0; t < 2; ++t) {
    r.idx[t] = fix_index(i + t, n, fill);
    r.ok[t] = fill != FILL_CONSTANT || (i + t >= 0 && i + t < n);
  }
  return r;
}

}  // namespace

void affine_sample(const float* x, float* y, int H, int W, int C, const float* m, int interp, int fill,
                   float fill_value) {
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const float fi = static_cast<float>(i), fj = static_cast<float>(j);
      const Nodes r = nodes(fj * m[3] + fi * m[4] + m[5], H, interp, fill);
      const Nodes q = nodes(fj * m[0] + fi * m[1] + m[2], W, interp, fill);
      float* out = y + (static_cast<long>(i) * W + j) * C;
      for (int k = 0; k < C; ++k) out[k] = 0.0f;
      for (int a = 0; a < r.k; ++a)
        for (int b = 0; b < q.k; ++b) {
          const float w = r.w[a] * q.w[b];
          if (r.ok[a] && q.ok[b]) {
            const float* src = x + (r.idx[a] * W + q.idx[b]) * C;
            for (int k = 0; k < C; ++k) out[k] += w * src[k];
          } else {
            for (int k = 0; k < C; ++k) out[k] += w * fill_value;
          }
        }
    }
}

void affine_sample_backward(float* dx, const float* dy, int H, int W, int C, const float* m, int interp, int fill) {
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const float fi = static_cast<float>(i), fj = static_cast<float>(j);
      const Nodes r = nodes(fj * m[3] + fi * m[4] + m[5], H, interp, fill);
      const Nodes q = nodes(fj * m[0] + fi * m[1] + m[2], W, interp, fill);
      const float* g = dy + (static_cast<long>(i) * W + j) * C;
      for (int a = 0; a < r.k; ++a)
        for (int b = 0; b < q.k; ++b) {
          if (!r.ok[a] || !q.ok[b]) continue;  // the fill value is a constant
          const float w = r.w[a] * q.w[b];
          float* d = dx + (r.idx[a] * W + q.idx[b]) * C;
          for (int k = 0; k < C; ++k) d[k] += w * g[k];
        }
    }
}

void affine_matrix(int kind, const float* lo, const float* hi, bool same_zoom, float u0, float u1, int H, int W,
                   float* m) {
  const float fh = static_cast<float>(H), fw = static_cast<float>(W);
  if (kind == AFFINE_ROTATION) {  // about the image centre, degrees as Keras draws them
    const float lo_deg = lo[0] * 360.0f, hi_deg = hi[0] * 360.0f;
    const float rad = (lo_deg + u0 * (hi_deg - lo_deg)) * static_cast<float>(M_PI / 180.0);
    const float cs = std::cos(rad), sn = std::sin(rad);
    const float cx = 0.5f * (fw - 1.0f), cy = 0.5f * (fh - 1.0f);
    m[0] = cs;
    m[1] = -sn;
    m[2] = cx - cx * m[0] - cy * m[1];
    m[3] = sn;
    m[4] = cs;
    m[5] = cy - cx * m[3] - cy * m[4];
  } else if (kind == AFFINE_ZOOM) {
    const float zh = (1.0f + lo[0]) + u0 * ((1.0f + hi[0]) - (1.0f + lo[0]));
    const float zw = same_zoom ? zh : (1.0f + lo[1]) + u1 * ((1.0f + hi[1]) - (1.0f + lo[1]));
    m[0] = zw;
    m[1] = 0.0f;
    m[2] = (fw - 1.0f) / 2.0f * (1.0f - zw);
    m[3] = 0.0f;
    m[4] = zh;
    m[5] = (fh - 1.0f) / 2.0f * (1.0f - zh);
  } else if (kind == AFFINE_SHEAR) {
    m[0] = 1.0f;
    m[1] = lo[0] + u0 * (hi[0] - lo[0]);
    m[2] = 0.0f;
    m[3] = lo[1] + u1 * (hi[1] - lo[1]);
    m[4] = 1.0f;
    m[5] = 0.0f;
  } else {
    const float dy = (lo[0] + u0 * (hi[0] - lo[0])) * fh;
    const float dx = (lo[1] + u1 * (hi[1] - lo[1])) * fw;
    m[0] = 1.0f;
    m[1] = 0.0f;
    m[2] = -dx;
    m[3] = 0.0f;
    m[4] = 1.0f;
    m[5] = -dy;
  }
}

// ---------------------------------------------------------------------------- RandomFlip

FlipOp::FlipOp(int in_t, int out_t, int H, int W, int C, int mode, uint64_t stream)
    : H_(H), W_(W), C_(C), mode_(mode), stream_(stream) {
  BC_CHECK(H > 0 && W > 0 && C > 0, "RandomFlip: sizes must be positive");
  BC_CHECK(mode >= FLIP_HORIZONTAL && mode <= FLIP_BOTH, "RandomFlip: unknown mode");
  in = {in_t};
  out = {out_t};
}

namespace {
// y = x flipped (rows when vert, columns when horiz); an involution, so also its own transpose.
void flip_sample(const float* x, float* y, int H, int W, int C, bool horiz, bool vert, bool acc) {
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const float* s = x + (static_cast<long>(vert ? H - 1 - i : i) * W + (horiz ? W - 1 - j : j)) * C;
      float* d = y + (static_cast<long>(i) * W + j) * C;
      for (int k = 0; k < C; ++k) d[k] = acc ? d[k] + s[k] : s[k];
    }
}
}  // namespace

void FlipOp::forward(Ctx& c) {
  const size_t ps = static_cast<size_t>(H_) * W_ * C_;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  flip_.clear();
  if (!c.training) {
    std::memcpy(y, x, c.B * ps * sizeof(float));
    return;
  }
  const uint64_t key = rng_key(c.seed, stream_, c.step);
  flip_.resize(c.B);
  for (int b = 0; b < c.B; ++b) flip_[b] = rng_uniform(key, c.row0 + b) <= 0.5f;  // Keras: u <= 0.5
  parallel_samples(c.B, static_cast<double>(ps), kItemFloats, [&](int b) {
    const bool f = flip_[b];
    flip_sample(x + b * ps, y + b * ps, H_, W_, C_, f && mode_ != FLIP_VERTICAL, f && mode_ != FLIP_HORIZONTAL, false);
  });
}

void FlipOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t ps = static_cast<size_t>(H_) * W_ * C_;
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  if (flip_.empty()) {
    add_or_copy(dx, d, c.B * ps, accum_dx[0]);
    return;
  }
  parallel_samples(c.B, static_cast<double>(ps), kItemFloats, [&](int b) {
    const bool f = flip_[b];
    flip_sample(d + b * ps, dx + b * ps, H_, W_, C_, f && mode_ != FLIP_VERTICAL, f && mode_ != FLIP_HORIZONTAL,
                accum_dx[0]);
  });
}

// ---------------------------------------------------------------------------- the affine layers

AffineOp::AffineOp(int in_t, int out_t, int H, int W, int C, int kind, std::vector<float> lo, std::vector<float> hi,
                   bool same_zoom, int interp, int fill, float fill_value, uint64_t stream)
    : H_(H), W_(W), C_(C), kind_(kind), same_zoom_(same_zoom), interp_(interp), fill_(fill),
      fill_value_(fill_value), stream_(stream) {
  BC_CHECK(H > 0 && W > 0 && C > 0, "affine augmentation: sizes must be positive");
  BC_CHECK(kind >= AFFINE_ROTATION && kind <= AFFINE_SHEAR, "affine augmentation: unknown kind");
  BC_CHECK(interp == INTERP_BILINEAR || interp == INTERP_NEAREST, "affine augmentation: unknown interpolation");
  BC_CHECK(fill >= FILL_REFLECT && fill <= FILL_NEAREST, "affine augmentation: unknown fill mode");
  BC_CHECK(lo.size() == 2 && hi.size() == 2, "affine augmentation: two factor ranges");
  for (int t = 0; t < 2; ++t) {
    lo_[t] = lo[t];
    hi_[t] = hi[t];
  }
  in = {in_t};
  out = {out_t};
}

void AffineOp::forward(Ctx& c) {
  const size_t ps = static_cast<size_t>(H_) * W_ * C_;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  m_.clear();
  if (!c.training) {
    std::memcpy(y, x, c.B * ps * sizeof(float));
    return;
  }
  const uint64_t key = rng_key(c.seed, stream_, c.step);
  m_.resize(static_cast<size_t>(c.B) * 6);
  for (int b = 0; b < c.B; ++b) {
    const uint64_t r = c.row0 + b;
    float* m = &m_[b * 6];
    affine_matrix(kind_, lo_, hi_, same_zoom_, rng_uniform(key, 2 * r), rng_uniform(key, 2 * r + 1), H_, W_, m);
    if (kind_ == AFFINE_SHEAR && rng_uniform(mix64(key + 1), r) > 0.5f) {  // Keras: one sign for both factors
      m[1] = -m[1];
      m[3] = -m[3];
    }
  }
  parallel_samples(c.B, static_cast<double>(ps), kItemFloats, [&](int b) {
    affine_sample(x + b * ps, y + b * ps, H_, W_, C_, &m_[b * 6], interp_, fill_, fill_value_);
  });
}

void AffineOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t ps = static_cast<size_t>(H_) * W_ * C_;
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  if (m_.empty()) {
    add_or_copy(dx, d, c.B * ps, accum_dx[0]);
    return;
  }
  parallel_samples(c.B, static_cast<double>(ps), kItemFloats, [&](int b) {
    if (!accum_dx[0]) std::memset(dx + b * ps, 0, ps * sizeof(float));
    affine_sample_backward(dx + b * ps, d + b * ps, H_, W_, C_, &m_[b * 6], interp_, fill_);
  });
}

}  // namespace bc

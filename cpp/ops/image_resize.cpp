#include "ops/image_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "ops/image_affine.h"
#include "ops/parallel.h"

namespace bc {

namespace {

constexpr double kItemFloats = 64e3;

// Output index o of n_out along a box axis of n_in: two source indices and weights (PyTorch's
// upsample kernels, float arithmetic as theirs).
struct Taps {
  int i0, i1;
  float w0, w1;
};

Taps taps(int o, int n_in, int n_out, int interp) {
  const float scale = static_cast<float>(n_in) / static_cast<float>(n_out);
  Taps t;
  if (interp == INTERP_NEAREST) {  // nearest-exact: floorf((o + 0.5) * scale), rounded to float first as
    // torch's floorf does (16 -> 25: 12.5 * 0.64f is 7.9999998 in double, 8 in float)
    const int i = n_in == n_out ? o : static_cast<int>(std::floor(static_cast<float>((o + 0.5) * scale)));
    t.i0 = t.i1 = std::min(i, n_in - 1);
    t.w0 = 1.0f;
    t.w1 = 0.0f;
    return t;
  }
  float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;  // half-pixel centres, clamped at 0
  if (src < 0.0f) src = 0.0f;
  t.i0 = static_cast<int>(src);
  t.i1 = t.i0 + (t.i0 < n_in - 1 ? 1 : 0);
  t.w1 = std::min(std::max(src - static_cast<float>(t.i0), 0.0f), 1.0f);
  t.w0 = 1.0f - t.w1;
  return t;
}

}  // namespace

void box_resize(const float* x, float* y, int H, int W, int C, int OH, int OW, const ImageBox& box, int interp,
                float fill_value) {
  const auto px = [&](int r, int c) -> const float* {  // box coordinates; nullptr outside the image
    const int yy = box[0] + r, xx = box[1] + c;
    return (yy < 0 || yy >= H || xx < 0 || xx >= W) ? nullptr : x + (static_cast<long>(yy) * W + xx) * C;
  };
  for (int oi = 0; oi < OH; ++oi) {
    const Taps r = taps(oi, box[2], OH, interp);
    for (int oj = 0; oj < OW; ++oj) {
      const Taps q = taps(oj, box[3], OW, interp);
      const float *p00 = px(r.i0, q.i0), *p01 = px(r.i0, q.i1), *p10 = px(r.i1, q.i0), *p11 = px(r.i1, q.i1);
      float* out = y + (static_cast<long>(oi) * OW + oj) * C;
      for (int k = 0; k < C; ++k) {
        const float v00 = p00 ? p00[k] : fill_value, v01 = p01 ? p01[k] : fill_value;
        const float v10 = p10 ? p10[k] : fill_value, v11 = p11 ? p11[k] : fill_value;
        out[k] = interp == INTERP_NEAREST ? v00 : r.w0 * (q.w0 * v00 + q.w1 * v01) + r.w1 * (q.w0 * v10 + q.w1 * v11);
      }
    }
  }
}

void box_resize_backward(float* dx, const float* dy, int H, int W, int C, int OH, int OW, const ImageBox& box,
                         int interp) {
  const auto px = [&](int r, int c) -> float* {
    const int yy = box[0] + r, xx = box[1] + c;
    return (yy < 0 || yy >= H || xx < 0 || xx >= W) ? nullptr : dx + (static_cast<long>(yy) * W + xx) * C;
  };
  for (int oi = 0; oi < OH; ++oi) {
    const Taps r = taps(oi, box[2], OH, interp);
    for (int oj = 0; oj < OW; ++oj) {
      const Taps q = taps(oj, box[3], OW, interp);
      const float* g = dy + (static_cast<long>(oi) * OW + oj) * C;
      const int n = interp == INTERP_NEAREST ? 1 : 4;
      const int ri[4] = {r.i0, r.i0, r.i1, r.i1}, ci[4] = {q.i0, q.i1, q.i0, q.i1};
      const float w[4] = {r.w0 * q.w0, r.w0 * q.w1, r.w1 * q.w0, r.w1 * q.w1};
      for (int t = 0; t < n; ++t) {
        float* d = px(ri[t], ci[t]);
        if (!d) continue;  // a pad: the fill value is a constant
        const float wt = n == 1 ? 1.0f : w[t];
        for (int k = 0; k < C; ++k) d[k] += wt * g[k];
      }
    }
  }
}

CropResizeOp::CropResizeOp(int in_t, int out_t, int H, int W, int C, int OH, int OW, int interp, float fill_value,
                           ImageBox infer_box, ImageBox train_box, bool random, uint64_t stream)
    : H_(H), W_(W), C_(C), OH_(OH), OW_(OW), interp_(interp), fill_value_(fill_value), infer_(infer_box),
      train_(train_box), random_(random), stream_(stream) {
  BC_CHECK(H > 0 && W > 0 && C > 0 && OH > 0 && OW > 0, "image resizing: sizes must be positive");
  BC_CHECK(interp == INTERP_BILINEAR || interp == INTERP_NEAREST, "image resizing: unknown interpolation");
  BC_CHECK(infer_box[2] > 0 && infer_box[3] > 0 && train_box[2] > 0 && train_box[3] > 0,
           "image resizing: a box must not be empty");
  BC_CHECK(!random || (H > OH && W > OW), "RandomCrop: a random box needs an input larger than the output");
  in = {in_t};
  out = {out_t};
}

void CropResizeOp::forward(Ctx& c) {
  box_ = c.training ? train_ : infer_;
  if (c.training && random_) {  // one offset per batch, at counters 0 and 1 (every data-parallel rank alike)
    const uint64_t key = rng_key(c.seed, stream_, c.step);
    const int dy = static_cast<int>(rng_uniform(key, 0) * static_cast<double>(H_ - OH_ + 1));
    const int dx = static_cast<int>(rng_uniform(key, 1) * static_cast<double>(W_ - OW_ + 1));
    box_ = {dy, dx, OH_, OW_};
  }
  const size_t ps = static_cast<size_t>(H_) * W_ * C_, ops = static_cast<size_t>(OH_) * OW_ * C_;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  parallel_samples(c.B, static_cast<double>(ps + ops), kItemFloats, [&](int b) {
    box_resize(x + b * ps, y + b * ops, H_, W_, C_, OH_, OW_, box_, interp_, fill_value_);
  });
}

void CropResizeOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t ps = static_cast<size_t>(H_) * W_ * C_, ops = static_cast<size_t>(OH_) * OW_ * C_;
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  parallel_samples(c.B, static_cast<double>(ps + ops), kItemFloats, [&](int b) {
    if (!accum_dx[0]) std::memset(dx + b * ps, 0, ps * sizeof(float));
    box_resize_backward(dx + b * ps, d + b * ops, H_, W_, C_, OH_, OW_, box_, interp_);
  });
}

}  // namespace bc

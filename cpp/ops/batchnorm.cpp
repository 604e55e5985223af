#include "ops/batchnorm.h"

#include <cmath>
#include <cstring>

#include "ops/parallel.h"

namespace bc {

namespace {
constexpr long kItemRows = 1024;  // rows per work item of the sums (fixed: the sums' order)
}  // namespace

BatchNormOp::BatchNormOp(int in_t, int out_t, int mask_t, const BatchNormArgs& a) : a_(a), masked_(mask_t >= 0) {
  BC_CHECK(a.C > 0, "BatchNormalization: the channel count must be positive");
  BC_CHECK(a.epsilon > 0.0f, "BatchNormalization: epsilon must be > 0");
  in = {in_t};
  if (masked_) in.push_back(mask_t);
  out = {out_t};
  if (a.gamma >= 0) params.push_back(static_cast<size_t>(a.gamma));
  if (a.beta >= 0) params.push_back(static_cast<size_t>(a.beta));
  mean_.resize(a.C);
  inv_.resize(a.C);
  count_.resize(a.C);
}

// mean_ and inv_ from the batch: sum over rows by items of kItemRows (partials in float, then
// added in item order in double), then the same for the squared deviations. w: per-row weights
// (the mask, broadcast over channels) or null.
void BatchNormOp::batch_stats(Ctx& c, long rows, const float* x, const float* w) {
  (void)c;
  const int C = a_.C;
  const int items = static_cast<int>((rows + kItemRows - 1) / kItemRows);
  part_.assign(static_cast<size_t>(items) * (C + 1), 0.0f);
  for (int pass = 0; pass < 2; ++pass) {
    parallel_items(items, [&](int i) {
      float* s = part_.data() + static_cast<size_t>(i) * (C + 1);
      std::memset(s, 0, (C + 1) * sizeof(float));
      const long r1 = std::min(rows, (i + 1) * kItemRows);
      for (long r = i * kItemRows; r < r1; ++r) {
        const float wr = w ? w[r] : 1.0f;
        if (wr == 0.0f) continue;
        const float* xr = x + r * C;
        if (pass == 0) {
          for (int k = 0; k < C; ++k) s[k] += xr[k];
        } else {
          const float* m = mean_.data();
          for (int k = 0; k < C; ++k) s[k] += (xr[k] - m[k]) * (xr[k] - m[k]);
        }
        s[C] += 1.0f;
      }
    });
    acc_.assign(C + 1, 0.0);
    for (int i = 0; i < items; ++i)
      for (int k = 0; k <= C; ++k) acc_[k] += part_[static_cast<size_t>(i) * (C + 1) + k];
    // Keras: the mean over all rows, or over the kept ones plus epsilon (1e-7) with a mask.
    const double n = masked_ ? acc_[C] + 1e-7 : static_cast<double>(rows);
    for (int k = 0; k < C; ++k) {
      if (pass == 0) {
        mean_[k] = static_cast<float>(acc_[k] / n);
      } else {
        const float var = static_cast<float>(acc_[k] / n);
        count_[k] = static_cast<float>(n);
        inv_[k] = var;  // the variance until the moving statistics have read it
      }
    }
  }
}

void BatchNormOp::forward(Ctx& c) {
  const int C = a_.C;
  const long rows = static_cast<long>(c.B) * (c.per_sample(in[0]) / C);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  float* mm = c.params + a_.moving_mean;
  float* mv = c.params + a_.moving_var;
  used_batch_ = c.training && !a_.frozen;
  if (used_batch_) {
    batch_stats(c, rows, x, masked_ ? c.val(in[1]) : nullptr);
    for (int k = 0; k < C; ++k) {
      const float var = inv_[k];
      mm[k] = mm[k] * a_.momentum + mean_[k] * (1.0f - a_.momentum);
      mv[k] = mv[k] * a_.momentum + var * (1.0f - a_.momentum);
      inv_[k] = 1.0f / std::sqrt(var + a_.epsilon);
    }
  } else {
    for (int k = 0; k < C; ++k) {
      mean_[k] = mm[k];
      inv_[k] = 1.0f / std::sqrt(mv[k] + a_.epsilon);
    }
  }
  std::vector<float> scale(C), shift(C);
  for (int k = 0; k < C; ++k) {
    scale[k] = inv_[k] * (a_.gamma >= 0 ? c.params[a_.gamma + k] : 1.0f);
    shift[k] = a_.beta >= 0 ? c.params[a_.beta + k] : 0.0f;
  }
  const float* m = mean_.data();
  const float* s = scale.data();
  const float* t = shift.data();
  const int items = static_cast<int>((rows + kItemRows - 1) / kItemRows);
  const bool relu = a_.relu;
  parallel_items(items, [&](int i) {
    const long r1 = std::min(rows, (i + 1) * kItemRows);
    for (long r = i * kItemRows; r < r1; ++r) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      if (relu) {  // ReluOp's bits: v > 0 ? v : +0, NaN kept
        for (int k = 0; k < C; ++k) {
          const float v = (xr[k] - m[k]) * s[k] + t[k];
          yr[k] = v > 0.0f || v != v ? v : 0.0f;
        }
      } else {
        for (int k = 0; k < C; ++k) yr[k] = (xr[k] - m[k]) * s[k] + t[k];
      }
    }
  });
}

// With g = gamma, xc = x - mean, S the forward's divisor and w the row's mask weight:
//   dbeta = sum dy, dgamma = sum dy * xc * inv
//   batch statistics: dvar = -g inv^3 / 2 * sum dy xc, dmean = -g inv sum dy - 2 dvar / S * sum w xc,
//   dx = g inv dy + dmean w / S + 2 dvar w xc / S;   moving statistics: dx = g inv dy.
void BatchNormOp::backward(Ctx& c) {
  const int C = a_.C;
  const long rows = static_cast<long>(c.B) * (c.per_sample(in[0]) / C);
  const float* x = c.val(in[0]);
  float* dy = c.grad(out[0]);
  const float* w = masked_ ? c.val(in[1]) : nullptr;
  const int items = static_cast<int>((rows + kItemRows - 1) / kItemRows);
  const int width = 3 * C;  // sum dy, sum dy xc, sum w xc
  part_.assign(static_cast<size_t>(items) * width, 0.0f);
  const float* m = mean_.data();
  const float* relu_out = a_.relu ? c.val(out[0]) : nullptr;
  parallel_items(items, [&](int i) {
    float* s = part_.data() + static_cast<size_t>(i) * width;
    const long r1 = std::min(rows, (i + 1) * kItemRows);
    for (long r = i * kItemRows; r < r1; ++r) {
      const float* xr = x + r * C;
      float* d = dy + r * C;
      if (relu_out) {  // the ReLU's gradient first, in place (ReluOp's: dy where out > 0, else +0)
        const float* o = relu_out + r * C;
        for (int k = 0; k < C; ++k) d[k] = o[k] > 0.0f ? d[k] : 0.0f;
      }
      const float wr = w ? w[r] : 1.0f;
      for (int k = 0; k < C; ++k) {
        const float xc = xr[k] - m[k];
        s[k] += d[k];
        s[C + k] += d[k] * xc;
        s[2 * C + k] += wr * xc;
      }
    }
  });
  acc_.assign(width, 0.0);
  for (int i = 0; i < items; ++i)
    for (int k = 0; k < width; ++k) acc_[k] += part_[static_cast<size_t>(i) * width + k];
  size_t pi = 0;
  if (a_.gamma >= 0) {
    float* dg = c.grads + a_.gamma;
    for (int k = 0; k < C; ++k) {
      const float v = static_cast<float>(acc_[C + k] * inv_[k]);
      dg[k] = accum_dw[pi] ? dg[k] + v : v;
    }
    ++pi;
  }
  if (a_.beta >= 0) {
    float* db = c.grads + a_.beta;
    for (int k = 0; k < C; ++k) {
      const float v = static_cast<float>(acc_[k]);
      db[k] = accum_dw[pi] ? db[k] + v : v;
    }
  }
  if (!need_dx[0]) return;
  std::vector<float> a(C), bm(C), bx(C);  // dx = a dy + w (bm + bx xc)
  for (int k = 0; k < C; ++k) {
    const double g = a_.gamma >= 0 ? c.params[a_.gamma + k] : 1.0;
    const double inv = inv_[k];
    a[k] = static_cast<float>(g * inv);
    if (used_batch_) {
      const double S = count_[k];
      const double dvar = -0.5 * g * inv * inv * inv * acc_[C + k];
      const double dmean = -g * inv * acc_[k] - 2.0 * dvar / S * acc_[2 * C + k];
      bm[k] = static_cast<float>(dmean / S);
      bx[k] = static_cast<float>(2.0 * dvar / S);
    } else {
      bm[k] = bx[k] = 0.0f;
    }
  }
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  parallel_items(items, [&](int i) {
    const long r1 = std::min(rows, (i + 1) * kItemRows);
    for (long r = i * kItemRows; r < r1; ++r) {
      const float* xr = x + r * C;
      const float* d = dy + r * C;
      float* o = dx + r * C;
      const float wr = w ? w[r] : 1.0f;
      for (int k = 0; k < C; ++k) {
        const float v = a[k] * d[k] + wr * (bm[k] + bx[k] * (xr[k] - m[k]));
        o[k] = acc ? o[k] + v : v;
      }
    }
  });
}

}  // namespace bc

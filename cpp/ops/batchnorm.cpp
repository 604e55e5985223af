#include "ops/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

// mean_ and inv_ (the variance, until forward reads it) from the batch in one read of x: each item
// of kItemRows rows sums its rows (float, in row order), then, while they are still in the cache, their
// squared deviations from its own mean; the items combine in item order in double (Chan et al.: the
// deviations about the batch mean are each item's plus its count times its mean's offset squared).
// Two passes over the whole batch read a Conv1D classifier's 4 MB activations twice from memory.
// w: per-row weights (the mask, broadcast over channels) or null; a row of weight 0 is left out.
void BatchNormOp::batch_stats(Ctx& c, long rows, const float* x, const float* w) {
  (void)c;
  const int C = a_.C;
  const int items = static_cast<int>((rows + kItemRows - 1) / kItemRows);
  const size_t width = 3 * static_cast<size_t>(C) + 1;  // sums, squared deviations, count, means
  part_.assign(static_cast<size_t>(items) * width, 0.0f);
  parallel_items(items, [&](int i) {
    float* s = part_.data() + static_cast<size_t>(i) * width;
    float* q = s + C;
    const long r0 = i * kItemRows, r1 = std::min(rows, (i + 1) * kItemRows);
    float n = 0.0f;
    for (long r = r0; r < r1; ++r) {
      if (w && w[r] == 0.0f) continue;
      const float* xr = x + r * C;
      for (int k = 0; k < C; ++k) s[k] += xr[k];
      n += 1.0f;
    }
    s[2 * C] = n;
    if (n == 0.0f) return;
    float* mi = s + 2 * C + 1;
    for (int k = 0; k < C; ++k) mi[k] = s[k] / n;
    for (long r = r0; r < r1; ++r) {
      if (w && w[r] == 0.0f) continue;
      const float* xr = x + r * C;
      for (int k = 0; k < C; ++k) q[k] += (xr[k] - mi[k]) * (xr[k] - mi[k]);
    }
  });
  acc_.assign(C + 1, 0.0);
  for (int i = 0; i < items; ++i) {
    const float* s = part_.data() + static_cast<size_t>(i) * width;
    for (int k = 0; k < C; ++k) acc_[k] += s[k];
    acc_[C] += s[2 * C];
  }
  // Keras: the mean over all rows, or over the kept ones plus epsilon (1e-7) with a mask.
  const double n = masked_ ? acc_[C] + 1e-7 : static_cast<double>(rows);
  for (int k = 0; k < C; ++k) {
    const double mean = acc_[k] / n;
    double m2 = 0.0;
    for (int i = 0; i < items; ++i) {
      const float* s = part_.data() + static_cast<size_t>(i) * width;
      const double ni = s[2 * C];
      if (ni == 0.0) continue;
      // About the item's own center c (its float mean, as the item used it): sum (x - mean)^2 =
      // q + 2 (c - mean) sum (x - c) + n (c - mean)^2, where sum (x - c) is ~0 but not exactly.
      const double ci = s[2 * C + 1 + k], off = ci - mean;
      m2 += s[C + k] + 2.0 * off * (s[k] - ni * ci) + ni * off * off;
    }
    mean_[k] = static_cast<float>(mean);
    count_[k] = static_cast<float>(n);
    inv_[k] = static_cast<float>(m2 / n);  // the variance until the moving statistics have read it
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
  used_groups_ = used_batch_ ? c.time_groups : 1;
  if (used_groups_ > 1) return forward_steps(c, used_groups_);
  if (used_batch_) {
    batch_stats(c, rows, x, masked_ ? c.val(in[1]) : nullptr);
    for (int k = 0; k < C; ++k) {
      const float var = inv_[k];
      mm[k] = mm[k] * a_.momentum + mean_[k] * (1.0f - a_.momentum);
      mv[k] = mv[k] * a_.momentum + var * (1.0f - a_.momentum);
      inv_[k] = 1.0f / std::sqrt(var + a_.epsilon);
    }
  } else {
    moving_stats(c, mean_.data(), inv_.data());
  }
  std::vector<float> scale(C), shift(C);
  scale_shift(c, inv_.data(), scale.data(), shift.data());
  const int items = static_cast<int>((rows + kItemRows - 1) / kItemRows);
  parallel_items(items, [&](int i) {
    apply(x, y, i * kItemRows, std::min(rows, (i + 1) * kItemRows), mean_.data(), scale.data(), shift.data());
  });
}

void BatchNormOp::moving_stats(const Ctx& c, float* mean, float* inv) const {
  const float* mm = c.params + a_.moving_mean;
  const float* mv = c.params + a_.moving_var;
  for (int k = 0; k < a_.C; ++k) {
    mean[k] = mm[k];
    inv[k] = 1.0f / std::sqrt(mv[k] + a_.epsilon);
  }
}

void BatchNormOp::scale_shift(const Ctx& c, const float* inv, float* scale, float* shift) const {
  for (int k = 0; k < a_.C; ++k) {
    scale[k] = inv[k] * (a_.gamma >= 0 ? c.params[a_.gamma + k] : 1.0f);
    shift[k] = a_.beta >= 0 ? c.params[a_.beta + k] : 0.0f;
  }
}

void BatchNormOp::apply(const float* x, float* y, long r0, long r1, const float* m, const float* s,
                        const float* t) const {
  const int C = a_.C;
  for (long r = r0; r < r1; ++r) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    if (a_.relu) {  // ReluOp's bits: v > 0 ? v : +0, NaN kept
      for (int k = 0; k < C; ++k) {
        const float v = (xr[k] - m[k]) * s[k] + t[k];
        yr[k] = v > 0.0f || v != v ? v : 0.0f;
      }
    } else {
      for (int k = 0; k < C; ++k) yr[k] = (xr[k] - m[k]) * s[k] + t[k];
    }
  }
}

// Inference (the moving statistics) on samples [s0, s1), with the statistics in this call's own
// buffers: the team's threads run it side by side.
void BatchNormOp::forward_rows(Ctx& c, int s0, int s1) {
  const int C = a_.C;
  const long per = static_cast<long>(c.per_sample(in[0]) / C);
  std::vector<float> mean(C), inv(C), scale(C), shift(C);
  moving_stats(c, mean.data(), inv.data());
  scale_shift(c, inv.data(), scale.data(), shift.data());
  apply(c.val(in[0]), c.val(out[0]), s0 * per, s1 * per, mean.data(), scale.data(), shift.data());
}

// With g = gamma, xc = x - mean, S the forward's divisor and w the row's mask weight:
//   dbeta = sum dy, dgamma = sum dy * xc * inv
//   batch statistics: dvar = -g inv^3 / 2 * sum dy xc, dmean = -g inv sum dy - 2 dvar / S * sum w xc,
//   dx = g inv dy + dmean w / S + 2 dvar w xc / S;   moving statistics: dx = g inv dy.
void BatchNormOp::backward(Ctx& c) {
  if (used_groups_ > 1) return backward_steps(c, used_groups_);
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

// Timestep g's samples are g, g + G, g + 2G, ... (ops/fold.h); each timestep's statistics are its
// B / G samples' (double sums, in sample order: no work split, so no thread-count dependence), and
// the moving statistics move once per timestep, g = 0 first.
void BatchNormOp::forward_steps(Ctx& c, int G) {
  BC_CHECK(!masked_ && c.B % G == 0, "BatchNormalization: a mask or a partial timestep inside TimeDistributed");
  const int C = a_.C;
  const long P = static_cast<long>(c.per_sample(in[0]) / C), per = static_cast<long>(c.per_sample(in[0]));
  const long n_seq = c.B / G;
  const double n = static_cast<double>(n_seq * P);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  float* mm = c.params + a_.moving_mean;
  float* mv = c.params + a_.moving_var;
  step_mean_.assign(static_cast<size_t>(G) * C, 0.0f);
  step_inv_.assign(static_cast<size_t>(G) * C, 0.0f);
  std::vector<double> sum(C), sq(C);
  for (int g = 0; g < G; ++g) {
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(sq.begin(), sq.end(), 0.0);
    for (long b = 0; b < n_seq; ++b)
      for (long p = 0; p < P; ++p) {
        const float* xr = x + (b * G + g) * per + p * C;
        for (int k = 0; k < C; ++k) sum[k] += xr[k];
      }
    float* m = step_mean_.data() + static_cast<size_t>(g) * C;
    for (int k = 0; k < C; ++k) m[k] = static_cast<float>(sum[k] / n);
    for (long b = 0; b < n_seq; ++b)
      for (long p = 0; p < P; ++p) {
        const float* xr = x + (b * G + g) * per + p * C;
        for (int k = 0; k < C; ++k) {
          const double d = static_cast<double>(xr[k]) - m[k];
          sq[k] += d * d;
        }
      }
    float* inv = step_inv_.data() + static_cast<size_t>(g) * C;
    for (int k = 0; k < C; ++k) {
      const float var = static_cast<float>(sq[k] / n);
      mm[k] = mm[k] * a_.momentum + m[k] * (1.0f - a_.momentum);
      mv[k] = mv[k] * a_.momentum + var * (1.0f - a_.momentum);
      inv[k] = 1.0f / std::sqrt(var + a_.epsilon);
    }
  }
  for (long s = 0; s < c.B; ++s) {
    const float* m = step_mean_.data() + static_cast<size_t>(s % G) * C;
    const float* inv = step_inv_.data() + static_cast<size_t>(s % G) * C;
    for (long p = 0; p < P; ++p) {
      const float* xr = x + s * per + p * C;
      float* yr = y + s * per + p * C;
      for (int k = 0; k < C; ++k) {
        const float v = (xr[k] - m[k]) * (inv[k] * (a_.gamma >= 0 ? c.params[a_.gamma + k] : 1.0f)) +
                        (a_.beta >= 0 ? c.params[a_.beta + k] : 0.0f);
        yr[k] = !a_.relu || v > 0.0f || v != v ? v : 0.0f;
      }
    }
  }
}

// backward() per timestep: its sums over its samples, dgamma and dbeta summed over the timesteps.
void BatchNormOp::backward_steps(Ctx& c, int G) {
  const int C = a_.C;
  const long P = static_cast<long>(c.per_sample(in[0]) / C), per = static_cast<long>(c.per_sample(in[0]));
  const long n_seq = c.B / G;
  const double S = static_cast<double>(n_seq * P);
  const float* x = c.val(in[0]);
  float* dy = c.grad(out[0]);
  float* dx = need_dx[0] ? c.grad(in[0]) : nullptr;
  const float* relu_out = a_.relu ? c.val(out[0]) : nullptr;
  const size_t GC = static_cast<size_t>(G) * C;
  std::vector<double> sdy(GC, 0.0), sdyx(GC, 0.0), sxc(GC, 0.0);
  std::vector<double> dgamma(C, 0.0), dbeta(C, 0.0);
  for (long s = 0; s < c.B; ++s) {
    const size_t g = static_cast<size_t>(s % G) * C;
    for (long p = 0; p < P; ++p) {
      const float* xr = x + s * per + p * C;
      float* d = dy + s * per + p * C;
      if (relu_out) {
        const float* o = relu_out + s * per + p * C;
        for (int k = 0; k < C; ++k) d[k] = o[k] > 0.0f ? d[k] : 0.0f;
      }
      for (int k = 0; k < C; ++k) {
        const double xc = xr[k] - step_mean_[g + k];
        sdy[g + k] += d[k];
        sdyx[g + k] += d[k] * xc;
        sxc[g + k] += xc;
      }
    }
  }
  for (int g = 0; g < G; ++g)
    for (int k = 0; k < C; ++k) {
      dbeta[k] += sdy[static_cast<size_t>(g) * C + k];
      dgamma[k] += sdyx[static_cast<size_t>(g) * C + k] * step_inv_[static_cast<size_t>(g) * C + k];
    }
  size_t pi = 0;
  if (a_.gamma >= 0) {
    float* dg = c.grads + a_.gamma;
    for (int k = 0; k < C; ++k) dg[k] = static_cast<float>(accum_dw[pi] ? dg[k] + dgamma[k] : dgamma[k]);
    ++pi;
  }
  if (a_.beta >= 0) {
    float* db = c.grads + a_.beta;
    for (int k = 0; k < C; ++k) db[k] = static_cast<float>(accum_dw[pi] ? db[k] + dbeta[k] : dbeta[k]);
  }
  if (!dx) return;
  std::vector<float> a(GC), bm(GC), bx(GC);  // dx = a dy + bm + bx xc, per timestep
  for (size_t i = 0; i < a.size(); ++i) {
    const int k = static_cast<int>(i % C);
    const double g = a_.gamma >= 0 ? c.params[a_.gamma + k] : 1.0;
    const double inv = step_inv_[i];
    const double dvar = -0.5 * g * inv * inv * inv * sdyx[i];
    const double dmean = -g * inv * sdy[i] - 2.0 * dvar / S * sxc[i];
    a[i] = static_cast<float>(g * inv);
    bm[i] = static_cast<float>(dmean / S);
    bx[i] = static_cast<float>(2.0 * dvar / S);
  }
  const bool acc = accum_dx[0];
  for (long s = 0; s < c.B; ++s) {
    const size_t g = static_cast<size_t>(s % G) * C;
    for (long p = 0; p < P; ++p) {
      const float* xr = x + s * per + p * C;
      const float* d = dy + s * per + p * C;
      float* o = dx + s * per + p * C;
      for (int k = 0; k < C; ++k) {
        const float v = a[g + k] * d[k] + bm[g + k] + bx[g + k] * (xr[k] - step_mean_[g + k]);
        o[k] = acc ? o[k] + v : v;
      }
    }
  }
}

}  // namespace bc

#include "ops/conv3d.h"

#include <omp.h>

#include <algorithm>
#include <string>

#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "ops/parallel.h"

namespace bc {

namespace {
// Floats of one work item's buffers (its columns and outputs): about L2-sized, as ConvOp's, so the
// columns are still in cache when the GEMM packs them. Whole samples per item in backward.
constexpr double kItemFloats = 160e3;
}  // namespace

void set_conv3d_depth(VolGeom& g, long D, long OD, int pad) {
  const long eff = static_cast<long>(g.DD) * (g.KD - 1) + 1;
  const long want = pad == 0 ? (D >= eff ? (D - eff) / g.SD + 1 : 0) : (D - 1) / g.SD + 1;
  BC_CHECK(D >= 1 && want >= 1, "Conv3D: the input has " + std::to_string(D) + " planes of depth, fewer than the "
                                "window spans (" + std::to_string(eff) + "): give it more or padding='same'");
  BC_CHECK(OD == want, "Conv3D: the output has " + std::to_string(OD) + " planes for an input of " + std::to_string(D) +
                           ", expected " + std::to_string(want));
  BC_CHECK(D < 2147483647L / std::max<long>(1, static_cast<long>(g.H) * g.W * g.C), "Conv3D: a sample is too large");
  g.D = static_cast<int>(D);
  g.OD = static_cast<int>(OD);
  g.PF = pad == 0 ? 0 : static_cast<int>(std::max<long>(0, (OD - 1) * g.SD + eff - D) / 2);
}

Conv3DOp::Conv3DOp(int in_t, int out_t, size_t w, long b, const VolGeom& g, int F, int groups, int act, int var_pad)
    : g_(g), b_(b), F_(F), groups_(groups), act_(act), var_pad_(var_pad) {
  check_vol_geom(g, "Conv3D");
  BC_CHECK(var_pad >= -1 && var_pad <= 1, "Conv3D: var_pad must be -1 (a fixed depth), 0 (valid) or 1 (same)");
  BC_CHECK(act_valid(act), "Conv3D: unknown activation id " + std::to_string(act));
  BC_CHECK(F > 0 && groups > 0 && F % groups == 0 && g.C % groups == 0,
           "Conv3D: filters and input channels must be positive multiples of groups");
  Cg_ = g.C / groups;
  Fg_ = F / groups;
  Kc_ = g.taps() * Cg_;
  in = {in_t};
  out = {out_t};
  params = {w};
  if (b >= 0) params.push_back(static_cast<size_t>(b));
}

void Conv3DOp::resolve_depth(Ctx& c) {
  if (var_pad_ < 0) return;
  const size_t plane = static_cast<size_t>(g_.H) * g_.W * g_.C, out_plane = static_cast<size_t>(g_.OH) * g_.OW * F_;
  const size_t n = c.per_sample(in[0]), m = c.per_sample(out[0]);
  BC_CHECK(n % plane == 0 && m % out_plane == 0, "Conv3D: the tensors' sizes are not whole planes of depth");
  set_conv3d_depth(g_, static_cast<long>(n / plane), static_cast<long>(m / out_plane), var_pad_);
}

float* Conv3DOp::scratch(int thread, size_t n) {
  if (scratch_[thread].size() < n) scratch_[thread].resize(n);
  return scratch_[thread].data();
}

// Output rows r0..r1 of the batch (position r: sample r / (OD*OH*OW)); col: scratch for their columns.
void Conv3DOp::forward_rows(Ctx& c, long r0, long r1, float* col) {
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]) + r0 * F_;
  const float* W = c.params + params[0];
  const int rows = static_cast<int>(r1 - r0);
  for (int j = 0; j < groups_; ++j) {
    vol_im2col(col, x, g_, j * Cg_, Cg_, r0, r1);
    gemm(false, false, rows, Fg_, static_cast<int>(Kc_), 1.0f, col, static_cast<int>(Kc_), W + j * Fg_, F_, 0.0f,
         y + j * Fg_, F_);
  }
  act_in_.forward(y, b_ >= 0 ? c.params + b_ : nullptr, rows, F_, act_, static_cast<size_t>(r0) * F_);
}

void Conv3DOp::forward(Ctx& c) {
  resolve_depth(c);
  const long R = c.B * g_.out_positions();
  const long per = std::max<long>(16, static_cast<long>(kItemFloats / std::max<long>(Kc_, F_)) / 8 * 8);
  const int items = static_cast<int>((R + per - 1) / per);
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  for (int t = 0; t < std::min(threads, items); ++t) scratch(t, static_cast<size_t>(std::min(per, R) * Kc_));
  act_in_.prepare(act_, c.training, static_cast<size_t>(R) * F_);
  parallel_items(items, [&](int i) {
    const long r0 = i * per, r1 = std::min(R, r0 + per);
    forward_rows(c, r0, r1, scratch_[omp_get_thread_num()].data());
  });
}

// Per item of whole samples: dz (act backward), then for each group the item's columns, its part
// of dW and db, and dcol = dz W^T scattered back by col2im. The parts are summed in item order.
void Conv3DOp::backward(Ctx& c) {
  resolve_depth(c);
  const long P = g_.out_positions();
  const int spi = samples_per_item(c.B, static_cast<double>(P) * std::max<long>(Kc_, F_), kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const size_t part = static_cast<size_t>(Kc_) * F_ + F_;  // dW then db
  if (parts_.size() < part * items) parts_.resize(part * items);
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  for (int t = 0; t < std::min(threads, items); ++t) scratch(t, static_cast<size_t>(spi) * P * Kc_);
  const float* x = c.val(in[0]);
  float* dz_all = c.grad(out[0]);
  const float* W = c.params + params[0];
  const bool dx_wanted = need_dx[0];
  float* dx = dx_wanted ? c.grad(in[0]) : nullptr;
  const bool acc_dx = dx_wanted && accum_dx[0];
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    const long r0 = b0 * P, r1 = b1 * P;
    const int rows = static_cast<int>(r1 - r0);
    float* dz = dz_all + r0 * F_;
    if (!loss_gives_dz) act_in_.backward(dz, c.val(out[0]) + r0 * F_, rows, F_, act_, static_cast<size_t>(r0) * F_);
    float* dW = parts_.data() + i * part;
    if (b_ >= 0) kernels().col_sum(dW + Kc_ * F_, dz, rows, F_, F_, false);
    float* col = scratch_[omp_get_thread_num()].data();
    for (int j = 0; j < groups_; ++j) {
      vol_im2col(col, x, g_, j * Cg_, Cg_, r0, r1);
      gemm(true, false, static_cast<int>(Kc_), Fg_, rows, 1.0f, col, static_cast<int>(Kc_), dz + j * Fg_, F_, 0.0f,
           dW + j * Fg_, F_);
      if (!dx_wanted) continue;
      gemm(false, true, rows, static_cast<int>(Kc_), Fg_, 1.0f, dz + j * Fg_, F_, W + j * Fg_, F_, 0.0f, col,
           static_cast<int>(Kc_));
      vol_col2im(dx, col, g_, j * Cg_, Cg_, b0, b1, acc_dx);
    }
  });
  sum_parts(c.grads + params[0], parts_.data(), items, part, static_cast<size_t>(Kc_) * F_, accum_dw[0]);
  if (b_ >= 0) sum_parts(c.grads + b_, parts_.data() + Kc_ * F_, items, part, F_, accum_dw[1]);
}

}  // namespace bc

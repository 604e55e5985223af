// Conv3DTranspose (ops/conv_transpose.h): ConvTransposeOp's passes with the volume im2col/col2im.
#include <omp.h>

#include <algorithm>
#include <string>

#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "ops/conv_transpose.h"
#include "ops/parallel.h"

namespace bc {

namespace {
constexpr double kItemFloats = 160e3;  // one work item's buffers: about L2-sized, as ConvOp
}  // namespace

Conv3DTransposeOp::Conv3DTransposeOp(int in_t, int out_t, size_t w, long b, const VolGeom& g, int F, int act)
    : g_(g), b_(b), F_(F), act_(act) {
  check_vol_geom(g, "Conv3DTranspose");
  BC_CHECK(act_valid(act), "Conv3DTranspose: unknown activation id " + std::to_string(act));
  BC_CHECK(F > 0, "Conv3DTranspose: the input channel count must be positive");
  Kc_ = g.taps() * g.C;
  in = {in_t};
  out = {out_t};
  params = {w};
  if (b >= 0) params.push_back(static_cast<size_t>(b));
}

// Per item of whole samples: dcol = x W^T (rows: the item's input positions), col2im into the
// item's outputs, then bias + activation on them.
void Conv3DTransposeOp::forward(Ctx& c) {
  const long P = g_.out_positions(), Vout = static_cast<long>(g_.D) * g_.H * g_.W;
  const int spi = samples_per_item(c.B, static_cast<double>(P) * Kc_ + Vout * g_.C, kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  const size_t need = static_cast<size_t>(spi) * P * Kc_;
  for (int t = 0; t < std::min(threads, items); ++t)
    if (scratch_[t].size() < need) scratch_[t].resize(need);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const float* W = c.params + params[0];
  act_in_.prepare(act_, c.training, static_cast<size_t>(c.B) * Vout * g_.C);
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    float* col = scratch_[omp_get_thread_num()].data();
    gemm(false, true, static_cast<int>((b1 - b0) * P), static_cast<int>(Kc_), F_, 1.0f, x + b0 * P * F_, F_, W, F_,
         0.0f, col, static_cast<int>(Kc_));
    vol_col2im(y, col, g_, 0, g_.C, b0, b1, false);
    act_in_.forward(y + b0 * Vout * g_.C, b_ >= 0 ? c.params + b_ : nullptr, static_cast<int>((b1 - b0) * Vout),
                    g_.C, act_, static_cast<size_t>(b0) * Vout * g_.C);
  });
}

// dz = act'(dy); per item: the columns of dz (the forward convolution's im2col), dW part = col^T x,
// dx = col W; db part = the column sums of dz. Parts summed in item order.
void Conv3DTransposeOp::backward(Ctx& c) {
  const long P = g_.out_positions(), Vout = static_cast<long>(g_.D) * g_.H * g_.W;
  const int spi = samples_per_item(c.B, static_cast<double>(P) * Kc_ + Vout * g_.C, kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const size_t part = static_cast<size_t>(Kc_) * F_ + g_.C;
  if (parts_.size() < part * items) parts_.resize(part * items);
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  const size_t need = static_cast<size_t>(spi) * P * Kc_;
  for (int t = 0; t < std::min(threads, items); ++t)
    if (scratch_[t].size() < need) scratch_[t].resize(need);
  const float* x = c.val(in[0]);
  float* dz = c.grad(out[0]);
  const float* W = c.params + params[0];
  float* dx = need_dx[0] ? c.grad(in[0]) : nullptr;
  const bool acc = need_dx[0] && accum_dx[0];
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    const int out_rows = static_cast<int>((b1 - b0) * Vout), rows = static_cast<int>((b1 - b0) * P);
    float* dzi = dz + b0 * Vout * g_.C;
    if (!loss_gives_dz)
      act_in_.backward(dzi, c.val(out[0]) + b0 * Vout * g_.C, out_rows, g_.C, act_, static_cast<size_t>(b0) * Vout * g_.C);
    float* dW = parts_.data() + i * part;
    if (b_ >= 0) kernels().col_sum(dW + Kc_ * F_, dzi, out_rows, g_.C, g_.C, false);
    float* col = scratch_[omp_get_thread_num()].data();
    vol_im2col(col, dz, g_, 0, g_.C, b0 * P, b1 * P);
    gemm(true, false, static_cast<int>(Kc_), F_, rows, 1.0f, col, static_cast<int>(Kc_), x + b0 * P * F_, F_, 0.0f,
         dW, F_);
    if (dx)
      gemm(false, false, rows, F_, static_cast<int>(Kc_), 1.0f, col, static_cast<int>(Kc_), W, F_,
           acc ? 1.0f : 0.0f, dx + b0 * P * F_, F_);
  });
  sum_parts(c.grads + params[0], parts_.data(), items, part, static_cast<size_t>(Kc_) * F_, accum_dw[0]);
  if (b_ >= 0) sum_parts(c.grads + b_, parts_.data() + Kc_ * F_, items, part, g_.C, accum_dw[1]);
}

}  // namespace bc

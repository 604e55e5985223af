#include "ops/conv_transpose.h"

#include <omp.h>

#include <algorithm>
#include <string>

#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "ops/parallel.h"

namespace bc {

namespace {
constexpr double kItemFloats = 160e3;  // one work item's buffers: about L2-sized, as ConvOp
}  // namespace

template <class G>
ConvTransposeOpT<G>::ConvTransposeOpT(int in_t, int out_t, size_t w, long b, const G& g, int F, int act,
                                      bool run_time)
    : g_(g), b_(b), F_(F), act_(act), run_time_(run_time) {
  const std::string name = kIsVolume<G> ? "Conv3DTranspose" : "ConvTranspose";
  BC_CHECK(!run_time || !kIsVolume<G>, name + ": run-time sizes are for 1-D/2-D only");
  check_window_geom(g, name.c_str());
  BC_CHECK(act_valid(act), name + ": unknown activation id " + std::to_string(act));
  BC_CHECK(F > 0, name + ": the input channel count must be positive");
  Kc_ = window_taps(g) * g.C;
  in = {in_t};
  out = {out_t};
  params = {w};
  if (b >= 0) params.push_back(static_cast<size_t>(b));
}

// Whole samples per work item (an item's columns and outputs about kItemFloats), with each thread's
// scratch sized for one item's columns.
template <class G>
int ConvTransposeOpT<G>::samples_per_item_and_scratch(int B) {
  const long P = g_.out_positions();
  const int spi = samples_per_item(B, static_cast<double>(P) * Kc_ + in_positions(g_) * g_.C, kItemFloats);
  const int items = (B + spi - 1) / spi;
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  const size_t need = static_cast<size_t>(spi) * P * Kc_;
  for (int t = 0; t < std::min(threads, items); ++t)
    if (scratch_[t].size() < need) scratch_[t].resize(need);
  return spi;
}

// Per item of whole samples: dcol = x W^T (rows: the item's input positions), col2im into the
// item's outputs, then bias + activation on them.
template <class G>
void ConvTransposeOpT<G>::resolve_sizes(Ctx& c) {
  if constexpr (!kIsVolume<G>) {
    if (run_time_) set_transpose_sizes(g_, c.shape(in[0]), c.shape(out[0]));
  }
}

template <class G>
void ConvTransposeOpT<G>::forward(Ctx& c) {
  resolve_sizes(c);
  const long P = g_.out_positions(), Hout = in_positions(g_);
  const int spi = samples_per_item_and_scratch(c.B);
  const int items = (c.B + spi - 1) / spi;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const float* W = c.params + params[0];
  act_in_.prepare(act_, c.training, static_cast<size_t>(c.B) * Hout * g_.C);
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    float* col = scratch_[omp_get_thread_num()].data();
    gemm(false, true, static_cast<int>((b1 - b0) * P), static_cast<int>(Kc_), F_, 1.0f, x + b0 * P * F_, F_, W, F_,
         0.0f, col, static_cast<int>(Kc_));
    window_col2im(y, col, g_, 0, g_.C, b0, b1, false);
    act_in_.forward(y + b0 * Hout * g_.C, b_ >= 0 ? c.params + b_ : nullptr, static_cast<int>((b1 - b0) * Hout),
                    g_.C, act_, static_cast<size_t>(b0) * Hout * g_.C);
  });
}

// dz = act'(dy); per item: the columns of dz (the forward convolution's im2col), dW part = col^T x,
// dx = col W; db part = the column sums of dz. Parts summed in item order.
template <class G>
void ConvTransposeOpT<G>::backward(Ctx& c) {
  resolve_sizes(c);
  const long P = g_.out_positions(), Hout = in_positions(g_);
  const int spi = samples_per_item_and_scratch(c.B);
  const int items = (c.B + spi - 1) / spi;
  const size_t part = static_cast<size_t>(Kc_) * F_ + g_.C;
  if (parts_.size() < part * items) parts_.resize(part * items);
  const float* x = c.val(in[0]);
  float* dz = c.grad(out[0]);
  const float* W = c.params + params[0];
  float* dx = need_dx[0] ? c.grad(in[0]) : nullptr;
  const bool acc = need_dx[0] && accum_dx[0];
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    const int out_rows = static_cast<int>((b1 - b0) * Hout), rows = static_cast<int>((b1 - b0) * P);
    float* dzi = dz + b0 * Hout * g_.C;
    if (!loss_gives_dz)
      act_in_.backward(dzi, c.val(out[0]) + b0 * Hout * g_.C, out_rows, g_.C, act_, static_cast<size_t>(b0) * Hout * g_.C);
    float* dW = parts_.data() + i * part;
    if (b_ >= 0) kernels().col_sum(dW + Kc_ * F_, dzi, out_rows, g_.C, g_.C, false);
    float* col = scratch_[omp_get_thread_num()].data();
    window_im2col(col, dz, g_, 0, g_.C, b0 * P, b1 * P);
    gemm(true, false, static_cast<int>(Kc_), F_, rows, 1.0f, col, static_cast<int>(Kc_), x + b0 * P * F_, F_, 0.0f,
         dW, F_);
    if (dx)
      gemm(false, false, rows, F_, static_cast<int>(Kc_), 1.0f, col, static_cast<int>(Kc_), W, F_,
           acc ? 1.0f : 0.0f, dx + b0 * P * F_, F_);
  });
  sum_parts(c.grads + params[0], parts_.data(), items, part, static_cast<size_t>(Kc_) * F_, accum_dw[0]);
  if (b_ >= 0) sum_parts(c.grads + b_, parts_.data() + Kc_ * F_, items, part, g_.C, accum_dw[1]);
}

template class ConvTransposeOpT<ConvGeom>;
template class ConvTransposeOpT<VolGeom>;

DepthwiseConvOp::DepthwiseConvOp(int in_t, int out_t, size_t w, long b, const ConvGeom& g, int M, int act,
                                 int var_pad)
    : g_(g), b_(b), M_(M), act_(act), var_pad_(var_pad) {
  check_geom(g, "DepthwiseConv");
  BC_CHECK(var_pad >= -1 && var_pad <= 2, "DepthwiseConv: var_pad must be -1 (fixed sizes), 0, 1 or 2");
  BC_CHECK(act_valid(act), "DepthwiseConv: unknown activation id " + std::to_string(act));
  BC_CHECK(M > 0, "DepthwiseConv: depth_multiplier must be positive");
  in = {in_t};
  out = {out_t};
  params = {w};
  if (b >= 0) params.push_back(static_cast<size_t>(b));
}

void DepthwiseConvOp::resolve_sizes(Ctx& c) {
  if (var_pad_ >= 0)
    set_window_sizes(g_, c.shape(in[0]), c.shape(out[0]), c.per_sample(in[0]), c.per_sample(out[0]), g_.C * M_,
                     var_pad_);
}

void DepthwiseConvOp::forward(Ctx& c) {
  resolve_sizes(c);
  const long CM = static_cast<long>(g_.C) * M_, P = g_.out_positions();
  const int spi = samples_per_item(c.B, static_cast<double>(g_.in_size() + P * CM), kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const float* w = c.params + params[0];
  const float* bias = b_ >= 0 ? c.params + b_ : nullptr;
  act_in_.prepare(act_, c.training, static_cast<size_t>(c.B) * P * CM);
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    conv_kernels().depthwise_forward(y, x, w, bias, g_, M_, b0, b1);
    act_in_.forward(y + b0 * P * CM, nullptr, static_cast<int>((b1 - b0) * P), static_cast<int>(CM), act_,
                    static_cast<size_t>(b0) * P * CM);
  });
}

void DepthwiseConvOp::backward(Ctx& c) {
  resolve_sizes(c);
  const long CM = static_cast<long>(g_.C) * M_, P = g_.out_positions();
  const int spi = samples_per_item(c.B, static_cast<double>(g_.in_size() + P * CM), kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const size_t nw = static_cast<size_t>(g_.KH) * g_.KW * CM, part = nw + CM;
  if (parts_.size() < part * items) parts_.resize(part * items);
  const float* x = c.val(in[0]);
  float* dz = c.grad(out[0]);
  const float* w = c.params + params[0];
  float* dx = need_dx[0] ? c.grad(in[0]) : nullptr;
  const bool acc = need_dx[0] && accum_dx[0];
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    const int rows = static_cast<int>((b1 - b0) * P);
    float* dzi = dz + b0 * P * CM;
    if (!loss_gives_dz)
      act_in_.backward(dzi, c.val(out[0]) + b0 * P * CM, rows, static_cast<int>(CM), act_, static_cast<size_t>(b0) * P * CM);
    float* dw = parts_.data() + i * part;
    if (b_ >= 0) kernels().col_sum(dw + nw, dzi, rows, static_cast<int>(CM), static_cast<int>(CM), false);
    conv_kernels().depthwise_backward_weight(dw, dz, x, g_, M_, b0, b1, false);
    if (dx) conv_kernels().depthwise_backward_data(dx, dz, w, g_, M_, b0, b1, acc);
  });
  sum_parts(c.grads + params[0], parts_.data(), items, part, nw, accum_dw[0]);
  if (b_ >= 0) sum_parts(c.grads + b_, parts_.data() + nw, items, part, CM, accum_dw[1]);
}

}  // namespace bc

#include "ops/conv.h"

#include <omp.h>

#include <algorithm>
#include <string>

#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "ops/parallel.h"

namespace bc {

namespace {
// Floats of one work item's buffers (its im2col columns and outputs): about L2-sized, so the
// columns are still in cache when the GEMM packs them. Whole samples per item in backward
// (col2im writes only its own samples); forward splits rows of a small batch across threads too.
constexpr double kItemFloats = 160e3;
constexpr double kSplitFlops = 2e6;  // a forward pass above this runs on at least two items
// Up to this many window values (KH*KW*Cg) the direct kernels beat im2col + GEMM: a GEMM with so
// short a K is bound by writing its output, and im2col copies a few floats per row (a first layer
// on gray or RGB images, a Conv1D on one channel).
constexpr long kDirectMaxK = 32;
}  // namespace

template <class G>
ConvOpT<G>::ConvOpT(int in_t, int out_t, size_t w, long b, const G& g, int F, int groups, int act, int var_pad)
    : g_(g), b_(b), F_(F), groups_(groups), act_(act), var_pad_(var_pad) {
  const std::string name = kIsVolume<G> ? "Conv3D" : "Conv";
  check_window_geom(g, name.c_str());
  BC_CHECK(act_valid(act), name + ": unknown activation id " + std::to_string(act));
  if constexpr (kIsVolume<G>) {
    BC_CHECK(var_pad >= -1 && var_pad <= 1, "Conv3D: var_pad must be -1 (a fixed depth), 0 (valid) or 1 (same)");
  } else {
    BC_CHECK(var_pad >= -1 && var_pad <= 2, "Conv: var_pad must be -1 (fixed sizes), 0 (valid), 1 (same) or 2 (causal)");
  }
  BC_CHECK(F > 0 && groups > 0 && F % groups == 0 && g.C % groups == 0,
           name + ": filters and input channels must be positive multiples of groups");
  Cg_ = g.C / groups;
  Fg_ = F / groups;
  Kc_ = window_taps(g) * Cg_;
  direct_ = !kIsVolume<G> && Kc_ <= kDirectMaxK;  // the direct kernels are 1-D/2-D
  in = {in_t};
  out = {out_t};
  params = {w};
  if (b >= 0) params.push_back(static_cast<size_t>(b));
}

template <class G>
void ConvOpT<G>::resolve_length(Ctx& c) {
  if (var_pad_ < 0) return;
  if constexpr (kIsVolume<G>) {  // a run-time depth: whole planes of (H, W, C) in, (OH, OW, F) out
    const size_t plane = static_cast<size_t>(g_.H) * g_.W * g_.C, out_plane = static_cast<size_t>(g_.OH) * g_.OW * F_;
    const size_t n = c.per_sample(in[0]), m = c.per_sample(out[0]);
    BC_CHECK(n % plane == 0 && m % out_plane == 0, "Conv3D: the tensors' sizes are not whole planes of depth");
    set_conv3d_depth(g_, static_cast<long>(n / plane), static_cast<long>(m / out_plane), var_pad_);
  } else {
    set_window_sizes(g_, c.shape(in[0]), c.shape(out[0]), c.per_sample(in[0]), c.per_sample(out[0]), F_, var_pad_);
  }
}

template <class G>
float* ConvOpT<G>::scratch(int thread, size_t n) {
  if (scratch_[thread].size() < n) scratch_[thread].resize(n);
  return scratch_[thread].data();
}

// The GEMM's A for group j over output rows r0..r1: the input itself when the window is pointwise
// (lda = C), else the rows' im2col columns written to col (lda = Kc_).
template <class G>
const float* ConvOpT<G>::group_columns(const float* x, float* col, int j, long r0, long r1, int& lda) const {
  if (is_pointwise(g_)) {
    lda = g_.C;
    return x + r0 * g_.C + j * Cg_;
  }
  window_im2col(col, x, g_, j * Cg_, Cg_, r0, r1);
  lda = static_cast<int>(Kc_);
  return col;
}

// Output rows r0..r1 of the batch (position r: sample r / out_positions()); col: scratch for their
// columns.
template <class G>
void ConvOpT<G>::forward_rows(Ctx& c, long r0, long r1, float* col) {
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]) + r0 * F_;
  const float* W = c.params + params[0];
  const int rows = static_cast<int>(r1 - r0);
  for (int j = 0; j < groups_; ++j) {
    if (direct_) {  // never for volumes
      if constexpr (!kIsVolume<G>)
        conv_kernels().direct_conv_forward(y + j * Fg_, F_, x, W + j * Fg_, F_, g_, j * Cg_, Cg_, Fg_, r0, r1);
      continue;
    }
    int lda = 0;
    const float* A = group_columns(x, col, j, r0, r1, lda);
    gemm(false, false, rows, Fg_, static_cast<int>(Kc_), 1.0f, A, lda, W + j * Fg_, F_, 0.0f,
         y + j * Fg_, F_);
  }
  act_in_.forward(y, b_ >= 0 ? c.params + b_ : nullptr, rows, F_, act_, static_cast<size_t>(r0) * F_);
}

template <class G>
void ConvOpT<G>::forward(Ctx& c) {
  resolve_length(c);
  const long P = g_.out_positions(), R = c.B * P;
  const double row_floats = static_cast<double>(std::max<long>(Kc_, F_));
  long per = std::max<long>(16, static_cast<long>(kItemFloats / row_floats) / 8 * 8);
  if (R <= per && 2.0 * R * Kc_ * F_ > kSplitFlops) per = std::max<long>(8, (R + 15) / 16 * 8);  // two items
  const int items = static_cast<int>((R + per - 1) / per);
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  const size_t need = is_pointwise(g_) || direct_ ? 0 : static_cast<size_t>(std::min(per, R) * Kc_);
  for (int t = 0; t < std::min(threads, items); ++t) scratch(t, need);
  act_in_.prepare(act_, c.training, static_cast<size_t>(R) * F_);
  parallel_items(items, [&](int i) {
    const long r0 = i * per, r1 = std::min(R, r0 + per);
    forward_rows(c, r0, r1, scratch_[omp_get_thread_num()].data());
  });
}

// Per item of whole samples: dz (act backward), then for each group the item's columns, its part
// of dW and db, and dcol = dz W^T scattered back by col2im. The parts are summed in item order.
template <class G>
void ConvOpT<G>::backward(Ctx& c) {
  resolve_length(c);
  const long P = g_.out_positions();
  const int spi = samples_per_item(c.B, static_cast<double>(P) * std::max<long>(Kc_, F_), kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const size_t part = static_cast<size_t>(Kc_) * F_ + F_;  // dW then db
  if (parts_.size() < part * items) parts_.resize(part * items);
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  const bool cols = !is_pointwise(g_) && (!direct_ || need_dx[0]);
  const size_t need = cols ? static_cast<size_t>(spi) * P * Kc_ : 0;
  for (int t = 0; t < std::min(threads, items); ++t) scratch(t, need);
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
      if (direct_) {  // never for volumes
        if constexpr (!kIsVolume<G>)
          conv_kernels().direct_conv_backward_weight(dW + j * Fg_, F_, dz + j * Fg_, F_, x, g_, j * Cg_, Cg_, Fg_,
                                                     r0, r1, false);
      } else {
        int lda = 0;
        const float* A = group_columns(x, col, j, r0, r1, lda);
        gemm(true, false, static_cast<int>(Kc_), Fg_, rows, 1.0f, A, lda, dz + j * Fg_, F_, 0.0f,
             dW + j * Fg_, F_);
      }
      if (!dx_wanted) continue;
      if (is_pointwise(g_)) {
        gemm(false, true, rows, Cg_, Fg_, 1.0f, dz + j * Fg_, F_, W + j * Fg_, F_, acc_dx ? 1.0f : 0.0f,
             dx + r0 * g_.C + j * Cg_, g_.C);
      } else {
        gemm(false, true, rows, static_cast<int>(Kc_), Fg_, 1.0f, dz + j * Fg_, F_, W + j * Fg_, F_, 0.0f, col,
             static_cast<int>(Kc_));
        window_col2im(dx, col, g_, j * Cg_, Cg_, b0, b1, acc_dx);
      }
    }
  });
  sum_parts(c.grads + params[0], parts_.data(), items, part, static_cast<size_t>(Kc_) * F_, accum_dw[0]);
  if (b_ >= 0) sum_parts(c.grads + b_, parts_.data() + Kc_ * F_, items, part, F_, accum_dw[1]);
}

template class ConvOpT<ConvGeom>;
template class ConvOpT<VolGeom>;

}  // namespace bc

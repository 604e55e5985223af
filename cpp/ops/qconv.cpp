#include "ops/qconv.h"

#include <omp.h>

#include <algorithm>
#include <stdexcept>

#include "kernels/gemm/gemm.h"
#include "ops/parallel.h"

namespace bc {

namespace {
constexpr double kItemFloats = 160e3;  // as the float ConvOp: one item's columns about L2-sized
}  // namespace

QConvOp::QConvOp(int in_t, int out_t, const int8_t* wq, const float* scale, long b, const ConvGeom& g, int F,
                 int act, float x_scale)
    : g_(g), b_(b), F_(F), act_(act), x_scale_(x_scale) {
  check_geom(g, "QuantizedConv");
  BC_CHECK(x_scale >= 0.0f, "a calibrated activation scale must be >= 0");
  Kc_ = static_cast<long>(g.KH) * g.KW * g.C;
  BC_CHECK(Kc_ <= kQuantMaxK, "QuantizedConv: KH * KW * C must be <= 65536");
  q_ = std::make_unique<QLinear>(wq, scale, static_cast<int>(Kc_), F);
  in = {in_t};
  out = {out_t};
  if (b >= 0) params = {static_cast<size_t>(b)};
}

void QConvOp::forward(Ctx& c) {
  const long R = c.B * g_.out_positions();
  const long per = std::max<long>(16, static_cast<long>(kItemFloats / std::max<long>(Kc_, F_)) / 8 * 8);
  const int items = static_cast<int>((R + per - 1) / per);
  const int threads = std::max(1, get_num_threads());
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(threads);
  const size_t need = g_.is_pointwise() ? 0 : static_cast<size_t>(std::min(per, R) * Kc_);
  for (int t = 0; t < std::min(threads, items); ++t)
    if (scratch_[t].size() < need) scratch_[t].resize(need);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const float* bias = b_ >= 0 ? c.params + b_ : nullptr;
  parallel_items(items, [&](int i) {
    const long r0 = i * per, r1 = std::min(R, r0 + per);
    const float* A = x + r0 * g_.C;
    if (!g_.is_pointwise()) {
      float* col = scratch_[omp_get_thread_num()].data();
      im2col(col, x, g_, 0, g_.C, r0, r1);
      A = col;
    }
    q_->forward(y + r0 * F_, A, bias, static_cast<int>(r1 - r0), act_, x_scale_);
  });
}

void QConvOp::backward(Ctx&) {
  throw std::invalid_argument("a quantized model is for inference: train the float model, then quantize it");
}

}  // namespace bc

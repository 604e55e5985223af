#include "ops/qdense.h"

#include <stdexcept>

namespace bc {

QDenseOp::QDenseOp(int in_t, int out_t, const int8_t* wq, const float* scale, long b, int K, int N,
                   int act, float x_scale)
    : q_(std::make_unique<QLinear>(wq, scale, K, N)), b_(b), K_(K), N_(N), act_(act), x_scale_(x_scale) {
  BC_CHECK(x_scale >= 0.0f, "a calibrated activation scale must be >= 0");
  in = {in_t};
  out = {out_t};
  if (b >= 0) params = {static_cast<size_t>(b)};
}

// in (rows, K) -> out (rows, N), rows = B * (timesteps, for 3-D input)
void QDenseOp::forward(Ctx& c) {
  const int rows = c.B * static_cast<int>(c.per_sample(in[0]) / K_);
  q_->forward(c.val(out[0]), c.val(in[0]), b_ >= 0 ? c.params + b_ : nullptr, rows, act_, x_scale_);
}

void QDenseOp::backward(Ctx&) {
  throw std::invalid_argument("a quantized model is for inference: train the float model, then quantize it");
}

}  // namespace bc

// Quantized Dense (inference): out = act(in @ W + b) through an exact int8 GEMM (quant.h), with
// the int8 weights and their scales held by the op and the float bias in the parameter arena.
#pragma once
#include <memory>

#include "kernels/quant/quant.h"
#include "runtime/op.h"

namespace bc {

class QDenseOp : public Op {
 public:
  // wq (K, N) int8 in [-127, 127], scale (N); b: arena offset or < 0; x_scale > 0: a calibrated
  // activation scale, 0: per-row dynamic scales.
  QDenseOp(int in_t, int out_t, const int8_t* wq, const float* scale, long b, int K, int N, int act,
           float x_scale);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::unique_ptr<QLinear> q_;
  long b_;
  int K_, N_, act_;
  float x_scale_;
};

}  // namespace bc

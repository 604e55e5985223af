// Quantized convolution (inference): each chunk of output positions is im2col'd and goes through
// the exact int8 GEMM (kernels/quant: per-row dynamic activation scales, i.e. one per window, and
// per-filter weight scales), bias and activation in its epilogue.
// in (B, H, W, C), W_q (KH*KW*C, F) int8, scale (F), bias (F) -> out (B, OH, OW, F)
#pragma once
#include <memory>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/quant/quant.h"
#include "runtime/op.h"

namespace bc {

class QConvOp : public Op {
 public:
  // wq (KH*KW*C, F) in [-127, 127]; b: arena offset or < 0; x_scale > 0: calibrated, 0: per row.
  QConvOp(int in_t, int out_t, const int8_t* wq, const float* scale, long b, const ConvGeom& g, int F, int act,
          float x_scale);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::unique_ptr<QLinear> q_;
  ConvGeom g_;
  long b_;
  int F_, act_;
  long Kc_;
  float x_scale_;
  std::vector<AlignedBuf> scratch_;
};

}  // namespace bc

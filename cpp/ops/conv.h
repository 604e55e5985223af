// Convolution (Keras Conv1D/Conv2D, channels last, groups): im2col over chunks of whole samples into
// the tiled GEMM, bias + activation in the epilogue while the chunk is in cache.
// in (B, H, W, C), kernel (KH, KW, C/groups, F), bias (F) -> out (B, OH, OW, F)
#pragma once
#include <vector>

#include "kernels/conv/conv.h"
#include "ops/act_input.h"
#include "runtime/op.h"

namespace bc {

class ConvOp : public Op {
 public:
  // w, b: arena offsets (b < 0: no bias); act: an Act id. var_pad >= 0: a Conv1D whose length (W)
  // is known only per call; the geometry's W, OW and PL are derived from the tensors each call, with
  // Keras's padding var_pad (0 valid, 1 same, 2 causal).
  ConvOp(int in_t, int out_t, size_t w, long b, const ConvGeom& g, int F, int groups, int act, int var_pad = -1);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  void forward_rows(Ctx& c, long r0, long r1, float* col);
  void resolve_length(Ctx& c);  // var_pad_ >= 0: this call's W, OW, PL
  float* scratch(int thread, size_t n);

  ConvGeom g_;
  long b_;
  int F_, groups_, act_, Cg_, Fg_;
  long Kc_;
  bool direct_;  // a small window (Kc_ <= kDirectMaxK): the direct kernels, no im2col
  int var_pad_ = -1;
  std::vector<AlignedBuf> scratch_;
  AlignedBuf parts_;
  ActInput act_in_;  // z for the activations whose gradient needs it
};

}  // namespace bc

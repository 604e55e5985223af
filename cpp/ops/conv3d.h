// Conv3D (Keras, channels last, groups): the im2col of kernels/conv/volume.h over chunks of output
// rows into the tiled GEMM, bias + activation in the epilogue; backward mirrors ConvOp (ops/conv.h).
// in (B, D, H, W, C), kernel (KD, KH, KW, C/groups, F), bias (F) -> out (B, OD, OH, OW, F)
#pragma once
#include <vector>

#include "kernels/conv/volume.h"
#include "ops/act_input.h"
#include "runtime/op.h"

namespace bc {

// A run-time depth: g's D, OD and PF for an input of D planes and an output of OD (Keras's padding:
// 0 valid, 1 same); throws where they do not fit the window.
void set_conv3d_depth(VolGeom& g, long D, long OD, int pad);

class Conv3DOp : public Op {
 public:
  // w, b: arena offsets (b < 0: no bias); act: an Act id. var_pad >= 0: the depth (D) is known only
  // per call (a run-time sequence length); D, OD and PF are derived from the tensors each call, with
  // Keras's padding var_pad (0 valid, 1 same).
  Conv3DOp(int in_t, int out_t, size_t w, long b, const VolGeom& g, int F, int groups, int act, int var_pad = -1);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  void forward_rows(Ctx& c, long r0, long r1, float* col);
  float* scratch(int thread, size_t n);
  void resolve_depth(Ctx& c);  // var_pad_ >= 0: this call's D, OD, PF

  VolGeom g_;
  long b_;
  int F_, groups_, act_, Cg_, Fg_;
  long Kc_;
  int var_pad_ = -1;
  std::vector<AlignedBuf> scratch_;
  AlignedBuf parts_;
  ActInput act_in_;  // z for the activations whose gradient needs it
};

}  // namespace bc

// Convolution (Keras Conv1D/Conv2D/Conv3D, channels last, groups): im2col over chunks of output rows
// into the tiled GEMM, bias + activation in the epilogue while the chunk is in cache. One op over
// the geometry G (ops/window_geom.h): ConvGeom for 1-D/2-D, VolGeom for 3-D.
// in (B, [D,] H, W, C), kernel ([KD,] KH, KW, C/groups, F), bias (F) -> out (B, [OD,] OH, OW, F)
#pragma once
#include <vector>

#include "ops/act_input.h"
#include "ops/window_geom.h"
#include "runtime/op.h"

namespace bc {

template <class G>
class ConvOpT : public Op {
 public:
  // w, b: arena offsets (b < 0: no bias); act: an Act id. var_pad >= 0: a Conv1D whose length (W), a
  // Conv2D whose height and width, or a Conv3D whose depth (D), are known only per call; the geometry's
  // W, OW and PL (H, W, OH, OW, PT, PL; D, OD and PF) are derived from the tensors each call, with Keras's
  // padding var_pad (0 valid, 1 same, 2 causal: 1-D).
  ConvOpT(int in_t, int out_t, size_t w, long b, const G& g, int F, int groups, int act, int var_pad = -1);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  void forward_rows(Ctx& c, long r0, long r1, float* col);
  const float* group_columns(const float* x, float* col, int j, long r0, long r1, int& lda) const;
  void resolve_length(Ctx& c);  // var_pad_ >= 0: this call's sizes and padding (ops/window_geom.h)
  float* scratch(int thread, size_t n);

  G g_;
  long b_;
  int F_, groups_, act_, Cg_, Fg_;
  long Kc_;
  bool direct_;  // a small 1-D/2-D window (Kc_ <= kDirectMaxK): the direct kernels, no im2col
  int var_pad_ = -1;
  std::vector<AlignedBuf> scratch_;
  AlignedBuf parts_;
  ActInput act_in_;  // z for the activations whose gradient needs it
};

using ConvOp = ConvOpT<ConvGeom>;
using Conv3DOp = ConvOpT<VolGeom>;

}  // namespace bc

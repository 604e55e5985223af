// Transposed and depthwise convolutions (Keras Conv1DTranspose/Conv2DTranspose/Conv3DTranspose,
// DepthwiseConv1D/2D), channels last; the transposed ones over the geometry G (ops/window_geom.h).
//
// A transposed convolution is the adjoint of a forward convolution: with the geometry g of that
// forward convolution (its input is our output (H, W, C = filters), its output our input (OH, OW,
// F = input channels), PT/PL where Keras's padding puts the first window), forward is dcol = x W^T
// scattered back by col2im, and backward is im2col + GEMM: the ConvOp's passes, swapped.
// in (B, OH, OW, F), kernel (KH, KW, C, F) (Keras's (*k, filters, in_channels)), bias (C) -> out (B, H, W, C)
#pragma once
#include <vector>

#include "ops/act_input.h"
#include "ops/window_geom.h"
#include "runtime/op.h"

namespace bc {

template <class G>
class ConvTransposeOpT : public Op {
 public:
  // run_time (ConvGeom only): the sizes are known per call (ops/window_geom.h: set_transpose_sizes)
  ConvTransposeOpT(int in_t, int out_t, size_t w, long b, const G& g, int F, int act, bool run_time = false);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  int samples_per_item_and_scratch(int B);  // forward and backward alike: whole samples per item
  void resolve_sizes(Ctx& c);

  G g_;
  long b_;
  int F_, act_;
  bool run_time_;
  long Kc_;
  std::vector<AlignedBuf> scratch_;
  AlignedBuf parts_;
  ActInput act_in_;  // z for the activations whose gradient needs it
};

// Conv1DTranspose/Conv2DTranspose (ConvGeom) and Conv3DTranspose (VolGeom, no groups: g the geometry
// of the forward Conv3D it is the adjoint of, input (D, H, W, C) = our output, output (OD, OH, OW, F)
// = our input).
// 3-D: in (B, OD, OH, OW, F), kernel (KD, KH, KW, C, F), bias (C) -> out (B, D, H, W, C)
using ConvTransposeOp = ConvTransposeOpT<ConvGeom>;
using Conv3DTransposeOp = ConvTransposeOpT<VolGeom>;

// Depthwise: output channel c*M + m = sum over the window of input channel c times w[kh, kw, c, m].
// in (B, H, W, C), kernel (KH, KW, C, M), bias (C*M) -> out (B, OH, OW, C*M)
// var_pad >= 0: run-time sizes (a 1-D length, 2-D height and width), derived per call as ConvOp does.
class DepthwiseConvOp : public Op {
 public:
  DepthwiseConvOp(int in_t, int out_t, size_t w, long b, const ConvGeom& g, int M, int act, int var_pad = -1);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  void resolve_sizes(Ctx& c);
  ConvGeom g_;
  long b_;
  int M_, act_, var_pad_;
  AlignedBuf parts_;
  ActInput act_in_;
};

}  // namespace bc

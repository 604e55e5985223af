// Transposed and depthwise convolutions (Keras Conv1DTranspose/Conv2DTranspose, DepthwiseConv1D/2D),
// channels last.
//
// A transposed convolution is the adjoint of a forward convolution: with the geometry g of that
// forward convolution (its input is our output (H, W, C = filters), its output our input (OH, OW,
// F = input channels), PT/PL where Keras's padding puts the first window), forward is dcol = x W^T
// scattered back by col2im, and backward is im2col + GEMM: the ConvOp's passes, swapped.
// in (B, OH, OW, F), kernel (KH, KW, C, F) (Keras's (*k, filters, in_channels)), bias (C) -> out (B, H, W, C)
#pragma once
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/conv/volume.h"
#include "ops/act_input.h"
#include "runtime/op.h"

namespace bc {

class ConvTransposeOp : public Op {
 public:
  ConvTransposeOp(int in_t, int out_t, size_t w, long b, const ConvGeom& g, int F, int act);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  ConvGeom g_;
  long b_;
  int F_, act_;
  long Kc_;
  std::vector<AlignedBuf> scratch_;
  AlignedBuf parts_;
  ActInput act_in_;  // z for the activations whose gradient needs it
};

// Conv3DTranspose: ConvTransposeOp over volumes (kernels/conv/volume.h), no groups. g: the geometry of
// the forward Conv3D it is the adjoint of (input (D, H, W, C) = our output, output (OD, OH, OW, F) =
// our input).
// in (B, OD, OH, OW, F), kernel (KD, KH, KW, C, F) (Keras's (*k, filters, in_channels)), bias (C)
//   -> out (B, D, H, W, C)
class Conv3DTransposeOp : public Op {
 public:
  Conv3DTransposeOp(int in_t, int out_t, size_t w, long b, const VolGeom& g, int F, int act);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  VolGeom g_;
  long b_;
  int F_, act_;
  long Kc_;
  std::vector<AlignedBuf> scratch_;
  AlignedBuf parts_;
  ActInput act_in_;
};

// Depthwise: output channel c*M + m = sum over the window of input channel c times w[kh, kw, c, m].
// in (B, H, W, C), kernel (KH, KW, C, M), bias (C*M) -> out (B, OH, OW, C*M)
class DepthwiseConvOp : public Op {
 public:
  DepthwiseConvOp(int in_t, int out_t, size_t w, long b, const ConvGeom& g, int M, int act);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }

 private:
  ConvGeom g_;
  long b_;
  int M_, act_;
  AlignedBuf parts_;
  ActInput act_in_;
};

}  // namespace bc

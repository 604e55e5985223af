// Convolution and pooling kernels over channels-last samples (Keras's layout): im2col / col2im
// around the tiled GEMM (kernels/gemm), and direct window kernels for pooling and depthwise
// convolution. One table per ISA path (ref.cpp, avx2.cpp, avx512.cpp compile body.h), one in use.
// Every sum runs in a fixed order that depends on the geometry only, so each path gives the same
// bits for any thread count; the loops over channels are written for the auto-vectorizer.
#pragma once
#include <cstdint>

#include "core/common.h"

namespace bc {

// One 2-D window op over samples of (H, W, C); a 1-D op has H = KH = 1. The window of output
// position (oh, ow) covers input row oh*SH - PT + kh*DH (kh < KH) and column ow*SW - PL + kw*DW
// (kw < KW); positions outside the input are padding. Output positions: OH x OW per sample.
struct ConvGeom {
  int H = 1, W = 1, C = 1;
  int OH = 1, OW = 1;
  int KH = 1, KW = 1, SH = 1, SW = 1, DH = 1, DW = 1, PT = 0, PL = 0;
  long in_size() const { return static_cast<long>(H) * W * C; }
  long out_positions() const { return static_cast<long>(OH) * OW; }
  bool is_pointwise() const { return KH == 1 && KW == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W; }
};

void check_geom(const ConvGeom& g, const char* what);  // throws std::invalid_argument

// A 1-D window op's geometry for an input of W steps and an output of OW (checked against Keras's
// padding pad: 0 valid, 1 same, 2 causal): sets g.W, g.OW and the padding before, g.PL. For the ops
// over run-time lengths (Conv1D, 1-D pooling), per call.
void set_conv1d_length(ConvGeom& g, long W, long OW, int pad);
// The same for a 2-D op over run-time image sizes (pad 0 valid, 1 same): sets H, W, OH, OW, PT, PL.
void set_conv2d_size(ConvGeom& g, long H, long W, long OH, long OW, int pad);

// col (r1 - r0, KH*KW*Cg) <- the windows of output positions r0..r1 of the batch (position r is
// sample r / (OH*OW)), input channels c0 .. c0+Cg of x (batch, H, W, C); padding gives 0.
// Column (kh*KW + kw)*Cg + c: the row order of a Keras kernel (KH, KW, Cg, F).
void im2col(float* col, const float* x, const ConvGeom& g, int c0, int Cg, long r0, long r1);

struct ConvKernels {
  const char* name;
  // dx of samples b0..b1 (batch, H, W, C), channels c0..c0+Cg, (+)= for each input position the
  // sum over the windows that cover it of dcol (the rows of those samples' output positions, the
  // first being sample b0's first; im2col's columns), added in (kh, kw) order.
  void (*col2im)(float* dx, const float* dcol, const ConvGeom& g, int c0, int Cg, int b0, int b1,
                 bool accumulate);
  // y (batch, OH, OW, C) <- the max over each window (padding never wins; NaN propagates), for
  // samples b0..b1; arg (same shape, may be null) <- the input offset within the sample of the
  // first maximum, which backward sends the gradient to.
  void (*max_pool_forward)(float* y, int32_t* arg, const float* x, const ConvGeom& g, int b0, int b1);
  // dx (batch, H, W, C) of samples b0..b1 (+)= dy sent to arg, in output order.
  void (*max_pool_backward)(float* dx, const float* dy, const int32_t* arg, const ConvGeom& g, int b0,
                            int b1, bool accumulate);
  // y <- the mean over each window's positions inside the input (padding is not counted).
  void (*avg_pool_forward)(float* y, const float* x, const ConvGeom& g, int b0, int b1);
  void (*avg_pool_backward)(float* dx, const float* dy, const ConvGeom& g, int b0, int b1, bool accumulate);
  // Direct convolution for small windows (KH*KW*Cg <= 64 values, the ops send <= 32; where im2col + GEMM spends its time
  // copying): y (rows r0..r1 of the batch's output positions, ldy) = the window of input channels
  // c0..c0+Cg times W (KH*KW*Cg rows, F columns, ldw), summed in (kh, kw, c) order; no bias.
  void (*direct_conv_forward)(float* y, long ldy, const float* x, const float* W, long ldw, const ConvGeom& g,
                              int c0, int Cg, int F, long r0, long r1);
  // dW (KH*KW*Cg, F, ldw) (+)= sum over rows r0..r1 (in order) of the window times dz (ldz).
  void (*direct_conv_backward_weight)(float* dW, long ldw, const float* dz, long ldz, const float* x,
                                      const ConvGeom& g, int c0, int Cg, int F, long r0, long r1, bool accumulate);
  // Depthwise: y (batch, OH, OW, C*M) = sum over the window of x[..., c] * w[kh, kw, c, m] (+ b),
  // channel c*M + m, summed in (kh, kw) order; w (KH, KW, C, M), b (C*M) or null.
  void (*depthwise_forward)(float* y, const float* x, const float* w, const float* b, const ConvGeom& g, int M,
                            int b0, int b1);
  // dx (+)= the transposed window sum of dy; samples b0..b1.
  void (*depthwise_backward_data)(float* dx, const float* dy, const float* w, const ConvGeom& g, int M, int b0,
                                  int b1, bool accumulate);
  // dw (KH, KW, C, M) (+)= sum over samples b0..b1 and output positions, in that order.
  void (*depthwise_backward_weight)(float* dw, const float* dy, const float* x, const ConvGeom& g, int M, int b0,
                                    int b1, bool accumulate);
};

void fill_conv_ref(ConvKernels& k);
void fill_conv_avx2(ConvKernels& k);
void fill_conv_avx512(ConvKernels& k);

const ConvKernels& conv_kernels();  // the table of the path in use (cpp/isa/ picks it)

}  // namespace bc

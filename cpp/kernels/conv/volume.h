// Window kernels over volumes (Keras Conv3D and the 3-D poolings), channels last: samples of
// (D, H, W, C). One portable path: a Conv3D spends its time in the tiled GEMM (kernels/gemm) that
// these columns feed, and the poolings are bound by memory. Every sum runs in an order that depends
// on the geometry only, so the bits are the same for any thread count.
#pragma once
#include <cstdint>

#include "core/common.h"

namespace bc {

// The window of output position (od, oh, ow) covers input depth od*SD - PF + kd*DD (kd < KD), row
// oh*SH - PT + kh*DH and column ow*SW - PL + kw*DW; positions outside the input are padding.
struct VolGeom {
  int D = 1, H = 1, W = 1, C = 1;
  int OD = 1, OH = 1, OW = 1;
  int KD = 1, KH = 1, KW = 1, SD = 1, SH = 1, SW = 1, DD = 1, DH = 1, DW = 1, PF = 0, PT = 0, PL = 0;
  long in_size() const { return static_cast<long>(D) * H * W * C; }
  long out_positions() const { return static_cast<long>(OD) * OH * OW; }
  long taps() const { return static_cast<long>(KD) * KH * KW; }
};

void check_vol_geom(const VolGeom& g, const char* what);  // throws std::invalid_argument

// A run-time depth (a Conv3D over a sequence of frames): g's D, OD and PF for an input of D planes
// and an output of OD (Keras's padding: 0 valid, 1 same); throws where they do not fit the window.
void set_conv3d_depth(VolGeom& g, long D, long OD, int pad);

// col (r1 - r0, KD*KH*KW*Cg) <- the windows of output positions r0..r1 of the batch (position r is
// sample r / (OD*OH*OW)), input channels c0 .. c0+Cg of x (batch, D, H, W, C); padding gives 0.
// Column ((kd*KH + kh)*KW + kw)*Cg + c: the row order of a Keras kernel (KD, KH, KW, Cg, F).
void vol_im2col(float* col, const float* x, const VolGeom& g, int c0, int Cg, long r0, long r1);

// dx of samples b0..b1, channels c0..c0+Cg, (+)= for each input position the sum of the dcol entries
// (im2col's layout, rows of sample b0 first) that read it, added in (output position, tap) order.
void vol_col2im(float* dx, const float* dcol, const VolGeom& g, int c0, int Cg, int b0, int b1, bool accumulate);

// y (batch, OD, OH, OW, C) <- the max over each window for samples b0..b1 (padding never wins; NaN
// propagates); arg (may be null) <- the offset within the sample of the first maximum.
void vol_max_pool_forward(float* y, int32_t* arg, const float* x, const VolGeom& g, int b0, int b1);
// dx of samples b0..b1 (+)= dy sent to arg, in output order.
void vol_max_pool_backward(float* dx, const float* dy, const int32_t* arg, const VolGeom& g, int b0, int b1,
                           bool accumulate);
// y <- the mean over each window's positions inside the input (padding is not counted).
void vol_avg_pool_forward(float* y, const float* x, const VolGeom& g, int b0, int b1);
void vol_avg_pool_backward(float* dx, const float* dy, const VolGeom& g, int b0, int b1, bool accumulate);

}  // namespace bc

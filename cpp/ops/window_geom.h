// One op per family of window ops (convolution, transposed convolution, pooling) serves 1-D/2-D
// (ConvGeom) and 3-D (VolGeom) alike: these overloads give each geometry's sizes and kernels, so an
// op written once over G calls the same kernels, in the same order, as separate ops did.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernels/conv/conv.h"
#include "kernels/conv/volume.h"
#include "runtime/shapes.h"

namespace bc {

template <class G>
inline constexpr bool kIsVolume = std::is_same_v<G, VolGeom>;

inline void check_window_geom(const ConvGeom& g, const char* what) { check_geom(g, what); }
inline void check_window_geom(const VolGeom& g, const char* what) { check_vol_geom(g, what); }

// A 1-D/2-D window op over run-time sizes (var_pad >= 0: Keras's padding, kernels/conv/conv.h): its
// geometry for the resolved shapes (batch first) of its input and output. A 4-axis input (B, H, W, C)
// is a 2-D op's, which takes H and W apart from the shape (its per-sample size alone cannot); a 1-D
// op's length is its per-sample size over the channels. out_channels: the output's last axis.
inline void set_window_sizes(ConvGeom& g, const Shape& in, const Shape& out, size_t in_per_sample,
                             size_t out_per_sample, int out_channels, int var_pad) {
  if (in.nd == 4) {
    BC_CHECK(out.nd == 4, "Conv2D/pooling: the output is not (batch, rows, columns, channels)");
    set_conv2d_size(g, static_cast<long>(in.d[1]), static_cast<long>(in.d[2]), static_cast<long>(out.d[1]),
                    static_cast<long>(out.d[2]), var_pad);
    return;
  }
  BC_CHECK(g.C > 0 && out_channels > 0 && in_per_sample % g.C == 0 && out_per_sample % out_channels == 0,
           "Conv1D/pooling: the tensors' sizes are not whole steps of channels");
  set_conv1d_length(g, static_cast<long>(in_per_sample / g.C), static_cast<long>(out_per_sample / out_channels),
                    var_pad);
}

// A 1-D/2-D transposed convolution over run-time sizes: g is the geometry of the forward convolution
// it is the adjoint of, whose input is our output and whose output our input; the padding does not
// depend on the sizes (Keras's rule), so only they are set, then checked.
inline void set_transpose_sizes(ConvGeom& g, const Shape& in, const Shape& out) {
  BC_CHECK(in.nd == out.nd && (in.nd == 3 || in.nd == 4), "ConvTranspose: run-time sizes need (batch, *spatial, C)");
  if (in.nd == 4) {
    g.OH = static_cast<int>(in.d[1]);
    g.H = static_cast<int>(out.d[1]);
  }
  g.OW = static_cast<int>(in.d[in.nd - 2]);
  g.W = static_cast<int>(out.d[out.nd - 2]);
  check_geom(g, "ConvTranspose");
}

// Window taps (KH*KW, KD*KH*KW) and input positions per sample (H*W, D*H*W).
inline long window_taps(const ConvGeom& g) { return static_cast<long>(g.KH) * g.KW; }
inline long window_taps(const VolGeom& g) { return g.taps(); }
inline long in_positions(const ConvGeom& g) { return static_cast<long>(g.H) * g.W; }
inline long in_positions(const VolGeom& g) { return static_cast<long>(g.D) * g.H * g.W; }

// A 1x1 window over the whole input: the input is its own im2col. Volumes always take im2col.
inline bool is_pointwise(const ConvGeom& g) { return g.is_pointwise(); }
inline bool is_pointwise(const VolGeom&) { return false; }

inline void window_im2col(float* col, const float* x, const ConvGeom& g, int c0, int Cg, long r0, long r1) {
  im2col(col, x, g, c0, Cg, r0, r1);
}
inline void window_im2col(float* col, const float* x, const VolGeom& g, int c0, int Cg, long r0, long r1) {
  vol_im2col(col, x, g, c0, Cg, r0, r1);
}
inline void window_col2im(float* dx, const float* dcol, const ConvGeom& g, int c0, int Cg, int b0, int b1, bool acc) {
  conv_kernels().col2im(dx, dcol, g, c0, Cg, b0, b1, acc);
}
inline void window_col2im(float* dx, const float* dcol, const VolGeom& g, int c0, int Cg, int b0, int b1, bool acc) {
  vol_col2im(dx, dcol, g, c0, Cg, b0, b1, acc);
}

inline void max_pool_forward(float* y, int32_t* arg, const float* x, const ConvGeom& g, int b0, int b1) {
  conv_kernels().max_pool_forward(y, arg, x, g, b0, b1);
}
inline void max_pool_forward(float* y, int32_t* arg, const float* x, const VolGeom& g, int b0, int b1) {
  vol_max_pool_forward(y, arg, x, g, b0, b1);
}
inline void max_pool_backward(float* dx, const float* dy, const int32_t* arg, const ConvGeom& g, int b0, int b1,
                              bool acc) {
  conv_kernels().max_pool_backward(dx, dy, arg, g, b0, b1, acc);
}
inline void max_pool_backward(float* dx, const float* dy, const int32_t* arg, const VolGeom& g, int b0, int b1,
                              bool acc) {
  vol_max_pool_backward(dx, dy, arg, g, b0, b1, acc);
}
inline void avg_pool_forward(float* y, const float* x, const ConvGeom& g, int b0, int b1) {
  conv_kernels().avg_pool_forward(y, x, g, b0, b1);
}
inline void avg_pool_forward(float* y, const float* x, const VolGeom& g, int b0, int b1) {
  vol_avg_pool_forward(y, x, g, b0, b1);
}
inline void avg_pool_backward(float* dx, const float* dy, const ConvGeom& g, int b0, int b1, bool acc) {
  conv_kernels().avg_pool_backward(dx, dy, g, b0, b1, acc);
}
inline void avg_pool_backward(float* dx, const float* dy, const VolGeom& g, int b0, int b1, bool acc) {
  vol_avg_pool_backward(dx, dy, g, b0, b1, acc);
}

}  // namespace bc

// One op per family of window ops (convolution, transposed convolution, pooling) serves 1-D/2-D
// (ConvGeom) and 3-D (VolGeom) alike: these overloads give each geometry's sizes and kernels, so an
// op written once over G calls the same kernels, in the same order, as separate ops did.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernels/conv/conv.h"
#include "kernels/conv/volume.h"

namespace bc {

template <class G>
inline constexpr bool kIsVolume = std::is_same_v<G, VolGeom>;

inline void check_window_geom(const ConvGeom& g, const char* what) { check_geom(g, what); }
inline void check_window_geom(const VolGeom& g, const char* what) { check_vol_geom(g, what); }

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

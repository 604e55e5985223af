// Convolution-family kernel bodies compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and
// avx512.cpp include this file with their own compiler flags. Everything sits in an anonymous
// namespace so the per-ISA copies never merge at link time. Loops run over channels (contiguous,
// channels last) for the auto-vectorizer; sums go in a fixed order with FMA contraction off, so
// every path gives the reference's bits.
#pragma once
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/conv/conv.h"
#include "kernels/float/math.h"  // path_vf, splat (shared, same bits)

namespace bc {
namespace {

inline const float* pixel(const float* x, const ConvGeom& g, int b, int ih, int iw) {
  return x + ((static_cast<long>(b) * g.H + ih) * g.W + iw) * g.C;
}

// The window taps of output (oh, ow) that fall inside the input: kh in [kh0, kh1), kw in [kw0, kw1)
// (DH = DW = 1 for pools; a dilated window skips taps in between, so the range is widened to the
// taps whose row is inside).
struct Taps {
  int kh0, kh1, kw0, kw1, ih0, iw0;
};

inline int first_tap(int i0, int d) { return i0 >= 0 ? 0 : (-i0 + d - 1) / d; }
inline int end_tap(int i0, int d, int n, int K) {
  if (i0 >= n) return 0;
  return std::min(K, (n - 1 - i0) / d + 1);
}

inline Taps taps(const ConvGeom& g, int oh, int ow) {
  Taps t;
  t.ih0 = oh * g.SH - g.PT;
  t.iw0 = ow * g.SW - g.PL;
  t.kh0 = first_tap(t.ih0, g.DH);
  t.kh1 = end_tap(t.ih0, g.DH, g.H, g.KH);
  t.kw0 = first_tap(t.iw0, g.DW);
  t.kw1 = end_tap(t.iw0, g.DW, g.W, g.KW);
  return t;
}

void col2im_impl(float* dx, const float* dcol, const ConvGeom& g, int c0, int Cg, int b0, int b1,
                 bool accumulate) {
  const long Kc = static_cast<long>(g.KH) * g.KW * Cg;
  for (int b = b0; b < b1; ++b)
    for (int ih = 0; ih < g.H; ++ih)
      for (int iw = 0; iw < g.W; ++iw) {
        float* d = dx + ((static_cast<long>(b) * g.H + ih) * g.W + iw) * g.C + c0;
        if (!accumulate) std::memset(d, 0, Cg * sizeof(float));
        for (int kh = 0; kh < g.KH; ++kh) {
          const int t = ih + g.PT - kh * g.DH;
          if (t < 0 || t % g.SH) continue;
          const int oh = t / g.SH;
          if (oh >= g.OH) continue;
          for (int kw = 0; kw < g.KW; ++kw) {
            const int u = iw + g.PL - kw * g.DW;
            if (u < 0 || u % g.SW) continue;
            const int ow = u / g.SW;
            if (ow >= g.OW) continue;
            const float* s = dcol + ((static_cast<long>(b - b0) * g.OH + oh) * g.OW + ow) * Kc +
                             (kh * g.KW + kw) * Cg;
            for (int c = 0; c < Cg; ++c) d[c] += s[c];
          }
        }
      }
}

void max_pool_forward_impl(float* y, int32_t* arg, const float* x, const ConvGeom& g, int b0, int b1) {
  const int C = g.C;
  for (int b = b0; b < b1; ++b)
    for (int oh = 0; oh < g.OH; ++oh)
      for (int ow = 0; ow < g.OW; ++ow) {
        const long o = ((static_cast<long>(b) * g.OH + oh) * g.OW + ow) * C;
        float* m = y + o;
        int32_t* a = arg ? arg + o : nullptr;
        const Taps t = taps(g, oh, ow);
        bool first = true;
        for (int kh = t.kh0; kh < t.kh1; ++kh)
          for (int kw = t.kw0; kw < t.kw1; ++kw) {
            const int ih = t.ih0 + kh * g.DH, iw = t.iw0 + kw * g.DW;
            const float* s = pixel(x, g, b, ih, iw);
            const int32_t pos = (ih * g.W + iw) * C;
            if (first) {
              std::memcpy(m, s, C * sizeof(float));
              if (a)
                for (int c = 0; c < C; ++c) a[c] = pos + c;
              first = false;
            } else if (a) {
              for (int c = 0; c < C; ++c) {
                const bool take = s[c] > m[c] || s[c] != s[c];
                m[c] = take ? s[c] : m[c];
                a[c] = take ? pos + c : a[c];
              }
            } else {
              for (int c = 0; c < C; ++c) m[c] = (s[c] > m[c] || s[c] != s[c]) ? s[c] : m[c];
            }
          }
        if (first) {  // a window wholly in the padding (check_geom rules it out for pools)
          std::fill(m, m + C, -std::numeric_limits<float>::infinity());
          if (a) std::fill(a, a + C, -1);
        }
      }
}

void max_pool_backward_impl(float* dx, const float* dy, const int32_t* arg, const ConvGeom& g, int b0, int b1,
                            bool accumulate) {
  const long in = g.in_size(), out = g.out_positions() * g.C;
  for (int b = b0; b < b1; ++b) {
    float* d = dx + b * in;
    if (!accumulate) std::memset(d, 0, in * sizeof(float));
    const float* s = dy + b * out;
    const int32_t* a = arg + b * out;
    for (long i = 0; i < out; ++i)
      if (a[i] >= 0) d[a[i]] += s[i];
  }
}

inline int window_count(const Taps& t) { return (t.kh1 - t.kh0) * (t.kw1 - t.kw0); }

void avg_pool_forward_impl(float* y, const float* x, const ConvGeom& g, int b0, int b1) {
  const int C = g.C;
  for (int b = b0; b < b1; ++b)
    for (int oh = 0; oh < g.OH; ++oh)
      for (int ow = 0; ow < g.OW; ++ow) {
        float* m = y + ((static_cast<long>(b) * g.OH + oh) * g.OW + ow) * C;
        std::memset(m, 0, C * sizeof(float));
        const Taps t = taps(g, oh, ow);
        for (int kh = t.kh0; kh < t.kh1; ++kh)
          for (int kw = t.kw0; kw < t.kw1; ++kw) {
            const float* s = pixel(x, g, b, t.ih0 + kh * g.DH, t.iw0 + kw * g.DW);
            for (int c = 0; c < C; ++c) m[c] += s[c];
          }
        const float n = static_cast<float>(std::max(1, window_count(t)));
        for (int c = 0; c < C; ++c) m[c] = m[c] / n;
      }
}

void avg_pool_backward_impl(float* dx, const float* dy, const ConvGeom& g, int b0, int b1, bool accumulate) {
  const int C = g.C;
  for (int b = b0; b < b1; ++b) {
    if (!accumulate) std::memset(dx + b * g.in_size(), 0, g.in_size() * sizeof(float));
    for (int oh = 0; oh < g.OH; ++oh)
      for (int ow = 0; ow < g.OW; ++ow) {
        const float* s = dy + ((static_cast<long>(b) * g.OH + oh) * g.OW + ow) * C;
        const Taps t = taps(g, oh, ow);
        const float n = static_cast<float>(std::max(1, window_count(t)));
        for (int kh = t.kh0; kh < t.kh1; ++kh)
          for (int kw = t.kw0; kw < t.kw1; ++kw) {
            float* d = dx + ((static_cast<long>(b) * g.H + t.ih0 + kh * g.DH) * g.W + t.iw0 + kw * g.DW) * C;
            for (int c = 0; c < C; ++c) d[c] += s[c] / n;
          }
      }
  }
}

// Depthwise: channel j = c*M + m of the output reads input channel c = j / M.
void depthwise_forward_impl(float* y, const float* x, const float* w, const float* bias, const ConvGeom& g, int M,
                            int b0, int b1) {
  const int C = g.C, CM = C * M;
  for (int b = b0; b < b1; ++b)
    for (int oh = 0; oh < g.OH; ++oh)
      for (int ow = 0; ow < g.OW; ++ow) {
        float* o = y + ((static_cast<long>(b) * g.OH + oh) * g.OW + ow) * CM;
        std::memset(o, 0, CM * sizeof(float));
        const Taps t = taps(g, oh, ow);
        for (int kh = t.kh0; kh < t.kh1; ++kh)
          for (int kw = t.kw0; kw < t.kw1; ++kw) {
            const float* s = pixel(x, g, b, t.ih0 + kh * g.DH, t.iw0 + kw * g.DW);
            const float* k = w + static_cast<long>(kh * g.KW + kw) * CM;
            if (M == 1) {
              for (int c = 0; c < C; ++c) o[c] += s[c] * k[c];
            } else {
              for (int c = 0; c < C; ++c)
                for (int m = 0; m < M; ++m) o[c * M + m] += s[c] * k[c * M + m];
            }
          }
        if (bias)
          for (int j = 0; j < CM; ++j) o[j] += bias[j];
      }
}

void depthwise_backward_data_impl(float* dx, const float* dy, const float* w, const ConvGeom& g, int M, int b0,
                                  int b1, bool accumulate) {
  const int C = g.C, CM = C * M;
  for (int b = b0; b < b1; ++b)
    for (int ih = 0; ih < g.H; ++ih)
      for (int iw = 0; iw < g.W; ++iw) {
        float* d = dx + ((static_cast<long>(b) * g.H + ih) * g.W + iw) * C;
        if (!accumulate) std::memset(d, 0, C * sizeof(float));
        for (int kh = 0; kh < g.KH; ++kh) {
          const int t = ih + g.PT - kh * g.DH;
          if (t < 0 || t % g.SH) continue;
          const int oh = t / g.SH;
          if (oh >= g.OH) continue;
          for (int kw = 0; kw < g.KW; ++kw) {
            const int u = iw + g.PL - kw * g.DW;
            if (u < 0 || u % g.SW) continue;
            const int ow = u / g.SW;
            if (ow >= g.OW) continue;
            const float* s = dy + ((static_cast<long>(b) * g.OH + oh) * g.OW + ow) * CM;
            const float* k = w + static_cast<long>(kh * g.KW + kw) * CM;
            if (M == 1) {
              for (int c = 0; c < C; ++c) d[c] += s[c] * k[c];
            } else {
              for (int c = 0; c < C; ++c) {
                float acc = 0.0f;
                for (int m = 0; m < M; ++m) acc += s[c * M + m] * k[c * M + m];
                d[c] += acc;
              }
            }
          }
        }
      }
}

void depthwise_backward_weight_impl(float* dw, const float* dy, const float* x, const ConvGeom& g, int M, int b0,
                                    int b1, bool accumulate) {
  const int C = g.C, CM = C * M;
  if (!accumulate) std::memset(dw, 0, static_cast<long>(g.KH) * g.KW * CM * sizeof(float));
  for (int kh = 0; kh < g.KH; ++kh)
    for (int kw = 0; kw < g.KW; ++kw) {
      float* k = dw + static_cast<long>(kh * g.KW + kw) * CM;
      for (int b = b0; b < b1; ++b)
        for (int oh = 0; oh < g.OH; ++oh) {
          const int ih = oh * g.SH - g.PT + kh * g.DH;
          if (ih < 0 || ih >= g.H) continue;
          for (int ow = 0; ow < g.OW; ++ow) {
            const int iw = ow * g.SW - g.PL + kw * g.DW;
            if (iw < 0 || iw >= g.W) continue;
            const float* s = pixel(x, g, b, ih, iw);
            const float* d = dy + ((static_cast<long>(b) * g.OH + oh) * g.OW + ow) * CM;
            if (M == 1) {
              for (int c = 0; c < C; ++c) k[c] += d[c] * s[c];
            } else {
              for (int c = 0; c < C; ++c)
                for (int m = 0; m < M; ++m) k[c * M + m] += d[c * M + m] * s[c];
            }
          }
        }
    }
}

// n floats from s (null: zeros) to d by inline moves of 4, 2 and 1. A plain loop became a call to
// memcpy / memset (GCC's loop-to-library-call pattern) with a vzeroupper per window position: at one
// channel, 9 calls a row (a batch-1 convnet's first layer, 676 x 32 x 9: 27 us against 22 without).
inline void copy_few(float* d, const float* s, int n) {
  typedef float f4 __attribute__((vector_size(16)));
  int c = 0;
  for (; c + 4 <= n; c += 4) {
    f4 v{};
    if (s) __builtin_memcpy(&v, s + c, sizeof v);
    __builtin_memcpy(d + c, &v, sizeof v);
  }
  if (n - c >= 2) {
    d[c] = s ? s[c] : 0.0f;
    d[c + 1] = s ? s[c + 1] : 0.0f;
    c += 2;
  }
  if (c < n) d[c] = s ? s[c] : 0.0f;
}

// The window of output position (oh, ow) of sample b, channels c0..c0+Cg: KH*KW*Cg values in im2col's
// order, padding 0.
inline void gather_window(float* win, const float* x, const ConvGeom& g, int b, int oh, int ow, int c0, int Cg) {
  const int ih0 = oh * g.SH - g.PT, iw0 = ow * g.SW - g.PL;
  // All channels, no dilation and the row's KW pixels inside the image: they lie side by side in x.
  const bool rows_whole = Cg == g.C && g.DW == 1 && iw0 >= 0 && iw0 + g.KW <= g.W;
  for (int kh = 0; kh < g.KH; ++kh) {
    const int ih = ih0 + kh * g.DH;
    if (rows_whole && ih >= 0 && ih < g.H) {
      copy_few(win, pixel(x, g, b, ih, iw0), g.KW * Cg);
      win += g.KW * Cg;
      continue;
    }
    for (int kw = 0; kw < g.KW; ++kw, win += Cg) {
      const int iw = iw0 + kw * g.DW;
      const bool pad = ih < 0 || ih >= g.H || iw < 0 || iw >= g.W;
      copy_few(win, pad ? nullptr : pixel(x, g, b, ih, iw) + c0, Cg);
    }
  }
}

// Output positions r0..r1 as (b, oh, ow), stepped without divisions.
struct RowWalk {
  int b, oh, ow;
  const ConvGeom& g;
  RowWalk(const ConvGeom& geom, long r) : g(geom) {
    const long P = geom.out_positions();
    b = static_cast<int>(r / P);
    const int p = static_cast<int>(r % P);
    oh = p / geom.OW;
    ow = p % geom.OW;
  }
  void next() {
    if (++ow < g.OW) return;
    ow = 0;
    if (++oh < g.OH) return;
    oh = 0;
    ++b;
  }
};

constexpr int kMaxDirectK = 64;  // the window buffer; ConvOp sends at most 32

// y[r, f] = sum over k of win[k] * W[k, f], k ascending (a multiply, then an add: the same bits on
// every path), R rows at once in the path's own vectors, V of them across the filters: R x V chains
// of adds in registers. One row's chain of K dependent adds, in 16-float values that the AVX2 path
// kept on the stack, took a batch-1 convnet's first layer (676 x 32 x 9) 35 us on AVX-512 and 55 on
// AVX2 (now 22 and 24).
typedef path_vfu conv_vfu;
BC_PATH_INLINE path_vf ldv(const float* p) { return *reinterpret_cast<const conv_vfu*>(p); }
BC_PATH_INLINE void stv(float* p, path_vf v) { *reinterpret_cast<conv_vfu*>(p) = v; }

template <int R, int V>
BC_PATH_INLINE void direct_conv_block(float* out, long ldy, const float (*win)[kMaxDirectK], const float* W, long ldw,
                                      int K, int f0) {
  path_vf acc[R][V] = {};
  for (int k = 0; k < K; ++k) {
    path_vf w[V];
    for (int v = 0; v < V; ++v) w[v] = ldv(W + k * ldw + f0 + v * kPathW);
    for (int i = 0; i < R; ++i) {
      const path_vf xi = splat(win[i][k]);
      for (int v = 0; v < V; ++v) acc[i][v] += xi * w[v];
    }
  }
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v) stv(out + i * ldy + f0 + v * kPathW, acc[i][v]);
}

template <int R>
inline void direct_conv_rows(float* out, long ldy, const float (*win)[kMaxDirectK], const float* W, long ldw, int K,
                             int F) {
  int f0 = 0;
  for (; f0 + 2 * kPathW <= F; f0 += 2 * kPathW) direct_conv_block<R, 2>(out, ldy, win, W, ldw, K, f0);
  for (; f0 + kPathW <= F; f0 += kPathW) direct_conv_block<R, 1>(out, ldy, win, W, ldw, K, f0);
  for (; f0 < F; ++f0)
    for (int i = 0; i < R; ++i) {
      float acc = 0.0f;
      for (int k = 0; k < K; ++k) acc += win[i][k] * W[k * ldw + f0];
      out[i * ldy + f0] = acc;
    }
}

constexpr int kDirectRows = 4;

void direct_conv_forward_impl(float* y, long ldy, const float* x, const float* W, long ldw, const ConvGeom& g,
                              int c0, int Cg, int F, long r0, long r1) {
  const int K = g.KH * g.KW * Cg;
  float win[kDirectRows][kMaxDirectK];
  RowWalk at(g, r0);
  long r = r0;
  for (; r + kDirectRows <= r1; r += kDirectRows) {
    for (int i = 0; i < kDirectRows; ++i, at.next()) gather_window(win[i], x, g, at.b, at.oh, at.ow, c0, Cg);
    direct_conv_rows<kDirectRows>(y + (r - r0) * ldy, ldy, win, W, ldw, K, F);
  }
  for (; r < r1; ++r, at.next()) {
    gather_window(win[0], x, g, at.b, at.oh, at.ow, c0, Cg);
    direct_conv_rows<1>(y + (r - r0) * ldy, ldy, win, W, ldw, K, F);
  }
}

// dW[k, f] (+)= win[k] * dz[r, f], rows in order.
void direct_conv_backward_weight_impl(float* dW, long ldw, const float* dz, long ldz, const float* x,
                                      const ConvGeom& g, int c0, int Cg, int F, long r0, long r1, bool accumulate) {
  const int K = g.KH * g.KW * Cg;
  if (!accumulate)
    for (int k = 0; k < K; ++k) std::memset(dW + k * ldw, 0, F * sizeof(float));
  float win[kMaxDirectK];
  RowWalk at(g, r0);
  for (long r = r0; r < r1; ++r, at.next()) {
    gather_window(win, x, g, at.b, at.oh, at.ow, c0, Cg);
    const float* d = dz + (r - r0) * ldz;
    int f0 = 0;
    for (; f0 + kPathW <= F; f0 += kPathW) {
      const path_vf dv = ldv(d + f0);
      for (int k = 0; k < K; ++k) stv(dW + k * ldw + f0, ldv(dW + k * ldw + f0) + splat(win[k]) * dv);
    }
    for (; f0 < F; ++f0)
      for (int k = 0; k < K; ++k) dW[k * ldw + f0] += win[k] * d[f0];
  }
}

void fill_conv_from_impl(ConvKernels& k, const char* name) {
  k.name = name;
  k.col2im = col2im_impl;
  k.direct_conv_forward = direct_conv_forward_impl;
  k.direct_conv_backward_weight = direct_conv_backward_weight_impl;
  k.max_pool_forward = max_pool_forward_impl;
  k.max_pool_backward = max_pool_backward_impl;
  k.avg_pool_forward = avg_pool_forward_impl;
  k.avg_pool_backward = avg_pool_backward_impl;
  k.depthwise_forward = depthwise_forward_impl;
  k.depthwise_backward_data = depthwise_backward_data_impl;
  k.depthwise_backward_weight = depthwise_backward_weight_impl;
}

}  // namespace
}  // namespace bc

#include "kernels/conv/volume.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace bc {

namespace {

// One axis of a window whose first tap sits at input position p0 (negative: in the padding).
struct Axis {
  int p0, dil, n;
  bool inside(int t) const { return p0 + t * dil >= 0 && p0 + t * dil < n; }
};

}  // namespace

void set_conv3d_depth(VolGeom& g, long D, long OD, int pad) {
  const long eff = static_cast<long>(g.DD) * (g.KD - 1) + 1;
  const long want = pad == 0 ? (D >= eff ? (D - eff) / g.SD + 1 : 0) : (D - 1) / g.SD + 1;
  BC_CHECK(D >= 1 && want >= 1, "Conv3D: the input has " + std::to_string(D) + " planes of depth, fewer than the "
                                "window spans (" + std::to_string(eff) + "): give it more or padding='same'");
  BC_CHECK(OD == want, "Conv3D: the output has " + std::to_string(OD) + " planes for an input of " + std::to_string(D) +
                           ", expected " + std::to_string(want));
  BC_CHECK(D < 2147483647L / std::max<long>(1, static_cast<long>(g.H) * g.W * g.C), "Conv3D: a sample is too large");
  g.D = static_cast<int>(D);
  g.OD = static_cast<int>(OD);
  g.PF = pad == 0 ? 0 : static_cast<int>(std::max<long>(0, (OD - 1) * g.SD + eff - D) / 2);
}

void check_vol_geom(const VolGeom& g, const char* what) {
  const std::string w(what);
  BC_CHECK(g.D > 0 && g.H > 0 && g.W > 0 && g.C > 0 && g.OD > 0 && g.OH > 0 && g.OW > 0,
           w + ": sizes must be positive");
  BC_CHECK(g.KD > 0 && g.KH > 0 && g.KW > 0 && g.SD > 0 && g.SH > 0 && g.SW > 0 && g.DD > 0 && g.DH > 0 && g.DW > 0,
           w + ": window, strides and dilation must be positive");
  BC_CHECK(g.PF >= 0 && g.PT >= 0 && g.PL >= 0, w + ": padding must be >= 0");
  // Every window touches the input (the first and last along each axis).
  BC_CHECK(g.PF < (g.KD - 1) * g.DD + 1 && g.PT < (g.KH - 1) * g.DH + 1 && g.PL < (g.KW - 1) * g.DW + 1,
           w + ": a window lies wholly in the padding");
  BC_CHECK((g.OD - 1) * g.SD - g.PF < g.D && (g.OH - 1) * g.SH - g.PT < g.H && (g.OW - 1) * g.SW - g.PL < g.W,
           w + ": a window lies wholly in the padding");
  BC_CHECK(static_cast<double>(g.D) * g.H * g.W * g.C < 2147483647.0, w + ": a sample is too large (2^31 values)");
}

// Calls fn(tap, off) for output position p (within its sample) and each window tap (in (kd, kh, kw)
// order) with off the tap's input position (D, H, W flattened) or -1 in the padding.
template <class Fn>
static void for_windows(const VolGeom& g, long p, Fn&& fn) {
  const int ow = static_cast<int>(p % g.OW), oh = static_cast<int>(p / g.OW % g.OH),
            od = static_cast<int>(p / (static_cast<long>(g.OW) * g.OH));
  const Axis ad{od * g.SD - g.PF, g.DD, g.D}, ah{oh * g.SH - g.PT, g.DH, g.H}, aw{ow * g.SW - g.PL, g.DW, g.W};
  long tap = 0;
  for (int kd = 0; kd < g.KD; ++kd)
    for (int kh = 0; kh < g.KH; ++kh)
      for (int kw = 0; kw < g.KW; ++kw, ++tap) {
        const bool in = ad.inside(kd) && ah.inside(kh) && aw.inside(kw);
        const long off = in ? ((static_cast<long>(ad.p0 + kd * g.DD) * g.H + ah.p0 + kh * g.DH) * g.W + aw.p0 +
                               kw * g.DW)
                            : -1;
        fn(tap, off);
      }
}

void vol_im2col(float* col, const float* x, const VolGeom& g, int c0, int Cg, long r0, long r1) {
  const long P = g.out_positions(), Kc = g.taps() * Cg;
  for (long r = r0; r < r1; ++r) {
    const long b = r / P;
    const float* xs = x + b * g.in_size() + c0;
    float* dst = col + (r - r0) * Kc;
    for_windows(g, r % P, [&](long tap, long off) {
      float* d = dst + tap * Cg;
      if (off < 0) std::memset(d, 0, static_cast<size_t>(Cg) * sizeof(float));
      else std::memcpy(d, xs + off * g.C, static_cast<size_t>(Cg) * sizeof(float));
    });
  }
}

void vol_col2im(float* dx, const float* dcol, const VolGeom& g, int c0, int Cg, int b0, int b1, bool accumulate) {
  const long P = g.out_positions(), Kc = g.taps() * Cg, S = g.in_size();
  if (!accumulate)  // only this group's channels: the other groups' share of dx is theirs
    for (long q = static_cast<long>(b0) * S; q < static_cast<long>(b1) * S; q += g.C)
      std::memset(dx + q + c0, 0, static_cast<size_t>(Cg) * sizeof(float));
  for (long b = b0; b < b1; ++b) {
    float* ds = dx + b * S + c0;
    for (long p = 0; p < P; ++p) {
      const float* src = dcol + ((b - b0) * P + p) * Kc;
      for_windows(g, p, [&](long tap, long off) {
        if (off < 0) return;
        float* d = ds + off * g.C;
        const float* s = src + tap * Cg;
        for (int c = 0; c < Cg; ++c) d[c] += s[c];
      });
    }
  }
}

void vol_max_pool_forward(float* y, int32_t* arg, const float* x, const VolGeom& g, int b0, int b1) {
  const long P = g.out_positions(), S = g.in_size();
  for (long b = b0; b < b1; ++b) {
    const float* xs = x + b * S;
    for (long p = 0; p < P; ++p) {
      float* yp = y + (b * P + p) * g.C;
      int32_t* ap = arg ? arg + (b * P + p) * g.C : nullptr;
      bool first = true;
      for_windows(g, p, [&](long, long off) {
        if (off < 0) return;
        const float* v = xs + off * g.C;
        for (int c = 0; c < g.C; ++c) {
          // the first maximum wins; a NaN replaces a number and then stays (it propagates)
          if (first || v[c] > yp[c] || (std::isnan(v[c]) && !std::isnan(yp[c]))) {
            yp[c] = v[c];
            if (ap) ap[c] = static_cast<int32_t>(off * g.C + c);
          }
        }
        first = false;
      });
    }
  }
}

void vol_max_pool_backward(float* dx, const float* dy, const int32_t* arg, const VolGeom& g, int b0, int b1,
                           bool accumulate) {
  const long P = g.out_positions(), S = g.in_size();
  if (!accumulate) std::memset(dx + b0 * S, 0, static_cast<size_t>(b1 - b0) * S * sizeof(float));
  for (long b = b0; b < b1; ++b)
    for (long i = 0; i < P * g.C; ++i) dx[b * S + arg[b * P * g.C + i]] += dy[b * P * g.C + i];
}

void vol_avg_pool_forward(float* y, const float* x, const VolGeom& g, int b0, int b1) {
  const long P = g.out_positions(), S = g.in_size();
  for (long b = b0; b < b1; ++b) {
    const float* xs = x + b * S;
    for (long p = 0; p < P; ++p) {
      float* yp = y + (b * P + p) * g.C;
      std::memset(yp, 0, static_cast<size_t>(g.C) * sizeof(float));
      int n = 0;
      for_windows(g, p, [&](long, long off) {
        if (off < 0) return;
        const float* v = xs + off * g.C;
        for (int c = 0; c < g.C; ++c) yp[c] += v[c];
        ++n;
      });
      const float inv = 1.0f / static_cast<float>(n);
      for (int c = 0; c < g.C; ++c) yp[c] *= inv;
    }
  }
}

void vol_avg_pool_backward(float* dx, const float* dy, const VolGeom& g, int b0, int b1, bool accumulate) {
  const long P = g.out_positions(), S = g.in_size();
  if (!accumulate) std::memset(dx + b0 * S, 0, static_cast<size_t>(b1 - b0) * S * sizeof(float));
  for (long b = b0; b < b1; ++b) {
    float* ds = dx + b * S;
    for (long p = 0; p < P; ++p) {
      int n = 0;
      for_windows(g, p, [&](long, long off) { n += off >= 0; });
      const float inv = 1.0f / static_cast<float>(n);
      const float* dp = dy + (b * P + p) * g.C;
      for_windows(g, p, [&](long, long off) {
        if (off < 0) return;
        float* d = ds + off * g.C;
        for (int c = 0; c < g.C; ++c) d[c] += dp[c] * inv;
      });
    }
  }
}

}  // namespace bc

// The convolution family's dispatch (one table, filled with the path cpp/isa/ picks), the
// geometry check and im2col (a copy: the same code on every path).
#include "kernels/conv/conv.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "isa/isa.h"

namespace bc {
namespace {

ConvKernels& table() {
  static ConvKernels k = [] {
    ConvKernels t{};
    fill_conv_ref(t);
    return t;
  }();
  return k;
}

void install(const char* path) {
  ConvKernels k{};
  const std::string p = path;
  if (p == "avx512") fill_conv_avx512(k);
  else if (p == "avx2") fill_conv_avx2(k);
  else fill_conv_ref(k);
  table() = k;
}

[[maybe_unused]] const bool registered = isa::add_family(
    {"conv", {{"avx512", isa::AVX512 | isa::AVX2 | isa::FMA}, {"avx2", isa::AVX2 | isa::FMA}, {"ref", 0}}, install});

}  // namespace

const ConvKernels& conv_kernels() { return table(); }

namespace {

// One axis of a window op over a run-time size: checks that an input of n positions gives on
// outputs under Keras's padding pad (0 valid, 1 same, 2 causal) and returns the padding before.
// what/unit name the op and the axis in the message ("Conv1D/pooling", "steps").
int run_time_axis(long n, long on, int k, int s, int d, int pad, int channels, const std::string& what,
                  const std::string& unit, const std::string& hint) {
  const long eff = static_cast<long>(d) * (k - 1) + 1;
  const long want = pad == 0 ? (n >= eff ? (n - eff) / s + 1 : 0) : (n - 1) / s + 1;
  BC_CHECK(n >= 1 && want >= 1, what + ": the input has " + std::to_string(n) + " " + unit +
                                    ", fewer than the window spans (" + std::to_string(eff) + "): " + hint);
  BC_CHECK(on == want, what + ": the output has " + std::to_string(on) + " " + unit + " for an input of " +
                           std::to_string(n) + ", expected " + std::to_string(want));
  BC_CHECK(n < 2147483647L / std::max(1, channels), what + ": a sample is too large (2^31 values)");
  return pad == 0 ? 0 : (pad == 2 ? static_cast<int>(eff - 1) : static_cast<int>(std::max<long>(0, (on - 1) * s + eff - n) / 2));
}

}  // namespace

void set_conv1d_length(ConvGeom& g, long W, long OW, int pad) {
  g.PL = run_time_axis(W, OW, g.KW, g.SW, g.DW, pad, g.C, "Conv1D/pooling", "steps",
                       "give it longer sequences or padding='same'");
  g.W = static_cast<int>(W);
  g.OW = static_cast<int>(OW);
}

void set_conv2d_size(ConvGeom& g, long H, long W, long OH, long OW, int pad) {
  BC_CHECK(pad == 0 || pad == 1, "Conv2D/pooling: run-time image sizes take padding 'valid' or 'same'");
  const std::string hint = "give it larger images or padding='same'";
  const int pt = run_time_axis(H, OH, g.KH, g.SH, g.DH, pad, g.C, "Conv2D/pooling", "rows", hint);
  const int pl = run_time_axis(W, OW, g.KW, g.SW, g.DW, pad, g.C, "Conv2D/pooling", "columns", hint);
  BC_CHECK(static_cast<double>(H) * W * g.C < 2147483647.0, "Conv2D/pooling: a sample is too large (2^31 values)");
  g.H = static_cast<int>(H);
  g.W = static_cast<int>(W);
  g.OH = static_cast<int>(OH);
  g.OW = static_cast<int>(OW);
  g.PT = pt;
  g.PL = pl;
}

void check_geom(const ConvGeom& g, const char* what) {
  const std::string w = what;
  BC_CHECK(g.H > 0 && g.W > 0 && g.C > 0, w + ": input sizes must be positive");
  BC_CHECK(g.OH > 0 && g.OW > 0, w + ": the output would be empty (the window is larger than the padded input)");
  BC_CHECK(g.KH > 0 && g.KW > 0 && g.SH > 0 && g.SW > 0 && g.DH > 0 && g.DW > 0,
           w + ": window, strides and dilation must be positive");
  BC_CHECK(g.PT >= 0 && g.PL >= 0, w + ": padding must be >= 0");
  // Every window touches the input (the first and last along each axis).
  BC_CHECK(g.PT < (g.KH - 1) * g.DH + 1 && g.PL < (g.KW - 1) * g.DW + 1, w + ": a window lies wholly in the padding");
  BC_CHECK((g.OH - 1) * g.SH - g.PT < g.H && (g.OW - 1) * g.SW - g.PL < g.W,
           w + ": a window lies wholly in the padding");
  BC_CHECK(static_cast<double>(g.H) * g.W * g.C < 2147483647.0, w + ": a sample is too large (2^31 values)");
}

void im2col(float* col, const float* x, const ConvGeom& g, int c0, int Cg, long r0, long r1) {
  const long P = g.out_positions();
  const long Kc = static_cast<long>(g.KH) * g.KW * Cg;
  for (long r = r0; r < r1; ++r) {
    const long b = r / P, p = r % P;
    const int oh = static_cast<int>(p / g.OW), ow = static_cast<int>(p % g.OW);
    float* dst = col + (r - r0) * Kc;
    const int ih0 = oh * g.SH - g.PT, iw0 = ow * g.SW - g.PL;
    for (int kh = 0; kh < g.KH; ++kh) {
      const int ih = ih0 + kh * g.DH;
      if (ih < 0 || ih >= g.H) {
        std::memset(dst, 0, static_cast<size_t>(g.KW) * Cg * sizeof(float));
        dst += static_cast<long>(g.KW) * Cg;
        continue;
      }
      const float* row = x + ((b * g.H + ih) * g.W) * g.C + c0;
      for (int kw = 0; kw < g.KW; ++kw, dst += Cg) {
        const int iw = iw0 + kw * g.DW;
        if (iw < 0 || iw >= g.W) std::memset(dst, 0, Cg * sizeof(float));
        else if (Cg == 1) *dst = row[static_cast<long>(iw) * g.C];
        else std::memcpy(dst, row + static_cast<long>(iw) * g.C, Cg * sizeof(float));
      }
    }
  }
}

}  // namespace bc

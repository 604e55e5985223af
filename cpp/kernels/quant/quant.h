// int8 quantized linear layers: y = act(x @ W + b) as an exact int8 x int8 -> int32 GEMM with
// per-output-channel weight scales and dynamic per-row activation scales.
//
// The scheme (the ref path, ref.cpp, defines it; every ISA path gives the same int32 accumulators, and so the
// same output bits). One symmetric rule quantizes a vector v (a column of W, a row of x):
//   a = max |v|,  r = 127 / a,  scale = a / 127,  v_q = clamp(round_half_away(v * r), -127, 127)
// with scale = r = 1 when r is not finite (an all-zero vector, or one below 127 / FLT_MAX).
// Multiplying by r, not dividing by the scale, keeps the activation quantizer off the divider
// (a division per element cost more than the whole int8 GEMM at batch 256).
//   weights, once, per output column n:   s_n, W_q[:,n]   by the rule
//   activations, per call, per row m:     t_m, x_q[m,:]   by the rule; or, for a calibrated
//                                          model, a fixed t with r = 1 / t
//   accumulators:                          acc[m,n] = sum_k x_q[m,k] * W_q[k,n]     (exact int32)
//   output:                                y[m,n] = act(float(acc[m,n]) * (t_m * s_n) + b_n)
// All float steps are single IEEE float32 operations in exactly this order (no FMA; float(acc) is
// the round-to-nearest conversion, exact below 2^24). A row of x holding NaN or Inf gets
// t_m = NaN and x_q = 0, so its outputs are NaN. relu is y < 0 ? 0 : y, so NaN passes as in
// Keras (the float kernels' relu, y > 0 ? y : 0, still maps NaN to 0). Other activations run
// afterwards through kernels().bias_act_forward, whose bits do not depend on the ISA either.
//
// Why every path is exact (the kernels accept x_q anywhere in [-128, 127], W_q in [-127, 127],
// K <= kQuantMaxK = 65536; |acc| <= 128 * 127 * K <= 2^30 fits int32 with room):
//   ref         int32 products and sums; every partial sum is bounded like acc.
//   avx2        vpmaddubsw multiplies u8 by s8 and SATURATES the 16-bit sum of each product pair
//               (u = x_q + 128 would reach 2 * 255 * 127 = 64770), so it gets a = |x| (vpabsb:
//               0..128 as u8, -128 included) and b = sign(x) * w (vpsignb: |b| <= 127 because
//               W_q never holds -128): |a0 b0 + a1 b1| <= 2 * 128 * 127 = 32512 <= 32767, never
//               saturated, and a b = x w; vpmaddwd by ones widens the pairs to int32 exactly.
//               Activations keep all 8 bits; no path needs a 7-bit range.
//   avx512vnni  vpdpbusd (u8 x s8, four products summed into each int32 lane, no saturation) gets
//   avxvnni     u = x_q + 128 in [0, 255]: sum_k u w = acc + 128 * colsum_n(W_q), whose magnitude
//               is <= 255 * 127 * K <= 2,122,383,360 < 2^31, so no lane ever wraps; the epilogue
//               subtracts 128 * colsum_n (precomputed when packing).
//
// Packed weights (one layout for every path): N is cut into blocks of 16 columns (zero-padded to
// Np = roundup(N, 16)), K into groups of 4 (zero-padded to Kp = roundup(K, 4)); block b, group g
// holds 64 bytes: byte 4c + i = W_q[4g + i][16b + c]. One group of one block is one zmm, the
// operand vpdpbusd wants (16 columns x 4 products), or two ymm for the AVX2 paths.
//
// Threads: the output is cut into tiles whose shape depends on (M, N, K) only, one OpenMP loop
// runs them (bc::get_num_threads()); being integer, the accumulators cannot depend on it anyway.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/common.h"

namespace bc {

constexpr int kQuantMaxK = 65536;  // the overflow bound above

// Packed weights are read one zmm at a time: a 64-byte aligned byte buffer.
using AlignedBytes = AlignedArray<uint8_t>;

struct QTile;  // one output tile of the kernel interface (below)

// One quantized linear layer: W (K, N) packed once; forward() quantizes x per call. acc() and
// forward() may run concurrently from several threads (scratch is per calling thread); called
// inside an OpenMP parallel region they run on the calling thread alone.
class QLinear {
 public:
  // W (K, N) float32 row-major -> per-column scales and packed W_q. Throws on non-finite W.
  QLinear(const float* W, int K, int N);
  // Already-quantized weights (a saved model): wq (K, N) in [-127, 127], scale (N) finite > 0.
  QLinear(const int8_t* wq, const float* scale, int K, int N);

  int K() const { return K_; }
  int N() const { return N_; }
  const float* scales() const { return scale_.data(); }  // s (N)
  size_t packed_bytes() const { return w_.size(); }       // Np * Kp
  void unpack(int8_t* wq) const;                           // wq (K, N) <- W_q

  // acc (M, N) = xq (M, K) @ W_q, exact; xq may hold any int8 value.
  void acc(int32_t* acc, const int8_t* xq, int M) const;
  // y (M, N) = act(quantized x (M, K) @ W_q * scales + b); b (N) may be null; act is an Act id.
  // x_scale >= FLT_MIN fixes the activation scale t (static calibration); 0 quantizes each row
  // dynamically. row_scale (M), when not null, receives each row's t.
  void forward(float* y, const float* x, const float* b, int M, int act, float x_scale = 0.0f,
               float* row_scale = nullptr) const;
  // y (M rows of stride ldy >= N) = or, when `add`, += quantized x (M, K) @ W_q * scales, with
  // per-row dynamic scales, no bias, no activation: a recurrent layer's h R written straight
  // into its strided gate buffer (qrecurrent.h), the sum in the epilogue (y + v, one rounding).
  void forward_into(float* y, int ldy, bool add, const float* x, int M) const;

 private:
  void pack(const int8_t* wq);
  void run(QTile& t, const float* x, int M, int act, float x_scale) const;  // forward's body
  QTile tile_over(const uint8_t* xq, int M) const;  // all column blocks for M rows of xq
  int K_, N_, Kp_, Np_;
  AlignedBytes w_;              // the packed layout above
  std::vector<float> scale_;    // s (Np), zero-padded
  std::vector<int32_t> corr_;   // 128 * colsum(W_q) (Np), for the unsigned-activation paths
};

// xq (M, K) int8 and scale (M) <- x (M, K) by the activation rule above (x_scale > 0: fixed t,
// at least FLT_MIN so that 1 / t is finite).
void quantize_rows(int8_t* xq, float* scale, const float* x, int M, int K, float x_scale = 0.0f);

// The CPU path ("ref" | "avx2" | "avxvnni" | "avx512vnni") is the one cpp/isa/ picks.

// ---- The per-ISA kernel interface (quant.cpp dispatches, quant_<isa>.cpp implement) ----------

// One output tile: rows [0, M) of xq against column blocks [b0, b1). Activations are rows of Kp
// bytes, x_q + x_offset, padded past K with the byte x_offset (a zero x_q).
struct QTile {
  const uint8_t* xq;        // (M, Kp)
  int M, Kp;
  const int8_t* w;          // packed weights; block b starts at w + b * Kp * 16
  const int32_t* corr;      // (Np) 128 * colsum, subtracted when x_offset is 128
  int N, b0, b1;            // N: the last valid column + 1 and acc's row stride
  int32_t* acc;             // (M, N) int32 output (rows of this tile), or null and then
  float* y;                 // (M, ldy) float output with the epilogue:
  int ldy;                  // y's row stride (>= N)
  bool add;                 // y += the result (after bias and relu) instead of y =
  const float* x_scale;     // (M) t
  const float* w_scale;     // (Np) s
  const float* bias;        // (N) or null
  bool relu;                // y < 0 ? 0 : y after the bias (other activations run afterwards)
};

struct QuantKernels {
  const char* name;
  int x_offset;  // 0 (signed activations) or 128 (vpdpbusd: unsigned)
  // xq (M, Kp) and t (M) from x (M, K); x_scale > 0 fixes t. Bytes are x_q + offset (0 or
  // 128: another path's format, so avxvnni reuses the avx2 quantizer).
  void (*quantize_rows)(uint8_t* xq, float* scale, const float* x, int M, int K, int Kp,
                        float x_scale, int offset);
  void (*tile)(const QTile& t);
};

// The rule above for one vector, from its max |v| and whether it held NaN/Inf: the scale t and
// the factor r (v_q = round(v * r)). x_scale > 0 fixes t (then 1 / x_scale must be finite).
// static, so each ISA's translation unit keeps its own copy (an inline one could be merged with
// the AVX-512 build and run on a CPU without it).
struct QuantScale {
  float t, r;
};
static inline QuantScale quant_scale(float absmax, bool non_finite, float x_scale) {
  if (non_finite) return {__builtin_nanf(""), 0.0f};
  if (x_scale > 0.0f) return {x_scale, 1.0f / x_scale};
  const float r = 127.0f / absmax;
  if (!(r <= 3.40282347e38f)) return {1.0f, 1.0f};  // all zero, or all below 127 / FLT_MAX
  return {absmax / 127.0f, r};
}

// The AVX2 epilogue for rows [i0, i0 + rows) x block b from acc (rows, 16), shared by the avx2
// and avxvnni paths (defined in avx2.cpp): minus 128 * colsum when offset, then the int32
// store or scale, bias, relu (and + y when t.add), masked to the N valid columns.
void store_block_avx2(const QTile& t, const int32_t* acc, int i0, int rows, int b, bool offset);

void fill_quant_ref(QuantKernels& k);
void fill_quant_avx2(QuantKernels& k);
void fill_quant_avxvnni(QuantKernels& k);
void fill_quant_avx512vnni(QuantKernels& k);

}  // namespace bc

// Sparse Dense inference: y = act(x @ W + b) with W (K, N) stored compressed, float32 or int8.
//
// Layout: sliced ELLPACK over the columns of W (SELL-16). Columns are cut into slices of 16
// (the last one padded with empty lanes); slice s holds len_s steps of 16 entries, lane c of step
// j being the j-th non-zero (k, w) of column 16 s + c, in increasing k. Columns shorter than the
// slice's longest are padded with (k = K, w = 0), and row K of every activation buffer is a zero.
//   idx   uint16 (steps * 16): k      (so K <= 65535: the padding index K must fit)
//   val   float or int8 (steps * 16)
//   len   int32 (slices * 16): the real entries of each lane; ptr int32 (slices + 1): step offsets
//
// Why this layout, for batch 1 and batch 64 alike:
// - batch 1 (rows path, M < kColsMinRows): one step of a slice is one 16-lane gather of x and one
//   FMA (two of each on AVX2), with all 16 columns' sums side by side in one register, stored as
//   16 contiguous outputs. Per-element formats (CSR of W) would scatter into y instead, and
//   blocked formats (BSR) are almost never empty for unstructured (magnitude) pruning: a 1x16
//   block at 90% sparsity holds a non-zero 81% of the time.
// - batch >= kColsMinRows (cols path): x is transposed per tile of 16 rows into xT (K + 1, 16);
//   each entry (k, w) of a column is then one broadcast of w and one FMA (two on AVX2) against the
//   contiguous row xT[k], the column's 16 sums in a register, several columns side by side for
//   the FMA latency. The lane's real length skips its padding. (Tiles of 16 rows beat 32 and 64:
//   xT stays in L1/L2; the column sums are stored a slice at a time, transposed into y.)
// Both paths compute every output as the same chain, acc = fma(w_j, x[k_j], acc) for the column's
// entries in increasing k from acc = +0 (padding is fma(0, 0, acc) = acc: acc is never -0). So a
// result does not depend on the path, the batch it came in, the tiling, the thread count or the
// ISA (ref uses std::fmaf), and the float kernel differs from the dense GEMM by round-off only.
// Non-finite x reaches only the columns with a non-zero weight at that k (dense: 0 * Inf = NaN).
//
// int8: the scheme of quant.h exactly: x quantized per row (or by a fixed x_scale) by the same
// rule, acc[m, n] = sum x_q[m, k] W_q[k, n] over the non-zeros of W_q (exact int32: the zeros add
// nothing), y = act(float(acc) * (t_m * s_n) + b_n), relu as y < 0 ? 0 : y: bit-equal to QLinear.
// The SIMD paths multiply with vpmaddwd on (x_q as the low 16 bits, 0 above) x (w as int16 in the
// low 16 bits, anything above): x w + 0 * (the high half), exact.
//
// Threads: the output is cut into tiles (row tiles of 16 x slice ranges) whose shape depends
// on (M, N, nnz) only; one OpenMP loop runs them. Each output is one tile's chain, so the bits
// never depend on the thread count. The path (ref, avx2, avx512) is the one cpp/isa/ picks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/common.h"

namespace bc {

constexpr int kSparseMaxK = 65535;  // uint16 indices with the padding index K
constexpr int kColsMinRows = 4;     // from this many rows the transposed (cols) path runs

// The compressed pattern (above), shared by the float and int8 layers.
struct SellPattern {
  int K = 0, N = 0, S = 0;      // S = ceil(N / 16) slices
  std::vector<int32_t> ptr;     // (S + 1) step offsets
  std::vector<int32_t> len;     // (S * 16) real entries per lane
  std::vector<uint16_t> idx;    // (steps * 16)
  size_t nnz = 0;
  size_t steps() const { return ptr.empty() ? 0 : static_cast<size_t>(ptr.back()); }
};

// One output tile: rows [0, M) against slices [s0, s1).
//   rows path: x is (M, K + 1) with x[m][K] = 0, y rows of stride N;
//   cols path: x is xT (K + 1, ld = 16) with row K zero, M <= 16 valid columns of it.
// Float kernels store the raw sums; int8 ones the epilogue of quant.h (x_scale, w_scale, bias, relu).
struct SpTile {
  const SellPattern* p;
  const float* vf;          // float values, or
  const int16_t* vq;        // int8 values, held as int16 (see QSparseLinear)
  const void* x;            // float, or int32 holding x_q in its low 16 bits (0 above)
  int M, ld, s0, s1;
  float* y;                 // (M, N) output rows of this tile
  const float* x_scale;     // int8: (M) t
  const float* w_scale;     // int8: (S * 16) s, zero-padded
  const float* bias;        // int8: (N) or null
  bool relu;                // int8: y < 0 ? 0 : y after the bias
};

struct SparseKernels {
  const char* name;
  void (*f32_rows)(const SpTile& t);
  void (*f32_cols)(const SpTile& t);
  void (*q8_rows)(const SpTile& t);
  void (*q8_cols)(const SpTile& t);
};

void fill_sparse_ref(SparseKernels& k);
void fill_sparse_avx2(SparseKernels& k);
void fill_sparse_avx512(SparseKernels& k);

// The int8 epilogue for one element (quant.h: store_ref), shared by every path.
inline float q8_out(int32_t acc, float t, float s, const float* bias, int n, bool relu) {
  float v = static_cast<float>(acc) * (t * s);
  if (bias) v += bias[n];
  if (relu) v = v < 0.0f ? 0.0f : v;
  return v;
}

// Writes the sums of one slice's columns [n0, min(n0 + 16, N)) for rows [0, M) into y (stride N)
// from outT (16, ld), transposed in blocks (storing a column at a time, stride 4 KB for N = 1024,
// put every store in one L1 set and cost more than the kernel).
static inline void store_slice(float* y, int N, int n0, int M, const float* outT, int ld) {
  transpose32(y + n0, N, outT, ld, N - n0 < 16 ? N - n0 : 16, M);
}

// Float sparse linear layer: W (K, N) row-major; its zeros are dropped.
class SparseLinear {
 public:
  SparseLinear(const float* W, int K, int N);
  int K() const { return p_.K; }
  int N() const { return p_.N; }
  size_t nnz() const { return p_.nnz; }
  size_t bytes() const;                   // the compressed storage
  void to_dense(float* W) const;          // W (K, N) <- the stored weights
  // y (M, N) = act(x (M, K) @ W + b); b (N) may be null; act is an Act id.
  void forward(float* y, const float* x, const float* b, int M, int act) const;

 private:
  SellPattern p_;
  std::vector<float> val_;
};

// int8 sparse linear layer: W_q (K, N) in [-127, 127] with per-column scales (quant.h).
class QSparseLinear {
 public:
  QSparseLinear(const int8_t* wq, const float* scale, int K, int N);
  int K() const { return p_.K; }
  int N() const { return p_.N; }
  size_t nnz() const { return p_.nnz; }
  size_t bytes() const;
  void to_dense(int8_t* wq) const;
  const float* scales() const { return scale_.data(); }
  // y (M, N) = act(quantized x @ W_q * scales + b), as QLinear::forward (x_scale likewise).
  void forward(float* y, const float* x, const float* b, int M, int act, float x_scale = 0.0f) const;

 private:
  SellPattern p_;
  // The int8 values as int16, one spare at the end: the cols path broadcasts a 32-bit load of a
  // value (a load, not a shuffle); its high half meets x's zero high half in vpmaddwd.
  std::vector<int16_t> val_;
  std::vector<float> scale_;  // (S * 16), zero-padded
};

}  // namespace bc

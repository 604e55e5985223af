#include "kernels/gemm/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cblas.h"
#include "core/common.h"
#include "isa/isa.h"
#include "kernels/float/float.h"

namespace bc {
namespace {

// Below kParallelFlops a GEMM is one BLAS call on the calling thread: waking a second thread
// costs more than it saves (the batch-32 MLP step is no faster on 2 threads), and every tile
// repacks its operands (8 MFLOP, not 16: the seed MLP's 256x128x128 layer on 2 tiles took
// batch-256 predict from 294 to 267 us). Above it the output is cut into 2 tiles, 4 from kFourTileFlops: few and
// large, since each tile packs the shared operand again (a 48-tile plan spent a fifth of an
// LSTM step copying).
constexpr double kParallelFlops = 8e6;
constexpr double kFourTileFlops = 1.28e8;

// The project's own kernel (kernels/float/small_gemm.h) takes every product it can: no packing, no
// BLAS call overhead, and each output summed in k order with one fused multiply-add per product, so a
// row's bits depend neither on the rows beside it (the batch), nor on the tiles, nor on the thread
// count. It needs the FMA instruction to be both fast and the same on every ISA path; a CPU without
// it keeps the BLAS (whose kernels differ there anyway). op(B) = B^T is copied into B's layout, each
// tile its own columns.
const bool kHasFma = isa::has(isa::FMA);
constexpr int kOwnTransBRows = 128;
constexpr size_t kOwnTransBMaxFloats = size_t(1) << 19;  // 2 MB
int g_mode = 0;  // 0: the own kernel where it applies, 1: always the BLAS (benchmarks compare them)

struct Tiling {
  int tm, tn;  // tile sizes
  int nm, nn;  // tile counts
};

// Splits the longer output side into `tiles` pieces (rows in multiples of 8, columns of 16).
Tiling plan(int M, int N, int K) {
  const double flops = 2.0 * M * N * static_cast<double>(K);
  const int tiles = flops < kParallelFlops ? 1 : (flops < kFourTileFlops ? 2 : 4);
  Tiling t{M, N, 1, 1};
  if (tiles == 1) return t;
  if (M >= N) {
    t.tm = std::max(8, ((M + tiles - 1) / tiles + 7) / 8 * 8);
    t.nm = (M + t.tm - 1) / t.tm;
  } else {
    t.tn = std::max(16, ((N + tiles - 1) / tiles + 15) / 16 * 16);
    t.nn = (N + t.tn - 1) / t.tn;
  }
  return t;
}

void blas_init() {
  static bool done = [] {
    scipy_openblas_set_num_threads(1);  // bigcore owns the threading
    return true;
  }();
  (void)done;
}

// op(B) = B^T (B stored N x K) copied to K x N rows, the layout the kernel reads; per thread, reused.
const float* transposed(const float* B, int ldb, int K, int N) {
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(K) * N);
  transpose32(buf.data(), N, B, ldb, N, K);
  return buf.data();
}

// The own kernel's product cut into one tile per thread, run(m0, m1, n0, n1) on each: columns in
// panels of 64 when N is wide enough (own_by_cols), else rows. The cut changes which
// thread computes an output, never its bits.
constexpr double kSpinningFlops = 5e5;  // with the team still spinning (team_spinning)

int own_threads(int M, int N, int K) { return own_threads_for(2.0 * M * N * static_cast<double>(K)); }

// Columns only where the output is wide against its rows: with M >= 2N a column cut has every thread
// stream all of x for one or two panels of W (the seed MLP's 256 x 128 x 784 layer on 2 threads: 214
// us by columns, 160 by rows; its dW, 784 x 128 x 256: 194 against 160).
bool own_by_cols(int M, int N, int threads) { return N >= 64 * threads && M < 2 * N; }

template <class Run>
void own_tiles(int M, int N, int K, Run&& run) {
  const int threads = own_threads(M, N, K);
  if (threads <= 1) return run(0, M, 0, N);
  const bool by_cols = own_by_cols(M, N, threads);
  // Rows are cut evenly: the kernel's row groups (for_row_groups) share a tile's 1-3 leftover rows
  // with its last full group, where a cut in sixes had left 256 rows as 132 + 124 (the seed MLP's
  // batch-256 layer on 2 threads, the longer tile the whole call's time).
  const int unit = by_cols ? 64 : 1, extent = by_cols ? N : M;
  const int step = ((extent + threads - 1) / threads + unit - 1) / unit * unit;
  const int tiles = (extent + step - 1) / step;
  note_team_used();
#pragma omp parallel for num_threads(std::min(threads, tiles)) schedule(static)
  for (int t = 0; t < tiles; ++t) {
    const int lo = t * step, hi = std::min(extent, lo + step);
    if (by_cols) run(0, M, lo, hi);
    else run(lo, hi, 0, N);
  }
}

// A weight gradient (op(A) = A^T: a sum over a batch's many rows into a narrow output, as Dense's
// dW at 6400 rows into 32 x 32) cut into the output's rows gives every thread all K rows of both
// operands to stream and a few output rows to sum them into (108 GFLOP/s at 6400 x 32 x 32). Its
// sum is cut instead into 2 or 4 pieces of K (even counts: the pieces share 2 or 4 threads evenly),
// fixed by the shape: piece 0 is summed into C (from C or 0), the others into their own buffers,
// which are then added to C in piece order: the same bits on any thread count. Outputs of 128
// columns or more keep the column cut, which already shares the work evenly.
constexpr int kSplitMinK = 2048, kSplitMaxN = 128;
constexpr long kSplitMaxOut = 128 * 128;

int k_parts(bool trans_a, bool trans_b, int M, int N, int K) {
  if (!trans_a || trans_b || N >= kSplitMaxN || static_cast<long>(M) * N > kSplitMaxOut || K < kSplitMinK) return 1;
  return K >= 2 * kSplitMinK ? 4 : 2;
}

void split_k_gemm(int parts, int M, int N, int K, const float* A, int lda, const float* B, int ldb, bool accumulate,
                  float* C, int ldc) {
  const size_t out = static_cast<size_t>(M) * N;
  const int step = (K + parts - 1) / parts;
  std::vector<float> partial(out * (parts - 1));
  const Kernels& k = kernels();
  auto run = [&](int p) {
    FlushDenormals ftz;
    const int k0 = p * step, kb = std::min(K, k0 + step) - k0;
    const float* a = A + static_cast<size_t>(k0) * lda;  // rows k0.. of A (K x M)
    const float* b = B + static_cast<size_t>(k0) * ldb;
    if (p == 0) k.fma_gemm(C, ldc, a, lda, true, b, ldb, M, N, kb, accumulate);
    else k.fma_gemm(partial.data() + (p - 1) * out, N, a, lda, true, b, ldb, M, N, kb, false);
  };
  const double flops = 2.0 * M * N * static_cast<double>(K);
  const int threads = flops < kParallelFlops || omp_in_parallel() ? 1 : std::min(get_num_threads(), parts);
  if (threads <= 1) {
    for (int p = 0; p < parts; ++p) run(p);
  } else {
    note_team_used();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < parts; ++p) run(p);
  }
  for (int p = 1; p < parts; ++p)
    for (int i = 0; i < M; ++i) {
      float* c = C + static_cast<size_t>(i) * ldc;
      const float* q = partial.data() + (p - 1) * out + static_cast<size_t>(i) * N;
      for (int j = 0; j < N; ++j) c[j] += q[j];
    }
}

void own_gemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
              bool accumulate, float* C, int ldc) {
  if (const int parts = k_parts(trans_a, trans_b, M, N, K); parts > 1)
    return split_k_gemm(parts, M, N, K, A, lda, B, ldb, accumulate, C, ldc);
  const Kernels& k = kernels();
  own_tiles(M, N, K, [&](int m0, int m1, int n0, int n1) {
    FlushDenormals ftz;  // as the BLAS tiles
    const float* a = trans_a ? A + m0 : A + static_cast<size_t>(m0) * lda;
    // op(B) = B^T: each tile copies only its columns' rows of B, on its own thread (a column cut
    // shares the copy between the threads; one copy before the tiles had been a serial third of
    // dx = dy @ W^T at 256 x 2048 x 2048 on 2 threads). The copy's layout changes no bits.
    const float* b = trans_b ? transposed(B + static_cast<size_t>(n0) * ldb, ldb, K, n1 - n0) : B + n0;
    k.fma_gemm(C + static_cast<size_t>(m0) * ldc + n0, ldc, a, lda, trans_a, b, trans_b ? n1 - n0 : ldb, m1 - m0,
               n1 - n0, K, accumulate);
  });
}

}  // namespace

int own_threads_for(double flops) {
  if (omp_in_parallel() || flops < kSpinningFlops) return 1;
  return flops >= kParallelFlops || team_spinning() ? get_num_threads() : 1;
}

void set_gemm_mode(int mode) { g_mode = mode; }

bool gemm_is_own() { return g_mode == 0 && kHasFma; }

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  blas_init();
  if (K <= 0) {  // C = beta * C, and beta == 0 overwrites (NaN in C does not survive), as BLAS
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        float& c = C[static_cast<size_t>(i) * ldc + j];
        c = beta == 0.0f ? 0.0f : c * beta;
      }
    return;
  }
  // op(B) = B^T under kOwnTransBRows rows: copying B^T costs more than the BLAS's own packing saves
  // (dx = dy @ W^T at batch 32: 107 us against 89, one thread); nor over kOwnTransBMaxFloats of B,
  // whose copy runs from L3 or memory (dx at 256 x 2048 x 2048 on 2 threads: 92 against the BLAS's
  // 113 GFLOP/s, 1024 wide 113 against 141, 512 wide 128 against 131). Backward only, so no row's
  // bits move; the BLAS's tiles depend on the product's size only, so neither do the thread count's.
  const bool own_trans_b = M >= kOwnTransBRows && static_cast<size_t>(N) * K <= kOwnTransBMaxFloats;
  if (g_mode == 0 && kHasFma && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && (!trans_b || own_trans_b)) {
    own_gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta == 1.0f, C, ldc);
    return;
  }
  const Tiling t = plan(M, N, K);
  const int tiles = t.nm * t.nn;
  auto run = [&](int idx) {
    FlushDenormals ftz;  // as the calling thread (program.cpp), on worker threads too
    int i0 = (idx / t.nn) * t.tm, j0 = (idx % t.nn) * t.tn;
    int m = std::min(t.tm, M - i0), n = std::min(t.tn, N - j0);
    // Row i0 of op(A): A + i0*lda (no trans) or column i0 of A (trans); same for op(B).
    const float* a = trans_a ? A + i0 : A + static_cast<size_t>(i0) * lda;
    const float* b = trans_b ? B + static_cast<size_t>(j0) * ldb : B + j0;
    scipy_cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                      trans_b ? CblasTrans : CblasNoTrans, m, n, K, alpha, a, lda, b, ldb, beta,
                      C + static_cast<size_t>(i0) * ldc + j0, ldc);
  };
  // Inside a parallel region (an RNN chunk) the tiles run on the calling thread.
  int threads = omp_in_parallel() ? 1 : std::min(get_num_threads(), tiles);
  if (threads <= 1) {
    for (int idx = 0; idx < tiles; ++idx) run(idx);
    return;
  }
  note_team_used();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int idx = 0; idx < tiles; ++idx) run(idx);
}

bool gemm_then(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
               const std::function<void(int, int)>& after) {
  constexpr long kOneThreadPass = 1 << 14;  // outputs one thread's pass takes (parallel_rows' chunk)
  const int threads = own_threads(M, N, K);
  const bool fuse = gemm_is_own() && M > 0 && N > 0 && K > 0 &&
                    (threads > 1 ? !own_by_cols(M, N, threads) : static_cast<long>(M) * N <= kOneThreadPass);
  if (!fuse) {
    gemm(false, false, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
    return false;
  }
  blas_init();
  const Kernels& k = kernels();
  own_tiles(M, N, K, [&](int m0, int m1, int n0, int n1) {
    FlushDenormals ftz;
    k.fma_gemm(C + static_cast<size_t>(m0) * ldc + n0, ldc, A + static_cast<size_t>(m0) * lda, lda, false, B + n0,
               ldb, m1 - m0, n1 - n0, K, false);
    after(m0, m1);
  });
  return true;
}

bool gemm_reads_packed(int rows) { return gemm_is_own() && rows >= kernels().gemm_packed_min_rows; }

bool PackedGemmWeights::pack(const float* W, int ldw, int K, int N) {
  W_ = nullptr;
  if (!gemm_is_own() || K <= 0 || N <= 0) return false;
  const Kernels& k = kernels();
  panels_.resize(static_cast<size_t>(K) * (N / k.gemm_panel) * k.gemm_panel);
  k.pack_panels(panels_.data(), W, ldw, K, N);
  W_ = W;
  isa_ = k.name;
  ldw_ = ldw;
  K_ = K;
  N_ = N;
  return true;
}

void gemm_packed(int M, const float* A, int lda, const PackedGemmWeights& w, bool accumulate, float* C, int ldc) {
  BC_CHECK(w.ready(), "gemm_packed: no weights packed");
  if (M <= 0) return;
  const Kernels& k = kernels();
  if (std::strcmp(w.isa_, k.name) != 0)  // packed for another path's layout (the ISA changed since)
    return own_gemm(false, false, M, w.N_, w.K_, A, lda, w.W_, w.ldw_, accumulate, C, ldc);
  own_tiles(M, w.N_, w.K_, [&](int m0, int m1, int n0, int n1) {
    gemm_packed_cols(m1 - m0, A + static_cast<size_t>(m0) * lda, lda, w, accumulate, C + static_cast<size_t>(m0) * ldc,
                     ldc, n0, n1);
  });
}

void gemm_packed_cols(int M, const float* A, int lda, const PackedGemmWeights& w, bool accumulate, float* C, int ldc,
                      int n0, int n1) {
  BC_CHECK(w.ready(), "gemm_packed_cols: no weights packed");
  const Kernels& k = kernels();
  BC_CHECK(n0 >= 0 && n0 <= n1 && n1 <= w.N_ && n0 % k.gemm_panel == 0, "gemm_packed_cols: bad column range");
  if (M <= 0 || n0 == n1) return;
  FlushDenormals ftz;
  if (std::strcmp(w.isa_, k.name) != 0)
    return k.fma_gemm(C + n0, ldc, A, lda, false, w.W_ + n0, w.ldw_, M, n1 - n0, w.K_, accumulate);
  k.packed_gemm(C, ldc, A, lda, w.panels_.data(), w.W_, w.ldw_, M, w.N_, w.K_, n0, n1, accumulate);
}

const char* blas_info() {
  blas_init();
  return scipy_openblas_get_config();
}

}  // namespace bc

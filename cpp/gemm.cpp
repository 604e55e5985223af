#include "gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>

#include "cblas.h"

namespace bc {
namespace {

std::atomic<int> g_threads{0};

// ~2 MFLOP per tile: big enough that the BLAS call overhead (~1 us) stays small, small enough
// that a batch-32 MLP layer splits over the cores.
constexpr double kTileFlops = 2.0e6;
// Below this a GEMM runs its tiles on the calling thread: waking a second thread costs more than
// it saves (measured: the batch-32 MLP step is no faster on 2 threads), and a busy machine makes
// every fork/join a scheduling gamble.
constexpr double kParallelFlops = 1.6e7;

struct Tiling {
  int tm, tn;  // tile sizes
  int nm, nn;  // tile counts
};

Tiling plan(int M, int N, int K) {
  double flops = 2.0 * M * N * static_cast<double>(K);
  int want = static_cast<int>(std::min(64.0, std::max(1.0, flops / kTileFlops)));
  Tiling t{M, N, 1, 1};
  // Split the wider side first, keeping tiles a multiple of 16 columns / 8 rows.
  if (N >= M) {
    t.nn = std::max(1, std::min(want, N / 16));
    t.tn = ((N + t.nn - 1) / t.nn + 15) / 16 * 16;
    t.nn = (N + t.tn - 1) / t.tn;
    int rest = want / t.nn;
    t.nm = std::max(1, std::min(rest, M / 8));
    t.tm = ((M + t.nm - 1) / t.nm + 7) / 8 * 8;
    t.nm = (M + t.tm - 1) / t.tm;
  } else {
    t.nm = std::max(1, std::min(want, M / 8));
    t.tm = ((M + t.nm - 1) / t.nm + 7) / 8 * 8;
    t.nm = (M + t.tm - 1) / t.tm;
    int rest = want / t.nm;
    t.nn = std::max(1, std::min(rest, N / 16));
    t.tn = ((N + t.nn - 1) / t.nn + 15) / 16 * 16;
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

}  // namespace

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
  const Tiling t = plan(M, N, K);
  const int tiles = t.nm * t.nn;
  auto run = [&](int idx) {
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
  const bool small = 2.0 * M * N * static_cast<double>(K) < kParallelFlops;
  int threads = omp_in_parallel() || small ? 1 : std::min(get_num_threads(), tiles);
  if (threads <= 1) {
    for (int idx = 0; idx < tiles; ++idx) run(idx);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int idx = 0; idx < tiles; ++idx) run(idx);
}

void set_num_threads(int n) {
  blas_init();
  g_threads = std::max(1, n);
}

int get_num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : omp_get_num_procs();
}

const char* blas_info() {
  blas_init();
  return scipy_openblas_get_config();
}

}  // namespace bc

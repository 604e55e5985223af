// GEMM through the BLAS, with bigcore's own deterministic threading.
#pragma once

#include "core/threads.h"  // set_num_threads / get_num_threads, which the tiles follow

namespace bc {

// C (M,N) = alpha * op(A) @ op(B) + beta * C, row-major; op(A) is (M,K), op(B) is (K,N).
// The product is cut into tiles whose shape depends on (M, N, K) only; an OpenMP loop runs
// single-threaded BLAS on each, so the bits never depend on the thread count.
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);

// 0: the own FMA kernel wherever it applies (the default), 1: the BLAS for everything (benchmarks).
void set_gemm_mode(int mode);

// Whether gemm gives C = A @ B (+ C) (alpha 1, no transposes) to the own FMA kernel: then a caller
// may run the Kernels table's fma_gemm on pieces of the product itself and get the same bits.
bool gemm_is_own();

const char* blas_info();      // the BLAS build and the core kernel it selected

}  // namespace bc

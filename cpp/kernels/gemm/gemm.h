// GEMM through the BLAS, with bigcore's own deterministic threading.
#pragma once

#include <functional>
#include <vector>

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

// The threads the own kernel gives work of this many FLOPs: 1 inside a parallel region, and where
// waking a sleeping team would cost more than it saves; else get_num_threads().
int own_threads_for(double flops);

// W (K,N) packed once in the own kernel's layout, for many products by it (a recurrent layer's R at
// every step of a call: each product then streams the panels instead of repacking W).
class PackedGemmWeights {
 public:
  // Packs W (row stride ldw), which must stay in place and unchanged until the last product;
  // false (nothing packed) where gemm would not take the own kernel.
  bool pack(const float* W, int ldw, int K, int N);
  void clear() { W_ = nullptr; }
  bool ready() const { return W_ != nullptr; }

 private:
  friend void gemm_packed(int M, const float* A, int lda, const PackedGemmWeights& w, bool accumulate, float* C,
                          int ldc);
  friend void gemm_packed_cols(int M, const float* A, int lda, const PackedGemmWeights& w, bool accumulate, float* C,
                               int ldc, int n0, int n1);
  std::vector<float> panels_;
  const float* W_ = nullptr;
  const char* isa_ = "";  // the path whose layout panels_ has (its kernel table's name)
  int ldw_ = 0, K_ = 0, N_ = 0;
};

// C (M,N) = A (M,K) @ B (K,N) (row-major, no transposes), then after(r0, r1) on each block of whole
// rows as soon as it is done, on the thread that computed it (a Dense layer's bias and activation
// while its rows are in that core's cache, with no second pass over the team). Returns false, with C
// computed and after never called, where the product is cut by columns, is too small to be cut but
// has too many outputs for one thread's pass, or goes to the BLAS: the caller then runs its pass.
bool gemm_then(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
               const std::function<void(int, int)>& after);

// Whether products of this many rows read packed weights (fewer read W in place: packing for them
// would be wasted).
bool gemm_reads_packed(int rows);

// C (M,N) (+)= A (M,K) @ W with w packed (ready()): the bits of gemm(false, false, M, N, K, 1, A, lda,
// W, ldw, accumulate ? 1 : 0, C, ldc), threaded the same way.
void gemm_packed(int M, const float* A, int lda, const PackedGemmWeights& w, bool accumulate, float* C, int ldc);

// Columns [n0, n1) of gemm_packed's product (n0 a multiple of kernels().gemm_panel) on the calling
// thread: for callers that cut a product themselves (the same bits as the whole product's columns).
void gemm_packed_cols(int M, const float* A, int lda, const PackedGemmWeights& w, bool accumulate, float* C, int ldc,
                      int n0, int n1);

const char* blas_info();      // the BLAS build and the core kernel it selected

}  // namespace bc

// Shared definitions for the native core: precondition checks and enums shared with Python.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

// Native code checks its own preconditions and throws; pybind11 turns std::invalid_argument
// into ValueError, so no input from Python can crash the interpreter.
#define BC_CHECK(cond, msg)                                  \
  do {                                                       \
    if (!(cond)) throw std::invalid_argument(std::string(msg)); \
  } while (0)

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace bc {

// Flushes denormals to zero (FTZ and DAZ) in this thread while alive and restores the caller's
// floating-point state on exit. Adam's moments of a weight whose gradient stays zero decay into
// denormals after ~700 steps, and denormal arithmetic made the MLP step 3x slower; TensorFlow
// flushes the same way. Scoped per native call, so the Python process is never switched.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

// dst[j * ldd + i] = src[i * lds + j] for i < R, j < C: 32-bit values (float or int32) moved as
// bits, in 4x4 SSE blocks (the sparse kernels' x and y, op(B) = B^T for the own GEMM, an RNN's R^T),
// tile by tile: a tile's 32 source rows and 32 destination rows (8 KB) stay in L1 while it moves,
// and its lines are read and written whole. Sweeping all R rows per 4 destination rows had read each
// source line 4 times from L2 or further (2048 x 2048: 11.4 ms, against 32 MB of traffic).
// static: each ISA's translation unit keeps its own copy.
static inline void transpose32(void* dst_, int ldd, const void* src_, int lds, int R, int C) {
  float* dst = static_cast<float*>(dst_);
  const float* src = static_cast<const float*>(src_);
  constexpr int kTile = 32;
  for (int i0 = 0; i0 < R; i0 += kTile) {
    const int i1 = std::min(R, i0 + kTile), i4 = i0 + (i1 - i0) / 4 * 4;
    for (int j0 = 0; j0 < C; j0 += kTile) {
      const int j1 = std::min(C, j0 + kTile), j4 = j0 + (j1 - j0) / 4 * 4;
      for (int j = j0; j < j4; j += 4) {
        float* d = dst + static_cast<size_t>(j) * ldd;
        for (int i = i0; i < i4; i += 4) {
          const float* s = src + static_cast<size_t>(i) * lds + j;
          __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + lds);
          __m128 r2 = _mm_loadu_ps(s + 2 * lds), r3 = _mm_loadu_ps(s + 3 * lds);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          _mm_storeu_ps(d + i, r0);
          _mm_storeu_ps(d + ldd + i, r1);
          _mm_storeu_ps(d + 2 * ldd + i, r2);
          _mm_storeu_ps(d + 3 * ldd + i, r3);
        }
        for (int i = i4; i < i1; ++i)
          for (int k = 0; k < 4; ++k) d[static_cast<size_t>(k) * ldd + i] = src[static_cast<size_t>(i) * lds + j + k];
      }
      for (int j = j4; j < j1; ++j)
        for (int i = i0; i < i1; ++i) dst[static_cast<size_t>(j) * ldd + i] = src[static_cast<size_t>(i) * lds + j];
    }
  }
}

// An allocation that failed, saying what it was for and how many bytes it asked; the bindings
// raise it as MemoryError.
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Activation ids; the numbers are part of the Python <-> native contract (activations.py mirrors
// them). Keras 3's definitions with its default parameters (keras/src/activations/activations.py):
// leaky_relu's negative slope 0.2, elu and celu's alpha 1, squareplus's b 4, the shrinks' 0.5.
enum Act : int {
  ACT_LINEAR = 0, ACT_RELU = 1, ACT_SIGMOID = 2, ACT_TANH = 3, ACT_SOFTMAX = 4,
  ACT_GELU = 5, ACT_GELU_TANH = 6, ACT_SILU = 7,  // GELU exact (erf) and tanh-approximated; SiLU (swish)
  ACT_ELU = 8, ACT_SELU = 9, ACT_SOFTPLUS = 10, ACT_SOFTSIGN = 11, ACT_EXPONENTIAL = 12, ACT_HARD_SIGMOID = 13,
  ACT_HARD_SILU = 14, ACT_LEAKY_RELU = 15, ACT_RELU6 = 16, ACT_MISH = 17, ACT_LOG_SIGMOID = 18, ACT_CELU = 19,
  ACT_LOG_SOFTMAX = 20, ACT_HARD_TANH = 21, ACT_TANH_SHRINK = 22, ACT_SQUAREPLUS = 23, ACT_SOFT_SHRINK = 24,
  ACT_HARD_SHRINK = 25, ACT_SPARSE_PLUS = 26,
  ACT_LAST = ACT_SPARSE_PLUS
};
inline bool act_valid(int act) { return act >= ACT_LINEAR && act <= ACT_LAST; }
// Activations whose derivative needs the input z, not the output y (act_backward_z): y does not
// give it back exactly (or cheaply).
inline bool act_needs_input(int act) {
  switch (act) {
    case ACT_GELU: case ACT_GELU_TANH: case ACT_SILU: case ACT_ELU: case ACT_SELU: case ACT_SOFTPLUS:
    case ACT_SOFTSIGN: case ACT_HARD_SILU: case ACT_MISH: case ACT_LOG_SIGMOID: case ACT_CELU:
    case ACT_TANH_SHRINK: case ACT_SQUAREPLUS: case ACT_SPARSE_PLUS:
      return true;
    default:
      return false;
  }
}
// Activations over a whole row (the last axis), not one value at a time.
inline bool act_is_rowwise(int act) { return act == ACT_SOFTMAX || act == ACT_LOG_SOFTMAX; }

// A buffer of T aligned to 64 bytes so every SIMD path may use aligned loads on row starts
// (floats for tensors and arenas, bytes for packed int8 weights).
template <class T>
class AlignedArray {
 public:
  AlignedArray() = default;
  explicit AlignedArray(size_t n) { resize(n); }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
  AlignedArray(AlignedArray&& o) noexcept : p_(o.p_), n_(o.n_), owned_(o.owned_) { o.p_ = nullptr; o.n_ = 0; }
  AlignedArray& operator=(AlignedArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(owned_, o.owned_);
    return *this;
  }
  ~AlignedArray() {
    if (owned_) std::free(p_);
  }
  // Another buffer's memory, not owned (a tensor that is another seen with a new shape, Program's
  // views): the owner must outlive it and stay the same size while it is borrowed.
  void borrow(T* p, size_t n) {
    if (owned_) std::free(p_);
    p_ = p;
    n_ = n;
    owned_ = false;
  }
  void resize(size_t n) {  // contents are zeroed; when the allocation fails, the buffer is as it was
    T* p = nullptr;
    if (n) {
      if (n > (SIZE_MAX - 63) / sizeof(T)) throw std::bad_alloc();
      size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
      p = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      std::memset(static_cast<void*>(p), 0, n * sizeof(T));
    }
    if (owned_) std::free(p_);
    p_ = p;
    n_ = n;
    owned_ = true;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
  bool owned_ = true;
};

using AlignedBuf = AlignedArray<float>;

}  // namespace bc

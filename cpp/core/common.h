// Shared definitions for the native core: precondition checks and enums shared with Python.
#pragma once
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

// An allocation that failed, saying what it was for and how many bytes it asked; the bindings
// raise it as MemoryError.
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Activation ids; the numbers are part of the Python <-> native contract (config.py mirrors them).
enum Act : int { ACT_LINEAR = 0, ACT_RELU = 1, ACT_SIGMOID = 2, ACT_TANH = 3, ACT_SOFTMAX = 4 };

// A buffer of T aligned to 64 bytes so every SIMD path may use aligned loads on row starts
// (floats for tensors and arenas, bytes for packed int8 weights).
template <class T>
class AlignedArray {
 public:
  AlignedArray() = default;
  explicit AlignedArray(size_t n) { resize(n); }
  AlignedArray(const AlignedArray&) = delete;
  AlignedArray& operator=(const AlignedArray&) = delete;
  AlignedArray(AlignedArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  AlignedArray& operator=(AlignedArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~AlignedArray() { std::free(p_); }
  void resize(size_t n) {  // contents are zeroed; when the allocation fails, the buffer is as it was
    T* p = nullptr;
    if (n) {
      if (n > (SIZE_MAX - 63) / sizeof(T)) throw std::bad_alloc();
      size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
      p = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      std::memset(static_cast<void*>(p), 0, n * sizeof(T));
    }
    std::free(p_);
    p_ = p;
    n_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

using AlignedBuf = AlignedArray<float>;

}  // namespace bc

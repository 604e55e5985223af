// Counter-based random numbers: value i of stream `key` is a pure function of (key, i), so
// initialization, shuffling and dropout do not depend on thread count or call order.
// static inline: the per-ISA files include this header too, and internal linkage keeps their
// differently-compiled copies from merging at link time.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bc {

static inline uint64_t mix64(uint64_t z) {  // splitmix64 finalizer
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A stream key from a seed and two stream coordinates (e.g. layer id and step).
static inline uint64_t rng_key(uint64_t seed, uint64_t a, uint64_t b) {
  return mix64(mix64(mix64(seed) ^ a) + b);
}

static inline uint64_t rng_u64(uint64_t key, uint64_t i) { return mix64(key ^ mix64(i)); }

// Uniform in [0, 1) with 24 random bits: exactly representable in float32.
static inline float rng_uniform(uint64_t key, uint64_t i) {
  return static_cast<float>(rng_u64(key, i) >> 40) * (1.0f / 16777216.0f);
}

// The dropout masks' stream, cheaper than rng_uniform: value i of stream `key` is the top 24 bits
// of two rounds of a 32-bit multiply-xorshift hash (lowbias32), keyed by the key's low half and by
// its high half mixed with i's high word. On AVX2 the 64-bit multiplies of rng_u64 are emulated
// (several instructions each, four lanes); these take one instruction for eight lanes, and dropout
// draws one value per activation. A template: U is uint32_t or a GCC vector of them, so the kernels'
// vector lanes run this same function (bit for bit). Attention's dropout draws from it too.
template <class U>
static inline U hash32(U x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  return x ^ (x >> 16);
}
static inline uint32_t drop_key_hi(uint64_t key, uint64_t i) {
  return static_cast<uint32_t>(key >> 32) ^ (static_cast<uint32_t>(i >> 32) * 0x9e3779b9U);
}
// drop_bits24 of the indices whose high word is i's and whose low words are lo: a uint32_t, or a
// vector of lanes (the kernels' consecutive or strided indices that share i's high word).
template <class U>
static inline U drop_bits24_lo(uint64_t key, uint64_t i, U lo) {
  return hash32(hash32(lo ^ static_cast<uint32_t>(key)) ^ drop_key_hi(key, i)) >> 8;
}
static inline uint32_t drop_bits24(uint64_t key, uint64_t i) {
  return drop_bits24_lo(key, i, static_cast<uint32_t>(i));
}

// out (n) ~ U[low, high)
void fill_uniform(float* out, size_t n, uint64_t key, float low, float high);
// out (n) ~ N(mean, stddev), truncated at 2 stddev when `truncated` (Keras's TruncatedNormal).
void fill_normal(float* out, size_t n, uint64_t key, float mean, float stddev, bool truncated);
// out (rows, cols) = gain * an orthogonal matrix (orthonormal rows or columns, whichever fits):
// the Q of a Householder QR of a standard-normal matrix, signs fixed by diag(R), as Keras's
// Orthogonal initializer. Native so that it never runs another library's threaded LAPACK.
void fill_orthogonal(float* out, int rows, int cols, uint64_t key, float gain);
// out (n) = a permutation of 0..n-1 (Fisher-Yates driven by the stream).
void permutation(int64_t* out, size_t n, uint64_t key);

}  // namespace bc

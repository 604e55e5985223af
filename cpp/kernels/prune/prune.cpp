#include "kernels/prune/prune.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace bc {

namespace {
// |w|'s bits: for non-NaN floats they order as |w| does, and every NaN's lie above +inf's.
inline uint32_t mag_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b & 0x7fffffffu;
}
}  // namespace

// Radix select on the 31 magnitude bits, 11 + 10 + 10 bits at a time: each pass histograms the
// entries that share the prefix found so far and picks the bucket holding the n_prune-th smallest,
// which gives the exact threshold T. Entries below T are pruned, then entries equal to T in index
// order until n_prune: the same answer as sorting by (|w|, index), in four streaming passes.
void prune_magnitude_mask(uint8_t* keep, const float* w, size_t n, size_t n_prune) {
  BC_CHECK(n_prune <= n, "cannot prune more entries than the tensor has");
  if (n_prune == 0) {
    std::fill(keep, keep + n, uint8_t{1});
    return;
  }
  constexpr int kShift[3] = {20, 10, 0}, kBits[3] = {11, 10, 10};
  std::vector<size_t> hist;
  uint32_t prefix = 0;
  size_t below = 0;  // entries known to lie below the prefix's range
  for (int level = 0; level < 3; ++level) {
    const int shift = kShift[level], top = shift + kBits[level];
    const uint32_t want = prefix >> top;  // top == 31: every entry matches
    hist.assign(size_t(1) << kBits[level], 0);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t m = mag_bits(w[i]);
      if ((static_cast<uint64_t>(m) >> top) == want) hist[(m >> shift) & ((1u << kBits[level]) - 1)]++;
    }
    uint32_t b = 0;
    while (below + hist[b] < n_prune) below += hist[b++];
    prefix |= b << shift;
  }
  size_t ties = n_prune - below;  // entries equal to the threshold still to prune, lowest index first
  for (size_t i = 0; i < n; ++i) {
    const uint32_t m = mag_bits(w[i]);
    const bool tie = m == prefix && ties > 0;
    ties -= tie;
    keep[i] = (m < prefix || tie) ? 0 : 1;
  }
}

void prune_apply(float* w, const uint8_t* keep, size_t n) {
  for (size_t i = 0; i < n; ++i) w[i] = keep[i] ? w[i] : 0.0f;
}

size_t prune_count(size_t n, double sparsity) {
  BC_CHECK(sparsity >= 0.0 && sparsity < 1.0, "sparsity must be in [0, 1), got " + std::to_string(sparsity));
  // tf.math.round, as tfmot: halves go to the even neighbour (nearbyint in the default mode)
  const auto kept = static_cast<size_t>(std::nearbyint(static_cast<double>(n) * (1.0 - sparsity)));
  return n - std::min(kept, n);
}

PruneMasks::Mask& PruneMasks::find(size_t offset) {
  for (auto& m : masks_)
    if (m.offset == offset) return m;
  throw std::invalid_argument("no pruning mask covers the parameter at arena offset " + std::to_string(offset));
}

const PruneMasks::Mask& PruneMasks::get(size_t offset) const {
  return const_cast<PruneMasks*>(this)->find(offset);
}

void PruneMasks::add(float* arena, size_t offset, size_t size, bool from_nonzero) {
  for (const auto& m : masks_)
    BC_CHECK(m.offset != offset, "the parameter at arena offset " + std::to_string(offset) + " already has a mask");
  Mask m;
  m.offset = offset;
  m.size = size;
  m.keep.resize(size);
  const float* w = arena + offset;
  for (size_t i = 0; i < size; ++i) m.keep.data()[i] = from_nonzero ? (w[i] != 0.0f) : 1;
  prune_apply(arena + offset, m.keep.data(), size);
  masks_.push_back(std::move(m));
}

size_t PruneMasks::update(float* arena, size_t offset, double sparsity) {
  Mask& m = find(offset);
  const size_t k = prune_count(m.size, sparsity);
  prune_magnitude_mask(m.keep.data(), arena + offset, m.size, k);
  prune_apply(arena + offset, m.keep.data(), m.size);
  return k;
}

void PruneMasks::set(float* arena, size_t offset, const uint8_t* keep, size_t n) {
  Mask& m = find(offset);
  BC_CHECK(n == m.size, "a mask for this parameter needs " + std::to_string(m.size) + " entries, got " +
                            std::to_string(n));
  for (size_t i = 0; i < n; ++i) m.keep.data()[i] = keep[i] ? 1 : 0;
  prune_apply(arena + offset, m.keep.data(), n);
}

void PruneMasks::apply(float* arena) const {
  for (const auto& m : masks_) prune_apply(arena + m.offset, m.keep.data(), m.size);
}

}  // namespace bc

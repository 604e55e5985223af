#include "prune.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace bc {

// Sort key: |w|'s bits above the index. For non-NaN floats the bits of |w| order as |w| does,
// and every NaN's bits lie above +inf's, so the keys form a total order with no ties.
void prune_magnitude_mask(uint8_t* keep, const float* w, size_t n, size_t n_prune) {
  BC_CHECK(n_prune <= n, "cannot prune more entries than the tensor has");
  BC_CHECK(n < (size_t(1) << 32), "a pruned tensor must have fewer than 2^32 entries");
  std::fill(keep, keep + n, uint8_t{1});
  if (n_prune == 0) return;
  std::vector<uint64_t> key(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, w + i, 4);
    key[i] = (static_cast<uint64_t>(bits & 0x7fffffffu) << 32) | i;
  }
  if (n_prune < n) std::nth_element(key.begin(), key.begin() + (n_prune - 1), key.end());
  for (size_t j = 0; j < n_prune; ++j) keep[key[j] & 0xffffffffu] = 0;
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

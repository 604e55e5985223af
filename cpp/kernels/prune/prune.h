// Magnitude pruning: per-segment keep masks over the parameter arena, applied after every
// optimizer update, and the kernel that recomputes a mask at a given sparsity.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/common.h"

namespace bc {

// keep (n) <- 0 for the n_prune entries of w (n) with the smallest |w|, 1 for the others.
// Order: |w| ascending, ties by index ascending (NaN ranks above +inf); the result depends on
// w alone, never on threads.
void prune_magnitude_mask(uint8_t* keep, const float* w, size_t n, size_t n_prune);

// w (n) <- keep ? w : +0.0 (a select, not a product: -0.0 and NaN become +0.0 too).
void prune_apply(float* w, const uint8_t* keep, size_t n);

// How many of n entries a sparsity in [0, 1) prunes: n - round_half_even(n * (1 - sparsity)), as
// tfmot (which rounds with tf.math.round), computed in double precision.
size_t prune_count(size_t n, double sparsity);

// The masks of one program, keyed by the arena offset of the segment they cover.
class PruneMasks {
 public:
  struct Mask {
    size_t offset = 0, size = 0;
    AlignedArray<uint8_t> keep;
  };
  // A new all-keep mask, or keep = (w != 0) when from_nonzero (a mask rebuilt from weights that
  // were pruned before). Applies it at once.
  void add(float* arena, size_t offset, size_t size, bool from_nonzero);
  // Recomputes the mask of the segment at `offset` at `sparsity` from the current weights and
  // applies it. Returns the number of entries pruned.
  size_t update(float* arena, size_t offset, double sparsity);
  void set(float* arena, size_t offset, const uint8_t* keep, size_t n);
  void apply(float* arena) const;  // after every update and constraint
  const Mask& get(size_t offset) const;
  bool empty() const { return masks_.empty(); }
  void clear() { masks_.clear(); }

 private:
  Mask& find(size_t offset);
  std::vector<Mask> masks_;
};

}  // namespace bc

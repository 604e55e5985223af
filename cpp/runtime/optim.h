// The optimizer pass over the parameter arena, after the gradients of one step: regularizer
// gradients, gradient clipping, one fused update (kernels/float: optim_update) per chunk of every
// trainable segment, then the MaxNorm constraints.
#pragma once
#include <vector>

#include "core/common.h"
#include "kernels/float/float.h"

namespace bc {

// One parameter tensor in the arena, with what the optimizer pass needs to know of it.
struct Segment {
  size_t offset = 0, size = 0;
  float l1 = 0.0f, l2 = 0.0f;
  bool trainable = true;
  float max_norm = 0.0f;  // Keras MaxNorm(axis=0) after each update (0: none)
  size_t rows = 1;        // the norms run over the first axis: (rows, size / rows)
};

// The fused update's arguments plus gradient clipping, which runs before the update.
struct OptimArgs : UpdateArgs {
  // Gradient clipping as Keras does it (0: off).
  float clipnorm = 0.0f, clipvalue = 0.0f, global_clipnorm = 0.0f;
};

// w, g: the arenas (n_params floats in use); state: the optimizer's 0 to 3 slots, arena-sized.
void optimizer_update(const std::vector<Segment>& segs, float* w, float* g,
                      std::vector<AlignedBuf>& state, size_t n_params, const OptimArgs& a);

// Keras MaxNorm(axis=0) on every trainable segment that has one.
void apply_max_norm(const std::vector<Segment>& segs, float* w);

}  // namespace bc

// Per-sample group normalizations (Keras GroupNormalization, and the layer mode of the same op),
// channels last. A sample is (P, C) with C = G * Cg:
//   layer: each position p normalized over its C values;
//   group: each group g normalized over its P * Cg values (G = C: instance normalization);
// y = (x - mean) * inv * gamma[c] + beta[c], inv = 1 / sqrt(var + eps), the variance biased.
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

class GroupNormOp : public Op {
 public:
  // gamma, beta: arena offsets or -1; groups = 0: layer mode.
  GroupNormOp(int in_t, int out_t, int C, int groups, long gamma, long beta, float epsilon);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  // The values of instance `i` of sample b: (P x Cg) in group mode, (1 x C) in layer mode.
  void shape(size_t ps, int* P, int* n_inst, int* width) const;
  int C_, G_;
  long gamma_, beta_;
  float eps_;
  std::vector<float> mean_, inv_;  // per instance of the batch
};

// y = x / max(||x||, 1e-12) over each row of `width` values (Keras: x * min(rsqrt(sum x^2), 1e12)).
class UnitNormOp : public Op {
 public:
  UnitNormOp(int in_t, int out_t, int width);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int width_;
  std::vector<float> inv_;
};

}  // namespace bc

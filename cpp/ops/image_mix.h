// Keras's MixUp on images (B, ...): in training y_b = l_b x_b + (1 - l_b) x_p(b), p a permutation
// of the batch and l_b ~ Beta(alpha, alpha), drawn from the counter-based RNG keyed by (seed,
// layer stream, step) (the permutation within this batch; a data-parallel rank's slice mixes
// within itself); the identity at inference. Backward: dx_j = l_j g_j + (1 - l_i) g_i, p(i) = j.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/op.h"

namespace bc {

// Gamma(shape, 1) from the counter-based stream `key` (Marsaglia and Tsang; shape < 1 boosted).
double rng_gamma(uint64_t key, double shape);

class MixUpOp : public Op {
 public:
  MixUpOp(int in_t, int out_t, long n, float alpha, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  long n_;  // floats per sample
  float alpha_;
  uint64_t stream_;
  std::vector<int> perm_;    // empty: the identity (inference)
  std::vector<float> lam_;
};

// The draws of one batch (tests): the permutation and the weights forward uses.
void mixup_draws(uint64_t key, uint64_t row0, int B, float alpha, std::vector<int>& perm, std::vector<float>& lam);

}  // namespace bc

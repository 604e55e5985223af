// Regularizing noise (Keras GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout1D/2D): the
// identity at inference; in training, draws from the counter-based RNG keyed by (seed, layer
// stream, step) at each value's global index (a data-parallel rank draws what one process would).
// Every kind is out = in * f + g with f, g drawn per value (per sample and channel for the spatial
// dropouts); backward: din = dout * f.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/op.h"

namespace bc {

enum NoiseKind : int { NOISE_GAUSSIAN = 0, NOISE_GAUSSIAN_DROPOUT = 1, NOISE_ALPHA_DROPOUT = 2, NOISE_SPATIAL_DROPOUT = 3 };

class NoiseOp : public Op {
 public:
  // amount: stddev (GaussianNoise) or rate; channels: C of a spatial dropout (one draw per sample
  // and channel, shared by the positions).
  NoiseOp(int in_t, int out_t, int kind, float amount, int channels, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int kind_;
  float amount_;
  int channels_;
  uint64_t stream_;
  bool drew_ = false;       // the last forward drew (training); else the identity
  std::vector<float> f_;    // per value, or per (sample, channel) for the spatial dropouts
};

}  // namespace bc

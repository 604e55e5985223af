// BatchNormalization (Keras) over the last axis: in (rows, C) -> out (rows, C), rows = B x positions.
// Training: the batch's mean and biased variance (over the rows the mask keeps), and the moving
// statistics (non-trainable arena segments) move: m = m * momentum + stat * (1 - momentum).
// Inference, or frozen (Keras: trainable=False): the moving statistics. Under TimeDistributed
// (Ctx::time_groups > 1) the batch statistics are each timestep's, the moving statistics moving
// once per timestep in order, as Keras 3's per-timestep calls do.
// y = (x - mean) * (gamma / sqrt(var + eps)) + beta, then max(y, 0) when relu (a ReLU that alone
// reads the normalized values, fused at lowering: one pass less forward, two less backward).
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

struct BatchNormArgs {
  int C = 1;
  long gamma = -1, beta = -1;       // arena offsets, -1: scale / center off
  size_t moving_mean = 0, moving_var = 0;
  float momentum = 0.99f, epsilon = 1e-3f;
  bool frozen = false;              // always the moving statistics, and they never move
  bool relu = false;                // out is relu(y): Keras's ReLU() after the normalization
};

class BatchNormOp : public Op {
 public:
  // mask_t: a (B, positions) mask or -1.
  BatchNormOp(int in_t, int out_t, int mask_t, const BatchNormArgs& a);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  bool set_frozen(bool frozen) override {
    a_.frozen = frozen;
    return true;
  }
  // Row-local in inference: the moving statistics, per channel.
  double row_cost(const Ctx& c) const override { return static_cast<double>(c.per_sample(in[0])); }
  void forward_rows(Ctx& c, int s0, int s1) override;

 private:
  void batch_stats(Ctx& c, long rows, const float* x, const float* w);
  void moving_stats(const Ctx& c, float* mean, float* inv) const;  // per channel, from the arena
  void scale_shift(const Ctx& c, const float* inv, float* scale, float* shift) const;  // inv * gamma, beta
  // y = (x - m) s + t (then relu, a_.relu) on rows [r0, r1) of C channels
  void apply(const float* x, float* y, long r0, long r1, const float* m, const float* s, const float* t) const;
  void forward_steps(Ctx& c, int G);   // batch statistics per timestep (time_groups G > 1)
  void backward_steps(Ctx& c, int G);
  std::vector<float> step_mean_, step_inv_;  // per timestep and channel: what forward_steps used
  BatchNormArgs a_;
  bool masked_;
  bool used_batch_ = false;                // the last forward normalized with batch statistics
  int used_groups_ = 1;                    // ... per timestep of that many (forward_steps)
  std::vector<float> mean_, inv_, count_;  // per channel: what forward used; count: the divisor
  std::vector<double> acc_;                // per-item partial sums
  std::vector<float> part_;
};

}  // namespace bc

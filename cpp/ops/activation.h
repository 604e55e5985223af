// Activation layer: out = act(in), elementwise (softmax: over the last axis of `width`).
#pragma once
#include "runtime/op.h"

namespace bc {

class ActivationOp : public Op {
 public:
  ActivationOp(int in_t, int out_t, int act, int width);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }
  double row_cost(const Ctx& c) const override { return static_cast<double>(c.per_sample(in[0])); }
  void forward_rows(Ctx& c, int s0, int s1) override;

 private:
  int act_, width_;
};

// Activity regularization (Keras): out = in, and the loss gains (l1 * sum|in| + l2 * sum in^2) / B,
// whose gradient reaches din.
class ActivityRegOp : public Op {
 public:
  ActivityRegOp(int in_t, int out_t, float l1, float l2);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  bool adds_to_loss() const override { return true; }

 private:
  float l1_, l2_;
};

// Adds or copies n floats: dst (+)= src. Shared by ops whose gradient is a pass-through.
void add_or_copy(float* dst, const float* src, size_t n, bool accumulate);

}  // namespace bc

// Dense: out = act(in @ W + b) over the last axis; in (rows, K), W (K, N), b (N) -> out (rows, N)
#pragma once
#include <vector>

#include "ops/act_input.h"
#include "runtime/op.h"

namespace bc {

class DenseOp : public Op {
 public:
  // w, b: arena offsets (b < 0: no bias); K, N: in/out features; act: an Act id.
  DenseOp(int in_t, int out_t, size_t w, long b, int K, int N, int act);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override { return act_; }
  bool reads_in_place(int slot) const override { return slot == 0; }
  double row_cost(const Ctx& c) const override;
  double row_weight_bytes() const override { return 4.0 * K_ * N_; }
  void forward_rows(Ctx& c, int s0, int s1) override;

 private:
  long b_;
  int K_, N_, act_;
  ActInput act_in_;  // the pre-activation, kept for the activations whose gradient needs it
};

}  // namespace bc

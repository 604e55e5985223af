// TimeDistributed: the wrapped layer's ops run once over the folded time axis, (B, T, ...) seen as
// (B*T, ...): no copies, the wrapper lends the outer tensors' buffers to its own tensor table
// (whose shapes are one timestep's) for the length of each call, and runs the ops with a batch of
// B*T. The table is that of the program the wrapped layer was lowered into (its views and weight
// tensors kept; the weights live in the outer program's arena). Inner ops see masks of none; their
// gradient flags are planned here, from the wrapper's (the program plans the wrapper as one op).
#pragma once
#include <memory>
#include <vector>

#include "ops/inner_program.h"
#include "runtime/op.h"

namespace bc {

class FoldOp : public Op {
 public:
  // ops: built over `table` (per timestep, every axis a constant), whose tensor in_local / out_local
  // stand for the outer in_t / out_t; T: timesteps, or 0 for a run-time length (read from in_t
  // each call).
  FoldOp(std::vector<std::unique_ptr<Op>> ops, std::vector<Tensor> table, int in_local, int out_local, int in_t,
         int out_t, int T);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int fusable_act() const override;
  bool adds_to_loss() const override;
  // Inner op j (a BatchNormalization whose layer's trainable changed: Program::set_op_frozen).
  Op* inner_op(size_t j) override { return prog_.op(j); }

 private:
  Ctx inner(Ctx& c, bool training);
  int steps(const Ctx& c) const;  // this call's timesteps
  void lend(Ctx& c);  // swaps the outer buffers in (and, called again, back out)
  void plan();

  InnerProgram prog_;
  std::vector<int> zero_before_backward_;
  int in_local_, out_local_, T_;
};

}  // namespace bc

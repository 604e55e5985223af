// Ops that traced custom layers need beside the primitives (layers/tracing.py, models/lowering.py):
//
//   LossTermOp          x (any shape)       a term of the training loss: extra_loss += sum(x), dx = 1
//                                           (Keras sums what add_loss() adds; the plan treats the op as
//                                           a loss, so the gradient reaches x without any output)
//   SelectTrainingOp    a, b -> out         out = a in training, b in inference (the two traces of a
//                                           call() that branches on `training`; da = g, db = 0)
//   AssignWeightOp      v -> out            a weight's arena segment = v, += v or -= v (Keras's
//                                           variable.assign / assign_add / assign_sub in call()), out
//                                           = the new value; no gradient reaches v (an assignment is
//                                           not differentiable in Keras either)
//   WeightRowsOp        -> out              out (batch, n / batch) = a weight's arena segment (a
//                                           stateful RNN's states; the batch must be the weight's rows)
#pragma once
#include <cstddef>

#include "runtime/op.h"

namespace bc {

class LossTermOp : public Op {
 public:
  explicit LossTermOp(int x);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  bool is_loss_term() const override { return true; }
};

class SelectTrainingOp : public Op {
 public:
  SelectTrainingOp(int a, int b, int out);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
};

class AssignWeightOp : public Op {
 public:
  enum Mode { kAssign = 0, kAdd = 1, kSub = 2 };
  AssignWeightOp(int v, int out, size_t offset, size_t n, int mode);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  size_t offset_, n_;
  int mode_;
};

class WeightRowsOp : public Op {
 public:
  WeightRowsOp(int out, size_t offset, size_t n);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override {}

 private:
  size_t offset_, n_;
};

}  // namespace bc

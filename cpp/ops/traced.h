// Ops that traced custom layers need beside the primitives (layers/tracing.py, models/lowering.py):
//
//   LossTermOp          x (any shape)       a term of the training loss: extra_loss += sum(x), dx = 1
//                                           (Keras sums what add_loss() adds; the plan treats the op as
//                                           a loss, so the gradient reaches x without any output)
//   SelectTrainingOp    a, b -> out         out = a in training, b in inference (the two traces of a
//                                           call() that branches on `training`; da = g, db = 0)
#pragma once
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

}  // namespace bc

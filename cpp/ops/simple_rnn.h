// SimpleRNN (Keras layout: kernel (D, U), recurrent_kernel (U, U), bias (U)):
// h_t = act(x_t W + b + h_{t-1} R); see recurrent.h for shapes, masks, states and dropout.
#pragma once
#include "ops/recurrent.h"

namespace bc {

class SimpleRnnOp : public RecurrentOp {
 public:
  SimpleRnnOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
              const std::vector<int>& out_t, size_t w, size_t r, long b);

 protected:
  void chunk_forward(Ctx& c, int b0, int b1) override;
  void chunk_backward(Ctx& c, int b0, int b1) override;
  float* rec_grad() override { return dZ_.data(); }
};

}  // namespace bc

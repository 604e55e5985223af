// Dropout (inverted): training: out = in * keep / (1 - rate); inference: out = in.
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

// The float kernel's dropout forward and backward over n values, cut into fixed chunks run on the
// team (the draws are counter-based, so the bits do not depend on the cut or the thread count).
void dropout_apply(float* y, unsigned char* keep, const float* x, size_t n, float rate, uint64_t key,
                   uint64_t first);
void dropout_grad(float* dx, const unsigned char* keep, const float* dy, size_t n, float rate, bool accumulate);

class DropoutOp : public Op {
 public:
  // stream: a per-layer id so that two Dropout layers draw different masks.
  DropoutOp(int in_t, int out_t, float rate, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  double row_cost(const Ctx&) const override { return 0.0; }  // inference: a copy
  void forward_rows(Ctx& c, int s0, int s1) override;

 private:
  float rate_;
  uint64_t stream_;
  std::vector<unsigned char> keep_;
};

}  // namespace bc

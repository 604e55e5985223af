// Dropout (inverted): training: out = in * keep / (1 - rate); inference: out = in.
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

class DropoutOp : public Op {
 public:
  // stream: a per-layer id so that two Dropout layers draw different masks.
  DropoutOp(int in_t, int out_t, float rate, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  float rate_;
  uint64_t stream_;
  std::vector<unsigned char> keep_;
};

}  // namespace bc

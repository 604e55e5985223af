// Global pooling over the steps of a sequence: x (B, T, C) -> out (B, C), the mean (of the steps
// the optional mask (B, T) keeps, as Keras: a sample with no step kept gives 0 / 0) or the max.
// channels_first: x (B, C, T).
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

class GlobalPool1DOp : public Op {
 public:
  GlobalPool1DOp(int x, int mask, int out, int C, bool max, bool channels_first);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int C_;
  bool max_, channels_first_, masked_;
  std::vector<int> arg_;  // max: the step of each (sample, channel) maximum
  std::vector<float> avg_row_;  // average backward: each sample's dy / count
  size_t at(int b, int t, int ch, int T) const;
};

}  // namespace bc

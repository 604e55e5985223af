// Merge layers over the last axis: Concatenate (widths W_k -> sum W_k) and Add (same shapes).
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

// ins (rows, W_k) -> out (rows, sum W_k), rows = B * (per_sample / W_k)
class ConcatOp : public Op {
 public:
  ConcatOp(const std::vector<int>& ins, int out_t, const std::vector<int>& widths);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::vector<int> widths_;
  int total_ = 0;
};

// ins (n) each -> out (n) = sum; mode 0: sum, 1: average, 2: multiply
class AddOp : public Op {
 public:
  AddOp(const std::vector<int>& ins, int out_t, int mode);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int mode_;
};

}  // namespace bc

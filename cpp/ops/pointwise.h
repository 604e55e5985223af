// The activation layers that take numbers (Keras ReLU, LeakyReLU, ELU, PReLU) and Softmax over
// any axis, elementwise over in (B, per_sample) -> out (B, per_sample).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/op.h"

namespace bc {

// Keras's relu(x, negative_slope, max_value, threshold):
//   pos = x > threshold ? x : 0 (threshold 0: max(x, 0)), clipped to [0, max_value];
//   y = pos - negative_slope * max(threshold - x, 0).
// LeakyReLU is (slope, no max, threshold 0). max_value < 0: none.
class ReluOp : public Op {
 public:
  ReluOp(int in_t, int out_t, float negative_slope, float max_value, float threshold);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  double row_cost(const Ctx& c) const override { return static_cast<double>(c.per_sample(in[0])); }
  void forward_rows(Ctx& c, int s0, int s1) override;

 private:
  void forward_span(Ctx& c, size_t a, size_t m) const;  // values [a, a + m) of the batch
  float slope_, max_, threshold_;
};

// y = x > 0 ? x : alpha * (exp(x) - 1)
class EluOp : public Op {
 public:
  EluOp(int in_t, int out_t, float alpha);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  float alpha_;
};

// y = x >= 0 ? x : alpha[index[i]] * x, alpha an arena segment broadcast over the shared axes:
// index (per_sample) maps each value of a sample to its alpha.
class PReluOp : public Op {
 public:
  PReluOp(int in_t, int out_t, size_t alpha, std::vector<int32_t> index, int n_alpha);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::vector<int32_t> index_;
  int n_alpha_;
};

// Softmax over the middle axis of (outer, n, inner) per sample. mask (B, per_sample, same shape
// as the input) or -1: masked values count as -1e9 and come out 0 (Keras).
class SoftmaxOp : public Op {
 public:
  SoftmaxOp(int in_t, int out_t, int mask_t, int outer, int n, int inner);  // outer or n 0: per call
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::pair<long, int> sizes(const Ctx& c) const;
  int outer_, n_, inner_;
  bool masked_;
};

}  // namespace bc

#include "ops/traced.h"

#include <cstring>
#include <string>

namespace bc {

LossTermOp::LossTermOp(int x) { in = {x}; }

// x (rows, per_sample): summed in one fixed order, so the loss does not depend on the threads.
void LossTermOp::forward(Ctx& c) {
  const size_t n = c.numel(in[0]);
  const float* x = c.val(in[0]);
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  c.extra_loss += s;
}

void LossTermOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t n = c.numel(in[0]);
  float* dx = c.grad(in[0]);
  if (accum_dx[0])
    for (size_t i = 0; i < n; ++i) dx[i] += 1.0f;
  else
    for (size_t i = 0; i < n; ++i) dx[i] = 1.0f;
}

SelectTrainingOp::SelectTrainingOp(int a, int b, int o) {
  in = {a, b};
  out = {o};
}

void SelectTrainingOp::forward(Ctx& c) {
  const int src = c.training ? in[0] : in[1];
  BC_CHECK(c.numel(src) == c.numel(out[0]), "select_training: the branch and the output differ in size");
  std::memcpy(c.val(out[0]), c.val(src), c.numel(out[0]) * sizeof(float));
}

// Backward runs in training only: the training branch gets the gradient, the other none.
void SelectTrainingOp::backward(Ctx& c) {
  const size_t n = c.numel(out[0]);
  const float* g = c.grad(out[0]);
  if (need_dx[0]) {
    float* da = c.grad(in[0]);
    if (accum_dx[0])
      for (size_t i = 0; i < n; ++i) da[i] += g[i];
    else
      std::memcpy(da, g, n * sizeof(float));
  }
  if (need_dx[1] && !accum_dx[1]) std::memset(c.grad(in[1]), 0, c.numel(in[1]) * sizeof(float));
}

AssignWeightOp::AssignWeightOp(int v, int o, size_t offset, size_t n, int mode) : offset_(offset), n_(n), mode_(mode) {
  BC_CHECK(mode >= kAssign && mode <= kSub, "assign_weight: mode must be 0 (assign), 1 (add) or 2 (sub)");
  in = {v};
  out = {o};
  params = {offset};
}

// Runs once per forward over the whole batch (the ops run in order on one context), so a call()
// that sums over the batch updates the weight once per batch, as Keras's call does.
void AssignWeightOp::forward(Ctx& c) {
  BC_CHECK(c.numel(in[0]) == n_, "assign_weight: the value has " + std::to_string(c.numel(in[0])) +
                                     " elements, the weight " + std::to_string(n_));
  BC_CHECK(c.numel(out[0]) == n_, "assign_weight: the output differs in size from the weight");
  float* w = c.params + offset_;
  const float* v = c.val(in[0]);
  if (mode_ == kAssign)
    std::memmove(w, v, n_ * sizeof(float));
  else if (mode_ == kAdd)
    for (size_t i = 0; i < n_; ++i) w[i] += v[i];
  else
    for (size_t i = 0; i < n_; ++i) w[i] -= v[i];
  std::memcpy(c.val(out[0]), w, n_ * sizeof(float));
}

void AssignWeightOp::backward(Ctx& c) {
  if (need_dx[0] && !accum_dx[0]) std::memset(c.grad(in[0]), 0, c.numel(in[0]) * sizeof(float));
}

WeightRowsOp::WeightRowsOp(int o, size_t offset, size_t n) : offset_(offset), n_(n) {
  out = {o};
  params = {offset};
}

void WeightRowsOp::forward(Ctx& c) {
  BC_CHECK(c.numel(out[0]) == n_, "a stateful RNN's states hold " + std::to_string(n_ / c.per_sample(out[0])) +
                                      " rows (the batch size it was built for), but the batch has " +
                                      std::to_string(c.B) + " (a stateful layer needs batches of that size)");
  std::memcpy(c.val(out[0]), c.params + offset_, n_ * sizeof(float));
}

}  // namespace bc

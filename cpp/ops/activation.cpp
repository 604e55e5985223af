#include "ops/activation.h"

#include <cstring>
#include <string>

#include "kernels/float/float.h"

namespace bc {

void add_or_copy(float* dst, const float* src, size_t n, bool accumulate) {
  if (accumulate)
    for (size_t i = 0; i < n; ++i) dst[i] += src[i];
  else
    std::memcpy(dst, src, n * sizeof(float));
}

ActivationOp::ActivationOp(int in_t, int out_t, int act, int width) : act_(act), width_(width) {
  BC_CHECK(act_valid(act), "Activation: unknown activation id " + std::to_string(act));
  in = {in_t};
  out = {out_t};
}

// in (rows, width) -> out (rows, width)
void ActivationOp::forward(Ctx& c) { forward_rows(c, 0, c.B); }

void ActivationOp::forward_rows(Ctx& c, int s0, int s1) {
  const size_t ps = c.per_sample(in[0]), n = (s1 - s0) * ps;
  float* y = c.val(out[0]) + s0 * ps;
  std::memcpy(y, c.val(in[0]) + s0 * ps, n * sizeof(float));
  kernels().bias_act_forward(y, nullptr, static_cast<int>(n / width_), width_, act_);
}

void ActivationOp::backward(Ctx& c) {
  size_t n = c.B * c.per_sample(in[0]);
  float* d = c.grad(out[0]);
  if (loss_gives_dz) {
  } else if (act_needs_input(act_)) {
    kernels().act_backward_z(d, c.val(in[0]), static_cast<int>(n / width_), width_, act_);
  } else {
    kernels().act_backward(d, c.val(out[0]), static_cast<int>(n / width_), width_, act_);
  }
  if (need_dx[0]) add_or_copy(c.grad(in[0]), d, n, accum_dx[0]);
}

ActivityRegOp::ActivityRegOp(int in_t, int out_t, float l1, float l2) : l1_(l1), l2_(l2) {
  BC_CHECK(l1 >= 0.0f && l2 >= 0.0f, "activity regularization factors must be >= 0");
  in = {in_t};
  out = {out_t};
}

void ActivityRegOp::forward(Ctx& c) {
  const size_t n = c.B * c.per_sample(in[0]);
  const float* x = c.val(in[0]);
  std::memcpy(c.val(out[0]), x, n * sizeof(float));
  double a = 0.0, q = 0.0;
  kernels().abs_sq_sum(x, n, &a, &q);
  c.extra_loss += (l1_ * a + l2_ * q) / c.B;
}

void ActivityRegOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t n = c.B * c.per_sample(in[0]);
  const float* x = c.val(in[0]);
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const float l1 = l1_ / c.B, l2x2 = 2.0f * l2_ / c.B;
  for (size_t i = 0; i < n; ++i) {
    float g = d[i] + l2x2 * x[i] + l1 * (x[i] > 0.0f ? 1.0f : (x[i] < 0.0f ? -1.0f : 0.0f));
    dx[i] = accum_dx[0] ? dx[i] + g : g;
  }
}

}  // namespace bc

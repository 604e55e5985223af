#include "activation.h"

#include <cstring>

#include "cpu.h"

namespace bc {

void add_or_copy(float* dst, const float* src, size_t n, bool accumulate) {
  if (accumulate)
    for (size_t i = 0; i < n; ++i) dst[i] += src[i];
  else
    std::memcpy(dst, src, n * sizeof(float));
}

ActivationOp::ActivationOp(int in_t, int out_t, int act, int width) : act_(act), width_(width) {
  in = {in_t};
  out = {out_t};
}

// in (rows, width) -> out (rows, width)
void ActivationOp::forward(Ctx& c) {
  size_t n = c.B * c.per_sample(in[0]);
  std::memcpy(c.val(out[0]), c.val(in[0]), n * sizeof(float));
  kernels().bias_act_forward(c.val(out[0]), nullptr, static_cast<int>(n / width_), width_, act_);
}

void ActivationOp::backward(Ctx& c) {
  size_t n = c.B * c.per_sample(in[0]);
  float* d = c.grad(out[0]);
  if (!loss_gives_dz)
    kernels().act_backward(d, c.val(out[0]), static_cast<int>(n / width_), width_, act_);
  if (need_dx[0]) add_or_copy(c.grad(in[0]), d, n, accum_dx[0]);
}

}  // namespace bc

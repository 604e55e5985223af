#include "ops/dropout.h"

#include <cstring>

#include "core/rng.h"
#include "kernels/float/float.h"
#include "ops/activation.h"

namespace bc {

DropoutOp::DropoutOp(int in_t, int out_t, float rate, uint64_t stream)
    : rate_(rate), stream_(stream) {
  BC_CHECK(rate >= 0.0f && rate < 1.0f, "Dropout rate must be in [0, 1)");
  in = {in_t};
  out = {out_t};
}

void DropoutOp::forward(Ctx& c) {
  size_t n = c.B * c.per_sample(in[0]);
  if (!c.training) {
    std::memcpy(c.val(out[0]), c.val(in[0]), n * sizeof(float));
    return;
  }
  keep_.resize(n);
  kernels().dropout_forward(c.val(out[0]), keep_.data(), c.val(in[0]), n, rate_,
                            rng_key(c.seed, stream_, c.step), c.row0 * c.per_sample(in[0]));
}

void DropoutOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  size_t n = c.B * c.per_sample(in[0]);
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const float denom = 1.0f - rate_;
  if (accum_dx[0]) {
    for (size_t i = 0; i < n; ++i) dx[i] += keep_[i] ? d[i] / denom : 0.0f;
  } else {
    for (size_t i = 0; i < n; ++i) dx[i] = keep_[i] ? d[i] / denom : 0.0f;
  }
}

}  // namespace bc

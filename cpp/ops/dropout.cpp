#include "ops/dropout.h"

#include <cstring>

#include "core/rng.h"
#include "kernels/float/float.h"
#include "ops/activation.h"
#include "ops/parallel.h"

namespace bc {

namespace {
constexpr size_t kChunk = 1 << 15;  // values per work item: below two of them one thread does all
}  // namespace

void dropout_apply(float* y, unsigned char* keep, const float* x, size_t n, float rate, uint64_t key,
                   uint64_t first) {
  parallel_spans(n, kChunk, [&](size_t a, size_t m) {
    kernels().dropout_forward(y + a, keep + a, x + a, m, rate, key, first + a);
  });
}

void dropout_grad(float* dx, const unsigned char* keep, const float* dy, size_t n, float rate, bool accumulate) {
  parallel_spans(n, kChunk, [&](size_t a, size_t m) {
    kernels().dropout_backward(dx + a, keep + a, dy + a, m, rate, accumulate);
  });
}

DropoutOp::DropoutOp(int in_t, int out_t, float rate, uint64_t stream)
    : rate_(rate), stream_(stream) {
  BC_CHECK(rate >= 0.0f && rate < 1.0f, "Dropout rate must be in [0, 1)");
  in = {in_t};
  out = {out_t};
}

void DropoutOp::forward(Ctx& c) {
  if (!c.training) return forward_rows(c, 0, c.B);
  const size_t n = c.B * c.per_sample(in[0]);
  keep_.resize(n);
  dropout_apply(c.val(out[0]), keep_.data(), c.val(in[0]), n, rate_, rng_key(c.seed, stream_, c.step),
                c.row0 * c.per_sample(in[0]));
}

void DropoutOp::forward_rows(Ctx& c, int s0, int s1) {
  const size_t ps = c.per_sample(in[0]);
  std::memcpy(c.val(out[0]) + s0 * ps, c.val(in[0]) + s0 * ps, (s1 - s0) * ps * sizeof(float));
}

void DropoutOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  size_t n = c.B * c.per_sample(in[0]);
  dropout_grad(c.grad(in[0]), keep_.data(), c.grad(out[0]), n, rate_, accum_dx[0]);
}

}  // namespace bc

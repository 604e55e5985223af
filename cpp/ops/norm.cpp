#include "ops/norm.h"

#include <string>

#include "kernels/norm/norm.h"

namespace bc {

NormOp::NormOp(int x, int res, int y, long gamma, long beta, int C, float eps, bool rms)
    : gamma_(gamma), beta_(beta), C_(C), eps_(eps), rms_(rms) {
  BC_CHECK(C > 0, "normalization needs a positive width");
  BC_CHECK(eps >= 0.0f, "normalization epsilon must be >= 0");
  BC_CHECK(!(rms && beta >= 0), "RMS normalization has no beta");
  in = {x};
  if (res >= 0) in.push_back(res);
  out = {y};
  if (gamma >= 0) params.push_back(static_cast<size_t>(gamma));
  if (beta >= 0) params.push_back(static_cast<size_t>(beta));
}

int NormOp::rows(const Ctx& c) const {
  BC_CHECK(c.per_sample(in[0]) % C_ == 0, "normalization: the input width " + std::to_string(c.per_sample(in[0])) +
                                              " is not a multiple of " + std::to_string(C_));
  for (int t : in) BC_CHECK(c.per_sample(t) == c.per_sample(in[0]), "residual and input differ in size");
  return c.B * static_cast<int>(c.per_sample(in[0]) / C_);
}

void NormOp::forward(Ctx& c) {
  const int n = rows(c);
  mean_.resize(n);
  rstd_.resize(n);
  norm_forward(c.val(out[0]), mean_.data(), rstd_.data(), c.val(in[0]), in.size() > 1 ? c.val(in[1]) : nullptr,
               gamma_ >= 0 ? c.params + gamma_ : nullptr, beta_ >= 0 ? c.params + beta_ : nullptr, n, C_, eps_,
               rms_);
}

void NormOp::backward(Ctx& c) {
  const int n = rows(c);
  const bool two = in.size() > 1;
  const int gi = 0, bi = gamma_ >= 0 ? 1 : 0;
  // Both weight gradients share one accumulate flag in the kernel: the program assigns each
  // segment's first writer, and gamma and beta are always written together.
  const bool acc_w = (gamma_ >= 0 && accum_dw[gi]) || (beta_ >= 0 && accum_dw[bi]);
  BC_CHECK(!(gamma_ >= 0 && beta_ >= 0) || accum_dw[gi] == accum_dw[bi], "normalization: gamma and beta disagree");
  norm_backward(need_dx[0] ? c.grad(in[0]) : nullptr, accum_dx[0], two && need_dx[1] ? c.grad(in[1]) : nullptr,
                two && accum_dx[1], gamma_ >= 0 ? c.grads + gamma_ : nullptr, beta_ >= 0 ? c.grads + beta_ : nullptr,
                acc_w, c.grad(out[0]), c.val(in[0]), two ? c.val(in[1]) : nullptr, mean_.data(), rstd_.data(),
                gamma_ >= 0 ? c.params + gamma_ : nullptr, n, C_, rms_);
}

}  // namespace bc

#include "ops/tensor_kernel.h"

#include <algorithm>
#include <string>

namespace bc {

TensorKernelOp::TensorKernelOp(std::unique_ptr<Op> inner, int kernel_t, size_t n) : inner_(std::move(inner)), n_(n) {
  BC_CHECK(inner_ && inner_->in.size() == 1 && inner_->params.size() == 1 && inner_->params[0] == 0,
           "TensorKernelOp: the inner op must read one input and its kernel at offset 0");
  in = {inner_->in[0], kernel_t};
  out = inner_->out;
  w_.resize(n);
  dw_.resize(n);
}

Ctx TensorKernelOp::inner_ctx(const Ctx& c) {
  Ctx ic = c;
  ic.params = w_.data();
  ic.grads = dw_.data();
  return ic;
}

void TensorKernelOp::forward(Ctx& c) {
  const float* k = c.val(in[1]);
  std::copy(k, k + n_, w_.data());
  Ctx ic = inner_ctx(c);
  inner_->forward(ic);
}

void TensorKernelOp::backward(Ctx& c) {
  inner_->need_dx = {need_dx[0]};
  inner_->accum_dx = {accum_dx[0]};
  inner_->accum_dw = {0};
  inner_->loss_gives_dz = false;
  Ctx ic = inner_ctx(c);
  inner_->backward(ic);
  if (!need_dx[1]) return;
  float* dk = c.grad(in[1]);
  if (accum_dx[1]) {
    const float* d = dw_.data();
    for (size_t i = 0; i < n_; ++i) dk[i] += d[i];
  } else {
    std::copy(dw_.data(), dw_.data() + n_, dk);
  }
}

}  // namespace bc

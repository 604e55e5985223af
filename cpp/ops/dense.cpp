#include "ops/dense.h"

#include <cstring>
#include <string>

#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "ops/parallel.h"

namespace bc {

DenseOp::DenseOp(int in_t, int out_t, size_t w, long b, int K, int N, int act)
    : b_(b), K_(K), N_(N), act_(act) {
  BC_CHECK(act_valid(act), "Dense: unknown activation id " + std::to_string(act));
  in = {in_t};
  out = {out_t};
  params = {w};
  if (b >= 0) params.push_back(static_cast<size_t>(b));
}

// in (rows, K), W (K, N), b (N) -> out (rows, N); rows = B * (timesteps, for 3-D input)
void DenseOp::forward(Ctx& c) {
  const int rows = c.B * static_cast<int>(c.per_sample(in[0]) / K_);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const float* W = c.params + params[0];
  const float* bias = b_ >= 0 ? c.params + b_ : nullptr;
  const size_t N = static_cast<size_t>(N_);
  act_in_.prepare(act_, c.training, static_cast<size_t>(rows) * N);
  auto act = [&](int r0, int r1) { act_in_.forward(y + r0 * N, bias, r1 - r0, N_, act_, r0 * N); };
  if (!gemm_then(rows, N_, K_, x, K_, W, N_, y, N_, act)) parallel_rows(rows, N_, act);
}

// Row-local on the own kernel only: its bits do not depend on how the rows are cut (the BLAS's do).
double DenseOp::row_cost(const Ctx& c) const {
  return gemm_is_own() ? static_cast<double>(c.per_sample(in[0])) * N_ : -1.0;
}

// fma_gemm and the epilogue on these samples' rows: the bits of forward's own-kernel tiles, which
// cut the same product by rows (gemm_then) and run the same epilogue on each block.
void DenseOp::forward_rows(Ctx& c, int s0, int s1) {
  const size_t per = c.per_sample(in[0]) / K_;  // rows per sample (a 3-D input's timesteps)
  const size_t r0 = s0 * per;
  const int rows = static_cast<int>((s1 - s0) * per);
  float* y = c.val(out[0]) + r0 * N_;
  const Kernels& k = kernels();
  k.fma_gemm(y, N_, c.val(in[0]) + r0 * K_, K_, false, c.params + params[0], N_, rows, N_, K_, false);
  k.bias_act_forward(y, b_ >= 0 ? c.params + b_ : nullptr, rows, N_, act_);
}

// dout (rows, N) -> dW (K, N), db (N), din (rows, K); dout becomes dz in place.
void DenseOp::backward(Ctx& c) {
  const int rows = c.B * static_cast<int>(c.per_sample(in[0]) / K_);
  const float* x = c.val(in[0]);
  float* dz = c.grad(out[0]);
  if (!loss_gives_dz && act_ != ACT_LINEAR) {
    const float* y = c.val(out[0]);
    parallel_rows(rows, N_, [&](int r0, int r1) {
      const size_t at = static_cast<size_t>(r0) * N_;
      act_in_.backward(dz + at, y + at, r1 - r0, N_, act_, at);
    });
  }
  gemm(true, false, K_, N_, rows, 1.0f, x, K_, dz, N_, accum_dw[0] ? 1.0f : 0.0f,
       c.grads + params[0], N_);
  if (b_ >= 0) col_sum_team(c.grads + b_, dz, rows, N_, accum_dw[1]);
  if (need_dx[0])
    gemm(false, true, rows, K_, N_, 1.0f, dz, N_, c.params + params[0], N_,
         accum_dx[0] ? 1.0f : 0.0f, c.grad(in[0]), K_);
}

}  // namespace bc

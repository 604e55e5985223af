#include "ops/sparse_dense.h"

#include <stdexcept>

namespace bc {

namespace {
void refuse_training() {
  throw std::invalid_argument("a sparse Dense layer is for inference: train the dense model, then sparsify it");
}
}  // namespace

SparseDenseOp::SparseDenseOp(int in_t, int out_t, const float* W, long b, int K, int N, int act)
    : s_(std::make_unique<SparseLinear>(W, K, N)), b_(b), K_(K), act_(act) {
  BC_CHECK(act >= ACT_LINEAR && act <= ACT_LAST, "SparseDense: unknown activation id " + std::to_string(act));
  in = {in_t};
  out = {out_t};
  if (b >= 0) params = {static_cast<size_t>(b)};
}

// in (rows, K) -> out (rows, N), rows = B * (timesteps, for 3-D input)
void SparseDenseOp::forward(Ctx& c) {
  const int rows = c.B * static_cast<int>(c.per_sample(in[0]) / K_);
  s_->forward(c.val(out[0]), c.val(in[0]), b_ >= 0 ? c.params + b_ : nullptr, rows, act_);
}

void SparseDenseOp::backward(Ctx&) { refuse_training(); }

QSparseDenseOp::QSparseDenseOp(int in_t, int out_t, const int8_t* wq, const float* scale, long b, int K, int N,
                               int act, float x_scale)
    : s_(std::make_unique<QSparseLinear>(wq, scale, K, N)), b_(b), K_(K), act_(act), x_scale_(x_scale) {
  BC_CHECK(act >= ACT_LINEAR && act <= ACT_LAST, "QSparseDense: unknown activation id " + std::to_string(act));
  BC_CHECK(x_scale == 0.0f || (x_scale >= 1.17549435e-38f && x_scale <= 3.40282347e38f),
           "QSparseDense: x_scale must be 0 (dynamic) or a finite float >= FLT_MIN, got " + std::to_string(x_scale));
  in = {in_t};
  out = {out_t};
  if (b >= 0) params = {static_cast<size_t>(b)};
}

void QSparseDenseOp::forward(Ctx& c) {
  const int rows = c.B * static_cast<int>(c.per_sample(in[0]) / K_);
  s_->forward(c.val(out[0]), c.val(in[0]), b_ >= 0 ? c.params + b_ : nullptr, rows, act_, x_scale_);
}

void QSparseDenseOp::backward(Ctx&) { refuse_training(); }

}  // namespace bc

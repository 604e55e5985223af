#include "ops/qrecurrent.h"

#include <cstring>
#include <stdexcept>

namespace bc {

template <class Float>
QRecurrentOp<Float>::QRecurrentOp(const RnnConfig& cfg, int x_t, int mask_t,
                                  const std::vector<int>& state_t, const std::vector<int>& out_t,
                                  const int8_t* wq, const float* w_scale, const int8_t* rq,
                                  const float* r_scale, long b, float x_scale)
    : Float(cfg, x_t, mask_t, state_t, out_t, 0, 0, b), x_scale_(x_scale) {
  BC_CHECK(x_scale == 0.0f || (x_scale >= 1.17549435e-38f && x_scale <= 3.40282347e38f),
           "a calibrated input scale must be 0 (dynamic) or a finite float >= FLT_MIN, got " +
               std::to_string(x_scale));
  const int GU = this->G_ * cfg.U;
  W_ = std::make_unique<QLinear>(wq, w_scale, cfg.D, GU);
  R_ = std::make_unique<QLinear>(rq, r_scale, cfg.U, GU);
  this->params.clear();  // W and R live in the op, not in the arena
  if (b >= 0) this->params.push_back(static_cast<size_t>(b));
}

template <class Float>
void QRecurrentOp<Float>::backward(Ctx&) {
  throw std::invalid_argument(
      "a quantized model is for inference: train the float model, then quantize it");
}

// x (rows, D) with row stride ldx -> z (rows, G*U), the bias's first G*U values added in the
// epilogue; strided rows (one step of a large batch) are gathered first, as QLinear wants them dense.
template <class Float>
void QRecurrentOp<Float>::input_projection(Ctx& c, const float* x, int ldx, int rows, float* z) {
  const int D = this->cfg_.D;
  if (rows > 1 && ldx != D) {
    static thread_local std::vector<float> xbuf;
    if (xbuf.size() < static_cast<size_t>(rows) * D) xbuf.resize(static_cast<size_t>(rows) * D);
    for (int i = 0; i < rows; ++i)
      std::memcpy(xbuf.data() + static_cast<size_t>(i) * D, x + static_cast<size_t>(i) * ldx, D * sizeof(float));
    x = xbuf.data();
  }
  W_->forward(z, x, this->b_ >= 0 ? c.params + this->b_ : nullptr, rows, ACT_LINEAR, x_scale_);
}

// h's rows are strided (rows of the (B, T, U) buffer): gathered into this thread's scratch unless
// one row makes them contiguous already. The product goes straight into out's strided rows.
template <class Float>
void QRecurrentOp<Float>::recurrent_matmul(Ctx&, const float* h, int ldh, int n, float* out,
                                           int ldo, bool add) {
  const int U = this->cfg_.U;
  if (n > 1 && ldh != U) {
    static thread_local std::vector<float> hbuf;
    if (hbuf.size() < static_cast<size_t>(n) * U) hbuf.resize(static_cast<size_t>(n) * U);
    for (int i = 0; i < n; ++i)
      std::memcpy(hbuf.data() + static_cast<size_t>(i) * U, h + static_cast<size_t>(i) * ldh,
                  U * sizeof(float));
    h = hbuf.data();
  }
  R_->forward_into(out, ldo, add, h, n);
}

template class QRecurrentOp<LstmOp>;
template class QRecurrentOp<GruOp>;

}  // namespace bc

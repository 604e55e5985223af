// loss_rows: a built-in loss called on symbolic tensors with reduction "none" (inside a custom
// loss function, or an add_loss term): each row's loss by the very kernel the compiled losses
// run (kernels/loss), so a loss written by hand around it matches the built-in one.
//
//   y_true, y_pred (..., C) -> (...)      attrs: loss_kind (LossKind), from_logits, label_smoothing,
//                                          param (the loss's numbers: a number or a list, loss.h LossParams)
//
// y_true has y_pred's shape, or, for sparse categorical crossentropy, y_pred's without its last
// axis (class ids). Gradients: y_pred's; y_true's for the losses of pred - true (MSE, MAE, Huber,
// log-cosh) and KL divergence (a teacher's probabilities), none for the others (labels).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/loss/loss.h"
#include "ops/prim_families.h"

namespace bc {
namespace {

class LossRowsPrim : public PrimOp {
 public:
  LossRowsPrim(int kind, bool from_logits, float label_smoothing, LossParams params)
      : PrimOp("loss_rows"), kind_(kind), from_logits_(from_logits), ls_(label_smoothing), params_(std::move(params)) {}

  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape &t = in[0], &p = in[1];
    const std::string who = "prim 'loss_rows': ";
    BC_CHECK(p.nd >= 1, who + "y_pred needs at least one axis, got " + p.str());
    Shape rows = p;
    rows.nd -= 1;
    const bool sparse = kind_ == LOSS_SPARSE_CCE;
    BC_CHECK(sparse ? t == rows : t == p, who + "y_true has shape " + t.str() + ", expected " +
                                              (sparse ? rows.str() + " (class ids)" : p.str()) + " for y_pred " + p.str());
    out[0] = rows;
  }

 protected:
  void plan() override {
    const Shape& p = in_[1];
    C_ = static_cast<int>(p.d[p.nd - 1]);
    rows_ = C_ > 0 ? static_cast<int>(p.numel() / C_) : 0;
  }

  void run_forward(Ctx& c) override {
    scratch_.resize(static_cast<size_t>(rows_) * C_);
    loss_forward_backward(scratch_.data(), c.val(in[1]), c.val(in[0]), nullptr, rows_, C_, kind_, from_logits_, -1,
                          ls_, params_, 0.0f, c.val(out[0]));
  }

  void run_backward(Ctx& c) override {
    const bool symmetric = kind_ == LOSS_MSE || kind_ == LOSS_MAE || kind_ == LOSS_HUBER || kind_ == LOSS_LOG_COSH;
    const bool want_true = need_dx[0] && symmetric;  // a function of pred - true: d/dtrue = -d/dpred
    const float* dpred = nullptr;
    if (need_dx[1] || want_true) {
      // d loss_r / d pred_r scaled by the row's output gradient: the kernel's sample weights
      scratch_.resize(static_cast<size_t>(rows_) * C_);
      float* dst = need_dx[1] && !accum_dx[1] ? c.grad(in[1]) : scratch_.data();
      loss_forward_backward(dst, c.val(in[1]), c.val(in[0]), c.grad(out[0]), rows_, C_, kind_, from_logits_, -1, ls_,
                            params_, 1.0f);
      if (need_dx[1] && accum_dx[1]) {
        float* g = c.grad(in[1]);
        for (size_t i = 0; i < scratch_.size(); ++i) g[i] += dst[i];
      }
      dpred = dst;
    }
    if (need_dx[0]) {
      float* g = c.grad(in[0]);
      if (!accum_dx[0]) std::memset(g, 0, c.numel(in[0]) * sizeof(float));
      if (want_true)
        for (size_t i = 0; i < scratch_.size(); ++i) g[i] -= dpred[i];
      if (kind_ == LOSS_KLD) kld_true_grad(c, g);
    }
  }

 private:
  // KL(t || p) = sum t log(t / p), both clipped to [eps, 1] (Keras): d/dt = log(t / p) + 1 where t
  // is inside the clip range (a teacher's probabilities train the teacher too, as in Keras).
  void kld_true_grad(Ctx& c, float* g) const {
    const float* t = c.val(in[0]);
    const float* p = c.val(in[1]);
    const float* dout = c.grad(out[0]);
    const float eps = 1e-7f;
    for (int r = 0; r < rows_; ++r)
      for (int j = 0; j < C_; ++j) {
        const size_t i = static_cast<size_t>(r) * C_ + j;
        if (t[i] < eps || t[i] > 1.0f) continue;
        const float pc = std::min(std::max(p[i], eps), 1.0f);
        g[i] += dout[r] * (std::log(t[i] / pc) + 1.0f);
      }
  }
  int kind_;
  bool from_logits_;
  float ls_;
  LossParams params_;
  int C_ = 1, rows_ = 0;
  std::vector<float> scratch_;
};

}  // namespace

std::unique_ptr<PrimOp> make_loss_prim(const std::string& kind, const Attrs& a, int) {
  if (kind != "loss_rows") return nullptr;
  const int64_t k = a.get_int("loss_kind");
  BC_CHECK((k >= LOSS_MSE && k < LOSS_VALUES) || k == LOSS_BINARY_FOCAL || k == LOSS_CATEGORICAL_FOCAL,
           "prim 'loss_rows': loss_kind " + std::to_string(k) + " has no loss per row");
  const double ls = a.get_float("label_smoothing", 0.0);
  BC_CHECK(ls >= 0.0 && ls < 1.0, "prim 'loss_rows': label_smoothing must be in [0, 1), got " + std::to_string(ls));
  LossParams params;
  if (a.has("param"))
    for (double v : a.get_floats("param")) params.push_back(static_cast<float>(v));
  if (k == LOSS_HUBER && params.empty()) params.push_back(1.0f);  // Keras's default delta
  return std::make_unique<LossRowsPrim>(static_cast<int>(k), a.get_bool("from_logits", false), static_cast<float>(ls),
                                        std::move(params));
}

}  // namespace bc

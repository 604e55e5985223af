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
//
// ctc_loss: Keras's ops.ctc_loss (kernels/loss/ctc.h), each sample's -log p(target | output).
//
//   target (B, S), output (B, T, C) logits, target_length (B), output_length (B) -> (B)
//                                          attrs: mask_index (the blank class, default 0)
//
// Gradients: output's only (the targets and lengths are integers).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/loss/ctc.h"
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

class CtcLossPrim : public PrimOp {
 public:
  explicit CtcLossPrim(int blank) : PrimOp("ctc_loss"), blank_(blank) {}

  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape &t = in[0], &o = in[1], &tl = in[2], &ol = in[3];
    const std::string who = "prim 'ctc_loss': ";
    BC_CHECK(t.nd == 2, who + "target must be (batch, max_label_length), got " + t.str());
    BC_CHECK(o.nd == 3, who + "output must be (batch, frames, classes), got " + o.str());
    BC_CHECK(tl.nd == 1 && ol.nd == 1, who + "target_length and output_length must be (batch,), got " + tl.str() +
                                           " and " + ol.str());
    BC_CHECK(t.d[0] == o.d[0] && tl.d[0] == o.d[0] && ol.d[0] == o.d[0],
             who + "target " + t.str() + ", output " + o.str() + ", target_length " + tl.str() + " and output_length " +
                 ol.str() + " must share their first (batch) axis");
    BC_CHECK(o.d[2] >= 1, who + "output needs at least one class, got " + o.str());
    Shape r = tl;
    out[0] = r;
  }

 protected:
  void plan() override {
    s_.B = static_cast<int>(in_[1].d[0]);
    s_.T = static_cast<int>(in_[1].d[1]);
    s_.C = static_cast<int>(in_[1].d[2]);
    s_.S = static_cast<int>(in_[0].d[1]);
    s_.blank = blank_;
  }

  void run_forward(Ctx& c) override {
    ctc_check(s_, c.val(in[0]), c.val(in[2]), c.val(in[3]));
    run(c, c.val(out[0]), nullptr, nullptr);
  }

  void run_backward(Ctx& c) override {
    if (!need_dx[1]) {
      zero_other_grads(c);
      return;
    }
    const size_t n = static_cast<size_t>(s_.B) * s_.T * s_.C;
    float* g = c.grad(in[1]);
    if (accum_dx[1]) scratch_.resize(n);
    float* dst = accum_dx[1] ? scratch_.data() : g;
    run(c, nullptr, c.grad(out[0]), dst);
    if (accum_dx[1])
      for (size_t i = 0; i < n; ++i) g[i] += dst[i];
    zero_other_grads(c);
  }

 private:
  void run(Ctx& c, float* loss, const float* dout, float* dlogits) {
    const float *o = c.val(in[1]), *t = c.val(in[0]), *tl = c.val(in[2]), *ol = c.val(in[3]);
    const size_t cost = static_cast<size_t>(s_.T) * (s_.C + 2 * s_.S + 1) * 8;
    parallel_items(static_cast<size_t>(s_.B), cost, [&](size_t b0, size_t b1) {
      ctc_loss(s_, static_cast<int>(b0), static_cast<int>(b1), o, t, tl, ol, loss, dout, dlogits);
    });
  }
  // the integer inputs get zero gradients where a caller asks for them
  void zero_other_grads(Ctx& c) {
    for (int k : {0, 2, 3})
      if (need_dx[k] && !accum_dx[k]) std::memset(c.grad(in[k]), 0, c.numel(in[k]) * sizeof(float));
  }
  int blank_;
  CtcShape s_;
  std::vector<float> scratch_;
};

}  // namespace

std::unique_ptr<PrimOp> make_loss_prim(const std::string& kind, const Attrs& a, int) {
  if (kind == "ctc_loss") {
    const int64_t blank = a.get_int("mask_index", 0);
    BC_CHECK(blank >= 0 && blank < (int64_t{1} << 30), "prim 'ctc_loss': mask_index must be a class id >= 0, got " +
                                                            std::to_string(blank));
    return std::make_unique<CtcLossPrim>(static_cast<int>(blank));
  }
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

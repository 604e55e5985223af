#include "ops/scan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <utility>

namespace bc {

ScanOp::ScanOp(std::vector<std::unique_ptr<Op>> ops, std::vector<Tensor> table, ScanConfig cfg, int x,
               std::vector<int> states, int mask, std::vector<int> outs)
    : prog_(std::move(ops), std::move(table), "RNN scan"), cfg_(std::move(cfg)) {
  const size_t k = cfg_.state_in_local.size();
  BC_CHECK(!prog_.ops().empty() && k > 0 && cfg_.state_out_local.size() == k && states.size() == k &&
               outs.size() == k + 1 && (mask >= 0) == cfg_.has_mask,
           "RNN scan: needs ops, one initial state and one final state per state, and the output");
  auto placeholder = [&](int t) {
    return prog_.valid(t) && prog_[t].view < 0 && prog_[t].alias < 0 && prog_[t].batched;
  };
  auto produced = [&](int t) {
    return prog_.valid(t) && prog_[prog_.root(t)].alias < 0 && prog_[prog_.root(t)].batched;
  };
  BC_CHECK(placeholder(cfg_.x_local) && produced(cfg_.out_local),
           "RNN scan: the step's input and output must be batched tensors of the inner table");
  F_ = prog_[cfg_.x_local].per_sample;
  O_ = prog_[cfg_.out_local].per_sample;
  std::set<int> inputs = {cfg_.x_local};
  for (size_t i = 0; i < k; ++i) {
    const int si = cfg_.state_in_local[i], so = cfg_.state_out_local[i];
    BC_CHECK(placeholder(si) && produced(so) && inputs.insert(si).second,
             "RNN scan: the step's states must be distinct batched tensors of the inner table");
    BC_CHECK(prog_[si].per_sample == prog_[so].per_sample, "RNN scan: a new state's size differs from its state's");
    d_.push_back(prog_[si].per_sample);
  }
  in = {x};
  in.insert(in.end(), states.begin(), states.end());
  if (cfg_.has_mask) in.push_back(mask);
  out = std::move(outs);
  for (const auto& op : prog_.ops())
    BC_CHECK(!op->adds_to_loss(), "RNN scan: the cell adds a loss term or an activity penalty");
  params = prog_.params();
  states_.resize(k);
  dstate_.resize(k);
}

int ScanOp::steps(const Ctx& c) const {
  const size_t T = c.per_sample(in[0]) / F_;
  BC_CHECK(T > 0 && T * F_ == c.per_sample(in[0]) && T <= INT32_MAX,
           "RNN: an input of " + std::to_string(c.per_sample(in[0])) + " values per sample is not whole timesteps "
           "of " + std::to_string(F_) + " features");
  BC_CHECK(c.per_sample(out[0]) == (cfg_.return_sequences ? T * O_ : O_), "RNN scan: the output's size differs");
  BC_CHECK(!cfg_.has_mask || c.per_sample(in.back()) == T, "RNN: the mask must have one value per timestep");
  for (size_t i = 0; i < d_.size(); ++i)
    BC_CHECK(c.per_sample(in[1 + i]) == d_[i] && c.per_sample(out[1 + i]) == d_[i] &&
                 (*c.tensors)[in[1 + i]].batched,
             "RNN: initial state " + std::to_string(i) + " must have shape (batch, " + std::to_string(d_[i]) + ")");
  return static_cast<int>(T);
}

// The inner context: B rows of one timestep; the inner tensors sized for them, views borrowing
// their tensor's buffers, the kept states sized for T steps.
Ctx ScanOp::inner(Ctx& c, bool training) {
  const size_t B = static_cast<size_t>(c.B);
  prog_.size(B, training);
  prog_.borrow_views();
  const int T = steps(c);
  for (size_t i = 0; i < d_.size(); ++i) {
    const size_t n = static_cast<size_t>(T + 1) * B * d_[i];
    if (states_[i].size() < n) states_[i].resize(n);
    if (training && dstate_[i].size() < B * d_[i]) dstate_[i].resize(B * d_[i]);
  }
  if (prev_.size() < B * O_) prev_.resize(B * O_);
  if (training && dprev_.size() < B * O_) dprev_.resize(B * O_);
  Ctx k = c;
  k.tensors = &prog_.table();
  return k;
}

// Runs step t (processing order) from the kept states entering it.
void ScanOp::step_forward(Ctx& c, Ctx& k, int T, int t, bool training) {
  const int B = c.B;
  const int ti = cfg_.go_backwards ? T - 1 - t : t;
  const float* x = c.val(in[0]);
  float* xl = k.val(cfg_.x_local);
  for (int b = 0; b < B; ++b)
    std::memcpy(xl + static_cast<size_t>(b) * F_, x + (static_cast<size_t>(b) * T + ti) * F_, F_ * sizeof(float));
  for (size_t i = 0; i < d_.size(); ++i)
    std::memcpy(k.val(cfg_.state_in_local[i]), states_[i].data() + static_cast<size_t>(t) * B * d_[i],
                static_cast<size_t>(B) * d_[i] * sizeof(float));
  // Random draws (dropout) differ per step, and the backward's rerun of a step draws the same: the
  // rows' global index carries the step above bit 32.
  k.row0 = c.row0 + (static_cast<uint64_t>(t) << 32);
  prog_.forward(k, training);
}

void ScanOp::forward(Ctx& c) {
  Ctx k = inner(c, c.training);
  const int T = steps(c), B = c.B;
  for (size_t i = 0; i < d_.size(); ++i)
    std::memcpy(states_[i].data(), c.val(in[1 + i]), static_cast<size_t>(B) * d_[i] * sizeof(float));
  float* y = c.val(out[0]);
  for (int t = 0; t < T; ++t) {
    step_forward(c, k, T, t, c.training);
    const int ti = cfg_.go_backwards ? T - 1 - t : t;
    const float* o = k.val(cfg_.out_local);
    for (int b = 0; b < B; ++b) {
      const bool keep = kept(c, b, T, ti);
      for (size_t i = 0; i < d_.size(); ++i) {
        const size_t d = d_[i];
        float* next = states_[i].data() + (static_cast<size_t>(t + 1) * B + b) * d;
        const float* src = keep ? k.val(cfg_.state_out_local[i]) + static_cast<size_t>(b) * d
                                : states_[i].data() + (static_cast<size_t>(t) * B + b) * d;
        std::memcpy(next, src, d * sizeof(float));
      }
      float* p = prev_.data() + static_cast<size_t>(b) * O_;
      if (keep || !cfg_.mask_output)
        std::memcpy(p, o + static_cast<size_t>(b) * O_, O_ * sizeof(float));
      else if (cfg_.zero_output_for_mask || t == 0)  // Keras: the previous output starts as zeros
        std::memset(p, 0, O_ * sizeof(float));
      if (cfg_.return_sequences)
        std::memcpy(y + (static_cast<size_t>(b) * T + t) * O_, p, O_ * sizeof(float));
    }
  }
  if (!cfg_.return_sequences) std::memcpy(y, prev_.data(), static_cast<size_t>(B) * O_ * sizeof(float));
  for (size_t i = 0; i < d_.size(); ++i)
    std::memcpy(c.val(out[1 + i]), states_[i].data() + static_cast<size_t>(T) * B * d_[i],
                static_cast<size_t>(B) * d_[i] * sizeof(float));
}

// Over one step: every inner gradient is zeroed before the step's backward, so the inner ops add
// to the tensors they reach; the weights' gradients are assigned or added as the program says the
// scan's are on the first step processed (the last), and added on every other.
void ScanOp::plan(bool first) {
  InnerProgram::PlanFrom from;
  from.reached = {prog_.root(cfg_.out_local)};
  for (int t : cfg_.state_out_local) from.reached.insert(prog_.root(t));
  for (size_t j = 0; j < params.size(); ++j)
    if (!first || accum_dw[j]) from.written.insert(params[j]);
  from.input = cfg_.x_local;
  from.need_input = need_dx[0];
  from.zeroed = true;
  prog_.plan(from);
}

void ScanOp::backward(Ctx& c) {
  Ctx k = inner(c, true);
  const int T = steps(c), B = c.B;
  plan(true);
  for (size_t i = 0; i < d_.size(); ++i)
    std::memcpy(dstate_[i].data(), c.grad(out[1 + i]), static_cast<size_t>(B) * d_[i] * sizeof(float));
  std::memset(dprev_.data(), 0, static_cast<size_t>(B) * O_ * sizeof(float));
  const float* dy = c.grad(out[0]);
  float* dx = need_dx[0] ? c.grad(in[0]) : nullptr;
  for (int t = T - 1; t >= 0; --t) {
    const int ti = cfg_.go_backwards ? T - 1 - t : t;
    step_forward(c, k, T, t, true);
    for (Tensor& x : prog_.table())
      if (x.alias < 0 && x.view < 0)
        std::memset(x.grad.data(), 0, (x.batched ? static_cast<size_t>(B) : 1) * x.per_sample * sizeof(float));
    float* go = k.grad(cfg_.out_local);
    for (int b = 0; b < B; ++b) {
      const bool keep = kept(c, b, T, ti);
      float* dp = dprev_.data() + static_cast<size_t>(b) * O_;
      const float* dyt = cfg_.return_sequences ? dy + (static_cast<size_t>(b) * T + t) * O_
                         : t == T - 1          ? dy + static_cast<size_t>(b) * O_
                                               : nullptr;
      if (dyt)
        for (size_t j = 0; j < O_; ++j) dp[j] += dyt[j];  // dp: the gradient of this step's (masked) output
      if (keep || !cfg_.mask_output) {
        float* g = go + static_cast<size_t>(b) * O_;
        for (size_t j = 0; j < O_; ++j) g[j] += dp[j];
        std::memset(dp, 0, O_ * sizeof(float));
      } else if (cfg_.zero_output_for_mask || t == 0) {
        std::memset(dp, 0, O_ * sizeof(float));
      }  // else: the previous output repeated, its gradient carries on
      if (!keep) continue;  // the states passed through: their gradient carries on as it is
      for (size_t i = 0; i < d_.size(); ++i) {
        const size_t d = d_[i];
        float* g = k.grad(cfg_.state_out_local[i]) + static_cast<size_t>(b) * d;
        float* ds = dstate_[i].data() + static_cast<size_t>(b) * d;
        for (size_t j = 0; j < d; ++j) g[j] += ds[j];
        std::memset(ds, 0, d * sizeof(float));
      }
    }
    prog_.backward(k);
    for (size_t i = 0; i < d_.size(); ++i) {
      const float* g = k.grad(cfg_.state_in_local[i]);
      float* ds = dstate_[i].data();
      for (size_t j = 0, n = static_cast<size_t>(B) * d_[i]; j < n; ++j) ds[j] += g[j];
    }
    if (dx) {
      const float* g = k.grad(cfg_.x_local);
      for (int b = 0; b < B; ++b) {
        float* dst = dx + (static_cast<size_t>(b) * T + ti) * F_;
        const float* src = g + static_cast<size_t>(b) * F_;
        if (accum_dx[0])
          for (size_t j = 0; j < F_; ++j) dst[j] += src[j];
        else
          std::memcpy(dst, src, F_ * sizeof(float));
      }
    }
    if (t == T - 1) plan(false);
  }
  for (size_t i = 0; i < d_.size(); ++i) {
    if (!need_dx[1 + i]) continue;
    float* g = c.grad(in[1 + i]);
    const float* ds = dstate_[i].data();
    const size_t n = static_cast<size_t>(B) * d_[i];
    if (accum_dx[1 + i])
      for (size_t j = 0; j < n; ++j) g[j] += ds[j];
    else
      std::memcpy(g, ds, n * sizeof(float));
  }
}

}  // namespace bc

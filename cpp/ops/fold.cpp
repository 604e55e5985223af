#include "ops/fold.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <set>
#include <utility>

namespace bc {

FoldOp::FoldOp(std::vector<std::unique_ptr<Op>> ops, const std::vector<size_t>& sizes, int in_local,
               int out_local, int in_t, int out_t, int T)
    : ops_(std::move(ops)), in_local_(in_local), out_local_(out_local), T_(T) {
  BC_CHECK(T >= 0 && !ops_.empty(), "TimeDistributed: needs timesteps and at least one op");
  const int n = static_cast<int>(sizes.size());
  BC_CHECK(in_local >= 0 && in_local < n && out_local >= 0 && out_local < n && in_local != out_local,
           "TimeDistributed: the inner input and output must be distinct tensors of the inner table");
  local_.resize(n);
  for (int i = 0; i < n; ++i) local_[i].per_sample = sizes[i];
  in = {in_t};
  out = {out_t};
  std::set<size_t> seen;
  for (const auto& op : ops_) {
    for (int t : op->in) BC_CHECK(t >= 0 && t < n, "TimeDistributed: an inner op reads an unknown tensor");
    for (int t : op->out) BC_CHECK(t >= 0 && t < n, "TimeDistributed: an inner op writes an unknown tensor");
    for (size_t p : op->params)
      if (seen.insert(p).second) params.push_back(p);
  }
}

int FoldOp::fusable_act() const {
  const Op& last = *ops_.back();
  return std::find(last.out.begin(), last.out.end(), out_local_) != last.out.end() ? last.fusable_act() : -1;
}

void FoldOp::lend(Ctx& c) {
  Tensor& a = (*c.tensors)[in[0]];
  Tensor& b = (*c.tensors)[out[0]];
  std::swap(local_[in_local_].val, a.val);
  std::swap(local_[in_local_].grad, a.grad);
  std::swap(local_[out_local_].val, b.val);
  std::swap(local_[out_local_].grad, b.grad);
  local_[in_local_].is_input = a.is_input;
}

int FoldOp::steps(const Ctx& c) const {
  if (T_ > 0) return T_;
  const size_t in_step = local_[in_local_].per_sample, out_step = local_[out_local_].per_sample;
  const size_t T = c.per_sample(in[0]) / in_step;
  BC_CHECK(T > 0 && T * in_step == c.per_sample(in[0]) && T * out_step == c.per_sample(out[0]) && T <= INT32_MAX,
           "TimeDistributed: an input of " + std::to_string(c.per_sample(in[0])) + " values per sample is not whole "
           "timesteps of " + std::to_string(in_step));
  return static_cast<int>(T);
}

// The inner context: B*T rows of one timestep each; tensors of the inner table sized for them.
Ctx FoldOp::inner(Ctx& c, bool training) {
  const int T = steps(c);
  const size_t rows = static_cast<size_t>(c.B) * T;
  for (int i = 0; i < static_cast<int>(local_.size()); ++i) {
    if (i == in_local_ || i == out_local_) continue;
    Tensor& t = local_[i];
    if (t.val.size() < rows * t.per_sample) t.val.resize(rows * t.per_sample);
    if (training && t.grad.size() < rows * t.per_sample) t.grad.resize(rows * t.per_sample);
  }
  Ctx k = c;
  k.tensors = &local_;
  k.B = c.B * T;
  k.row0 = c.row0 * T;
  return k;
}

void FoldOp::forward(Ctx& c) {
  Ctx k = inner(c, c.training);
  lend(c);
  for (auto& op : ops_) op->forward(k);
  lend(c);
  c.extra_loss = k.extra_loss;
}

// As Program::plan over the inner ops, starting from the wrapper's own flags: the inner output is
// reached; the inner input's gradient is wanted and assigned or added as the wrapper's; a parameter
// accumulates when the program says the wrapper's does, or an inner op wrote it already.
void FoldOp::plan() {
  std::set<int> reached = {out_local_};
  std::set<size_t> written;
  for (size_t j = 0; j < params.size(); ++j)
    if (accum_dw[j]) written.insert(params[j]);
  bool input_reached = false;
  zero_before_backward_.clear();
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    Op& op = **it;
    op.need_dx.assign(op.in.size(), 0);
    op.accum_dx.assign(op.in.size(), 0);
    op.accum_dw.assign(op.params.size(), 0);
    op.loss_gives_dz = false;
    bool any = false;
    for (int t : op.out) any = any || reached.count(t);
    op.skip_backward = !any;
    if (!any) continue;
    for (int t : op.out)
      if (!reached.count(t)) zero_before_backward_.push_back(t);
    for (size_t i = 0; i < op.in.size(); ++i) {
      const int t = op.in[i];
      if (t == in_local_) {
        op.need_dx[i] = need_dx[0];
        op.accum_dx[i] = input_reached ? 1 : accum_dx[0];
        input_reached = input_reached || need_dx[0];
        continue;
      }
      op.need_dx[i] = 1;
      op.accum_dx[i] = reached.count(t) ? 1 : 0;
      reached.insert(t);
    }
    for (size_t j = 0; j < op.params.size(); ++j) {
      op.accum_dw[j] = written.count(op.params[j]) ? 1 : 0;
      written.insert(op.params[j]);
    }
  }
  Op& last = *ops_.back();
  if (std::find(last.out.begin(), last.out.end(), out_local_) != last.out.end()) last.loss_gives_dz = loss_gives_dz;
}

void FoldOp::backward(Ctx& c) {
  plan();
  Ctx k = inner(c, true);
  lend(c);
  for (int t : zero_before_backward_)
    std::memset(local_[t].grad.data(), 0, static_cast<size_t>(k.B) * local_[t].per_sample * sizeof(float));
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it)
    if (!(*it)->skip_backward) (*it)->backward(k);
  lend(c);
}

}  // namespace bc

#include "ops/fold.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <utility>

namespace bc {

FoldOp::FoldOp(std::vector<std::unique_ptr<Op>> ops, std::vector<Tensor> table, int in_local, int out_local,
               int in_t, int out_t, int T)
    : ops_(std::move(ops)), local_(std::move(table)), in_local_(in_local), T_(T) {
  BC_CHECK(T >= 0 && !ops_.empty(), "TimeDistributed: needs timesteps and at least one op");
  const int n = static_cast<int>(local_.size());
  BC_CHECK(in_local >= 0 && in_local < n && out_local >= 0 && out_local < n,
           "TimeDistributed: the inner input and output must be tensors of the inner table");
  for (Tensor& t : local_) {
    for (const Dim& d : t.dims)
      BC_CHECK(d.sym < 0, "TimeDistributed: the wrapped layer's tensors must have a fixed shape per timestep");
    t.shape = resolved_shape_of(t.dims, {});
    BC_CHECK(t.view < n, "TimeDistributed: a view of an unknown inner tensor");
  }
  out_local_ = root(out_local);  // a view's buffers are its tensor's: the outer output is lent to that one
  BC_CHECK(local_[in_local].view < 0 && local_[in_local].alias < 0 && local_[in_local].batched &&
               local_[out_local_].alias < 0 && local_[out_local_].batched && out_local_ != in_local,
           "TimeDistributed: the inner input and output must be distinct batched tensors");
  BC_CHECK(local_[out_local_].per_sample == local_[out_local].per_sample, "TimeDistributed: a view's size differs");
  in = {in_t};
  out = {out_t};
  // The segments a backward pass writes: those of the ops that run in training (a traced call's
  // inference branch writes none), and the weights they read as tensors.
  std::set<size_t> seen;
  for (const auto& op : ops_) {
    for (int t : op->in) BC_CHECK(t >= 0 && t < n, "TimeDistributed: an inner op reads an unknown tensor");
    for (int t : op->out) BC_CHECK(t >= 0 && t < n, "TimeDistributed: an inner op writes an unknown tensor");
    BC_CHECK(!op->is_loss_term(), "TimeDistributed: the wrapped layer adds a loss term");
    if (!runs(*op, true)) continue;
    for (size_t p : op->params)
      if (seen.insert(p).second) params.push_back(p);
    for (int t : op->in)
      if (local_[t].alias >= 0 && seen.insert(static_cast<size_t>(local_[t].alias)).second)
        params.push_back(static_cast<size_t>(local_[t].alias));
  }
}

int FoldOp::fusable_act() const {
  const Op& last = *ops_.back();
  return std::find(last.out.begin(), last.out.end(), out_local_) != last.out.end() ? last.fusable_act() : -1;
}

bool FoldOp::adds_to_loss() const {
  for (const auto& op : ops_)
    if (op->adds_to_loss()) return true;
  return false;
}

void FoldOp::lend(Ctx& c) {
  Tensor& a = (*c.tensors)[in[0]];
  Tensor& b = (*c.tensors)[out[0]];
  std::swap(local_[in_local_].val, a.val);
  std::swap(local_[in_local_].grad, a.grad);
  std::swap(local_[out_local_].val, b.val);
  std::swap(local_[out_local_].grad, b.grad);
  local_[in_local_].is_input = a.is_input;
  local_[in_local_].ext = a.ext;
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

// The inner context: B*T rows of one timestep each; tensors of the inner table sized for them
// (weights read the outer arena; views borrow their tensor's buffers once the outer ones are lent).
Ctx FoldOp::inner(Ctx& c, bool training) {
  const int T = steps(c);
  const size_t rows = static_cast<size_t>(c.B) * T;
  for (int i = 0; i < static_cast<int>(local_.size()); ++i) {
    Tensor& t = local_[i];
    if (i == in_local_ || i == out_local_ || t.alias >= 0 || t.view >= 0) continue;
    const size_t n = (t.batched ? rows : 1) * t.per_sample;
    if (t.val.size() < n) t.val.resize(n);
    if (training && t.grad.size() < n) t.grad.resize(n);
  }
  Ctx k = c;
  k.tensors = &local_;
  k.B = c.B * T;
  k.row0 = c.row0 * T;
  k.time_groups = c.time_groups * T;
  return k;
}

void FoldOp::forward(Ctx& c) {
  Ctx k = inner(c, c.training);
  lend(c);
  for (Tensor& t : local_)
    if (t.view >= 0 && t.alias < 0) {
      t.val.borrow(local_[t.view].val.data(), local_[t.view].val.size());
      t.grad.borrow(local_[t.view].grad.data(), local_[t.view].grad.size());
    }
  try {
    for (auto& op : ops_)
      if (runs(*op, c.training)) op->forward(k);
  } catch (...) {
    lend(c);
    throw;
  }
  lend(c);
  c.extra_loss = k.extra_loss;
}

// As Program::plan over the inner ops that run in training, starting from the wrapper's own flags:
// the inner output is reached; the inner input's gradient is wanted and assigned or added as the
// wrapper's; a parameter (or a weight read as a tensor) accumulates when the program says the
// wrapper's does, or an inner op wrote it already.
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
    for (int t : op.out) any = any || reached.count(root(t));
    op.skip_backward = !any || !runs(op, true);
    if (op.skip_backward) continue;
    for (int t : op.out)
      if (!reached.count(root(t))) zero_before_backward_.push_back(root(t));
    for (size_t i = 0; i < op.in.size(); ++i) {
      const int t = op.in[i];
      if (root(t) == in_local_) {
        op.need_dx[i] = need_dx[0];
        op.accum_dx[i] = input_reached ? 1 : accum_dx[0];
        input_reached = input_reached || need_dx[0];
        continue;
      }
      if (local_[t].alias >= 0) {
        const size_t seg = static_cast<size_t>(local_[t].alias);
        op.need_dx[i] = 1;
        op.accum_dx[i] = written.count(seg) ? 1 : 0;
        written.insert(seg);
        continue;
      }
      op.need_dx[i] = 1;
      op.accum_dx[i] = reached.count(root(t)) ? 1 : 0;
      reached.insert(root(t));
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
  for (Tensor& t : local_)
    if (t.view >= 0 && t.alias < 0) {
      t.val.borrow(local_[t.view].val.data(), local_[t.view].val.size());
      t.grad.borrow(local_[t.view].grad.data(), local_[t.view].grad.size());
    }
  for (int t : zero_before_backward_)
    std::memset(local_[t].grad.data(), 0, (local_[t].batched ? k.B : 1) * local_[t].per_sample * sizeof(float));
  try {
    for (auto it = ops_.rbegin(); it != ops_.rend(); ++it)
      if (!(*it)->skip_backward) (*it)->backward(k);
  } catch (...) {
    lend(c);
    throw;
  }
  lend(c);
}

}  // namespace bc

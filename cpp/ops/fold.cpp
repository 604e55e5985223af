#include "ops/fold.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace bc {

FoldOp::FoldOp(std::vector<std::unique_ptr<Op>> ops, std::vector<Tensor> table, int in_local, int out_local,
               int in_t, int out_t, int T)
    : prog_(std::move(ops), std::move(table), "TimeDistributed"), in_local_(in_local), T_(T) {
  BC_CHECK(T >= 0 && !prog_.ops().empty(), "TimeDistributed: needs timesteps and at least one op");
  BC_CHECK(prog_.valid(in_local) && prog_.valid(out_local),
           "TimeDistributed: the inner input and output must be tensors of the inner table");
  out_local_ = prog_.root(out_local);  // a view's buffers are its tensor's: the outer output is lent to that one
  BC_CHECK(prog_[in_local].view < 0 && prog_[in_local].alias < 0 && prog_[in_local].batched &&
               prog_[out_local_].alias < 0 && prog_[out_local_].batched && out_local_ != in_local,
           "TimeDistributed: the inner input and output must be distinct batched tensors");
  BC_CHECK(prog_[out_local_].per_sample == prog_[out_local].per_sample, "TimeDistributed: a view's size differs");
  in = {in_t};
  out = {out_t};
  for (const auto& op : prog_.ops()) BC_CHECK(!op->is_loss_term(), "TimeDistributed: the wrapped layer adds a loss term");
  params = prog_.params();
}

int FoldOp::fusable_act() const {
  const Op& last = *prog_.ops().back();
  return std::find(last.out.begin(), last.out.end(), out_local_) != last.out.end() ? last.fusable_act() : -1;
}

bool FoldOp::adds_to_loss() const {
  for (const auto& op : prog_.ops())
    if (op->adds_to_loss()) return true;
  return false;
}

void FoldOp::lend(Ctx& c) {
  Tensor& a = (*c.tensors)[in[0]];
  prog_.lend(a, in_local_);
  prog_.lend((*c.tensors)[out[0]], out_local_);
  prog_[in_local_].is_input = a.is_input;
  prog_[in_local_].ext = a.ext;
}

int FoldOp::steps(const Ctx& c) const {
  if (T_ > 0) return T_;
  const size_t in_step = prog_[in_local_].per_sample, out_step = prog_[out_local_].per_sample;
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
  prog_.size(static_cast<size_t>(c.B) * T, training, {in_local_, out_local_});
  Ctx k = c;
  k.tensors = &prog_.table();
  k.B = c.B * T;
  k.row0 = c.row0 * T;
  k.time_groups = c.time_groups * T;
  return k;
}

void FoldOp::forward(Ctx& c) {
  Ctx k = inner(c, c.training);
  lend(c);
  prog_.borrow_views();
  try {
    prog_.forward(k, c.training);
  } catch (...) {
    lend(c);
    throw;
  }
  lend(c);
  c.extra_loss = k.extra_loss;
}

// As Program::plan over the inner ops, from the wrapper's own flags: the inner output is reached;
// the inner input's gradient is wanted and assigned or added as the wrapper's; a parameter (or a
// weight read as a tensor) accumulates when the program says the wrapper's does, or an inner op
// wrote it already.
void FoldOp::plan() {
  InnerProgram::PlanFrom from;
  from.reached = {out_local_};
  for (size_t j = 0; j < params.size(); ++j)
    if (accum_dw[j]) from.written.insert(params[j]);
  from.input = in_local_;
  from.need_input = need_dx[0];
  from.accum_input = accum_dx[0];
  zero_before_backward_ = prog_.plan(from);
  Op& last = *prog_.ops().back();
  if (std::find(last.out.begin(), last.out.end(), out_local_) != last.out.end()) last.loss_gives_dz = loss_gives_dz;
}

void FoldOp::backward(Ctx& c) {
  plan();
  Ctx k = inner(c, true);
  lend(c);
  prog_.borrow_views();
  for (int t : zero_before_backward_)
    std::memset(prog_[t].grad.data(), 0, (prog_[t].batched ? k.B : 1) * prog_[t].per_sample * sizeof(float));
  try {
    prog_.backward(k);
  } catch (...) {
    lend(c);
    throw;
  }
  lend(c);
}

}  // namespace bc

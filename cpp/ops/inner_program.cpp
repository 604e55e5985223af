#include "ops/inner_program.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace bc {

InnerProgram::InnerProgram(std::vector<std::unique_ptr<Op>> ops, std::vector<Tensor> table, const char* who)
    : ops_(std::move(ops)), local_(std::move(table)) {
  const std::string w = who;
  const int n = static_cast<int>(local_.size());
  for (Tensor& t : local_) {
    for (const Dim& d : t.dims) BC_CHECK(d.sym < 0, w + ": the inner tensors must have a fixed shape per timestep");
    t.shape = resolved_shape_of(t.dims, {});
    BC_CHECK(t.view < n, w + ": a view of an unknown inner tensor");
  }
  std::set<size_t> seen;
  for (const auto& op : ops_) {
    for (int t : op->in) BC_CHECK(valid(t), w + ": an inner op reads an unknown tensor");
    for (int t : op->out) BC_CHECK(valid(t), w + ": an inner op writes an unknown tensor");
    if (!runs(*op, true)) continue;
    for (size_t p : op->params)
      if (seen.insert(p).second) params_.push_back(p);
    for (int t : op->in)
      if (local_[t].alias >= 0 && seen.insert(static_cast<size_t>(local_[t].alias)).second)
        params_.push_back(static_cast<size_t>(local_[t].alias));
  }
}

void InnerProgram::size(size_t rows, bool training, const std::vector<int>& lent) {
  for (int i = 0; i < static_cast<int>(local_.size()); ++i) {
    Tensor& t = local_[i];
    if (t.alias >= 0 || t.view >= 0 || std::find(lent.begin(), lent.end(), i) != lent.end()) continue;
    const size_t n = (t.batched ? rows : 1) * t.per_sample;
    if (t.val.size() < n) t.val.resize(n);
    if (training && t.grad.size() < n) t.grad.resize(n);
    t.is_input = false;  // the inner program's own inputs are filled by the enclosing op
    t.ext = nullptr;
  }
}

void InnerProgram::borrow_views() {
  for (Tensor& t : local_)
    if (t.view >= 0 && t.alias < 0) {
      t.val.borrow(local_[t.view].val.data(), local_[t.view].val.size());
      t.grad.borrow(local_[t.view].grad.data(), local_[t.view].grad.size());
    }
}

void InnerProgram::lend(Tensor& outer, int local) {
  std::swap(local_[local].val, outer.val);
  std::swap(local_[local].grad, outer.grad);
}

void InnerProgram::forward(Ctx& k, bool training) {
  for (auto& op : ops_)
    if (runs(*op, training)) op->forward(k);
}

void InnerProgram::backward(Ctx& k) {
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it)
    if (!(*it)->skip_backward) (*it)->backward(k);
}

std::vector<int> InnerProgram::plan(const PlanFrom& from) {
  std::set<int> reached = from.reached;
  std::set<size_t> written = from.written;
  std::vector<int> zero_first;
  bool input_reached = false;
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
      if (!reached.count(root(t))) zero_first.push_back(root(t));
    for (size_t i = 0; i < op.in.size(); ++i) {
      const int t = op.in[i];
      if (local_[t].alias >= 0) {  // a weight read as a tensor: its segment's gradient
        const size_t seg = static_cast<size_t>(local_[t].alias);
        op.need_dx[i] = 1;
        op.accum_dx[i] = written.count(seg) ? 1 : 0;
        written.insert(seg);
        continue;
      }
      if (root(t) == from.input) {
        op.need_dx[i] = from.need_input;
        op.accum_dx[i] = from.zeroed || input_reached ? 1 : from.accum_input;
        input_reached = input_reached || from.need_input;
        continue;
      }
      op.need_dx[i] = 1;
      op.accum_dx[i] = from.zeroed || reached.count(root(t)) ? 1 : 0;
      reached.insert(root(t));
    }
    for (size_t j = 0; j < op.params.size(); ++j) {
      op.accum_dw[j] = written.count(op.params[j]) ? 1 : 0;
      written.insert(op.params[j]);
    }
  }
  return zero_first;
}

}  // namespace bc

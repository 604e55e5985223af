// The program an op runs inside itself (FoldOp: TimeDistributed over the folded time axis; ScanOp:
// an RNN cell's step T times): its own tensor table (one timestep's shapes, every axis a constant;
// weights read the outer program's arena), its ops, and their backward plan, made from the
// enclosing op's own gradient flags (the outer program plans the enclosing op as one op).
#pragma once
#include <memory>
#include <set>
#include <vector>

#include "runtime/op.h"

namespace bc {

class InnerProgram {
 public:
  // who: the layer named in the error messages ("TimeDistributed", "RNN scan").
  InnerProgram(std::vector<std::unique_ptr<Op>> ops, std::vector<Tensor> table, const char* who);

  // Where the backward starts, for plan().
  struct PlanFrom {
    std::set<int> reached;   // the inner tensors (roots) whose gradients the enclosing op gives
    std::set<size_t> written;  // the segments already written (their inner ops add)
    int input = -1;          // the inner tensor standing for the enclosing op's input 0
    bool need_input = false, accum_input = false;  // as the enclosing op's need_dx[0] / accum_dx[0]
    bool zeroed = false;     // every inner gradient is zeroed before the backward: all ops add
  };
  // As Program::plan over the ops that run in training; returns the tensors an op writes a
  // gradient into before any other reaches them (to be zeroed first, unless `zeroed`).
  std::vector<int> plan(const PlanFrom& from);

  // Sizes the tensors for `rows` rows (training: their gradients too), but weights, views and the
  // `lent` ones (the enclosing op swaps the outer buffers into those).
  void size(size_t rows, bool training, const std::vector<int>& lent = {});
  void borrow_views();  // a view's buffers are its tensor's (once those are sized or lent)
  // Swaps the buffers of the outer tensor `outer` and the inner `local` (called again: back).
  void lend(Tensor& outer, int local);
  void forward(Ctx& k, bool training);
  void backward(Ctx& k);  // the ops plan() did not skip, in reverse

  int root(int t) const { return local_[t].view >= 0 ? local_[t].view : t; }
  bool valid(int t) const { return t >= 0 && t < static_cast<int>(local_.size()); }
  static bool runs(const Op& op, bool training) { return op.mode != (training ? 2 : 1) && op.mode < 3; }

  std::vector<Tensor>& table() { return local_; }
  const std::vector<Tensor>& table() const { return local_; }
  Tensor& operator[](int t) { return local_[t]; }
  const Tensor& operator[](int t) const { return local_[t]; }
  const std::vector<std::unique_ptr<Op>>& ops() const { return ops_; }
  Op* op(size_t j) { return j < ops_.size() ? ops_[j].get() : nullptr; }
  // The segments a backward pass writes, in order: the parameters of the ops that run in
  // training (a traced call's inference branch writes none) and the weights they read as tensors.
  const std::vector<size_t>& params() const { return params_; }

 private:
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<Tensor> local_;
  std::vector<size_t> params_;
};

}  // namespace bc

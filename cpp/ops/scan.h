// RNN over a cell of one's own with a run-time length (layers/rnn_scan.py): the cell's step, lowered
// into its own tensor table (one timestep, every axis a constant), runs T times per call, T read
// from the input each call. Per step: x_t is copied into the step's input, the carried states into
// its state inputs; the step's output goes to the outer output (return_sequences) or the last is
// kept, its new states carry to the next step. Keras's masking: a masked step keeps the previous
// states and (mask_output: the stack's last cell) repeats the previous output, or gives zeros.
// Backward through time recomputes each step's forward from its kept input states (T copies of the
// states, not of every activation), then runs the step's backward, the state gradients flowing to
// the previous step and the weight gradients added over the steps.
#pragma once
#include <memory>
#include <vector>

#include "ops/inner_program.h"
#include "runtime/op.h"

namespace bc {

struct ScanConfig {
  int x_local = -1, out_local = -1;
  std::vector<int> state_in_local, state_out_local;  // one per state, in order
  bool return_sequences = false, go_backwards = false;
  bool has_mask = false, mask_output = false, zero_output_for_mask = false;
};

class ScanOp : public Op {
 public:
  // Outer tensors: x (B, T, F), the initial states (B, d_i), the mask (B, T) when has_mask; outputs
  // y ((B, T, O) with return_sequences, else (B, O)) and the final states (B, d_i).
  ScanOp(std::vector<std::unique_ptr<Op>> ops, std::vector<Tensor> table, ScanConfig cfg, int x,
         std::vector<int> states, int mask, std::vector<int> outs);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  Op* inner_op(size_t j) override { return prog_.op(j); }

 private:
  int steps(const Ctx& c) const;
  Ctx inner(Ctx& c, bool training);
  void step_forward(Ctx& c, Ctx& k, int T, int t, bool training);
  void plan(bool first);
  bool kept(Ctx& c, int b, int T, int ti) const {
    return !cfg_.has_mask || c.val(in.back())[static_cast<size_t>(b) * T + ti] != 0.0f;
  }

  InnerProgram prog_;
  ScanConfig cfg_;
  size_t F_ = 0, O_ = 0;
  std::vector<size_t> d_;             // state sizes
  std::vector<AlignedBuf> states_;    // per state: (T + 1) x B x d, the states entering each step
  std::vector<AlignedBuf> dstate_;    // per state: B x d, the gradient carried to the previous step
  AlignedBuf prev_, dprev_;           // B x O: the previous (masked) output and its gradient
};

}  // namespace bc

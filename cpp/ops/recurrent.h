// What LSTM and GRU share: the input projection for all timesteps in one GEMM, the time loop
// run in fixed batch chunks (independent rows, so chunks run on threads without changing any
// bits), masking, dropout masks, the output layout and the weight-gradient GEMMs.
//
// x (B, T, D), mask (B, T) optional, initial states h_0 [, c_0] (B, U) optional (Keras's
// initial_state; zeros when absent) -> y (B, T, U) or (B, U) [, h_T (B, U) [, c_T (B, U)]]
// kernel W (D, G*U), recurrent kernel R (U, G*U), bias (G*U, or 2*G*U for GRU reset_after=True)
// with G gates.
// Inputs in order: x, [mask], [h_0, (c_0)]; backward writes dL/dh_0 (and dL/dc_0) when asked.
#pragma once
#include <memory>
#include <vector>

#include "kernels/gemm/gemm.h"
#include "ops/projection_memo.h"
#include "runtime/op.h"

namespace bc {

struct RnnConfig {
  int D = 0, U = 0;
  int T = 0;  // this call's timesteps: set from x's resolved shape at each forward (set_length)
  int act = ACT_TANH, ract = ACT_SIGMOID;
  bool return_sequences = false, return_state = false, go_backwards = false;
  bool zero_output_for_mask = false;   // Keras's Bidirectional sets it with return_sequences
  bool output_in_input_order = false;  // a go_backwards layer inside Bidirectional
  bool has_mask = false;
  float dropout = 0.0f, recurrent_dropout = 0.0f;
  uint64_t stream = 0;
};

class RecurrentOp : public Op {
 public:
  // state_t: the initial-state tensors (none, or n_states of them)
  RecurrentOp(const RnnConfig& cfg, int gates, int n_states, int x_t, int mask_t,
              const std::vector<int>& state_t, const std::vector<int>& out_t, size_t w, size_t r,
              long b);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  // x is the output of an Embedding of V ids (tensor ids_t) over the table at arena offset `table`:
  // inference may then take each row's projection from a memo (projection_memo.h).
  void fold_embedding(int ids_t, size_t table, int V);

 protected:
  // The time loop over rows b0..b1 (forward fills Z/H; backward fills dZ and dRec).
  virtual void chunk_forward(Ctx& c, int b0, int b1) = 0;
  virtual void chunk_backward(Ctx& c, int b0, int b1) = 0;
  virtual float* rec_grad() = 0;  // the buffer whose rows multiply the recurrent kernel
  // The unit split (recurrent_split.cpp): inference on a few rows with threads to spare, the whole
  // time loop with each thread on its units' gate columns. false: not taken, run the chunks.
  bool split_forward(Ctx& c);
  // Whether the cell runs under the unit split (split_cell): LSTM and GRU.
  virtual bool splits() const { return false; }
  // Whether h_prev R stays apart from the projection (GRU's reset gate multiplies it), not added to it.
  virtual bool rec_apart() const { return false; }
  // Whether the bias has a recurrent half after the input one (GRU reset_after=True: (2, G*U)).
  virtual bool rec_bias() const { return false; }
  // Row b's cell at input time t (tp: the previous one, -1 at the first step), units [u0, u0 + Up),
  // each gate's Up values side by side: z the projection (plus h_prev R unless rec_apart()), rec
  // h_prev R apart (rec_apart()) and rec_bias its bias slice (null without a bias).
  virtual void split_cell(Ctx&, int, int, int, int, int, float*, float*, const float*) {}
  // Whether recurrent_matmul is the float GEMM (int8 layers replace it).
  virtual bool float_products() const { return true; }
  // The two matmuls, pluggable (qrecurrent.h runs them int8); the float ones are sgemm:
  // Z (rows, G*U) = x (rows, D) W + b (the first G*U of b), every timestep at once;
  // out (n, G*U; row stride ldo) (+)= h (n, U; row stride ldh) R, added when `add`.
  virtual void input_projection(Ctx& c, const float* x, int ldx, int rows, float* z);
  virtual void recurrent_matmul(Ctx& c, const float* h, int ldh, int n, float* out, int ldo, bool add);

  // T (cfg_.T) from x's resolved shape for this call, the mask's and outputs' shapes checked
  // against it: a variable-length input gives another T per call. Forward calls it first.
  void set_length(Ctx& c);
  int tin(int s) const { return cfg_.go_backwards ? cfg_.T - 1 - s : s; }
  bool masked(const Ctx& c, int b, int t) const {
    return cfg_.has_mask && (*c.tensors)[in[1]].val.data()[static_cast<size_t>(b) * cfg_.T + t] == 0.0f;
  }
  size_t row(int b, int t) const { return static_cast<size_t>(b) * cfg_.T + t; }
  // Row of (b, t) in the per-step buffers (Z_, GRU's R_) and their row stride: (B, T, .) when all
  // steps are kept, (B, .) when step_proj_ reuses one row per sample.
  size_t srow(int b, int t) const { return step_proj_ ? static_cast<size_t>(b) : row(b, t); }
  int sld() const { return step_proj_ ? 1 : cfg_.T; }
  // Inference with an Embedding before it: the projected rows made ready in the memo (memo_rows_);
  // false when not taken.
  bool memo_projection(Ctx& c, int rows);
  // The projection of (b, t) as this forward holds it: the memo's row, or Z_'s.
  const float* proj_row(int b, int t) const {
    return memo_rows_ ? memo_->row(row(b, t)) : Z_.data() + row(b, t) * static_cast<size_t>(G_) * cfg_.U;
  }
  // step_proj_ only: Z rows b0..b1 <- x_t W + b for input time t.
  void project_step(Ctx& c, int b0, int b1, int t);
  // The rows b0.. that step s multiplies by R, and their stride: Hprev_ (filled here) when
  // training, which backward needs; in inference h_prev itself, read where it lies in H_ (or,
  // at s = 0, in the initial-state input).
  const float* rec_rows(Ctx& c, int b0, int b1, int s, int* ld);
  // Row b of initial state k (0: h, 1: LSTM's c): the input tensor's, or zeros.
  const float* state0(Ctx& c, int k, int b) {
    return state0_ < 0 ? zeros_.data() : c.val(in[state0_ + k]) + static_cast<size_t>(b) * cfg_.U;
  }
  // Writes (or adds, as the plan says) `d` (B, U) into the gradient of initial state k.
  void state0_grad(Ctx& c, int k, int b0, int b1, const float* d);
  // h_prev * recurrent-dropout mask into Hprev row (b, t); zeros at the first step.
  void load_hprev(int b, int s, const float* h_prev);
  float* dy_row(Ctx& c, int b, int s);  // dL/dy for the output of step s, or null
  bool lead_masked(int b, int s) const { return !first_real_.empty() && s < first_real_[b]; }
  // dh (rows b0..b1) += dL/dy of step s; returns nothing, the caller then runs its cell backward.
  void add_dy(Ctx& c, int b0, int b1, int s);
  // dh for step s - 1: (drec_t R^T (one GEMM for the chunk) plus `inner` (B, U) when not null)
  // times the recurrent mask, plus `direct` (B, U) when not null; masked rows carry dh unchanged.
  // drec: the rows of input time t in the buffer that multiplies R.
  void dh_prev(Ctx& c, int b0, int b1, int t, const float* drec, const float* direct,
               const float* inner = nullptr);

  RnnConfig cfg_;
  int G_;             // gates
  size_t w_, r_;
  long b_;
  int state0_ = -1;   // index in `in` of h_0 (c_0 follows), or -1: zero initial states
  int chunk_ = 1;     // rows per chunk, a function of B only
  bool training_ = false;
  // Inference on a large batch: the input projection runs per step into a (B, G*U) Z_ that stays
  // in cache, rather than as one (B*T, G*U) GEMM whose result streams through memory ~5 times.
  bool step_proj_ = false;
  AlignedBuf xin_;    // x after input dropout (training only)
  AlignedBuf Z_, dZ_; // (B, T, G*U): projections, then gate activations; their gradient
  AlignedBuf H_;      // (B, T, U) h after each input time
  AlignedBuf Hprev_;  // (B, T, U) h_prev * recurrent mask, as multiplied by R
  AlignedBuf dh_;     // (B, U) running dL/dh
  AlignedBuf tmp_;    // (B, U) recurrent GEMM result in backward
  AlignedBuf Rt_;     // (G*U, U) R transposed once per backward, read by every step's dh_prev product
  // R (forward), Rt_ (backward) and, with step_proj_, W packed once per call for the own GEMM, when
  // the chunks' products have rows enough to read panels: no step repacks them.
  PackedGemmWeights rpack_, rtpack_, wpack_;
  std::vector<float> dmask_, rmask_;  // (B, D), (B, U): scaled keep masks
  std::vector<float> zeros_;
  int fold_ids_ = -1;  // fold_embedding's ids tensor, or -1
  size_t fold_table_ = 0;
  int fold_V_ = 0;
  std::vector<float> split_;  // split_forward's per-thread slices of R, W and the biases, and gate rows
  std::vector<PackedGemmWeights> split_packs_;  // per thread: its R slice and W slice, packed
  std::unique_ptr<ProjectionMemo> memo_;
  bool memo_rows_ = false;  // this forward's projections are in the memo, not Z_
  // With initial states and a mask: per row, the first step s that is not masked (T if none).
  // Keras's output before it is zeros, not the carried initial state.
  std::vector<int> first_real_;
};

}  // namespace bc

// The native program: an ordered op list over pre-sized tensors, one flat parameter arena,
// one gradient arena of the same layout, and the optimizer state. One call runs one batch.
#pragma once
#include <array>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/loss/loss.h"
#include "kernels/prune/prune.h"
#include "runtime/op.h"
#include "runtime/optim.h"
#include "runtime/param_home.h"

namespace bc {

struct LossSpec {
  int tensor = 0, target = 0, kind = 0;  // target: index into the batch's target arrays
  int C = 1;                             // width of the last axis
  float weight = 1.0f, label_smoothing = 0.0f;
  LossParams params;                     // the loss's own numbers (loss.h)
  bool from_logits = false;
  int mask = -1;                         // a (B, T) mask tensor: masked rows do not count
  int fused_act = -1;                    // set by plan()
};

struct MetricSpec {
  int tensor = 0, target = 0, kind = 0, C = 1, mask = -1;
  bool weighted = false;  // Keras's weighted_metrics: the sample weights weigh its rows too
  MetricParams params;  // threshold, k, thresholds, ... (loss.h)
};

// The caller's arrays of one fit / evaluate / predict call as raw pointers (validated by the
// binding once per call, not per batch).
struct BatchArrays {
  std::vector<const float*> x;       // per model input: (n_rows, per_sample)
  std::vector<const float*> y;       // per target: (n_rows, width)
  std::vector<size_t> y_width;
  const float* sample_weight = nullptr;  // (n_rows, sw_width) or null
  size_t sw_width = 1;               // 1, or one weight per timestep of the outputs (Keras's temporal weights)
  size_t n_rows = 0;                 // rows in the caller's arrays
  std::vector<int64_t> sym;          // the symbols' values for these arrays (Program::resolve_symbols)
};

// One batch: rows idx[start .. start + count) of the arrays, or start .. start + count - 1 when
// idx is null (the binding checks that idx holds them; load_inputs checks each row index).
struct BatchData {
  const BatchArrays* arrays = nullptr;
  const int64_t* idx = nullptr;
  size_t start = 0;
  int count = 0;
  bool check_finite = false;         // predict: reject NaN/inf inputs while copying them in
};

// An input value that is NaN or inf (BatchData::check_finite): input `input`, caller's row `row`,
// `offset` within that row's values. The binding turns it into a ValueError naming the index.
struct NonFiniteInput : std::invalid_argument {
  NonFiniteInput(int input, size_t row, size_t offset)
      : std::invalid_argument("input contains NaN or inf"), input(input), row(row), offset(offset) {}
  int input;
  size_t row, offset;
};

class Program : public std::enable_shared_from_this<Program> {
 public:
  Program() = default;
  ~Program();  // the weights this program is home of stay in its arena, handed to their cells
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // -- building --
  int add_tensor(size_t per_sample, bool is_input);
  // Returns the arena offset. A constraint (optim.h) applies after each update to each column of
  // (rows, n / rows). mid, last: the weight's last two axes where its rank is >= 2 (Adafactor).
  size_t add_param(size_t n, float l1, float l2, bool trainable, const ConstraintArgs& constraint = {},
                   size_t rows = 1, size_t mid = 0, size_t last = 0);
  void add_op(std::unique_ptr<Op> op);
  const Op& op(int i) const { return *ops_.at(i); }
  // Ops [start, end) run only in training (mode 1), only in inference (mode 2), or only where the
  // batch has targets (mode 3: fit and evaluate, not predict), or never (4: retired); see Op::mode.
  void set_op_mode(int start, int end, int mode);
  // A tensor that holds the batch's target array `target` (its rows gathered as the inputs' are):
  // a custom loss or metric traced into the program reads it. No gradient.
  int add_target_tensor(int target, const std::vector<Dim>& dims);
  // Whether some op adds to the loss itself (add_loss): a model may then train with no compiled loss.
  bool has_loss_terms() const;
  // Forgets the target tensors (a new compile retires the traced losses that read them: mode 4).
  void clear_target_tensors() { target_tensors_.clear(); }
  void set_inputs(const std::vector<int>& t);
  void set_outputs(const std::vector<int>& t);
  // What a tensor is, in out-of-memory messages ("the output of layer 'dense' (Dense)").
  void set_label(int t, const std::string& label);
  void finalize();  // allocates the arenas; no more params after this
  // Moves the ops out: a program built only to collect a wrapped layer's ops over its own tensor
  // table (TimeDistributed, ops/fold.h), whose parameters live in another program's arena.
  std::vector<std::unique_ptr<Op>> take_ops();
  std::vector<Tensor> take_tensors();  // the tensor table those ops were built over, likewise
  // Makes segment `offset` the home of a weight's cell, for each pair (param_home.h): the program
  // then reads and trains the one value every program linking the cell shares.
  void link_params(const std::vector<std::pair<size_t, std::shared_ptr<ParamCell>>>& links) {
    homes_.link(*this, links);
  }
  // The program's lock (inside the fork gate), taken with every linked weight's value brought home
  // first (param_home.h).
  ParamLock lock_params() { return ParamLock(homes_, *this); }

  // -- compiling --
  void set_losses(const std::vector<LossSpec>& l);
  void set_metrics(const std::vector<MetricSpec>& m);
  // The optimizer's constants (sent once, and again only when one changes) and its state slots
  // (slot_init in the first, Adagrad's and Ftrl's accumulator, zeros in the others; with base.use_ema
  // the last slot is the EMA's, zeros as Keras's "average").
  void set_optimizer(const OptimArgs& base, int slots, float slot_init);
  void set_optimizer_args(const OptimArgs& base);  // the constants only; the state is kept
  // The EMA slot (use_ema) against the trainable weights (optim.h: EmaExchange); pruned weights
  // stay zero. Throws unless the optimizer keeps an EMA.
  void ema_exchange(int how);

  // -- running (each takes the program's lock) --
  // stats out: [loss incl. regularization, then metric_width() values per metric]. step: the
  // optimizer's iteration count before this step (Adam's t is step + 1; with seed, it keys the
  // dropout streams); lr: the learning rate for it (a schedule's value, evaluated in Python).
  void train_step(const BatchData& d, double lr, uint64_t seed, uint64_t step, double* stats);
  // Data-parallel training splits train_step in two around the all-reduce of grads():
  // compute_gradients runs forward, loss, metrics and backward only (grads() holds this batch's
  // gradient times grad_scale; row0 is the batch's first row in the global batch, so dropout
  // draws what one process would); an empty batch (count 0) gives zero gradients and stats.
  // apply_update scales grads() by grad_scale (1 / ranks for a sum all-reduce), then runs
  // regularizer gradients, clipping, the optimizer pass and constraints, as train_step does.
  void compute_gradients(const BatchData& d, uint64_t seed, uint64_t step, uint64_t row0,
                         float grad_scale, double* stats);
  void apply_update(double lr, uint64_t step, float grad_scale);
  void evaluate_step(const BatchData& d, double* stats);  // same stats layout, no update
  // outs: per model output, a (n_out_rows, per_sample) array; rows start..start+count written.
  // mode: 0 inference, 1 training (dropout on, keyed by seed and step), -1 each op as its layer
  // call's training= says (set_call_training; inference where the call gave none).
  void predict_step(const BatchData& d, const std::vector<float*>& outs, int mode = 0, uint64_t seed = 0,
                    uint64_t step = 0);
  // Ops first_op.. (those one layer call added) run in training mode when a run gives no mode.
  void set_call_training(size_t first_op, bool training);
  // Whether the optimizer (and the regularizers, constraints, clipping norms) takes the parameter
  // at `offset` (Keras's layer.trainable changed after lowering); its optimizer slots stay.
  void set_param_trainable(size_t offset, bool trainable);
  // Keras's LossScaleOptimizer check: every gradient of a trainable parameter times `scale` (a power
  // of two: exact unless it overflows) is finite.
  bool grads_finite(float scale) const;
  // Op i's frozen mode (Op::set_frozen; BatchNormalization's layer.trainable changed after lowering);
  // inner: the path to an op inside op i (Op::inner_op: a TimeDistributed's wrapped layer's), or none.
  void set_op_frozen(size_t i, bool frozen, const std::vector<int>& inner = {});
  size_t n_ops() const { return ops_.size(); }
  size_t param_count() const { return param_count_; }
  // What each op that adds to the loss (Op::adds_to_loss) added in the last forward, in op order.
  const std::vector<double>& last_loss_terms() const { return loss_terms_; }
  // Per-op wall time for profiling (bench/profile_ops.py): when on, every forward/backward of op i
  // adds to row i of profile() (forward s, backward s, calls); the last two rows are the losses and
  // metrics, and the optimizer update. Off by default: two clock reads per op when on, none when off.
  void set_profile(bool on);
  std::vector<std::array<double, 3>> profile() const;
  std::string op_type(size_t i) const;
  // Whether the last predict forward ran by blocks of samples (forward_by_rows), for tests and benches.
  bool ran_by_rows() const { return ran_by_rows_; }

  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  float* opt_slot(int s) { return state_[s].data(); }
  size_t arena_size() const { return params_.size(); }
  int opt_slots() const { return static_cast<int>(state_.size()); }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  size_t per_sample(int t) const { return tensors_.at(t).per_sample; }
  int n_tensors() const { return static_cast<int>(tensors_.size()); }
  size_t stats_size() const;
  double regularization_loss();

  // -- pruning (prune.h): masks kept through every training step --
  void add_mask(size_t offset, bool from_nonzero);   // offset: a segment's, as add_param returned
  size_t update_mask(size_t offset, double sparsity); // returns the entries pruned
  void set_mask(size_t offset, const uint8_t* keep, size_t n);
  std::vector<uint8_t> mask(size_t offset);
  void clear_masks();

  // -- run-time shapes (shapes.cpp; shapes.h says how shapes resolve) --
  int add_symbol(const std::string& name);
  int add_derived_symbol(int kind, const std::vector<int>& syms, const std::vector<int64_t>& consts,
                         const std::string& name = "");
  // A tensor with this template of its non-batch axes; batched = false: no batch axis, one row.
  int add_shaped_tensor(const std::vector<Dim>& dims, bool is_input, bool batched);
  // Tensor `base` seen with another template of the same size (Reshape, Flatten): no op and no copy.
  // Its values and gradient are base's buffers (ensure_capacity lends them); ops that read it see
  // these dims. A view of a view is one of the first tensor.
  int add_view_tensor(int base, const std::vector<Dim>& dims);
  // A batch-less tensor that is the weight at arena offset `offset` (a segment of add_param, with
  // as many values as dims): ops read the parameter arena in place and write the gradient arena.
  // foreign: the offset is in another program's arena (this one holds the ops a FoldOp takes).
  int add_weight_tensor(size_t offset, const std::vector<int64_t>& dims, bool foreign = false);
  const Symbols& symbols() const { return shapes_.symbols; }
  const std::vector<Dim>& dims(int t) const { return tensors_.at(t).dims; }
  bool batched(int t) const { return tensors_.at(t).batched; }
  bool is_input(int t) const { return tensors_.at(t).is_input; }
  bool is_weight(int t) const { return tensors_.at(t).alias >= 0; }
  int view_of(int t) const { return tensors_.at(t).view; }  // -1: a tensor of its own
  // The symbols' values for model inputs whose arrays have these non-batch shapes (one per input);
  // throws invalid_argument naming the input and axis that do not fit. Empty without symbols.
  std::vector<int64_t> resolve_symbols(const std::vector<std::vector<int64_t>>& input_dims) const;
  Shape resolved_shape(int t, const std::vector<int64_t>& sym) const;  // non-batch axes
  // Tensor t's full shape with every input symbol at kProbeValue and the batch at kProbeBatch:
  // what an op's build-time shape check sees (ops/prim.h).
  Shape probe_shape(int t) const;

 private:
  void apply_symbols(const std::vector<int64_t>& sym);  // per call, before the buffers are sized
  void ensure_capacity(int B, bool training);
  // in_place (predict): an input that only ops reading it in place consume (reads_in_place) is
  // pointed at the caller's rows (Tensor::ext) instead of copied; release_inputs() undoes it.
  void load_inputs(const BatchData& d, bool in_place = false);
  bool readable_in_place(int t) const;
  void release_inputs();
  // 0 / 1: inference / training for every op; -1: each op's call_training. with_targets: the
  // batch's targets are loaded (ops of mode 3 run).
  void forward(int mode, bool with_targets);
  void begin_forward();  // per forward call: the call count, the loss terms, the context's arenas
  static bool op_runs(const Op& op, bool training, bool with_targets);  // Op::mode's rule
  // predict's forward(0, false) by blocks of samples, one per thread, where every op is row-local
  // and the work is worth the team (program_rows.cpp); false, with nothing run, otherwise.
  bool forward_by_rows(int B);
  void load_targets(const BatchData& d);
  double compute_losses(const BatchData& d, bool want_grad);
  double batch_loss_value(const BatchData& d, const LossSpec& l, bool want_grad, std::vector<char>& assigned,
                          double* part);
  void backward();
  void forward_backward(const BatchData& d, uint64_t seed, uint64_t step_id, uint64_t row0, double* stats);
  void scale_grads(float s);
  void update(const UpdateArgs& u, uint64_t step);
  void apply_constraints();
  void count_metrics(const BatchData& d, double* stats);
  void write_loss_parts(const BatchData& d, double* stats) const;
  const Segment& segment_at(size_t offset) const;
  int root(int t) const { return tensors_[t].view >= 0 ? tensors_[t].view : t; }
  std::string tensor_label(int t) const;
  std::string op_memory_message(const Op& op, const char* pass) const;
  void plan();

  std::vector<Tensor> tensors_;
  std::vector<std::unique_ptr<Op>> ops_;
  bool profile_ = false;
  bool ran_by_rows_ = false;
  std::vector<std::array<double, 3>> prof_;  // per op, then losses, then update
  double* prof_slot(size_t row, int col) { return profile_ ? &prof_[row][col] : nullptr; }
  std::vector<Segment> segs_;
  std::vector<int> inputs_, outputs_;
  std::vector<std::string> labels_;  // per tensor, may be empty (set_label)
  std::vector<int> zero_before_backward_;  // outputs of reached ops that no loss reaches
  std::vector<std::vector<float>> targets_;  // this batch's targets, gathered
  std::vector<std::pair<int, int>> target_tensors_;  // (tensor, target index): add_target_tensor
  std::vector<float> row_weight_;            // per row of the loss tensor: sample weight x mask
  const float* row_weights(const BatchData& d, int tensor, int C, int mask, bool use_sw, double* total);
  std::vector<float> loss_scratch_;
  std::vector<float> ignore_w_, ignore_t_;  // a sparse loss's ignore_class: row weights, labels
  std::vector<double> loss_parts_;  // each loss's unweighted value in the last step (write_loss_parts)
  std::vector<LossSpec> losses_;
  std::vector<MetricSpec> metrics_;
  AlignedBuf params_, grads_;
  PruneMasks masks_;
  std::vector<AlignedBuf> state_;
  OptimArgs optim_;
  NadamProduct nadam_;  // Nadam's product at the last step (a cache: optim.h recomputes it from the step)
  size_t param_count_ = 0;
  bool finalized_ = false, planned_ = false;
  bool team_awake_ = false;  // the last forward_backward ran parallel GEMMs (a scheduling hint: optim.h)
  int capacity_ = 0;
  bool grads_ready_ = false;
  Ctx ctx_;
  std::vector<double> loss_terms_;  // last_loss_terms()
  std::mutex mu_;
  ShapeState shapes_;
  ParamHomes homes_;
  friend class ParamHomes;
  friend class ParamCell;
  friend class HomeLock;
};

}  // namespace bc

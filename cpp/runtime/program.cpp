#include "runtime/program.h"

#include <omp.h>

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include "core/finite.h"
#include "kernels/gemm/gemm.h"
#include "kernels/loss/loss.h"

namespace bc {

namespace {
constexpr size_t kAlign = 16;  // segments start on 64-byte boundaries

// Adds its scope's wall time to *slot (a profile() entry); with no slot (profiling off) it reads no
// clock, so the step pays nothing for the profiler.
class ScopeTimer {
 public:
  explicit ScopeTimer(double* slot) : slot_(slot) {
    if (slot_) t0_ = std::chrono::steady_clock::now();
  }
  ~ScopeTimer() {
    if (slot_) *slot_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  ScopeTimer(const ScopeTimer&) = delete;
  ScopeTimer& operator=(const ScopeTimer&) = delete;

 private:
  double* slot_;
  std::chrono::steady_clock::time_point t0_;
};
}  // namespace

Program::~Program() { homes_.release(*this); }

int Program::add_tensor(size_t per_sample, bool is_input) {
  BC_CHECK(per_sample > 0, "a tensor needs at least one value per sample");
  tensors_.emplace_back();
  tensors_.back().per_sample = per_sample;
  tensors_.back().is_input = is_input;
  tensors_.back().dims = {Dim{static_cast<int64_t>(per_sample), -1}};
  tensors_.back().shape.nd = 1;
  tensors_.back().shape.d[0] = static_cast<int64_t>(per_sample);
  planned_ = false;
  capacity_ = 0;
  return static_cast<int>(tensors_.size()) - 1;
}

size_t Program::add_param(size_t n, float l1, float l2, bool trainable, const ConstraintArgs& constraint,
                          size_t rows, size_t mid, size_t last) {
  BC_CHECK(!finalized_, "parameters cannot be added after finalize()");
  BC_CHECK(rows > 0 && n % rows == 0, "a constrained parameter's rows must divide its size");
  BC_CHECK((mid == 0) == (last == 0) && (mid == 0 || n % (mid * last) == 0),
           "a parameter's last two axes (mid, last) must both be 0 or divide its size");
  check_constraint(constraint);
  size_t off = (param_count_ + kAlign - 1) / kAlign * kAlign;
  segs_.push_back({off, n, l1, l2, trainable, constraint, rows, mid, last});
  param_count_ = off + n;
  return off;
}

void Program::add_op(std::unique_ptr<Op> op) {
  for (int t : op->in) BC_CHECK(t >= 0 && t < n_tensors(), "op input names an unknown tensor");
  for (int t : op->out) BC_CHECK(t >= 0 && t < n_tensors(), "op output names an unknown tensor");
  for (size_t p : op->params) BC_CHECK(p < param_count_ || param_count_ == 0, "op names an unknown parameter");
  ops_.push_back(std::move(op));
  planned_ = false;
}

std::vector<std::unique_ptr<Op>> Program::take_ops() {
  planned_ = false;
  std::vector<std::unique_ptr<Op>> ops = std::move(ops_);
  ops_.clear();
  return ops;
}

std::vector<Tensor> Program::take_tensors() {
  planned_ = false;
  std::vector<Tensor> t = std::move(tensors_);
  tensors_.clear();
  labels_.clear();
  return t;
}

void Program::set_op_mode(int start, int end, int mode) {
  BC_CHECK(mode >= 0 && mode <= 4, "op mode must be 0 (always), 1 (training), 2 (inference), 3 (with targets) or 4 "
                                  "(never: retired)");
  BC_CHECK(0 <= start && start <= end && end <= static_cast<int>(n_ops()), "op range out of bounds");
  for (int i = start; i < end; ++i) ops_[i]->mode = mode;
}

int Program::add_target_tensor(int target, const std::vector<Dim>& dims) {
  BC_CHECK(target >= 0, "a target tensor needs a target index >= 0, got " + std::to_string(target));
  const int t = add_shaped_tensor(dims, true, true);
  target_tensors_.emplace_back(t, target);
  return t;
}

bool Program::has_loss_terms() const {
  for (const auto& op : ops_)
    if (op->is_loss_term() && op->mode != 4) return true;
  return false;
}

void Program::set_inputs(const std::vector<int>& t) {
  for (int i : t) BC_CHECK(i >= 0 && i < n_tensors() && tensors_[i].is_input && tensors_[i].view < 0, "not an input tensor");
  inputs_ = t;
}

void Program::set_outputs(const std::vector<int>& t) {
  for (int i : t) BC_CHECK(i >= 0 && i < n_tensors(), "output names an unknown tensor");
  for (int i : t) BC_CHECK(tensors_[i].batched, "a model output has a batch axis");
  outputs_ = t;
}

void Program::finalize() {
  BC_CHECK(!finalized_, "finalize() was already called");
  size_t n = (param_count_ + kAlign - 1) / kAlign * kAlign;
  try {
    params_.resize(n);
    grads_.resize(n);
  } catch (const std::bad_alloc&) {
    params_.resize(0);
    throw OutOfMemory("cannot allocate the parameter arena: " + std::to_string(n) + " weights and as many "
                      "gradients need " + std::to_string(2 * n * sizeof(float)) + " bytes");
  }
  finalized_ = true;
}

void Program::set_losses(const std::vector<LossSpec>& l) {
  for (const auto& s : l) {
    BC_CHECK(s.tensor >= 0 && s.tensor < n_tensors(), "loss names an unknown tensor");
    BC_CHECK(!tensors_[s.tensor].is_input, "a loss reads a model input directly: inputs have no gradient buffer "
                                           "(copy the input to an output tensor first)");
    BC_CHECK((tensors_[s.tensor].batched || s.kind == LOSS_VALUES) && (s.mask < 0 || tensors_[s.mask].batched),
             "a loss's tensors have a batch axis");
    BC_CHECK(s.kind >= LOSS_MSE && s.kind <= LOSS_TVERSKY, "unknown loss kind " + std::to_string(s.kind));
    BC_CHECK(s.C > 0 && tensors_[s.tensor].per_sample % s.C == 0, "loss width does not divide the tensor");
  }
  losses_ = l;
  planned_ = false;
}

void Program::set_metrics(const std::vector<MetricSpec>& m) {
  for (const auto& s : m) {
    BC_CHECK(s.tensor >= 0 && s.tensor < n_tensors(), "metric names an unknown tensor");
    BC_CHECK((tensors_[s.tensor].batched || s.kind == MET_VALUES || s.kind == MET_SUMS) &&
                 (s.mask < 0 || tensors_[s.mask].batched),
             "a metric's tensors have a batch axis");
    BC_CHECK(s.kind != MET_SUMS || (!tensors_[s.tensor].batched && static_cast<size_t>(s.C) == tensors_[s.tensor].per_sample),
             "summed metric numbers are one batch-less tensor of C values");
    BC_CHECK(s.C > 0 && tensors_[s.tensor].per_sample % s.C == 0, "metric width does not divide the tensor");
    BC_CHECK(s.kind >= MET_SPARSE_CAT_ACC && s.kind <= MET_SUMS, "unknown metric kind " + std::to_string(s.kind));
    BC_CHECK(s.kind != MET_LOSS || (s.params.loss_kind >= LOSS_MSE && s.params.loss_kind <= LOSS_CATEGORICAL_HINGE),
             "a loss metric needs a known loss kind, got " + std::to_string(s.params.loss_kind));
    const auto& th = s.params.thresholds;
    if (s.kind == MET_TOP_K || s.kind == MET_SPARSE_TOP_K)
      BC_CHECK(s.params.k >= 1, "top-k accuracy needs k >= 1, got " + std::to_string(s.params.k));
    if (s.kind == MET_CONFUSION) {
      BC_CHECK(!th.empty() && (!s.params.evenly || th.size() >= 2), "confusion counts need thresholds");
      BC_CHECK(!s.params.evenly || std::is_sorted(th.begin(), th.end()), "evenly spaced thresholds must be ascending");
      BC_CHECK(s.params.class_id < s.C, "class_id " + std::to_string(s.params.class_id) +
                                            " is out of range for an output of width " + std::to_string(s.C));
      BC_CHECK(s.params.label_weights.empty() || s.params.label_weights.size() == static_cast<size_t>(s.C),
               "label_weights need one value per output column (" + std::to_string(s.C) + "), got " +
                   std::to_string(s.params.label_weights.size()));
    }
  }
  metrics_ = m;
}

size_t Program::stats_size() const {
  size_t n = 1;
  for (const auto& s : metrics_) n += metric_width(s.kind, s.params, s.C);
  return n + (losses_.size() > 1 ? losses_.size() : 0);
}

// After the metrics, with several losses: each loss's unweighted value (Keras logs them as
// "<output>_loss") times the batch's rows, so that sums over batches (and ranks) stay means.
void Program::write_loss_parts(const BatchData& d, double* stats) const {
  if (losses_.size() < 2) return;
  size_t off = 1;
  for (const auto& s : metrics_) off += metric_width(s.kind, s.params, s.C);
  for (size_t i = 0; i < losses_.size(); ++i) stats[off + i] = loss_parts_[i] * d.count;
}

void Program::set_optimizer(const OptimArgs& base, int slots, float slot_init) {
  BC_CHECK(finalized_, "set_optimizer() needs a finalized program");
  check_optim_args(base);
  const int ema = base.use_ema ? 1 : 0, acc = base.gradient_accumulation_steps ? 1 : 0;
  BC_CHECK(slots >= ema + acc && slots <= 3 + ema + acc,
           "an optimizer has at most 3 state slots, and one more for gradient accumulation and for its EMA");
  std::vector<AlignedBuf> state(slots);  // all or nothing: a failed allocation leaves the old state
  try {
    for (auto& s : state) s.resize(params_.size());
  } catch (const std::bad_alloc&) {
    throw OutOfMemory("cannot allocate the optimizer state: " + std::to_string(slots) + " slots of " +
                      std::to_string(params_.size() * sizeof(float)) + " bytes");
  }
  for (size_t k = 0; k < state.size(); ++k)
    std::fill_n(state[k].data(), state[k].size(), k == 0 && k + ema + acc < state.size() ? slot_init : 0.0f);
  auto lock = lock_params();
  optim_ = base;
  state_ = std::move(state);
}

void Program::set_optimizer_args(const OptimArgs& base) {
  check_optim_args(base);
  BC_CHECK(base.use_ema == optim_.use_ema, "use_ema cannot change after compile (it sets the state slots)");
  BC_CHECK((base.gradient_accumulation_steps != 0) == (optim_.gradient_accumulation_steps != 0),
           "gradient accumulation cannot be turned on or off after compile (it sets the state slots)");
  auto lock = lock_params();
  optim_ = base;
}

void Program::ema_exchange(int how) {
  auto lock = lock_params();
  BC_CHECK(optim_.use_ema && !state_.empty(), "the optimizer keeps no moving average of the weights (use_ema=False)");
  bc::ema_exchange(segs_, params_.data(), state_.back().data(), how);
  masks_.apply(params_.data());
}

// Decides, once per configuration, which losses fuse with their producer's activation and
// which gradients each op assigns or accumulates (see op.h).
void Program::plan() {
  std::vector<int> consumers(tensors_.size(), 0), loss_count(tensors_.size(), 0);
  std::vector<Op*> producer(tensors_.size(), nullptr);
  // A view shares its tensor's gradient: what reads or reaches a view counts for the tensor (root).
  for (auto& op : ops_) {
    for (int t : op->in) consumers[root(t)]++;
    for (int t : op->out) producer[t] = op.get();
    op->loss_gives_dz = false;
  }
  for (auto& l : losses_) loss_count[root(l.tensor)]++;
  for (auto& l : losses_) {
    l.fused_act = -1;
    Op* p = producer[l.tensor];  // none for a view: its last axis need not be the activation's
    if (!p || l.from_logits || consumers[l.tensor] || loss_count[root(l.tensor)] != 1) continue;
    int act = p->fusable_act();
    bool cce = l.kind == LOSS_CCE || l.kind == LOSS_SPARSE_CCE;
    if ((cce && act == ACT_SOFTMAX) || (l.kind == LOSS_BCE && act == ACT_SIGMOID)) {
      l.fused_act = act;
      p->loss_gives_dz = true;
    }
  }
  zero_before_backward_.clear();
  std::set<int> reached;
  for (auto& l : losses_) reached.insert(root(l.tensor));
  std::set<size_t> written;
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    Op& op = **it;
    op.need_dx.assign(op.in.size(), 0);
    op.accum_dx.assign(op.in.size(), 0);
    op.accum_dw.assign(op.params.size(), 0);
    bool any = op.is_loss_term();
    for (int t : op.out) any = any || reached.count(t);
    op.skip_backward = !any;
    if (!any) continue;
    for (int t : op.out)
      if (!reached.count(t)) zero_before_backward_.push_back(t);
    for (size_t i = 0; i < op.in.size(); ++i) {
      int t = op.in[i];
      if (tensors_[t].is_input) continue;
      if (tensors_[t].alias >= 0) {  // a weight read as a tensor: its gradient is the arena's segment
        const size_t seg = static_cast<size_t>(tensors_[t].alias);
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
  // Segments no op writes keep a zero gradient.
  std::fill_n(grads_.data(), grads_.size(), 0.0f);  // not memset: data() is null when empty
  planned_ = true;
}

// Values are sized for the largest batch (and run-time shape) seen; gradients, once training has
// started, always for the same capacity (an inference batch larger than any training batch grows
// both). Buffers only grow. Weights read as tensors live in the arenas.
void Program::ensure_capacity(int B, bool training) {
  const bool grads = training || grads_ready_;
  if (B <= capacity_ && grads == grads_ready_ && !shapes_.resized) return;
  const int cap = std::max(B, capacity_);
  size_t k = 0;  // a failed resize leaves the buffer as it was, so capacity_ stays true
  try {
    for (; k < tensors_.size(); ++k) {
      Tensor& t = tensors_[k];
      if (t.alias >= 0 || t.view >= 0) continue;
      const size_t n = (t.batched ? cap : 1) * t.per_sample;
      if (t.val.size() < n) t.val.resize(n);
      if (grads && !t.is_input && t.grad.size() < n) t.grad.resize(n);
    }
  } catch (const std::bad_alloc&) {
    size_t total = 0;
    for (const auto& t : tensors_)
      if (t.alias < 0 && t.view < 0) total += (t.batched ? cap : 1) * t.per_sample * sizeof(float) * (grads && !t.is_input ? 2 : 1);
    const size_t rows = tensors_[k].batched ? cap : 1;
    throw OutOfMemory("cannot allocate " + std::to_string(rows * tensors_[k].per_sample * sizeof(float)) +
                      " bytes for " + tensor_label(static_cast<int>(k)) + " (a batch of " + std::to_string(rows) +
                      " samples x " + std::to_string(tensors_[k].per_sample) + " values); the batch's activations " +
                      (grads ? "and their gradients " : "") + "need " + std::to_string(total) +
                      " bytes in all: use a smaller batch_size");
  }
  for (Tensor& t : tensors_)  // after every resize: the views' tensors may have moved
    if (t.view >= 0 && t.alias < 0) {
      Tensor& r = tensors_[t.view];
      t.val.borrow(r.val.data(), r.val.size());
      t.grad.borrow(r.grad.data(), r.grad.size());
    }
  grads_ready_ = grads;
  capacity_ = cap;
  shapes_.resized = false;
}

// Whether input tensor t may be read from the caller's array for a forward pass: no view borrows
// its buffer, it is no output (copied out of its own buffer), and every op reading it reads it in
// place (Dense: the GEMM takes the rows as they are), so nothing writes to it or reads its buffer.
bool Program::readable_in_place(int t) const {
  const Tensor& x = tensors_[t];
  if (!x.batched || x.alias >= 0 || x.view >= 0) return false;
  for (const Tensor& v : tensors_)
    if (v.view == t) return false;
  if (std::find(outputs_.begin(), outputs_.end(), t) != outputs_.end()) return false;
  bool read = false;
  for (const auto& op : ops_)
    for (size_t i = 0; i < op->in.size(); ++i)
      if (op->in[i] == t) {
        if (!op->reads_in_place(static_cast<int>(i))) return false;
        read = true;
      }
  return read;
}

void Program::release_inputs() {
  for (int t : inputs_) tensors_[t].ext = nullptr;
}

// Copies the batch rows (gathered through idx when shuffled) into the input tensors, or, for
// predict's consecutive rows (in_place), points the inputs that allow it at the caller's rows:
// batch-256 MLP predict spent a tenth of its time copying 800 KB of images.
void Program::load_inputs(const BatchData& d, bool in_place) {
  BC_CHECK(d.arrays->x.size() == inputs_.size(), "the model expects " + std::to_string(inputs_.size()) +
                                             " input arrays, got " + std::to_string(d.arrays->x.size()));
  for (int i = 0; i < d.count; ++i) {
    const int64_t r = d.idx ? d.idx[d.start + i] : static_cast<int64_t>(d.start + i);
    BC_CHECK(r >= 0 && static_cast<size_t>(r) < d.arrays->n_rows, "batch row index out of range");
  }
  for (size_t k = 0; k < inputs_.size(); ++k) {
    const size_t ps = tensors_[inputs_[k]].per_sample;
    const bool ext = in_place && !d.idx && readable_in_place(inputs_[k]);
    // (const_cast: readable_in_place guarantees that only reads go through the pointer)
    if (ext) tensors_[inputs_[k]].ext = const_cast<float*>(d.arrays->x[k]) + d.start * ps;
    if (ext && !d.check_finite) continue;
    float* dst = ext ? tensors_[inputs_[k]].ext : tensors_[inputs_[k]].val.data();
    // Large batches (a serving call's 256 images) copy on the team, in row chunks of about 32K
    // values, as many for each thread (7 chunks of 41 images had left one thread 164 rows, the
    // other 92); each chunk notes its first non-finite value and the earliest row's is raised
    // after the copy.
    const int team = omp_in_parallel() ? 1 : std::max(1, get_num_threads());
    const size_t values = static_cast<size_t>(d.count) * std::max<size_t>(ps, 1);
    int chunks = static_cast<int>(std::min<size_t>(d.count, (values + (size_t(1) << 15) - 1) >> 15));
    if (chunks > 1) chunks = std::min(d.count, (chunks + team - 1) / team * team);
    chunks = std::max(chunks, 1);
    const int rows_per = (d.count + chunks - 1) / chunks;
    std::vector<size_t> bad(chunks, ps);
    std::vector<int> bad_row(chunks, -1);
    // Shuffled rows lie anywhere in the caller's array: the next row's lines are requested while
    // this one is copied, so their memory latency overlaps the copy.
    const size_t row_bytes = ps * sizeof(float);
    auto copy = [&](int ch) {
      const int i1 = std::min(d.count, (ch + 1) * rows_per);
      for (int i = ch * rows_per; i < i1; ++i) {
        const int64_t r = d.idx ? d.idx[d.start + i] : static_cast<int64_t>(d.start + i);
        if (!ext && d.idx && i + 1 < i1) {
          const char* next = reinterpret_cast<const char*>(d.arrays->x[k] + d.idx[d.start + i + 1] * ps);
          for (size_t o = 0; o < row_bytes; o += 64) __builtin_prefetch(next + o, 0, 3);
        }
        if (!ext) std::memcpy(dst + i * ps, d.arrays->x[k] + r * ps, ps * sizeof(float));
        if (!d.check_finite) continue;
        const size_t j = first_nonfinite(dst + i * ps, ps);  // the row just copied (in cache), or the caller's
        if (j < ps) {
          bad[ch] = j;
          bad_row[ch] = i;
          return;
        }
      }
    };
    const int threads = std::min(team, chunks);
    if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
      for (int ch = 0; ch < chunks; ++ch) copy(ch);
    } else {
      for (int ch = 0; ch < chunks; ++ch) copy(ch);
    }
    for (int ch = 0; ch < chunks; ++ch)
      if (bad_row[ch] >= 0) {
        const int i = bad_row[ch];
        const int64_t r = d.idx ? d.idx[d.start + i] : static_cast<int64_t>(d.start + i);
        throw NonFiniteInput(static_cast<int>(k), static_cast<size_t>(r), bad[ch]);
      }
  }
}

void Program::load_targets(const BatchData& d) {
  targets_.resize(d.arrays->y.size());
  for (size_t k = 0; k < d.arrays->y.size(); ++k) {
    size_t w = d.arrays->y_width[k];
    targets_[k].resize(d.count * w);
    for (int i = 0; i < d.count; ++i) {
      int64_t r = d.idx ? d.idx[d.start + i] : static_cast<int64_t>(d.start + i);
      std::memcpy(targets_[k].data() + i * w, d.arrays->y[k] + r * w, w * sizeof(float));
    }
  }
  for (const auto& [t, k] : target_tensors_) {
    BC_CHECK(static_cast<size_t>(k) < targets_.size(), "a custom loss or metric reads target " + std::to_string(k) +
                                                         ", but the batch has " + std::to_string(targets_.size()));
    const size_t ps = tensors_[t].per_sample, w = d.arrays->y_width[k];
    BC_CHECK(ps == w, "target " + std::to_string(k) + " has " + std::to_string(w) + " values per sample, but the "
                      "custom loss or metric was traced for " + std::to_string(ps));
    if (d.count > 0) std::memcpy(tensors_[t].val.data(), targets_[k].data(), d.count * w * sizeof(float));
  }
}

void Program::begin_forward() {
  ++ctx_.calls;
  ctx_.extra_loss = 0.0;
  loss_terms_.clear();
  ctx_.tensors = &tensors_;
  ctx_.params = params_.data();
  ctx_.grads = grads_.data();
}

// An op of one mode only (Op::mode, a traced call() that branches on training) skips the other.
bool Program::op_runs(const Op& op, bool training, bool with_targets) {
  return !(op.mode == (training ? 2 : 1) || (op.mode == 3 && !with_targets) || op.mode == 4);
}

void Program::forward(int mode, bool with_targets) {
  begin_forward();
  // mode 0 / 1: every op in inference / training; -1: each op as its layer call's training= says.
  for (auto& op : ops_) {
    const bool training = mode < 0 ? op->call_training : mode > 0;
    if (!op_runs(*op, training, with_targets)) continue;
    ctx_.training = training;
    try {
      const size_t i = static_cast<size_t>(&op - ops_.data());
      ScopeTimer timer(prof_slot(i, 0));
      const double before = ctx_.extra_loss;
      op->forward(ctx_);
      if (op->adds_to_loss()) loss_terms_.push_back(ctx_.extra_loss - before);
      if (profile_) prof_[i][2] += 1;
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(op_memory_message(*op, "forward"));
    }
  }
}

void Program::set_call_training(size_t first_op, bool training) {
  auto lock = lock_params();  // the program's lock, inside the fork gate like every other section
  BC_CHECK(first_op <= ops_.size(), "set_call_training: no op " + std::to_string(first_op));
  for (size_t i = first_op; i < ops_.size(); ++i) ops_[i]->call_training = training;
}

void Program::set_param_trainable(size_t offset, bool trainable) {
  auto lock = lock_params();
  for (Segment& s : segs_)
    if (s.offset == offset) {
      s.trainable = trainable;
      return;
    }
  BC_CHECK(false, "set_param_trainable: no parameter at offset " + std::to_string(offset));
}

bool Program::grads_finite(float scale) const {
  const float* g = grads_.data();
  for (const Segment& s : segs_) {
    if (!s.trainable) continue;
    for (size_t i = s.offset; i < s.offset + s.size; ++i)
      if (!std::isfinite(g[i] * scale)) return false;
  }
  return true;
}

void Program::set_op_frozen(size_t i, bool frozen, const std::vector<int>& inner) {
  auto lock = lock_params();
  BC_CHECK(i < ops_.size(), "set_op_frozen: no op " + std::to_string(i));
  Op* op = ops_[i].get();
  for (int j : inner) {
    op = j >= 0 ? op->inner_op(static_cast<size_t>(j)) : nullptr;
    BC_CHECK(op != nullptr, "set_op_frozen: op " + std::to_string(i) + " has no inner op " + std::to_string(j));
  }
  BC_CHECK(op->set_frozen(frozen), "set_op_frozen: op " + std::to_string(i) + " has no frozen mode");
}

std::string Program::tensor_label(int t) const {
  return t < static_cast<int>(labels_.size()) && !labels_[t].empty() ? labels_[t] : "tensor " + std::to_string(t);
}

void Program::set_label(int t, const std::string& label) {
  BC_CHECK(t >= 0 && t < n_tensors(), "set_label names an unknown tensor");
  if (labels_.size() < tensors_.size()) labels_.resize(tensors_.size());
  labels_[t] = label;
}

std::string Program::op_memory_message(const Op& op, const char* pass) const {
  return "out of memory in the " + std::string(pass) + " pass of the op making " +
         (op.out.empty() ? std::string("no output") : tensor_label(op.out[0])) + " (a batch of " +
         std::to_string(ctx_.B) + " samples): use a smaller batch_size";
}

// Per-row weights of a loss or metric on `tensor`: the sample weight (losses only) times the
// mask, or null when neither applies. *total: the Keras denominator (rows, or the mask's sum).
const float* Program::row_weights(const BatchData& d, int tensor, int C, int mask, bool use_sw,
                                  double* total) {
  const int per = static_cast<int>(tensors_[tensor].per_sample / C);  // rows per sample
  const int rows = d.count * per;
  *total = rows;
  const bool sw = use_sw && d.arrays->sample_weight;
  if (!sw && mask < 0) return nullptr;
  BC_CHECK(mask < 0 || tensors_[mask].per_sample == static_cast<size_t>(per),
           "a mask must have one value per timestep of the output");
  const size_t width = d.arrays->sw_width;
  BC_CHECK(!sw || width == 1 || width == static_cast<size_t>(per),
           "sample_weight has " + std::to_string(width) + " weights per sample, but this output has " +
               std::to_string(per) + " timesteps: give one weight per sample or one per timestep");
  row_weight_.resize(rows);
  double msum = 0.0;
  for (int r = 0; r < rows; ++r) {
    float w = 1.0f;
    if (sw) {
      int i = r / per;
      int64_t src = d.idx ? d.idx[d.start + i] : static_cast<int64_t>(d.start + i);
      w = d.arrays->sample_weight[src * width + (width > 1 ? r % per : 0)];
    }
    if (mask >= 0) {
      float m = tensors_[mask].val.data()[r];
      w *= m;
      msum += m;
    }
    row_weight_[r] = w;
  }
  if (mask >= 0) *total = msum;
  return row_weight_.data();
}

// A custom loss that returned a batch-less value (a loss function that reduced the batch itself):
// Keras reduces the values times the sample weights over their elements, i.e. the value's mean
// times the batch's mean sample weight. Returns weight x that; *part: the unweighted value.
double Program::batch_loss_value(const BatchData& d, const LossSpec& l, bool want_grad, std::vector<char>& assigned,
                                 double* part) {
  const size_t n = tensors_[l.tensor].per_sample;
  double f = 1.0;
  if (d.arrays->sample_weight) {
    f = 0.0;  // the mean of every weight of the batch (per timestep too, for temporal weights)
    const size_t width = d.arrays->sw_width;
    for (int i = 0; i < d.count; ++i) {
      const int64_t r = d.idx ? d.idx[d.start + i] : static_cast<int64_t>(d.start + i);
      for (size_t j = 0; j < width; ++j) f += d.arrays->sample_weight[r * width + j];
    }
    f /= static_cast<double>(d.count) * width;
  }
  const float fw = static_cast<float>(f);
  const bool add = want_grad && assigned[root(l.tensor)];
  loss_scratch_.resize(n);
  float* dst = want_grad && !add ? tensors_[l.tensor].grad.data() : loss_scratch_.data();
  const double v = loss_forward_backward(dst, tensors_[l.tensor].val.data(), nullptr, &fw, 1, static_cast<int>(n),
                                         LOSS_VALUES, false, -1, 0.0f, LossParams{}, l.weight);
  if (add)
    for (size_t i = 0; i < n; ++i) tensors_[l.tensor].grad.data()[i] += loss_scratch_[i];
  assigned[root(l.tensor)] = 1;
  *part = v;
  return l.weight * v;
}

// Keras's "sum_over_batch_size": each loss is the mean over all its rows (samples x timesteps).
double Program::compute_losses(const BatchData& d, bool want_grad) {
  std::vector<char> assigned(tensors_.size(), 0);
  double total = 0.0;
  loss_parts_.assign(losses_.size(), 0.0);
  for (size_t li = 0; li < losses_.size(); ++li) {
    const auto& l = losses_[li];
    if (l.kind == LOSS_VALUES && !tensors_[l.tensor].batched) {
      total += batch_loss_value(d, l, want_grad, assigned, &loss_parts_[li]);
      continue;
    }
    const bool values = l.kind == LOSS_VALUES;  // computed by the graph: no target
    BC_CHECK(values || (l.target >= 0 && static_cast<size_t>(l.target) < targets_.size()),
             "a loss names a target array that was not given");
    const size_t ps = tensors_[l.tensor].per_sample;
    const int per = static_cast<int>(ps / l.C);  // rows per sample (timesteps)
    const int rows = d.count * per;
    const size_t want = l.kind == LOSS_SPARSE_CCE ? ps / l.C : ps;
    BC_CHECK(values || d.arrays->y_width[l.target] == want, "target width " +
             std::to_string(values ? 0 : d.arrays->y_width[l.target]) + " does not match the output (expected " +
             std::to_string(want) + ")");
    double denom = rows;
    const float* sw = row_weights(d, l.tensor, l.C, l.mask, true, &denom);
    const float* tgt = values ? nullptr : targets_[l.target].data();
    if (l.kind == LOSS_SPARSE_CCE && l.params.size() == 2 && l.params[0] != 0.0f) {
      // ignore_class (Keras): those rows weigh 0 and leave the mean's count, their label read as 0
      const float ignore = l.params[1];
      ignore_w_.resize(rows);
      ignore_t_.assign(tgt, tgt + rows);
      double valid = 0.0;
      for (int r = 0; r < rows; ++r) {
        const bool keep = ignore_t_[r] != ignore;
        ignore_w_[r] = keep ? (sw ? sw[r] : 1.0f) : 0.0f;  // sw already holds the mask
        if (keep)
          valid += l.mask >= 0 ? tensors_[l.mask].val.data()[r] : 1.0f;
        else
          ignore_t_[r] = 0.0f;
      }
      sw = ignore_w_.data();
      tgt = ignore_t_.data();
      denom = valid;
    }
    float* dst = tensors_[l.tensor].grad.data();
    bool add = want_grad && assigned[root(l.tensor)];  // a view's gradient is its tensor's
    if (!want_grad || add) {
      loss_scratch_.resize(static_cast<size_t>(rows) * l.C);
      dst = loss_scratch_.data();
    }
    double s = loss_forward_backward(dst, tensors_[l.tensor].val.data(), tgt, sw,
                                     rows, l.C, l.kind, l.from_logits, l.fused_act,
                                     l.label_smoothing, l.params, denom > 0 ? l.weight / denom : 0.0f);
    if (add) {
      float* g = tensors_[l.tensor].grad.data();
      for (size_t i = 0; i < loss_scratch_.size(); ++i) g[i] += loss_scratch_[i];
    }
    assigned[root(l.tensor)] = 1;
    loss_parts_[li] = denom > 0 ? s / denom : 0.0;
    total += denom > 0 ? l.weight * s / denom : 0.0;
  }
  return total;
}

void Program::backward() {
  for (int t : zero_before_backward_)
    if (tensors_[t].alias < 0) std::memset(tensors_[t].grad.data(), 0, ctx_.numel(t) * sizeof(float));
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    Op& op = **it;
    if (op.skip_backward) continue;
    if (op.mode == 2) {  // an inference-only op did not run: the gradients it would start are zero
      for (size_t i = 0; i < op.in.size(); ++i)
        if (op.need_dx[i] && !op.accum_dx[i]) std::memset(ctx_.grad(op.in[i]), 0, ctx_.numel(op.in[i]) * sizeof(float));
      for (size_t j = 0; j < op.params.size(); ++j)
        if (!op.accum_dw[j])
          for (const auto& s : segs_)
            if (s.offset == op.params[j]) std::memset(grads_.data() + s.offset, 0, s.size * sizeof(float));
      continue;
    }
    try {
      ScopeTimer timer(prof_slot(static_cast<size_t>(&*it - ops_.data()), 1));
      op.backward(ctx_);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory(op_memory_message(op, "backward"));
    }
  }
}

double Program::regularization_loss() {
  double total = 0.0;
  for (const auto& s : segs_) {
    if (!s.trainable || (s.l1 == 0.0f && s.l2 == 0.0f)) continue;  // Keras: trainable weights only
    double a = 0.0, q = 0.0;
    kernels().abs_sq_sum(params_.data() + s.offset, s.size, &a, &q);
    total += s.l1 * a + s.l2 * q;
  }
  return total;
}

void Program::update(const UpdateArgs& u, uint64_t step) {
  ScopeTimer timer(prof_slot(ops_.size() + 1, 0));
  optimizer_update(segs_, params_.data(), grads_.data(), state_, param_count_, optim_, u, step, team_awake_);
}

void Program::set_profile(bool on) {
  auto lock = lock_params();
  profile_ = on;
  prof_.assign(ops_.size() + 2, {0.0, 0.0, 0.0});
}

std::vector<std::array<double, 3>> Program::profile() const { return prof_; }

std::string Program::op_type(size_t i) const {
  BC_CHECK(i < ops_.size(), "op index out of range");
  const Op& op = *ops_[i];
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(op).name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : typeid(op).name();
  std::free(name);
  return out;
}

void Program::apply_constraints() { bc::apply_constraints(segs_, params_.data()); }

const Segment& Program::segment_at(size_t offset) const {
  for (const auto& s : segs_)
    if (s.offset == offset) return s;
  throw std::invalid_argument("no parameter starts at arena offset " + std::to_string(offset));
}

void Program::add_mask(size_t offset, bool from_nonzero) {
  auto lock = lock_params();
  BC_CHECK(finalized_, "masks need a finalized program");
  masks_.add(params_.data(), offset, segment_at(offset).size, from_nonzero);
}

size_t Program::update_mask(size_t offset, double sparsity) {
  auto lock = lock_params();
  return masks_.update(params_.data(), offset, sparsity);
}

void Program::set_mask(size_t offset, const uint8_t* keep, size_t n) {
  auto lock = lock_params();
  masks_.set(params_.data(), offset, keep, n);
}

std::vector<uint8_t> Program::mask(size_t offset) {
  auto lock = lock_params();
  const auto& m = masks_.get(offset);
  return std::vector<uint8_t>(m.keep.data(), m.keep.data() + m.size);
}

void Program::clear_masks() {
  auto lock = lock_params();
  masks_.clear();
}

// stats[1..]: each metric's metric_width() values, in order.
void Program::count_metrics(const BatchData& d, double* stats) {
  double* out = stats + 1;
  for (const auto& s : metrics_) {
    const size_t ps = tensors_[s.tensor].per_sample;
    const bool batched = tensors_[s.tensor].batched;
    const float* target = nullptr;
    int rows = d.count * static_cast<int>(ps / s.C), C = s.C;
    if (s.kind == MET_VALUES || s.kind == MET_SUMS) {  // values the graph computed: no target
      if (!batched) {  // one number (or MET_SUMS's C numbers) per batch, as Keras's Mean counts it
        rows = 1;
        C = static_cast<int>(ps);
      }
    } else {
      BC_CHECK(s.target >= 0 && static_cast<size_t>(s.target) < targets_.size(),
               "a metric names a target array that was not given");
      const bool sparse = s.kind == MET_SPARSE_CAT_ACC || s.kind == MET_SPARSE_TOP_K ||
                          (s.kind == MET_LOSS && s.params.loss_kind == LOSS_SPARSE_CCE);
      const size_t want = sparse ? ps / s.C : ps;
      BC_CHECK(d.arrays->y_width[s.target] == want, std::string(sparse ? "a sparse" : "a") +
                                                        " metric expects targets of width " + std::to_string(want) +
                                                        ", got " + std::to_string(d.arrays->y_width[s.target]));
      target = targets_[s.target].data();
    }
    const size_t width = metric_width(s.kind, s.params, s.C);
    std::fill(out, out + width, 0.0);
    double unused;
    const float* w = batched ? row_weights(d, s.tensor, s.C, s.mask, s.weighted, &unused) : nullptr;
    metric_update(tensors_[s.tensor].val.data(), target, w, rows, C, s.kind, s.params, out);
    out += width;
  }
}

// Caller holds the lock.
void Program::forward_backward(const BatchData& d, uint64_t seed, uint64_t step, uint64_t row0,
                               double* stats) {
  BC_CHECK(finalized_, "the program is not finalized");
  BC_CHECK(!losses_.empty() || has_loss_terms(), "the model has no loss: call compile() first");
  BC_CHECK(d.count > 0, "a training batch needs at least one sample");
  if (!planned_) plan();
  apply_symbols(d.arrays->sym);
  ensure_capacity(d.count, true);
  ctx_.B = d.count;
  ctx_.seed = seed;
  ctx_.step = step;
  ctx_.row0 = row0;
  load_inputs(d);
  load_targets(d);
  const unsigned long team_uses_before = team_uses();
  forward(1, true);
  {
    ScopeTimer timer(prof_slot(ops_.size(), 0));
    stats[0] = compute_losses(d, true) + regularization_loss() + ctx_.extra_loss;
    count_metrics(d, stats);
    write_loss_parts(d, stats);
  }
  backward();
  team_awake_ = team_uses() != team_uses_before;
}

void Program::train_step(const BatchData& d, double lr, uint64_t seed, uint64_t step, double* stats) {
  auto lock = lock_params();  // a shared layer's weights, if another model took them, come home first
  FlushDenormals ftz;
  const UpdateArgs u = update_args(optim_, lr, step, nadam_);  // before any work: a bad rate changes nothing
  forward_backward(d, seed, step, 0, stats);
  update(u, step);
  apply_constraints();
  masks_.apply(params_.data());  // pruned weights stay exactly zero, whatever the optimizer did
}

void Program::compute_gradients(const BatchData& d, uint64_t seed, uint64_t step, uint64_t row0,
                                float grad_scale, double* stats) {
  auto lock = lock_params();
  FlushDenormals ftz;
  BC_CHECK(std::isfinite(grad_scale), "grad_scale must be finite");
  if (d.count == 0) {  // a rank whose slice of a short last batch is empty adds nothing
    BC_CHECK(finalized_, "the program is not finalized");
    std::fill_n(grads_.data(), grads_.size(), 0.0f);  // not memset: data() is null when empty
    std::fill(stats, stats + stats_size(), 0.0);
    return;
  }
  forward_backward(d, seed, step, row0, stats);
  if (grad_scale != 1.0f) scale_grads(grad_scale);
}

void Program::apply_update(double lr, uint64_t step, float grad_scale) {
  auto lock = lock_params();
  FlushDenormals ftz;
  BC_CHECK(finalized_ && planned_, "apply_update() needs gradients from compute_gradients() first");
  BC_CHECK(std::isfinite(grad_scale), "grad_scale must be finite");
  const UpdateArgs u = update_args(optim_, lr, step, nadam_);
  if (grad_scale != 1.0f) scale_grads(grad_scale);
  update(u, step);
  apply_constraints();
  masks_.apply(params_.data());  // as train_step: pruning and data parallelism together
}

// g *= s over the trainable segments (the rest never reach the optimizer).
void Program::scale_grads(float s) {
  float* g = grads_.data();
  for (const auto& seg : segs_)
    if (seg.trainable)
      for (size_t i = seg.offset; i < seg.offset + seg.size; ++i) g[i] *= s;
}

void Program::evaluate_step(const BatchData& d, double* stats) {
  auto lock = lock_params();
  FlushDenormals ftz;
  BC_CHECK(!losses_.empty() || has_loss_terms(), "the model has no loss: call compile() first");
  if (!planned_) plan();
  if (d.count <= 0) return;
  apply_symbols(d.arrays->sym);
  ensure_capacity(d.count, false);
  ctx_.B = d.count;
  load_inputs(d);
  load_targets(d);
  forward(0, true);
  stats[0] = compute_losses(d, false) + regularization_loss() + ctx_.extra_loss;
  count_metrics(d, stats);
  write_loss_parts(d, stats);
}

void Program::predict_step(const BatchData& d, const std::vector<float*>& outs, int mode, uint64_t seed,
                           uint64_t step) {
  auto lock = lock_params();
  FlushDenormals ftz;
  BC_CHECK(outs.size() == outputs_.size(), "predict needs one output array per model output");
  BC_CHECK(mode >= -1 && mode <= 1, "predict_step: mode must be -1, 0 or 1");
  if (d.count <= 0) return;
  apply_symbols(d.arrays->sym);
  ensure_capacity(d.count, false);
  ctx_.B = d.count;
  if (mode != 0) {
    ctx_.seed = seed;
    ctx_.step = step;
    ctx_.row0 = 0;
  }
  struct Release {  // the caller's rows are only borrowed for this call, whatever it throws
    Program* p;
    ~Release() { p->release_inputs(); }
  } release{this};
  load_inputs(d, true);
  ran_by_rows_ = mode == 0 && forward_by_rows(d.count);
  if (!ran_by_rows_) forward(mode, false);
  for (size_t k = 0; k < outputs_.size(); ++k) {
    size_t ps = tensors_[outputs_[k]].per_sample;
    std::memcpy(outs[k] + d.start * ps, tensors_[outputs_[k]].val.data(), d.count * ps * sizeof(float));
  }
}

}  // namespace bc

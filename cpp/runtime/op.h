// The native program's building blocks: tensors (pre-sized activation buffers) and ops.
#pragma once
#include <memory>
#include <vector>

#include "core/common.h"
#include "runtime/shapes.h"

namespace bc {

// One activation tensor: `rows` samples of `per_sample` floats, plus its gradient. Its shape
// (shapes.h) is a template over the non-batch axes, resolved per call; per_sample is the product
// of the resolved axes. A batch-less tensor (a weight read as a tensor, a constant) has one row.
struct Tensor {
  size_t per_sample = 0;
  AlignedBuf val, grad;
  bool is_input = false;  // model inputs get no gradient
  bool batched = true;    // false: no batch axis
  long alias = -1;        // >= 0: a weight's arena offset; values and gradient live in the arenas
  int view = -1;          // >= 0: the tensor this one is, seen with another shape (its buffers borrowed)
  float* ext = nullptr;   // a predict call's rows read in place from the caller's array (load_inputs)
  std::vector<Dim> dims;  // the template of the non-batch axes
  Shape shape;            // dims resolved for this call (no batch axis)
};

// What one forward/backward call sees.
struct Ctx {
  std::vector<Tensor>* tensors = nullptr;
  float* params = nullptr;
  float* grads = nullptr;
  int B = 0;              // samples in this batch
  bool training = false;
  uint64_t seed = 0;      // with `step`, keys the dropout streams
  uint64_t step = 0;
  uint64_t row0 = 0;      // global index of this batch's first row (a data-parallel rank's slice)
  // Samples are timesteps folded into the batch (TimeDistributed, ops/fold.h): sample s is timestep
  // s % time_groups of its sequence. Batch statistics are each timestep's, as Keras 3 calls the
  // wrapped layer once per timestep (BatchNormalization).
  int time_groups = 1;
  uint64_t calls = 0;     // forward passes so far: random draws (bigcore.random) differ per call
  double extra_loss = 0.0;  // penalties ops add in forward (activity regularizers)
  uint64_t shape_epoch = 0;  // changes whenever a symbol's value does (shapes.h)
  float* val(int t) {
    Tensor& x = (*tensors)[t];
    if (x.ext) return x.ext;
    return x.alias >= 0 ? params + x.alias : x.val.data();
  }
  float* grad(int t) {
    Tensor& x = (*tensors)[t];
    return x.alias >= 0 ? grads + x.alias : x.grad.data();
  }
  size_t per_sample(int t) const { return (*tensors)[t].per_sample; }
  size_t rows(int t) const { return (*tensors)[t].batched ? static_cast<size_t>(B) : 1; }
  size_t numel(int t) const { return rows(t) * per_sample(t); }
  // The resolved shape, the batch axis (B) first for a batched tensor.
  Shape shape(int t) const {
    const Tensor& x = (*tensors)[t];
    if (!x.batched) return x.shape;
    Shape s;
    s.nd = x.shape.nd + 1;
    s.d[0] = B;
    for (int i = 0; i < x.shape.nd; ++i) s.d[i + 1] = x.shape.d[i];
    return s;
  }
};

// Gradient rule: an op assigns (=) the gradients it is first to reach in backward order and
// adds (+=) to those another op already wrote; the program decides which, once (plan()).
class Op {
 public:
  virtual ~Op() = default;
  virtual void forward(Ctx& c) = 0;
  virtual void backward(Ctx& c) = 0;
  // The activation applied last, when a loss may fuse its gradient with it (softmax/sigmoid).
  virtual int fusable_act() const { return -1; }
  // True for an op whose forward adds to Ctx::extra_loss (a traced add_loss term): the backward
  // plan starts from it as from a loss.
  virtual bool is_loss_term() const { return false; }
  // True for an op whose forward adds to Ctx::extra_loss (a loss term, an activity regularizer): the
  // program keeps each one's share of the last forward (Keras's layer.losses after an eager call).
  virtual bool adds_to_loss() const { return is_loss_term(); }
  // True where the forward only reads input `slot` as rows of per_sample floats (any alignment):
  // a model input read by such ops alone is not copied in for predict (Program::load_inputs).
  virtual bool reads_in_place(int /*slot*/) const { return false; }
  // Keras's layer.trainable changed after lowering, for an op whose computation it shapes
  // (BatchNormalization: frozen, its moving statistics only); false where the op has no such mode.
  virtual bool set_frozen(bool /*frozen*/) { return false; }
  // The ops an op runs in its own tensor table (TimeDistributed's, ops/fold.h): op j, or null.
  virtual Op* inner_op(size_t /*j*/) { return nullptr; }
  // Multiply-adds per sample where the op's inference forward is row-local: sample s of each output
  // depends on sample s of each batched input only, and nothing is kept between calls. The program
  // may then run a predict batch in blocks of samples, one per thread, each through every op
  // (forward_rows), instead of op by op with the team cutting each (Program::forward_by_rows).
  // Negative: not row-local (the default).
  virtual double row_cost(const Ctx& /*c*/) const { return -1.0; }
  // Bytes of weights a block of samples reads whole in forward_rows (Dense's kernel): by blocks,
  // every thread reads all of them, where the op-by-op forward cuts them between the threads.
  virtual double row_weight_bytes() const { return 0.0; }
  // The inference forward of samples [s0, s1) on the calling thread, with the bits forward gives
  // them; only for an op whose row_cost is >= 0. Must not throw.
  virtual void forward_rows(Ctx& /*c*/, int /*s0*/, int /*s1*/) {}

  std::vector<int> in, out;         // tensor ids
  std::vector<size_t> params;       // arena offsets of the segments this op reads
  std::vector<char> accum_dx;       // per input
  std::vector<char> need_dx;        // per input
  std::vector<char> accum_dw;       // per param segment
  bool loss_gives_dz = false;       // the loss wrote dL/dz: skip the activation's backward
  bool skip_backward = false;       // no loss depends on this op's outputs
  // When it runs (Program::set_op_mode): 0 always; 1 in training only, 2 in inference only (the two
  // traces of a custom call() that branches on `training`, joined by a SelectTrainingOp); 3 where
  // the batch has targets (a custom loss or metric: fit and evaluate, not predict); 4 never (the
  // traced losses of an earlier compile).
  int mode = 0;
  // The mode of its layer call's `training=` (Keras), in force when a run gives none (a model
  // called with training=None); fit, evaluate and predict give theirs.
  bool call_training = false;
};

}  // namespace bc

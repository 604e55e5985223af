// The optimizer pass over the parameter arena, after the gradients of one step: regularizer
// gradients, gradient clipping, one fused update (kernels/float: optim_update) per chunk of every
// trainable segment, with Keras's EMA of the weights beside it when on, then the weight constraints
// (Keras's MaxNorm, MinMaxNorm, UnitNorm, NonNeg).
#pragma once
#include <cstdint>
#include <vector>

#include "core/common.h"
#include "kernels/float/float.h"

namespace bc {

// Keras's Muon (a kind beside float.h's, run here, never by optim_update): the 2-D weights Python
// routes to it (OptimArgs::muon_offsets) take momentum, then Newton-Schulz orthogonalization of the
// update (GEMMs); every other trainable weight takes Keras's AdamW step with Muon's adam_* constants.
constexpr int OPT_MUON = 11;
// Keras's ScheduleFreeAdamW (element-wise, run here): slot 0 the z sequence (Keras's "momentum",
// which Python sets to the weights before the first step, as Keras's build does), slot 1 the
// velocity; the weights hold y, Keras's interpolation, in training and evaluation alike.
constexpr int OPT_SCHEDULE_FREE = 12;

// A weight constraint as Keras 3 computes it after each update (keras/src/constraints), on the
// segment seen as (rows, size / rows): the norms run down each column, in float after a double sum,
// with Keras's epsilon (1e-7) beside them.
enum ConstraintKind : int {
  CON_NONE = 0,
  CON_MAX_NORM = 1,      // w * clip(n, 0, max) / (eps + n)
  CON_MIN_MAX_NORM = 2,  // w * (rate * clip(n, min, max) + (1 - rate) * n) / (eps + n)
  CON_UNIT_NORM = 3,     // w / (eps + n)
  CON_NON_NEG = 4,       // max(w, 0)
};

struct ConstraintArgs {
  int kind = CON_NONE;
  float min = 0.0f, max = 0.0f;
  double rate = 1.0;  // double: 1 - rate is taken as Keras (Python) takes it, then float
};

// Throws unless `c` names a known kind with arguments Keras accepts (max > 0 for MaxNorm).
void check_constraint(const ConstraintArgs& c);

// One parameter tensor in the arena, with what the optimizer pass needs to know of it.
struct Segment {
  size_t offset = 0, size = 0;
  float l1 = 0.0f, l2 = 0.0f;
  bool trainable = true;
  ConstraintArgs constraint;  // applied after each update (kind CON_NONE: none)
  size_t rows = 1;            // the norms run over the leading axes: (rows, size / rows)
  // The last two axes of a weight of rank >= 2 (0, 0 below): Adafactor factors its second moments
  // over them, the weight seen as (size / (mid * last), mid, last).
  size_t mid = 0, last = 0;
};

// The optimizer as compiled: its constants cross from Python once (Program::set_optimizer) and
// again only when one changes; per step only the learning rate and the step count do.
struct OptimArgs {
  int kind = OPT_SGD;
  // double: Adam's bias correction is computed from these as Keras (and Python's float) does it;
  // the update itself reads them as float.
  double beta1 = 0.9, beta2 = 0.999;
  float eps = 1e-7f;
  float momentum = 0.0f;   // SGD and RMSprop
  float rho = 0.9f;        // RMSprop, Adadelta
  bool nesterov = false, amsgrad = false, centered = false;
  float weight_decay = 0.0f;  // decoupled (AdamW-style)
  // Gradient clipping as Keras does it, before the update (0: off).
  float clipnorm = 0.0f, clipvalue = 0.0f, global_clipnorm = 0.0f;
  // Keras's use_ema: the last state slot holds a moving average of every trainable weight, updated
  // after each step's update and before the constraints; every ema_overwrite_frequency-th step
  // (0: never) the weights are then set to it. Fixed at set_optimizer (the slot count depends on it).
  bool use_ema = false;
  double ema_momentum = 0.99;
  uint64_t ema_overwrite_frequency = 0;
  // Keras's gradient_accumulation_steps (0: off): a state slot, before the EMA's, sums the gradients;
  // every n-th step (step + 1 divisible by n) the update runs on (g + sum) / n and the sum restarts.
  // The update's step count (bias corrections, the EMA's) is then step / n, as Keras's iterations.
  uint64_t gradient_accumulation_steps = 0;
  // Ftrl (Keras's names, without _strength)
  double learning_rate_power = -0.5, l1 = 0.0, l2 = 0.0, l2_shrinkage = 0.0, ftrl_beta = 0.0;
  // Adafactor
  double beta2_decay = -0.8, eps1 = 1e-30, eps2 = 1e-3, clip_threshold = 1.0;
  // Muon (beta1, beta2, eps, nesterov: its adam_beta_1, adam_beta_2, epsilon, nesterov; weight_decay
  // the Muon weights'). muon_momentum in double: Keras takes momentum - 1 in Python's float.
  double muon_momentum = 0.95, muon_a = 3.4445, muon_b = -4.7750, muon_c = 2.0315;
  double adam_lr_ratio = 1.0, rms_rate = 0.2;
  bool use_rms_rate = true;  // Keras's rms_rate=None: off
  float adam_weight_decay = 0.0f;
  int ns_steps = 5;
  // The arena offsets (sorted) of the segments that take the Muon step; the rest take AdamW's.
  std::vector<uint64_t> muon_offsets;
  // ScheduleFreeAdamW: the rate grows linearly over the first warmup_steps updates (0: no warmup).
  uint64_t warmup_steps = 0;
};

// Throws unless `o` names a known kind (and an ema_momentum in [0, 1]).
void check_optim_args(const OptimArgs& o);

// Nadam's running product of momentum-schedule factors after t steps (Keras's _u_product):
// prod_{k=1..t} beta1 * (1 - 0.5 * 0.96^k), in double. A function of (beta1, t) alone, so a
// run resumed from a saved step count gets the same bits; `cache` keeps the last (beta1, t,
// product) so that consecutive steps cost one factor each rather than t.
struct NadamProduct {
  double beta1 = -1.0;
  uint64_t t = 0;
  double value = 1.0;
};
double nadam_u_product(double beta1, uint64_t t, NadamProduct& cache);

// The fused update's arguments for the step after `step` steps (t = step + 1) at learning rate
// lr. Adam: alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t); Nadam and Adamax: their per-step
// factors (UpdateArgs); each in double, then float. nadam: Nadam's product cache (the program's).
// Throws if a bias correction would divide by zero (Adam or Adamax with beta1 = 1).
UpdateArgs update_args(const OptimArgs& o, double lr, uint64_t step, NadamProduct& nadam);

// w, g: the arenas (n_params floats in use); state: the optimizer's 0 to 3 slots, arena-sized, then
// the EMA slot when o.use_ema (Adafactor keeps a segment's row and column statistics packed at the
// segment's offset of slots 0 and 1, its full second moments in slot 2). Regularizer gradients, then o's clipping, then the fused update with
// u and the EMA step (step: the iterations before this one, Keras's momentum is 0 at step 0).
// team_awake: the step ran parallel GEMMs (optim.cpp: a smaller arena then goes parallel too; the
// bits never depend on it).
void optimizer_update(const std::vector<Segment>& segs, float* w, float* g, std::vector<AlignedBuf>& state,
                      size_t n_params, const OptimArgs& o, const UpdateArgs& u, uint64_t step,
                      bool team_awake = false);

// The EMA slot against the trainable weights: Keras's finalize_variable_values (averages into the
// weights), SwapEMAWeights's swap, and its finalize (weights into the averages).
enum EmaExchange : int { EMA_TO_WEIGHTS = 0, EMA_FROM_WEIGHTS = 1, EMA_SWAP = 2 };
void ema_exchange(const std::vector<Segment>& segs, float* w, float* avg, int how);

// Each trainable segment's constraint, if it has one.
void apply_constraints(const std::vector<Segment>& segs, float* w);

}  // namespace bc

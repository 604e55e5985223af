// Losses with their gradients, and the metrics counted natively per batch.
#pragma once
#include <cstddef>
#include <vector>

namespace bc {

// Ids shared with Python (losses.py / metrics.py mirror them).
enum LossKind : int {
  LOSS_MSE = 0, LOSS_MAE = 1, LOSS_BCE = 2, LOSS_CCE = 3, LOSS_SPARSE_CCE = 4,
  LOSS_HUBER = 5, LOSS_KLD = 6, LOSS_HINGE = 7, LOSS_SQUARED_HINGE = 8, LOSS_COSINE = 9,
  LOSS_MAPE = 10, LOSS_MSLE = 11, LOSS_LOG_COSH = 12, LOSS_POISSON = 13, LOSS_CATEGORICAL_HINGE = 14,
  // A loss the graph already computed (a custom loss function traced into the program): pred holds
  // one loss value per row (C = 1), there is no target, and dL/dvalue is the row's weight.
  LOSS_VALUES = 15,
  // the focal and overlap losses (focal_overlap.cpp)
  LOSS_BINARY_FOCAL = 16, LOSS_CATEGORICAL_FOCAL = 17, LOSS_DICE = 18, LOSS_TVERSKY = 19
};
enum MetricKind : int {
  MET_SPARSE_CAT_ACC = 0, MET_CAT_ACC = 1, MET_BIN_ACC = 2, MET_MSE = 3, MET_MAE = 4,
  MET_TOP_K = 5, MET_SPARSE_TOP_K = 6,
  MET_CONFUSION = 7,    // tp, fp, tn, fn at each threshold (Precision, Recall, AUC)
  MET_CLASS_COUNTS = 8,  // tp, fp, tn, fn of each class at one threshold or the row's max (F1Score)
  MET_LOSS = 9,          // a loss function's mean over the rows (Keras's crossentropy, KL, hinge metrics)
  MET_R2 = 10,           // per column: sum w, sum w y, sum w y^2, sum w (y - p)^2; then the rows (R2Score)
  MET_VALUES = 11,       // the mean of values the graph computed (a custom metric function, Keras's MeanMetricWrapper)
  MET_SUMS = 12          // C numbers the graph computed, summed over the batches (the assign_add calls of a
                         // metric's own update_state)
};

// The loss's own numbers (losses.py: native_param). Huber: {delta}. Binary focal: {alpha, gamma,
// apply_class_balancing}. Categorical focal: {gamma, alpha} or {gamma, alpha of each of the C
// classes}. Dice: {whole_batch}. Tversky: {alpha, beta, whole_batch}.
using LossParams = std::vector<float>;

// pred (rows, C), target (rows, C) or (rows) class ids for sparse -> dpred (rows, C).
// Returns the summed per-row loss; the reduction is Keras's: mean over the last axis
// (MSE/MAE/BCE/Huber/hinges/binary focal), sum over it (CCE/KLD/cosine/categorical focal), then
// the caller divides by rows. Dice and Tversky with whole_batch are one value L over all rows
// (Keras's axis=None); they return L * sum of the row weights, so that the caller's division
// gives L * the mean weight, as Keras's sum_over_batch_size of a scalar loss does.
// dpred gets d(scale * sum)/dpred. row_loss (rows), when given, receives each row's loss
// (unweighted; the kinds of one value per row only: not the focal and overlap losses).
// fused_act: the activation that produced pred (ACT_SOFTMAX/ACT_SIGMOID) when the loss may
// write dL/dz for the pre-activation z instead (then dpred receives dz); -1 otherwise.
// sample_weight (rows) may be null.
double loss_forward_backward(float* dpred, const float* pred, const float* target,
                             const float* sample_weight, int rows, int C, int kind,
                             bool from_logits, int fused_act, float label_smoothing,
                             const LossParams& params, float scale, float* row_loss = nullptr);

// What a metric needs beyond its kind.
struct MetricParams {
  float threshold = 0.5f;         // binary accuracy
  int k = 5;                      // top-k accuracies
  std::vector<float> thresholds;  // confusion counts, ascending
  bool evenly = false;            // thresholds are i / (n - 1) (ends may be nudged by epsilon):
                                  // Keras then buckets predictions instead of comparing
  bool from_logits = false;       // confusion counts of sigmoid(pred)
  int class_id = -1;              // confusion counts of one column only
  bool multi_label = false;       // confusion counts per column (C blocks of 4 x thresholds): Keras's
                                  // AUC(multi_label=True)
  std::vector<float> label_weights;  // confusion counts: column j's weights times label_weights[j]
  bool row_max = false;           // class counts: positive where the row's max (Keras's F-score
                                  // with threshold=None), not where above `threshold`
  int loss_kind = -1;             // MET_LOSS: the LossKind, with from_logits and these two
  float label_smoothing = 0.0f;
  LossParams loss_params;
};

// Values metric_update adds per batch: (sum, count), 4 per threshold for MET_CONFUSION, 4 per
// class (C) for MET_CLASS_COUNTS, 4 per column (C) and the row count for MET_R2.
size_t metric_width(int kind, const MetricParams& p, int C);

// Adds this batch's counts to out[0 .. metric_width); row_weight (rows) may be null (Keras
// weights metrics by the mask of masked timesteps).
// Sum metrics: out = (weighted sum of the per-row values, sum of row weights).
// MET_CONFUSION: out = (tp[T], fp[T], tn[T], fn[T]), each value of a row weighted by its row.
// MET_CLASS_COUNTS: out = (tp[C], fp[C], tn[C], fn[C]) with Keras's F-score arithmetic: for the
// 0/1 prediction q and the target t (which may be soft), tp += w q t, fp += w q (1 - t), ...
void metric_update(const float* pred, const float* target, const float* row_weight, int rows,
                   int C, int kind, const MetricParams& p, double* out);

}  // namespace bc

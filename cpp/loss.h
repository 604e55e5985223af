// Losses with their gradients, and the metrics counted natively per batch.
#pragma once
#include <cstddef>

namespace bc {

// Ids shared with Python (losses.py / metrics.py mirror them).
enum LossKind : int { LOSS_MSE = 0, LOSS_MAE = 1, LOSS_BCE = 2, LOSS_CCE = 3, LOSS_SPARSE_CCE = 4 };
enum MetricKind : int {
  MET_SPARSE_CAT_ACC = 0, MET_CAT_ACC = 1, MET_BIN_ACC = 2, MET_MSE = 3, MET_MAE = 4
};

// pred (rows, C), target (rows, C) or (rows) class ids for sparse -> dpred (rows, C).
// Returns the summed per-row loss; the reduction is Keras's: mean over the last axis
// (MSE/MAE/BCE), then the caller divides by rows. dpred gets d(scale * sum)/dpred.
// fused_act: the activation that produced pred (ACT_SOFTMAX/ACT_SIGMOID) when the loss may
// write dL/dz for the pre-activation z instead (then dpred receives dz); -1 otherwise.
// sample_weight (rows) may be null.
double loss_forward_backward(float* dpred, const float* pred, const float* target,
                             const float* sample_weight, int rows, int C, int kind,
                             bool from_logits, int fused_act, float label_smoothing, float scale);

// Adds this batch's numerator to *sum and denominator to *count; row_weight (rows) may be
// null (Keras weights metrics by the mask of masked timesteps).
void metric_update(const float* pred, const float* target, const float* row_weight, int rows,
                   int C, int kind, float threshold, double* sum, double* count);

}  // namespace bc

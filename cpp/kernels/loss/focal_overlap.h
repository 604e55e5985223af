// Keras 3's focal cross-entropies and overlap (Dice, Tversky) losses; loss_forward_backward
// (loss.h) hands them whole batches. Same contract: dpred gets d(scale * returned sum)/dpred.
#pragma once
#include "kernels/loss/loss.h"

namespace bc {

// Binary (categorical = false: a mean of the row's values) or categorical (a sum over the row)
// focal cross-entropy of each row, weighted by sample_weight; params as LossParams describes.
double focal_loss(float* dpred, const float* pred, const float* target, const float* sample_weight, int rows,
                  int C, bool categorical, bool from_logits, float label_smoothing, const LossParams& params,
                  float scale, float* row_loss = nullptr);  // row_loss: each row's loss, when given

// Dice (tversky = false) or Tversky of each row, or with whole_batch one value over all rows.
double overlap_loss(float* dpred, const float* pred, const float* target, const float* sample_weight, int rows,
                    int C, bool tversky, const LossParams& params, float scale);

}  // namespace bc

#include "loss.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common.h"

namespace bc {
namespace {

constexpr float kEps = 1e-7f;  // Keras's backend.epsilon(), used to clip probabilities

inline float clip_p(float p) { return std::min(std::max(p, kEps), 1.0f - kEps); }

// target row as a probability vector (sparse ids become one-hot), with label smoothing
inline float target_at(const float* t, int row, int j, int C, bool sparse, float ls) {
  float v = sparse ? (static_cast<int>(t[row]) == j ? 1.0f : 0.0f) : t[static_cast<size_t>(row) * C + j];
  return ls > 0.0f ? v * (1.0f - ls) + ls / C : v;
}

void check_label(float v, int C) {
  if (!(v >= 0.0f && v < static_cast<float>(C)) || v != std::floor(v))
    throw std::invalid_argument("sparse_categorical_crossentropy expects integer labels in [0, " +
                                std::to_string(C) + "), got " + std::to_string(v));
}

// Categorical cross-entropy on one row; d receives dL/dpred or dL/dz (times s).
double cce_row(float* d, const float* p, const float* t, int row, int C, bool sparse,
               bool from_logits, bool fused, float ls, float s) {
  if (sparse) check_label(t[row], C);
  double loss = 0.0;
  if (from_logits) {  // p are logits: log-softmax through log-sum-exp
    float m = p[0];
    for (int j = 1; j < C; ++j) m = std::max(m, p[j]);
    double z = 0.0;
    for (int j = 0; j < C; ++j) z += std::exp(static_cast<double>(p[j] - m));
    double lse = m + std::log(z);
    double tsum = 0.0;
    for (int j = 0; j < C; ++j) {
      float tj = target_at(t, row, j, C, sparse, ls);
      loss -= tj * (p[j] - lse);
      tsum += tj;
    }
    for (int j = 0; j < C; ++j)
      d[j] = s * static_cast<float>(std::exp(p[j] - lse) * tsum - target_at(t, row, j, C, sparse, ls));
    return loss;
  }
  // probabilities: Keras renormalizes the row and clips before the log
  double psum = 0.0, tsum = 0.0;
  for (int j = 0; j < C; ++j) psum += p[j];
  for (int j = 0; j < C; ++j) {
    float tj = target_at(t, row, j, C, sparse, ls);
    tsum += tj;
    if (tj != 0.0f) loss -= tj * std::log(clip_p(static_cast<float>(p[j] / psum)));
  }
  if (fused) {  // softmax then cross-entropy: dL/dz = p * sum(t) - t
    for (int j = 0; j < C; ++j)
      d[j] = s * (p[j] * static_cast<float>(tsum) - target_at(t, row, j, C, sparse, ls));
    return loss;
  }
  // dL/dp through q = p / sum(p) and the clip (whose gradient is zero where it clips):
  // with g_j = dL/dq_j, dL/dp_k = (g_k - sum_j g_j q_j) / sum(p)
  double gq = 0.0;
  for (int j = 0; j < C; ++j) {
    float q = static_cast<float>(p[j] / psum);
    float g = (q > kEps && q < 1.0f - kEps) ? -target_at(t, row, j, C, sparse, ls) / q : 0.0f;
    d[j] = g;
    gq += static_cast<double>(g) * q;
  }
  for (int j = 0; j < C; ++j) d[j] = s * static_cast<float>((d[j] - gq) / psum);
  return loss;
}

double bce_row(float* d, const float* p, const float* t, int C, bool from_logits, bool fused,
               float ls, float s) {
  double loss = 0.0;
  const float sc = s / C;
  for (int j = 0; j < C; ++j) {
    float tj = ls > 0.0f ? t[j] * (1.0f - ls) + 0.5f * ls : t[j];
    if (from_logits) {  // max(z, 0) - z t + log(1 + exp(-|z|))
      float z = p[j];
      loss += std::max(z, 0.0f) - z * tj + std::log1p(std::exp(-std::fabs(z)));
      d[j] = sc * (1.0f / (1.0f + std::exp(-z)) - tj);
    } else {
      float q = clip_p(p[j]);
      loss -= tj * std::log(q) + (1.0f - tj) * std::log(1.0f - q);
      if (fused) d[j] = sc * (p[j] - tj);
      else d[j] = (p[j] > kEps && p[j] < 1.0f - kEps) ? sc * (-tj / q + (1.0f - tj) / (1.0f - q)) : 0.0f;
    }
  }
  return loss / C;
}

}  // namespace

double loss_forward_backward(float* dpred, const float* pred, const float* target,
                             const float* sample_weight, int rows, int C, int kind,
                             bool from_logits, int fused_act, float label_smoothing, float scale) {
  double total = 0.0;
  for (int r = 0; r < rows; ++r) {
    const float* p = pred + static_cast<size_t>(r) * C;
    const float* t = target + static_cast<size_t>(r) * C;
    float* d = dpred + static_cast<size_t>(r) * C;
    const float w = sample_weight ? sample_weight[r] : 1.0f;
    const float s = scale * w;
    double l = 0.0;
    switch (kind) {
      case LOSS_MSE:
      case LOSS_MAE:
        for (int j = 0; j < C; ++j) {
          float e = p[j] - t[j];
          l += kind == LOSS_MSE ? static_cast<double>(e) * e : std::fabs(e);
          d[j] = kind == LOSS_MSE ? s * 2.0f * e / C : s * (e > 0.0f ? 1.0f : (e < 0.0f ? -1.0f : 0.0f)) / C;
        }
        l /= C;
        break;
      case LOSS_BCE:
        l = bce_row(d, p, t, C, from_logits, fused_act == ACT_SIGMOID, label_smoothing, s);
        break;
      case LOSS_CCE:
      case LOSS_SPARSE_CCE:
        l = cce_row(d, p, target, r, C, kind == LOSS_SPARSE_CCE, from_logits,
                    fused_act == ACT_SOFTMAX, label_smoothing, s);
        break;
      default:
        throw std::invalid_argument("unknown loss kind " + std::to_string(kind));
    }
    total += w * l;
  }
  return total;
}

namespace {
int argmax(const float* x, int C) {
  int k = 0;
  for (int j = 1; j < C; ++j)
    if (x[j] > x[k]) k = j;
  return k;
}
}  // namespace

void metric_update(const float* pred, const float* target, const float* row_weight, int rows,
                   int C, int kind, float threshold, double* sum, double* count) {
  double s = 0.0, n = 0.0;
  for (int r = 0; r < rows; ++r) {
    const double w = row_weight ? row_weight[r] : 1.0;
    n += w;
    if (w == 0.0) continue;
    const double before = s;
    const float* p = pred + static_cast<size_t>(r) * C;
    const float* t = target + static_cast<size_t>(r) * C;
    switch (kind) {
      case MET_SPARSE_CAT_ACC:
        s += static_cast<float>(argmax(p, C)) == target[r];
        break;
      case MET_CAT_ACC:
        s += argmax(p, C) == argmax(t, C);
        break;
      case MET_BIN_ACC: {
        double hits = 0.0;
        for (int j = 0; j < C; ++j) hits += (p[j] > threshold ? 1.0f : 0.0f) == t[j];
        s += hits / C;
        break;
      }
      case MET_MSE:
      case MET_MAE: {
        double e = 0.0;
        for (int j = 0; j < C; ++j) {
          double d = static_cast<double>(p[j]) - t[j];
          e += kind == MET_MSE ? d * d : std::fabs(d);
        }
        s += e / C;
        break;
      }
      default:
        throw std::invalid_argument("unknown metric kind " + std::to_string(kind));
    }
    s = before + w * (s - before);
  }
  *sum += s;
  *count += n;
}

}  // namespace bc

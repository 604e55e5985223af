#include "kernels/loss/loss.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/common.h"
#include "kernels/loss/focal_overlap.h"

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
    // e^(p_j - m) once per class, kept for the gradient's softmax e^(p_j - m) / z (half the
    // exponentials: they were the whole loss's time, 38 us for a batch of 256 rows of 10 classes)
    thread_local std::vector<double> ex;
    if (ex.size() < static_cast<size_t>(C)) ex.resize(C);
    float m = p[0];
    for (int j = 1; j < C; ++j) m = std::max(m, p[j]);
    double z = 0.0;
    for (int j = 0; j < C; ++j) z += ex[j] = std::exp(static_cast<double>(p[j] - m));
    double lse = m + std::log(z);
    double tsum = 0.0;
    for (int j = 0; j < C; ++j) {
      float tj = target_at(t, row, j, C, sparse, ls);
      loss -= tj * (p[j] - lse);
      tsum += tj;
    }
    for (int j = 0; j < C; ++j)
      d[j] = s * static_cast<float>(ex[j] / z * tsum - target_at(t, row, j, C, sparse, ls));
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

// Huber: 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2; mean over the row.
double huber_row(float* d, const float* p, const float* t, int C, float delta, float s) {
  double loss = 0.0;
  const float sc = s / C;
  for (int j = 0; j < C; ++j) {
    float e = p[j] - t[j];
    if (std::fabs(e) <= delta) {
      loss += 0.5 * e * e;
      d[j] = sc * e;
    } else {
      loss += static_cast<double>(delta) * std::fabs(e) - 0.5 * delta * delta;
      d[j] = sc * (e > 0.0f ? delta : -delta);
    }
  }
  return loss / C;
}

// KL divergence: sum t log(t / p) with t and p clipped to [eps, 1] (the clip passes the
// gradient at its bounds, as torch.clamp and tf.clip_by_value do).
double kld_row(float* d, const float* p, const float* t, int C, float s) {
  double loss = 0.0;
  for (int j = 0; j < C; ++j) {
    float tj = std::min(std::max(t[j], kEps), 1.0f);
    float pj = std::min(std::max(p[j], kEps), 1.0f);
    loss += tj * std::log(static_cast<double>(tj) / pj);
    d[j] = (p[j] >= kEps && p[j] <= 1.0f) ? -s * tj / pj : 0.0f;
  }
  return loss;
}

// Hinge: max(1 - t p, 0), squared for the squared hinge; mean over the row. to_pm1: the batch's
// labels are all 0/1 and become -1/1 (Keras decides this once per batch).
double hinge_row(float* d, const float* p, const float* t, int C, bool to_pm1, bool squared, float s) {
  double loss = 0.0;
  const float sc = s / C;
  for (int j = 0; j < C; ++j) {
    float tj = to_pm1 ? 2.0f * t[j] - 1.0f : t[j];
    float m = 1.0f - tj * p[j];
    if (m > 0.0f) {
      loss += squared ? static_cast<double>(m) * m : m;
      d[j] = squared ? -sc * 2.0f * m * tj : -sc * tj;
    } else {
      d[j] = 0.0f;
    }
  }
  return loss / C;
}

// Cosine similarity: -sum(t / |t| * p / |p|), each norm at least eps (Keras's normalize:
// x * min(rsqrt(sum x^2), 1 / eps)).
double cosine_row(float* d, const float* p, const float* t, int C, float s) {
  double tt = 0.0, pp = 0.0, tp = 0.0;
  for (int j = 0; j < C; ++j) {
    tt += static_cast<double>(t[j]) * t[j];
    pp += static_cast<double>(p[j]) * p[j];
    tp += static_cast<double>(t[j]) * p[j];
  }
  const double cap = 1.0 / kEps;
  const double rt = std::min(1.0 / std::sqrt(tt), cap);
  const double rp_raw = 1.0 / std::sqrt(pp);
  const double rp = std::min(rp_raw, cap);
  for (int j = 0; j < C; ++j) {
    // d/dp_j of -rt * rp * (t . p): through rp = |p|^-1 unless it is capped (then constant)
    double g = rp_raw < cap ? -rt * rp * (t[j] - tp * rp * rp * p[j]) : -rt * rp * t[j];
    d[j] = static_cast<float>(s * g);
  }
  return -tp * rt * rp;
}

// Keras's regression losses of one row, each a mean over the row. Where Keras takes a maximum
// against epsilon, the gradient passes above it, is halved at a tie (torch.maximum) and is 0 below.
inline float max_eps_grad(float x) { return x > kEps ? 1.0f : (x == kEps ? 0.5f : 0.0f); }

double regression_row(float* d, const float* p, const float* t, int C, int kind, float s) {
  double loss = 0.0;
  const float sc = s / C;
  for (int j = 0; j < C; ++j) {
    const float e = p[j] - t[j];
    switch (kind) {
      case LOSS_MAPE: {  // 100 |t - p| / max(|t|, eps)
        const float den = std::max(std::fabs(t[j]), kEps);
        loss += 100.0 * std::fabs(e) / den;
        d[j] = sc * 100.0f * (e > 0.0f ? 1.0f : (e < 0.0f ? -1.0f : 0.0f)) / den;
        break;
      }
      case LOSS_MSLE: {  // (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2
        const float lp = std::log(std::max(p[j], kEps) + 1.0f), lt = std::log(std::max(t[j], kEps) + 1.0f);
        loss += static_cast<double>(lp - lt) * (lp - lt);
        d[j] = sc * 2.0f * (lp - lt) * max_eps_grad(p[j]) / (std::max(p[j], kEps) + 1.0f);
        break;
      }
      case LOSS_LOG_COSH:  // x + softplus(-2x) - log 2, x = p - t; its derivative is tanh(x)
        loss += e + (std::max(-2.0f * e, 0.0f) + std::log1p(std::exp(-std::fabs(2.0f * e)))) - std::log(2.0);
        d[j] = sc * std::tanh(e);
        break;
      default:  // LOSS_POISSON: p - t log(p + eps)
        loss += p[j] - static_cast<double>(t[j]) * std::log(p[j] + kEps);
        d[j] = sc * (1.0f - t[j] / (p[j] + kEps));
        break;
    }
  }
  return loss / C;
}

// Categorical hinge: max(max_j (1 - t_j) p_j - sum_j t_j p_j + 1, 0); the max's gradient is shared
// evenly by the columns that attain it (torch.amax, Keras's torch backend).
double categorical_hinge_row(float* d, const float* p, const float* t, int C, float s) {
  double pos = 0.0;
  float neg = -INFINITY;
  for (int j = 0; j < C; ++j) {
    pos += static_cast<double>(t[j]) * p[j];
    neg = std::max(neg, (1.0f - t[j]) * p[j]);
  }
  const double m = neg - pos + 1.0;
  int ties = 0;
  for (int j = 0; j < C; ++j) ties += (1.0f - t[j]) * p[j] == neg;
  for (int j = 0; j < C; ++j)
    d[j] = m > 0.0 ? s * (-t[j] + ((1.0f - t[j]) * p[j] == neg ? (1.0f - t[j]) / ties : 0.0f)) : 0.0f;
  return std::max(m, 0.0);
}

// Keras's convert_binary_labels_to_hinge: labels that are all 0 or 1 become -1 or 1.
bool all_binary(const float* t, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (t[i] != 0.0f && t[i] != 1.0f) return false;
  return true;
}

}  // namespace

double loss_forward_backward(float* dpred, const float* pred, const float* target,
                             const float* sample_weight, int rows, int C, int kind,
                             bool from_logits, int fused_act, float label_smoothing,
                             const LossParams& params, float scale, float* row_loss) {
  switch (kind) {  // these reduce their rows themselves (whole-batch overlap, per-row scratch)
    case LOSS_BINARY_FOCAL:
    case LOSS_CATEGORICAL_FOCAL:
      return focal_loss(dpred, pred, target, sample_weight, rows, C, kind == LOSS_CATEGORICAL_FOCAL, from_logits,
                        label_smoothing, params, scale, row_loss);
    case LOSS_DICE:
    case LOSS_TVERSKY:
      if (row_loss) throw std::invalid_argument("dice and tversky give no loss per row");
      return overlap_loss(dpred, pred, target, sample_weight, rows, C, kind == LOSS_TVERSKY, params, scale);
    case LOSS_HUBER:
      if (params.size() != 1) throw std::invalid_argument("huber takes one parameter (delta)");
      break;
    default:
      break;
  }
  const bool hinge = kind == LOSS_HINGE || kind == LOSS_SQUARED_HINGE;
  const bool to_pm1 = hinge && all_binary(target, static_cast<size_t>(rows) * C);
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
      case LOSS_HUBER:
        l = huber_row(d, p, t, C, params[0], s);
        break;
      case LOSS_KLD:
        l = kld_row(d, p, t, C, s);
        break;
      case LOSS_HINGE:
      case LOSS_SQUARED_HINGE:
        l = hinge_row(d, p, t, C, to_pm1, kind == LOSS_SQUARED_HINGE, s);
        break;
      case LOSS_COSINE:
        l = cosine_row(d, p, t, C, s);
        break;
      case LOSS_MAPE:
      case LOSS_MSLE:
      case LOSS_LOG_COSH:
      case LOSS_POISSON:
        l = regression_row(d, p, t, C, kind, s);
        break;
      case LOSS_CATEGORICAL_HINGE:
        l = categorical_hinge_row(d, p, t, C, s);
        break;
      case LOSS_VALUES:
        for (int j = 0; j < C; ++j) {
          l += p[j];
          d[j] = s / C;
        }
        l /= C;
        break;
      default:
        throw std::invalid_argument("unknown loss kind " + std::to_string(kind));
    }
    if (row_loss) row_loss[r] = static_cast<float>(l);
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

// Keras's in_top_k: the target's score is at least the k-th largest (ties count as hits).
bool in_top_k(const float* p, int C, int c, int k) {
  if (c < 0 || c >= C) return false;
  int above = 0;
  for (int j = 0; j < C; ++j) above += p[j] > p[c];
  return above < k;
}

inline float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// tp, fp, tn, fn (each T long) at thresholds th; a value is positive where pred > threshold.
// Evenly spaced thresholds take Keras's bucket route (update_confusion_matrix_variables
// optimized): b = ceil(clip(p, 0, 1) * (T - 1)) - 1, counted for thresholds 0..b; its float32
// rounding, not the comparison, decides predictions that sit on a threshold.
void confusion_update(const float* pred, const float* target, const float* row_weight, int rows,
                      int C, const MetricParams& mp, double* out) {
  const int T = static_cast<int>(mp.thresholds.size());
  if (mp.multi_label) {  // one block of counts per column, each as class_id = j counts it
    MetricParams one = mp;
    one.multi_label = false;
    for (int j = 0; j < C; ++j) {
      one.class_id = j;
      confusion_update(pred, target, row_weight, rows, C, one, out + static_cast<size_t>(j) * 4 * T);
    }
    return;
  }
  const bool by_label = !mp.label_weights.empty();
  const float* th = mp.thresholds.data();
  double *tp = out, *fp = out + T, *tn = out + 2 * T, *fn = out + 3 * T;
  const int j0 = mp.class_id >= 0 ? mp.class_id : 0, j1 = mp.class_id >= 0 ? mp.class_id + 1 : C;
  const bool ends_nudged = th[0] < 0.0f || th[T - 1] > 1.0f;
  std::vector<double> pos_b, neg_b;
  double pos_total = 0.0, neg_total = 0.0;
  if (mp.evenly) pos_b.assign(T, 0.0), neg_b.assign(T, 0.0);
  for (int r = 0; r < rows; ++r) {
    const double row_w = row_weight ? row_weight[r] : 1.0;
    const float* p = pred + static_cast<size_t>(r) * C;
    const float* t = target + static_cast<size_t>(r) * C;
    for (int j = j0; j < j1; ++j) {
      const double w = by_label ? row_w * mp.label_weights[j] : row_w;
      const float q = mp.from_logits ? sigmoid(p[j]) : p[j];
      const bool label = t[j] != 0.0f;
      if (mp.evenly) {
        (label ? pos_total : neg_total) += w;
        float c = std::min(std::max(q, 0.0f), 1.0f) * static_cast<float>(T - 1);
        int b = c == c ? static_cast<int>(std::ceil(c)) - 1 : -1;
        if (ends_nudged) b = std::max(b, 0);
        if (b >= 0) (label ? pos_b : neg_b)[std::min(b, T - 1)] += w;
        continue;
      }
      for (int i = 0; i < T; ++i) {
        const bool hit = q > th[i];
        (label ? (hit ? tp : fn) : (hit ? fp : tn))[i] += w;
      }
    }
  }
  if (!mp.evenly) return;
  double pos_above = 0.0, neg_above = 0.0;  // reverse cumulative sums over the buckets
  for (int i = T - 1; i >= 0; --i) {
    pos_above += pos_b[i];
    neg_above += neg_b[i];
    tp[i] += pos_above;
    fp[i] += neg_above;
    fn[i] += pos_total - pos_above;
    tn[i] += neg_total - neg_above;
  }
}

// Per class j: q = 1 where the prediction is positive (above the threshold, or the row's max and
// not ~0 with row_max), then tp[j] += w q t, fp[j] += w q (1 - t), tn[j] += w (1 - q)(1 - t),
// fn[j] += w (1 - q) t: Keras's FBetaScore.update_state, summed in double.
void class_counts_update(const float* pred, const float* target, const float* row_weight, int rows,
                         int C, const MetricParams& mp, double* out) {
  double *tp = out, *fp = out + C, *tn = out + 2 * C, *fn = out + 3 * C;
  for (int r = 0; r < rows; ++r) {
    const double w = row_weight ? row_weight[r] : 1.0;
    const float* p = pred + static_cast<size_t>(r) * C;
    const float* t = target + static_cast<size_t>(r) * C;
    float top = p[0];
    for (int j = 1; j < C; ++j) top = std::max(top, p[j]);
    for (int j = 0; j < C; ++j) {
      const bool pos = mp.row_max ? (p[j] >= top && std::fabs(p[j]) > 1e-9f) : p[j] > mp.threshold;
      const double q = pos ? 1.0 : 0.0, y = t[j];
      tp[j] += w * q * y;
      fp[j] += w * q * (1.0 - y);
      tn[j] += w * (1.0 - q) * (1.0 - y);
      fn[j] += w * (1.0 - q) * y;
    }
  }
}
}  // namespace

size_t metric_width(int kind, const MetricParams& p, int C) {
  if (kind == MET_CONFUSION) return 4 * p.thresholds.size() * (p.multi_label ? static_cast<size_t>(C) : 1);
  if (kind == MET_R2) return 4 * static_cast<size_t>(C) + 1;
  if (kind == MET_SUMS) return static_cast<size_t>(C);
  return kind == MET_CLASS_COUNTS ? 4 * static_cast<size_t>(C) : 2;
}

void metric_update(const float* pred, const float* target, const float* row_weight, int rows,
                   int C, int kind, const MetricParams& mp, double* out) {
  if (kind == MET_CONFUSION) {
    confusion_update(pred, target, row_weight, rows, C, mp, out);
    return;
  }
  if (kind == MET_CLASS_COUNTS) {
    class_counts_update(pred, target, row_weight, rows, C, mp, out);
    return;
  }
  if (kind == MET_R2) {  // column sums; Python's result() forms Keras's R2 from them
    for (int r = 0; r < rows; ++r) {
      const double w = row_weight ? row_weight[r] : 1.0;
      const float* p = pred + static_cast<size_t>(r) * C;
      const float* t = target + static_cast<size_t>(r) * C;
      for (int j = 0; j < C; ++j) {
        const double e = static_cast<double>(t[j]) - p[j];
        out[j] += w;
        out[C + j] += w * t[j];
        out[2 * C + j] += w * t[j] * t[j];
        out[3 * C + j] += w * e * e;
      }
    }
    out[4 * C] += rows;  // Keras's adjusted R2 counts the values seen, unweighted
    return;
  }
  if (kind == MET_LOSS) {  // the loss kernel itself, its gradient discarded (scale 0)
    std::vector<float> scratch(static_cast<size_t>(rows) * C);
    out[0] += loss_forward_backward(scratch.data(), pred, target, row_weight, rows, C, mp.loss_kind, mp.from_logits,
                                    -1, mp.label_smoothing, mp.loss_params, 0.0f);
    double n = 0.0;
    for (int r = 0; r < rows; ++r) n += row_weight ? row_weight[r] : 1.0;
    out[1] += n;
    return;
  }
  if (kind == MET_SUMS) {  // no target: the C numbers themselves (one row: a batch-less tensor)
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < C; ++j) out[j] += pred[static_cast<size_t>(r) * C + j];
    return;
  }
  if (kind == MET_VALUES) {  // no target: the rows' values themselves, weighted by the mask
    for (int r = 0; r < rows; ++r) {
      const double w = row_weight ? row_weight[r] : 1.0;
      double v = 0.0;
      for (int j = 0; j < C; ++j) v += pred[static_cast<size_t>(r) * C + j];
      out[0] += w * v / C;
      out[1] += w;
    }
    return;
  }
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
        for (int j = 0; j < C; ++j) hits += (p[j] > mp.threshold ? 1.0f : 0.0f) == t[j];
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
      case MET_TOP_K:
        s += in_top_k(p, C, argmax(t, C), mp.k);
        break;
      case MET_SPARSE_TOP_K: {
        const float c = target[r];
        s += c >= 0.0f && c < static_cast<float>(C) && c == std::floor(c) &&
             in_top_k(p, C, static_cast<int>(c), mp.k);
        break;
      }
      default:
        throw std::invalid_argument("unknown metric kind " + std::to_string(kind));
    }
    s = before + w * (s - before);
  }
  out[0] += s;
  out[1] += n;
}

}  // namespace bc

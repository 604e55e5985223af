#include "kernels/loss/focal_overlap.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace bc {
namespace {

constexpr float kEps = 1e-7f;  // Keras's backend.epsilon()

inline float clip_p(float p) { return std::min(std::max(p, kEps), 1.0f - kEps); }

// Keras's binary_focal_crossentropy of one row, a mean over it: t smoothed towards 0.5, p =
// sigmoid(z) for logits (Keras then clips it like a probability), bce(t, clip(p)) times the focal
// factor (1 - p_t)^gamma with p_t = t p + (1 - t)(1 - p) of the unclipped p, times
// alpha t + (1 - alpha)(1 - t) with class balancing. d gets s * dL/dpred.
double binary_focal_row(float* d, const float* x, const float* tr, int C, bool from_logits, float ls,
                        double alpha, double gamma, bool balance, double s) {
  double loss = 0.0;
  for (int j = 0; j < C; ++j) {
    const double t = ls > 0.0f ? tr[j] * (1.0f - ls) + 0.5f * ls : tr[j];
    const float p = from_logits ? 1.0f / (1.0f + std::exp(-x[j])) : x[j];
    const float q = clip_p(p);
    const double bce = -(t * std::log(static_cast<double>(q)) + (1.0 - t) * std::log(1.0 - q));
    const double dbce = p > kEps && p < 1.0f - kEps ? -t / q + (1.0 - t) / (1.0 - q) : 0.0;
    const double u = std::max(1.0 - (t * p + (1.0 - t) * (1.0 - p)), 0.0);  // 1 - p_t; max: rounding only
    const double f = std::pow(u, gamma);
    const double df = gamma == 0.0 ? 0.0 : -gamma * std::pow(u, gamma - 1.0) * (2.0 * t - 1.0);
    const double w = balance ? t * alpha + (1.0 - t) * (1.0 - alpha) : 1.0;
    loss += w * f * bce;
    double g = w * (df * bce + f * dbce);
    if (from_logits) g *= static_cast<double>(p) * (1.0 - p);
    d[j] = static_cast<float>(s * g / C);
  }
  return loss / C;
}

// Keras's categorical_focal_crossentropy of one row, a sum over it: t smoothed by ls / C, p =
// softmax(z) for logits, o = clip(p / sum p), sum_j alpha_j (1 - o_j)^gamma (-t_j log o_j).
// The gradient flows back through the clip (zero where it clips), the renormalization and the
// softmax; pb (C) and gb (C) are scratch.
double categorical_focal_row(float* d, const float* x, const float* tr, int C, bool from_logits, float ls,
                             double gamma, const float* alpha, bool per_class, double s, float* pb, double* gb) {
  const float* p = x;
  if (from_logits) {
    float m = x[0];
    for (int j = 1; j < C; ++j) m = std::max(m, x[j]);
    double z = 0.0;
    for (int j = 0; j < C; ++j) z += std::exp(static_cast<double>(x[j] - m));
    for (int j = 0; j < C; ++j) pb[j] = static_cast<float>(std::exp(static_cast<double>(x[j] - m)) / z);
    p = pb;
  }
  double psum = 0.0;
  for (int j = 0; j < C; ++j) psum += p[j];
  double loss = 0.0, gq = 0.0;
  for (int j = 0; j < C; ++j) {
    const double t = ls > 0.0f ? tr[j] * (1.0f - ls) + ls / C : tr[j];
    const float q = static_cast<float>(p[j] / psum);
    const double o = clip_p(q), a = alpha[per_class ? j : 0];
    const double mod = std::pow(1.0 - o, gamma);
    loss -= a * mod * t * std::log(o);
    double g = 0.0;  // dL/dq_j
    if (t != 0.0 && q > kEps && q < 1.0f - kEps)
      g = a * t * ((gamma == 0.0 ? 0.0 : gamma * std::pow(1.0 - o, gamma - 1.0) * std::log(o)) - mod / o);
    gb[j] = g;
    gq += g * q;
  }
  for (int j = 0; j < C; ++j) gb[j] = (gb[j] - gq) / psum;  // through q = p / sum(p)
  double pg = 0.0;  // through the softmax: dz_j = p_j (dp_j - sum_k p_k dp_k)
  if (from_logits)
    for (int j = 0; j < C; ++j) pg += p[j] * gb[j];
  for (int j = 0; j < C; ++j) d[j] = static_cast<float>(s * (from_logits ? p[j] * (gb[j] - pg) : gb[j]));
  return loss;
}

// Sums over the values one overlap loss reduces.
struct Overlap {
  double i = 0.0, st = 0.0, sp = 0.0;  // sum t p, sum t, sum p
  void add(const float* p, const float* t, size_t n) {
    for (size_t j = 0; j < n; ++j) {
      i += static_cast<double>(t[j]) * p[j];
      st += t[j];
      sp += p[j];
    }
  }
  // The loss L and its gradient dL/dp_j = ga t_j + gb.
  // Dice: L = 1 - 2 I / D, D = St + Sp + eps.
  // Tversky: L = 1 - I / D, D = I + alpha sum t (1 - p) + beta sum p (1 - t) + eps (Keras names these
  // two fp and fn; its alpha and beta weigh them as written here).
  double loss(bool tversky, double alpha, double beta, double* ga, double* gb) const {
    if (!tversky) {
      const double D = st + sp + kEps;
      *ga = -2.0 / D;
      *gb = 2.0 * i / (D * D);
      return 1.0 - 2.0 * i / D;
    }
    const double D = i + alpha * (st - i) + beta * (sp - i) + kEps;
    *ga = -1.0 / D + i * (1.0 - alpha - beta) / (D * D);
    *gb = i * beta / (D * D);
    return 1.0 - i / D;
  }
};

}  // namespace

double focal_loss(float* dpred, const float* pred, const float* target, const float* sample_weight, int rows,
                  int C, bool categorical, bool from_logits, float label_smoothing, const LossParams& params,
                  float scale, float* row_loss) {
  const size_t n = params.size();
  if (categorical ? !(n == 2 || n == static_cast<size_t>(C) + 1) : n != 3)
    throw std::invalid_argument(categorical ? "categorical_focal_crossentropy takes gamma and one alpha or one per "
                                              "class (" + std::to_string(C) + "), got " + std::to_string(n) + " numbers"
                                            : "binary_focal_crossentropy takes (alpha, gamma, apply_class_balancing)");
  std::vector<float> pb(categorical && from_logits ? C : 0);
  std::vector<double> gb(categorical ? C : 0);
  double total = 0.0;
  for (int r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(r) * C;
    const float w = sample_weight ? sample_weight[r] : 1.0f;
    const double s = static_cast<double>(scale) * w;
    const double l = categorical
        ? categorical_focal_row(dpred + off, pred + off, target + off, C, from_logits, label_smoothing, params[0],
                                params.data() + 1, n > 2, s, pb.data(), gb.data())
        : binary_focal_row(dpred + off, pred + off, target + off, C, from_logits, label_smoothing, params[0],
                           params[1], params[2] != 0.0f, s);
    if (row_loss) row_loss[r] = static_cast<float>(l);
    total += w * l;
  }
  return total;
}

double overlap_loss(float* dpred, const float* pred, const float* target, const float* sample_weight, int rows,
                    int C, bool tversky, const LossParams& params, float scale) {
  if (params.size() != (tversky ? 3u : 1u))
    throw std::invalid_argument(tversky ? "tversky takes (alpha, beta, whole_batch)" : "dice takes (whole_batch)");
  const double alpha = tversky ? params[0] : 0.0, beta = tversky ? params[1] : 0.0;
  const bool whole = params.back() != 0.0f;
  const size_t n = static_cast<size_t>(rows) * C;
  double ga = 0.0, gb = 0.0;
  if (whole) {  // one loss over every value, weighted by the sum of the row weights
    Overlap o;
    o.add(pred, target, n);
    const double L = o.loss(tversky, alpha, beta, &ga, &gb);
    double W = rows;
    if (sample_weight) {
      W = 0.0;
      for (int r = 0; r < rows; ++r) W += sample_weight[r];
    }
    const double s = scale * W;
    for (size_t j = 0; j < n; ++j) dpred[j] = static_cast<float>(s * (ga * target[j] + gb));
    return W * L;
  }
  double total = 0.0;
  for (int r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(r) * C;
    Overlap o;
    o.add(pred + off, target + off, C);
    const double w = sample_weight ? sample_weight[r] : 1.0;
    total += w * o.loss(tversky, alpha, beta, &ga, &gb);
    const double s = scale * w;
    for (int j = 0; j < C; ++j) dpred[off + j] = static_cast<float>(s * (ga * target[off + j] + gb));
  }
  return total;
}

}  // namespace bc

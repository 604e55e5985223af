#include "kernels/loss/ctc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace bc {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

inline double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double m = std::max(a, b);
  return m + std::log1p(std::exp(-std::fabs(a - b)));
}

// One sample: lp (T, C) log-softmax of its frames (the first Tb used), ext (2L + 1) the label with
// blanks between and around. Returns -log p; fills dz (Tb, C) with g * dloss/dlogits when given.
double ctc_one(const double* lp, int Tb, int C, const std::vector<int>& ext, double g, float* dz) {
  const int n = static_cast<int>(ext.size());
  // s may come from s - 2 where the label changes (no blank needed between distinct labels); ext[0] is the blank
  auto skip = [&](int s) { return s >= 2 && ext[s] != ext[0] && ext[s] != ext[s - 2]; };
  std::vector<double> alpha(static_cast<size_t>(std::max(Tb, 1)) * n, kNegInf);
  if (Tb == 0) return n == 1 ? 0.0 : std::numeric_limits<double>::infinity();
  alpha[0] = lp[ext[0]];
  if (n > 1) alpha[1] = lp[ext[1]];
  for (int t = 1; t < Tb; ++t) {
    const double* a0 = &alpha[static_cast<size_t>(t - 1) * n];
    double* a1 = &alpha[static_cast<size_t>(t) * n];
    const double* l = lp + static_cast<size_t>(t) * C;
    for (int s = 0; s < n; ++s) {
      double v = a0[s];
      if (s >= 1) v = log_add(v, a0[s - 1]);
      if (skip(s)) v = log_add(v, a0[s - 2]);
      a1[s] = v == kNegInf ? kNegInf : v + l[ext[s]];
    }
  }
  const double* last = &alpha[static_cast<size_t>(Tb - 1) * n];
  const double ll = n > 1 ? log_add(last[n - 1], last[n - 2]) : last[0];
  const double nll = -ll;
  if (!dz) return nll;
  if (ll == kNegInf) {  // no alignment: torch's gradient is NaN (inf - inf) over the used frames
    std::fill(dz, dz + static_cast<size_t>(Tb) * C, std::numeric_limits<float>::quiet_NaN());
    return nll;
  }
  // beta_t(s) includes frame t's emission, as alpha does: posterior = exp(alpha + beta - lp + nll)
  std::vector<double> beta(n, kNegInf), nb(n), post(C);
  beta[n - 1] = lp[static_cast<size_t>(Tb - 1) * C + ext[n - 1]];
  if (n > 1) beta[n - 2] = lp[static_cast<size_t>(Tb - 1) * C + ext[n - 2]];
  for (int t = Tb - 1; t >= 0; --t) {
    const double* l = lp + static_cast<size_t>(t) * C;
    const double* a = &alpha[static_cast<size_t>(t) * n];
    std::fill(post.begin(), post.end(), kNegInf);
    for (int s = 0; s < n; ++s) post[ext[s]] = log_add(post[ext[s]], a[s] + beta[s]);
    float* d = dz + static_cast<size_t>(t) * C;
    for (int c = 0; c < C; ++c) {
      const double gamma = post[c] == kNegInf ? 0.0 : std::exp(post[c] - l[c] + nll);
      d[c] = static_cast<float>(g * (std::exp(l[c]) - gamma));
    }
    if (t == 0) break;
    const double* lprev = lp + static_cast<size_t>(t - 1) * C;
    for (int s = 0; s < n; ++s) {  // beta_{t-1}(s) = lp_{t-1}(ext[s]) + logsum beta_t(s, s+1, s+2 if skip)
      double v = beta[s];
      if (s + 1 < n) v = log_add(v, beta[s + 1]);
      if (s + 2 < n && skip(s + 2)) v = log_add(v, beta[s + 2]);
      nb[s] = v == kNegInf ? kNegInf : v + lprev[ext[s]];
    }
    std::swap(beta, nb);
  }
  return nll;
}

int length_at(const float* v, int b, int hi, const char* what) {
  const float x = v[b];
  if (!(x >= 0.0f && x <= static_cast<float>(hi)) || x != std::floor(x))
    throw std::invalid_argument(std::string("ctc_loss: ") + what + "[" + std::to_string(b) + "] = " +
                                std::to_string(x) + " must be an integer in [0, " + std::to_string(hi) + "]");
  return static_cast<int>(x);
}

}  // namespace

void ctc_check(const CtcShape& s, const float* target, const float* target_length, const float* output_length) {
  if (s.blank < 0 || s.blank >= s.C)
    throw std::invalid_argument("ctc_loss: mask_index " + std::to_string(s.blank) + " is not a class of " +
                                std::to_string(s.C));
  for (int b = 0; b < s.B; ++b) {
    length_at(output_length, b, s.T, "output_length");
    const int L = length_at(target_length, b, s.S, "target_length");
    for (int i = 0; i < L; ++i) {
      const float c = target[static_cast<size_t>(b) * s.S + i];
      if (!(c >= 0.0f && c < static_cast<float>(s.C)) || c != std::floor(c))
        throw std::invalid_argument("ctc_loss: target[" + std::to_string(b) + ", " + std::to_string(i) + "] = " +
                                    std::to_string(c) + " is not a class id in [0, " + std::to_string(s.C) + ")");
    }
  }
}

void ctc_loss(const CtcShape& s, int b0, int b1, const float* logits, const float* target,
              const float* target_length, const float* output_length, float* loss, const float* dout,
              float* dlogits) {
  const size_t frame = static_cast<size_t>(s.T) * s.C;
  std::vector<double> lp(frame);
  std::vector<int> ext;
  for (int b = b0; b < b1; ++b) {
    const int Tb = static_cast<int>(output_length[b]), L = static_cast<int>(target_length[b]);
    const float* x = logits + b * frame;
    for (int t = 0; t < Tb; ++t) {  // log_softmax of each used frame, in double
      const float* xt = x + static_cast<size_t>(t) * s.C;
      double* lt = &lp[static_cast<size_t>(t) * s.C];
      double m = xt[0];
      for (int c = 1; c < s.C; ++c) m = std::max(m, static_cast<double>(xt[c]));
      double z = 0.0;
      for (int c = 0; c < s.C; ++c) z += std::exp(xt[c] - m);
      const double lse = m + std::log(z);
      for (int c = 0; c < s.C; ++c) lt[c] = xt[c] - lse;
    }
    ext.assign(2 * static_cast<size_t>(L) + 1, s.blank);
    for (int i = 0; i < L; ++i) ext[2 * i + 1] = static_cast<int>(target[static_cast<size_t>(b) * s.S + i]);
    float* dz = dlogits ? dlogits + b * frame : nullptr;
    const double nll = ctc_one(lp.data(), Tb, s.C, ext, dout ? dout[b] : 1.0, dz);
    if (loss) loss[b] = static_cast<float>(nll);
    if (dz) std::fill(dz + static_cast<size_t>(Tb) * s.C, dz + frame, 0.0f);  // frames past the length
  }
}

}  // namespace bc

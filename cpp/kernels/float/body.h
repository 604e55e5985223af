// Kernel bodies compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and avx512.cpp
// include this file with their own compiler flags. Everything here sits in an
// anonymous namespace so the per-ISA copies never merge at link time. The loops are written
// for the auto-vectorizer with a fixed operation order (FMA contraction is off), so every
// path gives the same bits as the reference.
#pragma once
#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "kernels/float/float.h"
#include "kernels/float/math.h"

namespace bc {
namespace {

// erf: the rational approximation XLA and Eigen use (odd/even polynomials, ~2 ulp on [-4, 4]).
inline float erf_f(float x) {
  x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return (x * p) / q;
}

constexpr float kSqrtHalf = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f, kGeluC = 0.044715f;

inline float gelu_f(float z) { return 0.5f * z * (1.0f + erf_f(z * kSqrtHalf)); }
inline float gelu_tanh_f(float z) { return 0.5f * z * (1.0f + tanh_f(kSqrt2OverPi * (z + kGeluC * z * z * z))); }
inline float silu_f(float z) { return z * sigmoid_f(z); }

// d act / dz at z, for the activations that need z.
inline float act_grad_z(float z, int act) {
  switch (act) {
    case ACT_GELU:
      return 0.5f * (1.0f + erf_f(z * kSqrtHalf)) + z * kInvSqrt2Pi * exp_f(-0.5f * z * z);
    case ACT_GELU_TANH: {
      const float t = tanh_f(kSqrt2OverPi * (z + kGeluC * z * z * z));
      return 0.5f * (1.0f + t) + 0.5f * z * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluC * z * z);
    }
    case ACT_SILU: {
      const float s = sigmoid_f(z);
      return s * (1.0f + z * (1.0f - s));
    }
    default:
      return 1.0f;
  }
}

void softmax_row(float* y, int N) {
  float m = y[0];
  for (int j = 1; j < N; ++j) m = y[j] > m ? y[j] : m;
  for (int j = 0; j < N; ++j) y[j] = exp_f(y[j] - m);
  float inv = 1.0f / lane_sum(y, N);
  for (int j = 0; j < N; ++j) y[j] *= inv;
}

void bias_act_forward(float* y, const float* b, int B, int N, int act) {
  for (int i = 0; i < B; ++i) {
    float* r = y + static_cast<size_t>(i) * N;
    if (b)
      for (int j = 0; j < N; ++j) r[j] += b[j];
    switch (act) {
      case ACT_RELU:
        for (int j = 0; j < N; ++j) r[j] = r[j] < 0.0f ? 0.0f : r[j];  // NaN passes, as Keras
        break;
      case ACT_SIGMOID:
        for (int j = 0; j < N; ++j) r[j] = sigmoid_f(r[j]);
        break;
      case ACT_TANH:
        for (int j = 0; j < N; ++j) r[j] = tanh_f(r[j]);
        break;
      case ACT_SOFTMAX:
        softmax_row(r, N);
        break;
      case ACT_GELU:
        for (int j = 0; j < N; ++j) r[j] = gelu_f(r[j]);
        break;
      case ACT_GELU_TANH:
        for (int j = 0; j < N; ++j) r[j] = gelu_tanh_f(r[j]);
        break;
      case ACT_SILU:
        for (int j = 0; j < N; ++j) r[j] = silu_f(r[j]);
        break;
      default:
        break;
    }
  }
}

void act_backward(float* dy, const float* y, int B, int N, int act) {
  size_t n = static_cast<size_t>(B) * N;
  switch (act) {
    case ACT_RELU:
      for (size_t i = 0; i < n; ++i) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      break;
    case ACT_SIGMOID:
      for (size_t i = 0; i < n; ++i) dy[i] *= y[i] * (1.0f - y[i]);
      break;
    case ACT_TANH:
      for (size_t i = 0; i < n; ++i) dy[i] *= 1.0f - y[i] * y[i];
      break;
    case ACT_SOFTMAX:
      for (int i = 0; i < B; ++i) {
        float* d = dy + static_cast<size_t>(i) * N;
        const float* s = y + static_cast<size_t>(i) * N;
        float prod[kLanes * 64];  // rows up to 1024 wide in one pass, else in chunks
        float dot = 0.0f;
        for (int j0 = 0; j0 < N; j0 += kLanes * 64) {
          int m = N - j0 < kLanes * 64 ? N - j0 : kLanes * 64;
          for (int j = 0; j < m; ++j) prod[j] = d[j0 + j] * s[j0 + j];
          dot += lane_sum(prod, m);
        }
        for (int j = 0; j < N; ++j) d[j] = s[j] * (d[j] - dot);
      }
      break;
    default:
      break;
  }
}

void act_backward_z(float* dy, const float* z, int B, int N, int act) {
  const size_t n = static_cast<size_t>(B) * N;
  switch (act) {  // one loop per activation, so each vectorizes
    case ACT_GELU:
      for (size_t i = 0; i < n; ++i) dy[i] *= act_grad_z(z[i], ACT_GELU);
      break;
    case ACT_GELU_TANH:
      for (size_t i = 0; i < n; ++i) dy[i] *= act_grad_z(z[i], ACT_GELU_TANH);
      break;
    case ACT_SILU:
      for (size_t i = 0; i < n; ++i) dy[i] *= act_grad_z(z[i], ACT_SILU);
      break;
    default:
      break;
  }
}

void col_sum(float* out, const float* x, int B, int N, bool accumulate) {
  if (!accumulate)
    for (int j = 0; j < N; ++j) out[j] = 0.0f;
  for (int i = 0; i < B; ++i) {
    const float* r = x + static_cast<size_t>(i) * N;
    for (int j = 0; j < N; ++j) out[j] += r[j];
  }
}

// Keras's update rules, term for term (keras/src/optimizers/*.py).
void reg_grad(float* g, const float* w, size_t n, float l1, float l2) {
  const float l2x2 = 2.0f * l2;
  for (size_t i = 0; i < n; ++i) {
    float sgn = w[i] > 0.0f ? 1.0f : (w[i] < 0.0f ? -1.0f : 0.0f);
    g[i] += l2x2 * w[i] + l1 * sgn;
  }
}

void optim_update(float* w, float* g, float* s1, float* s2, float* s3, size_t n,
                  const UpdateArgs& a) {
  if (a.weight_decay != 0.0f) {
    const float wd = a.weight_decay * a.lr;
    for (size_t i = 0; i < n; ++i) w[i] -= w[i] * wd;
  }
  const float lr = a.lr;
  switch (a.kind) {
    case OPT_SGD:
      if (a.momentum == 0.0f) {
        for (size_t i = 0; i < n; ++i) w[i] -= g[i] * lr;
      } else if (a.nesterov) {
        const float mu = a.momentum;
        for (size_t i = 0; i < n; ++i) {
          s1[i] = s1[i] * mu - g[i] * lr;
          w[i] += s1[i] * mu - g[i] * lr;
        }
      } else {
        const float mu = a.momentum;
        for (size_t i = 0; i < n; ++i) {
          s1[i] = s1[i] * mu - g[i] * lr;
          w[i] += s1[i];
        }
      }
      break;
    case OPT_ADAM: {
      const float c1 = 1.0f - a.beta1, c2 = 1.0f - a.beta2, alpha = a.alpha, eps = a.eps;
      if (a.amsgrad) {
        for (size_t i = 0; i < n; ++i) {
          s1[i] += (g[i] - s1[i]) * c1;
          s2[i] += (g[i] * g[i] - s2[i]) * c2;
          s3[i] = s3[i] > s2[i] ? s3[i] : s2[i];
          w[i] -= (s1[i] * alpha) / (std::sqrt(s3[i]) + eps);
        }
      } else {
        for (size_t i = 0; i < n; ++i) {
          s1[i] += (g[i] - s1[i]) * c1;
          s2[i] += (g[i] * g[i] - s2[i]) * c2;
          w[i] -= (s1[i] * alpha) / (std::sqrt(s2[i]) + eps);
        }
      }
      break;
    }
    case OPT_RMSPROP: {
      const float rho = a.rho, c = 1.0f - a.rho, eps = a.eps, mu = a.momentum;
      for (size_t i = 0; i < n; ++i) {
        s1[i] = rho * s1[i] + c * (g[i] * g[i]);
        float den = s1[i] + eps;
        if (a.centered) {
          s3[i] = rho * s3[i] + c * g[i];
          den = s1[i] - s3[i] * s3[i] + eps;
        }
        float inc = lr * g[i] * (1.0f / std::sqrt(den));
        if (mu > 0.0f) {
          s2[i] = mu * s2[i] + inc;
          w[i] -= s2[i];
        } else {
          w[i] -= inc;
        }
      }
      break;
    }
    case OPT_ADAGRAD: {
      const float eps = a.eps;
      for (size_t i = 0; i < n; ++i) {
        s1[i] += g[i] * g[i];
        w[i] -= lr * g[i] / std::sqrt(s1[i] + eps);
      }
      break;
    }
    default:
      break;
  }
}

void abs_sq_sum(const float* w, size_t n, double* abs_sum, double* sq_sum) {
  double sa = 0.0, ss = 0.0;
  float pa[kLanes * 16], ps[kLanes * 16];
  for (size_t i0 = 0; i0 < n; i0 += kLanes * 16) {
    int m = static_cast<int>(n - i0 < kLanes * 16 ? n - i0 : kLanes * 16);
    for (int j = 0; j < m; ++j) {
      pa[j] = std::fabs(w[i0 + j]);
      ps[j] = w[i0 + j] * w[i0 + j];
    }
    sa += lane_sum(pa, m);
    ss += lane_sum(ps, m);
  }
  *abs_sum = sa;
  *sq_sum = ss;
}

// In chunks: the first loop draws the uniforms (the 64-bit mixing vectorizes), the second masks;
// the same bits as drawing one at a time.
void dropout_forward(float* __restrict y, unsigned char* __restrict keep, const float* __restrict x, size_t n,
                     float rate, uint64_t key, uint64_t first) {
  const float denom = 1.0f - rate;
  constexpr size_t kChunk = 256;
  float u[kChunk];
  for (size_t i0 = 0; i0 < n; i0 += kChunk) {
    const size_t m = n - i0 < kChunk ? n - i0 : kChunk;
    // < 2^24, so the int32 route converts exactly (and vectorizes where uint64 -> float would not)
    for (size_t j = 0; j < m; ++j)
      u[j] = static_cast<float>(static_cast<int32_t>(rng_u64(key, first + i0 + j) >> 40)) * (1.0f / 16777216.0f);
    for (size_t j = 0; j < m; ++j) {
      const bool k = u[j] >= rate;
      keep[i0 + j] = k;
      const float v = x[i0 + j] / denom;
      y[i0 + j] = k ? v : 0.0f;
    }
  }
}

void dropout_backward(float* __restrict dx, const unsigned char* __restrict keep, const float* __restrict dy,
                      size_t n, float rate, bool accumulate) {
  const float denom = 1.0f - rate;
  if (accumulate) {
    for (size_t i = 0; i < n; ++i) {
      const float v = dy[i] / denom;
      dx[i] += keep[i] ? v : 0.0f;
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      const float v = dy[i] / denom;
      dx[i] = keep[i] ? v : 0.0f;
    }
  }
}

void fill_from_impl(Kernels& k, const char* name) {
  k.name = name;
  k.bias_act_forward = bias_act_forward;
  k.act_backward = act_backward;
  k.act_backward_z = act_backward_z;
  k.col_sum = col_sum;
  k.reg_grad = reg_grad;
  k.optim_update = optim_update;
  k.abs_sq_sum = abs_sq_sum;
  k.dropout_forward = dropout_forward;
  k.dropout_backward = dropout_backward;
}

}  // namespace
}  // namespace bc

// Kernel bodies compiled once per ISA: ref.cpp (baseline x86-64), avx2.cpp and avx512.cpp
// include this file with their own compiler flags. Everything here sits in an
// anonymous namespace so the per-ISA copies never merge at link time. The loops are written
// for the auto-vectorizer with a fixed operation order (FMA contraction is off), so every
// path gives the same bits as the reference.
#pragma once
#include <immintrin.h>

#include <algorithm>
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
constexpr float kSeluAlpha = 1.6732632423543772848f, kSeluScale = 1.0507009873554804934f;
// Keras 3's defaults for the activations that take a number (keras/src/activations/activations.py):
// the activation string "leaky_relu" has slope 0.2, the shrinks threshold 0.5, squareplus b = 4.
constexpr float kLeakySlope = 0.2f, kShrink = 0.5f, kSquareplusB = 4.0f;

inline float gelu_f(float z) { return 0.5f * z * (1.0f + erf_f(z * kSqrtHalf)); }
inline float gelu_tanh_f(float z) { return 0.5f * z * (1.0f + tanh_f(kSqrt2OverPi * (z + kGeluC * z * z * z))); }
inline float silu_f(float z) { return z * sigmoid_f(z); }
// log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, and exact for large |z|
inline float softplus_f(float z) { return (z > 0.0f ? z : 0.0f) + log1p_f(exp_f(-std::fabs(z))); }
inline float elu_f(float z) { return z > 0.0f ? z : expm1_f(z); }  // celu with alpha 1 too
inline float clip_f(float z, float lo, float hi) { return z < lo ? lo : (z > hi ? hi : z); }  // NaN passes

// y (n) <- act(y) for the elementwise activations (row-wise ones: act_forward_row). One loop per
// activation, so each vectorizes.
template <class F>
inline void map_n(float* y, size_t n, F f) {
  for (size_t i = 0; i < n; ++i) y[i] = f(y[i]);
}

void act_map(float* y, size_t n, int act) {
  switch (act) {
    case ACT_RELU: map_n(y, n, [](float v) { return v < 0.0f ? 0.0f : v; }); break;  // NaN passes, as Keras
    case ACT_SIGMOID: map_n(y, n, [](float v) { return sigmoid_f(v); }); break;
    case ACT_TANH: map_n(y, n, [](float v) { return tanh_f(v); }); break;
    case ACT_GELU: map_n(y, n, [](float v) { return gelu_f(v); }); break;
    case ACT_GELU_TANH: map_n(y, n, [](float v) { return gelu_tanh_f(v); }); break;
    case ACT_SILU: map_n(y, n, [](float v) { return silu_f(v); }); break;
    case ACT_ELU: case ACT_CELU: map_n(y, n, [](float v) { return elu_f(v); }); break;
    case ACT_SELU: map_n(y, n, [](float v) { return kSeluScale * (v > 0.0f ? v : kSeluAlpha * expm1_f(v)); }); break;
    case ACT_SOFTPLUS: map_n(y, n, [](float v) { return softplus_f(v); }); break;
    case ACT_SOFTSIGN: map_n(y, n, [](float v) { return v / (1.0f + std::fabs(v)); }); break;
    case ACT_EXPONENTIAL: map_n(y, n, [](float v) { return exp_full(v); }); break;
    case ACT_HARD_SIGMOID: map_n(y, n, [](float v) { return clip_f(v + 3.0f, 0.0f, 6.0f) / 6.0f; }); break;
    case ACT_HARD_SILU: map_n(y, n, [](float v) { return v * clip_f(v + 3.0f, 0.0f, 6.0f) / 6.0f; }); break;
    case ACT_LEAKY_RELU: map_n(y, n, [](float v) { return v > 0.0f ? v : v * kLeakySlope; }); break;
    case ACT_RELU6: map_n(y, n, [](float v) { return clip_f(v, 0.0f, 6.0f); }); break;
    case ACT_MISH: map_n(y, n, [](float v) { return v * tanh_f(softplus_f(v)); }); break;
    case ACT_LOG_SIGMOID:  // -softplus(-z)
      map_n(y, n, [](float v) { return (v < 0.0f ? v : 0.0f) - log1p_f(exp_f(-std::fabs(v))); });
      break;
    case ACT_HARD_TANH: map_n(y, n, [](float v) { return clip_f(v, -1.0f, 1.0f); }); break;
    case ACT_TANH_SHRINK: map_n(y, n, [](float v) { return v - tanh_f(v); }); break;
    case ACT_SQUAREPLUS: map_n(y, n, [](float v) { return (v + std::sqrt(v * v + kSquareplusB)) / 2.0f; }); break;
    case ACT_SOFT_SHRINK:  // NaN passes, as torch's
      map_n(y, n, [](float v) { return v >= -kShrink && v <= kShrink ? 0.0f : (v > kShrink ? v - kShrink : v + kShrink); });
      break;
    case ACT_HARD_SHRINK: map_n(y, n, [](float v) { return v >= -kShrink && v <= kShrink ? 0.0f : v; }); break;
    case ACT_SPARSE_PLUS:
      map_n(y, n, [](float v) { return v <= -1.0f ? 0.0f : (v < 1.0f ? 0.25f * ((v + 1.0f) * (v + 1.0f)) : v); });
      break;
    default:  // linear
      break;
  }
}

void softmax_row(float* y, int N) {
  float m = y[0];
  for (int j = 1; j < N; ++j) m = y[j] > m ? y[j] : m;
  for (int j = 0; j < N; ++j) y[j] = exp_f(y[j] - m);
  float inv = 1.0f / lane_sum(y, N);
  for (int j = 0; j < N; ++j) y[j] *= inv;
}

// y - max - log(sum exp(y - max)); the exponentials go through a stack buffer, in chunks for
// long rows, as the softmax gradient's products do.
void log_softmax_row(float* y, int N) {
  float m = y[0];
  for (int j = 1; j < N; ++j) m = y[j] > m ? y[j] : m;
  for (int j = 0; j < N; ++j) y[j] -= m;
  float e[kLanes * 64];
  float sum = 0.0f;
  for (int j0 = 0; j0 < N; j0 += kLanes * 64) {
    const int k = N - j0 < kLanes * 64 ? N - j0 : kLanes * 64;
    for (int j = 0; j < k; ++j) e[j] = exp_f(y[j0 + j]);
    sum += lane_sum(e, k);
  }
  const float lse = log_f(sum);
  for (int j = 0; j < N; ++j) y[j] -= lse;
}

// Rows in blocks of about 2K values (in L1): the bias added to each row, then one elementwise pass
// over the block (per row, a narrow Dense's 32 values paid a call and a switch each: a fifth of its
// forward); the softmaxes row by row.
void bias_act_forward(float* y, const float* b, int B, int N, int act) {
  const int block = std::max(1, 2048 / std::max(N, 1));
  for (int i0 = 0; i0 < B; i0 += block) {
    const int i1 = std::min(B, i0 + block);
    float* y0 = y + static_cast<size_t>(i0) * N;
    for (int i = i0; i < i1 && b; ++i) {
      float* r = y + static_cast<size_t>(i) * N;
      for (int j = 0; j < N; ++j) r[j] += b[j];
    }
    if (act == ACT_SOFTMAX || act == ACT_LOG_SOFTMAX) {
      for (int i = i0; i < i1; ++i) {
        float* r = y + static_cast<size_t>(i) * N;
        if (act == ACT_SOFTMAX) softmax_row(r, N);
        else log_softmax_row(r, N);
      }
    } else if (act != ACT_LINEAR) {
      act_map(y0, static_cast<size_t>(i1 - i0) * N, act);
    }
  }
}

// dy (n) <- dy * act'(z), read off y = act(z), for the elementwise activations that
// act_needs_input() does not name. Each condition on y is the one on z that Keras's torch backend
// tests (0 < y < 6 iff 0 < z < 6, ...); hard_sigmoid's z + 3 can round up to 6 for the one float
// just below 3, where this gives 0 and torch 1/6.
template <class F>
inline void grad_n(float* dy, const float* v, size_t n, F f) {
  for (size_t i = 0; i < n; ++i) dy[i] = f(dy[i], v[i]);
}

void act_grad_y(float* dy, const float* y, size_t n, int act) {
  switch (act) {
    case ACT_RELU: grad_n(dy, y, n, [](float d, float r) { return r > 0.0f ? d : 0.0f; }); break;
    case ACT_SIGMOID: grad_n(dy, y, n, [](float d, float r) { return d * (r * (1.0f - r)); }); break;
    case ACT_TANH: grad_n(dy, y, n, [](float d, float r) { return d * (1.0f - r * r); }); break;
    case ACT_EXPONENTIAL: grad_n(dy, y, n, [](float d, float r) { return d * r; }); break;
    case ACT_HARD_SIGMOID: grad_n(dy, y, n, [](float d, float r) { return r > 0.0f && r < 1.0f ? d / 6.0f : 0.0f; }); break;
    case ACT_LEAKY_RELU: grad_n(dy, y, n, [](float d, float r) { return r > 0.0f ? d : d * kLeakySlope; }); break;
    case ACT_RELU6: grad_n(dy, y, n, [](float d, float r) { return r > 0.0f && r < 6.0f ? d : 0.0f; }); break;
    case ACT_HARD_TANH: grad_n(dy, y, n, [](float d, float r) { return r > -1.0f && r < 1.0f ? d : 0.0f; }); break;
    case ACT_SOFT_SHRINK: case ACT_HARD_SHRINK:  // y != 0 iff |z| > 0.5 (z -+ 0.5 is exact there)
      grad_n(dy, y, n, [](float d, float r) { return r != 0.0f ? d : 0.0f; });
      break;
    default:  // linear
      break;
  }
}

void act_backward(float* dy, const float* y, int B, int N, int act) {
  if (act == ACT_SOFTMAX) {
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
  } else if (act == ACT_LOG_SOFTMAX) {  // dz = dy - softmax * sum(dy), softmax = exp(y)
    for (int i = 0; i < B; ++i) {
      float* d = dy + static_cast<size_t>(i) * N;
      const float* s = y + static_cast<size_t>(i) * N;
      const float total = lane_sum(d, N);
      for (int j = 0; j < N; ++j) d[j] -= exp_f(s[j]) * total;
    }
  } else {
    act_grad_y(dy, y, static_cast<size_t>(B) * N, act);
  }
}

// dy (B, N) <- dy * act'(z) for the activations act_needs_input() names, as Keras's torch
// backend differentiates them.
void act_backward_z(float* dy, const float* z, int B, int N, int act) {
  const size_t n = static_cast<size_t>(B) * N;
  switch (act) {  // one loop per activation, so each vectorizes
    case ACT_GELU:
      grad_n(dy, z, n, [](float d, float v) {
        return d * (0.5f * (1.0f + erf_f(v * kSqrtHalf)) + v * kInvSqrt2Pi * exp_f(-0.5f * v * v));
      });
      break;
    case ACT_GELU_TANH:
      grad_n(dy, z, n, [](float d, float v) {
        const float t = tanh_f(kSqrt2OverPi * (v + kGeluC * v * v * v));
        return d * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluC * v * v));
      });
      break;
    case ACT_SILU:
      grad_n(dy, z, n, [](float d, float v) {
        const float s = sigmoid_f(v);
        return d * (s * (1.0f + v * (1.0f - s)));
      });
      break;
    case ACT_ELU: case ACT_CELU:
      grad_n(dy, z, n, [](float d, float v) { return v > 0.0f ? d : d * exp_f(v); });
      break;
    case ACT_SELU:
      grad_n(dy, z, n, [](float d, float v) { return v > 0.0f ? d * kSeluScale : d * (kSeluScale * kSeluAlpha * exp_f(v)); });
      break;
    case ACT_SOFTPLUS: grad_n(dy, z, n, [](float d, float v) { return d * sigmoid_f(v); }); break;
    case ACT_SOFTSIGN:
      grad_n(dy, z, n, [](float d, float v) {
        const float q = 1.0f + std::fabs(v);
        return d / (q * q);
      });
      break;
    case ACT_HARD_SILU:
      grad_n(dy, z, n, [](float d, float v) { return v < -3.0f ? 0.0f : (v <= 3.0f ? d * (v / 3.0f + 0.5f) : d); });
      break;
    case ACT_MISH:
      grad_n(dy, z, n, [](float d, float v) {
        const float t = tanh_f(softplus_f(v));
        return d * (t + v * (1.0f - t * t) * sigmoid_f(v));
      });
      break;
    case ACT_LOG_SIGMOID: grad_n(dy, z, n, [](float d, float v) { return d * sigmoid_f(-v); }); break;
    case ACT_TANH_SHRINK:
      grad_n(dy, z, n, [](float d, float v) {
        const float t = tanh_f(v);
        return d * (t * t);
      });
      break;
    case ACT_SQUAREPLUS:
      grad_n(dy, z, n, [](float d, float v) { return d * (0.5f * (1.0f + v / std::sqrt(v * v + kSquareplusB))); });
      break;
    case ACT_SPARSE_PLUS:
      grad_n(dy, z, n, [](float d, float v) { return v <= -1.0f ? 0.0f : (v < 1.0f ? d * (0.5f * (v + 1.0f)) : d); });
      break;
    default:
      break;
  }
}

// Columns in blocks of W summed in registers, each column still adding its rows in order from out or
// 0. Whole blocks on the path's vectors: as a float array the AVX2 copy of the 16-column block (a
// thread's share, col_sum_team) compiled to scalar adds through the stack, 3.5% of the text
// Transformer's step. A partial block (m < W) keeps the array.
template <int W>
inline void col_sum_block(float* out, const float* x, int B, int N, int m, bool accumulate) {
  if constexpr (W % kPathW == 0) {
    if (m == W) {
      constexpr int V = W / kPathW;
      path_vf acc[V];
      for (int v = 0; v < V; ++v) acc[v] = accumulate ? load_n(out + v * kPathW, kPathW) : splat(0.0f);
      for (int i = 0; i < B; ++i) {
        const float* r = x + static_cast<size_t>(i) * N;
        for (int v = 0; v < V; ++v) acc[v] += load_n(r + v * kPathW, kPathW);
      }
      for (int v = 0; v < V; ++v) store_n(out + v * kPathW, acc[v], kPathW);
      return;
    }
  }
  float acc[W];
  for (int j = 0; j < W; ++j) acc[j] = accumulate && j < m ? out[j] : 0.0f;
  for (int i = 0; i < B; ++i) {
    const float* r = x + static_cast<size_t>(i) * N;
    for (int j = 0; j < m; ++j) acc[j] += r[j];
  }
  for (int j = 0; j < m; ++j) out[j] = acc[j];
}

void col_sum(float* out, const float* x, int B, int N, int ld, bool accumulate) {
  int j0 = 0;
  for (; j0 + 16 < N; j0 += 32) col_sum_block<32>(out + j0, x + j0, B, ld, std::min(32, N - j0), accumulate);
  if (j0 < N) col_sum_block<16>(out + j0, x + j0, B, ld, N - j0, accumulate);  // a thread's 16 (col_sum_team)
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
    case OPT_NADAM: {  // s1 = m, s2 = v; the momentum-schedule factors come per step (UpdateArgs)
      const float c1 = 1.0f - a.beta1, c2 = 1.0f - a.beta2, cm = a.nadam_m, cg = a.nadam_g, bias = a.bias,
                  eps = a.eps;
      for (size_t i = 0; i < n; ++i) {
        s1[i] += (g[i] - s1[i]) * c1;
        s2[i] += (g[i] * g[i] - s2[i]) * c2;
        const float m_hat = s1[i] * cm + g[i] * cg;
        w[i] -= (m_hat * lr) / (std::sqrt(s2[i] / bias) + eps);
      }
      break;
    }
    case OPT_ADAMAX: {  // s1 = m, s2 = u (the decayed infinity norm)
      const float c1 = 1.0f - a.beta1, b2 = a.beta2, bias = a.bias, eps = a.eps;
      for (size_t i = 0; i < n; ++i) {
        s1[i] += (g[i] - s1[i]) * c1;
        const float decayed = b2 * s2[i], mag = std::fabs(g[i]);
        s2[i] = decayed > mag ? decayed : mag;
        w[i] -= (lr * s1[i]) / ((s2[i] + eps) * bias);
      }
      break;
    }
    case OPT_ADADELTA: {  // s1 = accumulated grad^2, s2 = accumulated delta^2
      const float rho = a.rho, c = 1.0f - a.rho, eps = a.eps;
      for (size_t i = 0; i < n; ++i) {
        s1[i] = rho * s1[i] + c * (g[i] * g[i]);
        const float delta = -((std::sqrt(s2[i] + eps) * g[i]) / std::sqrt(s1[i] + eps));
        s2[i] = rho * s2[i] + c * (delta * delta);
        w[i] += lr * delta;
      }
      break;
    }
    case OPT_LION: {  // s1 = m; the step reads m before it moves
      const float b1 = a.beta1, c1 = 1.0f - a.beta1, b2 = a.beta2, c2 = 1.0f - a.beta2;
      for (size_t i = 0; i < n; ++i) {
        const float c = s1[i] * b1 + g[i] * c1;
        const float sign = c > 0.0f ? 1.0f : (c < 0.0f ? -1.0f : c);  // ops.sign: 0 stays 0, NaN stays NaN
        w[i] -= lr * sign;
        s1[i] = s1[i] * b2 + g[i] * c2;
      }
      break;
    }
    case OPT_FTRL: {  // s1 = accumulator, s2 = linear; Keras's float32 terms in its order
      const float p = a.ftrl_power, l1 = a.ftrl_l1, two_l2 = a.ftrl_two_l2, shrink = a.ftrl_two_shrink;
      // Keras's default power 0.5 as a square root (torch's pow there is within an ulp of it too):
      // it vectorizes, where powf costs ~20 ns a call, twice per weight
      const bool root = p == 0.5f;
      for (size_t i = 0; i < n; ++i) {
        const float grad = g[i] + shrink * w[i];
        const float next = s1[i] + g[i] * g[i];
        const float next_p = root ? std::sqrt(next) : std::pow(next, p);
        const float prev_p = root ? std::sqrt(s1[i]) : std::pow(s1[i], p);
        s2[i] += grad - ((next_p - prev_p) / lr) * w[i];
        const float quadratic = next_p / lr + two_l2;
        const float clipped = std::min(std::max(s2[i], -l1), l1);
        w[i] = (clipped - s2[i]) / quadratic;
        s1[i] = next;
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

// Dropout's keep flags (n) from a vector of compare results (-1 / 0 per lane): packed to bytes.
typedef int32_t drop_vi __attribute__((vector_size(kPathW * 4)));
typedef uint32_t drop_vu __attribute__((vector_size(kPathW * 4)));
inline void store_keep(unsigned char* keep, drop_vi k) {
#if defined(__AVX512F__)
  _mm_storeu_si128(reinterpret_cast<__m128i*>(keep), _mm512_cvtepi32_epi8(reinterpret_cast<__m512i>(k & 1)));
#elif defined(__AVX2__)
  const __m256i m = reinterpret_cast<__m256i>(k);
  const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(keep), _mm_and_si128(_mm_packs_epi16(p16, p16), _mm_set1_epi8(1)));
#else
  const __m128i p16 = _mm_packs_epi32(reinterpret_cast<__m128i>(k), reinterpret_cast<__m128i>(k));
  const int b = _mm_cvtsi128_si32(_mm_and_si128(_mm_packs_epi16(p16, p16), _mm_set1_epi8(1)));
  std::memcpy(keep, &b, 4);
#endif
}

// Value first + i is kept when drop_bits24 (core/rng.h) / 2^24 >= rate, y = x / (1 - rate) there
// and 0 elsewhere. A vector of kPathW values hashes in 32-bit lanes; a vector whose indices cross a
// multiple of 2^32 (their high words differ) and the tail take the scalar function: the same bits.
void dropout_forward(float* __restrict y, unsigned char* __restrict keep, const float* __restrict x, size_t n,
                     float rate, uint64_t key, uint64_t first) {
  const float denom = 1.0f - rate;
  drop_vu lane;
  for (int l = 0; l < kPathW; ++l) lane[l] = static_cast<uint32_t>(l);
  auto one = [&](size_t i) {
    const float u = static_cast<float>(static_cast<int32_t>(drop_bits24(key, first + i))) * (1.0f / 16777216.0f);
    const bool k = u >= rate;
    keep[i] = k;
    y[i] = k ? x[i] / denom : 0.0f;
  };
  size_t i = 0;
  for (; i + kPathW <= n; i += kPathW) {
    const uint64_t e = first + i;
    if (static_cast<uint32_t>(e) > 0xffffffffU - (kPathW - 1)) {
      for (int l = 0; l < kPathW; ++l) one(i + l);
      continue;
    }
    const drop_vu h = drop_bits24_lo(key, e, static_cast<uint32_t>(e) + lane);
    const path_vf u = __builtin_convertvector(reinterpret_cast<drop_vi>(h), path_vf) * (1.0f / 16777216.0f);
    const path_vf v = *reinterpret_cast<const path_vfu*>(x + i) / denom;
    const drop_vi k = u >= rate;
    *reinterpret_cast<path_vfu*>(y + i) = k ? v : path_vf{};
    store_keep(keep + i, k);
  }
  for (; i < n; ++i) one(i);
}

// A vector of keep flags (bytes) as lanes of -1 (kept) or 0: dropout_backward's select.
inline drop_vi load_keep(const unsigned char* keep) {
#if defined(__AVX512F__)
  const __m512i w = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(keep)));
#elif defined(__AVX2__)
  const __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(keep)));
#else
  int b;
  std::memcpy(&b, keep, 4);
  const __m128i z = _mm_setzero_si128();
  const __m128i w = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(b), z), z);
#endif
  return reinterpret_cast<drop_vi>(w) != 0;
}

// dx (=|+=) keep ? dy / (1 - rate) : 0, a vector at a time (a scalar loop with a branch before).
void dropout_backward(float* __restrict dx, const unsigned char* __restrict keep, const float* __restrict dy,
                      size_t n, float rate, bool accumulate) {
  const float denom = 1.0f - rate;
  size_t i = 0;
  for (; i + kPathW <= n; i += kPathW) {
    const path_vf v = *reinterpret_cast<const path_vfu*>(dy + i) / denom;
    const path_vf g = load_keep(keep + i) ? v : path_vf{};
    path_vfu* d = reinterpret_cast<path_vfu*>(dx + i);
    *d = accumulate ? *d + g : g;
  }
  for (; i < n; ++i) {
    const float g = keep[i] ? dy[i] / denom : 0.0f;
    dx[i] = accumulate ? dx[i] + g : g;
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

// Bodies of the primitive kernels (prim.h), compiled once per ISA by ref.cpp, avx2.cpp and
// avx512.cpp with their own flags; an anonymous namespace keeps the copies apart (as
// kernels/float/body.h). The switch on the kind sits outside each loop, so every loop is one
// simple map the compiler vectorizes (libm calls stay scalar, with the same bits on every path).
#pragma once
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/float/math.h"
#include "kernels/prim/prim.h"

namespace bc {
namespace {

constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kGeluTanhC = 0.79788456080286535588f;  // sqrt(2 / pi)
constexpr float kTwoOverSqrtPi = 1.12837916709551257390f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kMaskedLogit = -1e9f;  // Keras's Softmax layer adds this where the mask is 0

inline float sign_f(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); }  // NaN and -0 pass

template <class F>
inline void map1(float* y, const float* x, size_t n, F f) {
  for (size_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

void unary(int kind, float* y, const float* x, size_t n, float a, float b) {
  switch (kind) {
    case U_IDENTITY: if (y != x) std::memmove(y, x, n * sizeof(float)); break;
    case U_NEG: map1(y, x, n, [](float v) { return -v; }); break;
    case U_ABS: map1(y, x, n, [](float v) { return std::fabs(v); }); break;
    case U_SQUARE: map1(y, x, n, [](float v) { return v * v; }); break;
    case U_SQRT: map1(y, x, n, [](float v) { return std::sqrt(v); }); break;
    case U_RSQRT: map1(y, x, n, [](float v) { return 1.0f / std::sqrt(v); }); break;
    case U_EXP: map1(y, x, n, [](float v) { return exp_full(v); }); break;
    case U_EXPM1: map1(y, x, n, [](float v) { return std::expm1(v); }); break;
    case U_LOG: map1(y, x, n, [](float v) { return std::log(v); }); break;
    case U_LOG1P: map1(y, x, n, [](float v) { return std::log1p(v); }); break;
    case U_SIGN: map1(y, x, n, [](float v) { return sign_f(v); }); break;
    case U_SIN: map1(y, x, n, [](float v) { return std::sin(v); }); break;
    case U_COS: map1(y, x, n, [](float v) { return std::cos(v); }); break;
    case U_RECIPROCAL: map1(y, x, n, [](float v) { return 1.0f / v; }); break;
    case U_FLOOR: map1(y, x, n, [](float v) { return std::floor(v); }); break;
    case U_CEIL: map1(y, x, n, [](float v) { return std::ceil(v); }); break;
    case U_ROUND: map1(y, x, n, [](float v) { return std::nearbyint(v); }); break;  // half to even
    case U_TRUNC: map1(y, x, n, [](float v) { return std::trunc(v); }); break;
    case U_RELU: map1(y, x, n, [](float v) { return v < 0.0f ? 0.0f : v; }); break;  // NaN passes
    case U_RELU6: map1(y, x, n, [](float v) { return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); }); break;
    case U_GELU:
      if (a != 0.0f)
        map1(y, x, n, [](float v) { return 0.5f * v * (1.0f + tanh_f(kGeluTanhC * (v + 0.044715f * v * v * v))); });
      else
        map1(y, x, n, [](float v) { return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)); });
      break;
    case U_SILU: map1(y, x, n, [](float v) { return v * sigmoid_f(v); }); break;
    case U_SIGMOID: map1(y, x, n, [](float v) { return sigmoid_f(v); }); break;
    case U_TANH: map1(y, x, n, [](float v) { return tanh_f(v); }); break;
    case U_SOFTPLUS:
      map1(y, x, n, [](float v) { return (v > 0.0f ? v : 0.0f) + std::log1p(exp_f(-std::fabs(v))); });
      break;
    case U_LOG_SIGMOID:
      map1(y, x, n, [](float v) { return (v < 0.0f ? v : 0.0f) - std::log1p(exp_f(-std::fabs(v))); });
      break;
    case U_SOFTSIGN: map1(y, x, n, [](float v) { return v / (1.0f + std::fabs(v)); }); break;
    case U_ELU: map1(y, x, n, [a](float v) { return v > 0.0f ? v : a * (exp_f(v) - 1.0f); }); break;
    case U_SELU:
      map1(y, x, n, [](float v) { return kSeluScale * (v > 0.0f ? v : kSeluAlpha * (exp_f(v) - 1.0f)); });
      break;
    case U_LEAKY_RELU: map1(y, x, n, [a](float v) { return v >= 0.0f ? v : v * a; }); break;
    case U_HARD_SIGMOID:
      map1(y, x, n, [](float v) {
        float t = v + 3.0f;
        t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
        return t / 6.0f;
      });
      break;
    case U_HARD_SILU:
      map1(y, x, n, [](float v) {
        float t = v + 3.0f;
        t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
        return v * t / 6.0f;
      });
      break;
    case U_ERF: map1(y, x, n, [](float v) { return std::erf(v); }); break;
    case U_CLIP: map1(y, x, n, [a, b](float v) { return v < a ? a : (v > b ? b : v); }); break;
    case U_NOT_ZERO: map1(y, x, n, [](float v) { return v != 0.0f ? 1.0f : 0.0f; }); break;
    case U_LOGICAL_NOT: map1(y, x, n, [](float v) { return v == 0.0f ? 1.0f : 0.0f; }); break;
    default: break;
  }
}

template <class F>
inline void map_grad(float* dx, const float* g, const float* x, const float* y, size_t n, bool acc, F f) {
  if (acc)
    for (size_t i = 0; i < n; ++i) dx[i] += f(g[i], x[i], y[i]);
  else
    for (size_t i = 0; i < n; ++i) dx[i] = f(g[i], x[i], y[i]);
}

void unary_backward(int kind, float* dx, const float* g, const float* x, const float* y, size_t n, float a, float b,
                    bool acc) {
  switch (kind) {
    case U_IDENTITY: map_grad(dx, g, x, y, n, acc, [](float d, float, float) { return d; }); break;
    case U_NEG: map_grad(dx, g, x, y, n, acc, [](float d, float, float) { return -d; }); break;
    case U_ABS: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d * sign_f(v); }); break;
    case U_SQUARE: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d * (2.0f * v); }); break;
    case U_SQRT: map_grad(dx, g, x, y, n, acc, [](float d, float, float r) { return d / (2.0f * r); }); break;
    case U_RSQRT:
      map_grad(dx, g, x, y, n, acc, [](float d, float, float r) { return d * (-0.5f * r * r * r); });
      break;
    case U_EXP: map_grad(dx, g, x, y, n, acc, [](float d, float, float r) { return d * r; }); break;
    case U_EXPM1: map_grad(dx, g, x, y, n, acc, [](float d, float, float r) { return d * (r + 1.0f); }); break;
    case U_LOG: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d / v; }); break;
    case U_LOG1P: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d / (1.0f + v); }); break;
    case U_SIN: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d * std::cos(v); }); break;
    case U_COS: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return -(d * std::sin(v)); }); break;
    case U_RECIPROCAL: map_grad(dx, g, x, y, n, acc, [](float d, float, float r) { return -(d * r * r); }); break;
    case U_RELU: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return v > 0.0f ? d : 0.0f; }); break;
    case U_RELU6:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return v > 0.0f && v < 6.0f ? d : 0.0f; });
      break;
    case U_GELU:
      if (a != 0.0f)
        map_grad(dx, g, x, y, n, acc, [](float d, float v, float) {
          const float v2 = v * v;
          const float t = tanh_f(kGeluTanhC * (v + 0.044715f * v2 * v));
          const float dt = (1.0f - t * t) * kGeluTanhC * (1.0f + 3.0f * 0.044715f * v2);
          return d * (0.5f * (1.0f + t) + 0.5f * v * dt);
        });
      else
        map_grad(dx, g, x, y, n, acc, [](float d, float v, float) {
          const float cdf = 0.5f * (1.0f + std::erf(v * kInvSqrt2));
          return d * (cdf + v * kInvSqrt2Pi * exp_f(-0.5f * v * v));
        });
      break;
    case U_SILU:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float) {
        const float s = sigmoid_f(v);
        return d * (s + v * s * (1.0f - s));
      });
      break;
    case U_SIGMOID: map_grad(dx, g, x, y, n, acc, [](float d, float, float r) { return d * (r * (1.0f - r)); }); break;
    case U_TANH: map_grad(dx, g, x, y, n, acc, [](float d, float, float r) { return d * (1.0f - r * r); }); break;
    case U_SOFTPLUS: map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d * sigmoid_f(v); }); break;
    case U_LOG_SIGMOID:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d * sigmoid_f(-v); });
      break;
    case U_SOFTSIGN:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float) {
        const float q = 1.0f + std::fabs(v);
        return d / (q * q);
      });
      break;
    case U_ELU:
      map_grad(dx, g, x, y, n, acc, [a](float d, float v, float r) { return v > 0.0f ? d : d * (r + a); });
      break;
    case U_SELU:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float r) {
        return v > 0.0f ? d * kSeluScale : d * (r + kSeluScale * kSeluAlpha);
      });
      break;
    case U_LEAKY_RELU:
      map_grad(dx, g, x, y, n, acc, [a](float d, float v, float) { return v > 0.0f ? d : d * a; });
      break;
    case U_HARD_SIGMOID:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return v > -3.0f && v < 3.0f ? d / 6.0f : 0.0f; });
      break;
    case U_HARD_SILU:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float) {
        return v < -3.0f ? 0.0f : (v <= 3.0f ? d * (v / 3.0f + 0.5f) : d);
      });
      break;
    case U_ERF:
      map_grad(dx, g, x, y, n, acc, [](float d, float v, float) { return d * kTwoOverSqrtPi * exp_f(-(v * v)); });
      break;
    case U_CLIP:
      map_grad(dx, g, x, y, n, acc, [a, b](float d, float v, float) { return v >= a && v <= b ? d : 0.0f; });
      break;
    default:  // no gradient (sign, floor, ceil, round, casts, logical): zeros
      map_grad(dx, g, x, y, n, acc, [](float, float, float) { return 0.0f; });
      break;
  }
}

// NumPy's floor_divide / remainder for floats (npy_divmod): the quotient floored, the remainder
// with the divisor's sign.
inline float floor_div_f(float a, float b) {
  float mod = std::fmod(a, b);
  if (b == 0.0f) return a / b;
  float div = (a - mod) / b;
  if (mod != 0.0f && ((b < 0.0f) != (mod < 0.0f))) div -= 1.0f;
  if (div != 0.0f) {
    float fl = std::floor(div);
    if (div - fl > 0.5f) fl += 1.0f;
    return fl;
  }
  return std::copysign(0.0f, a / b);
}

inline float mod_f(float a, float b) {
  if (b == 0.0f) return std::fmod(a, b);
  float mod = std::fmod(a, b);
  if (mod != 0.0f) {
    if ((b < 0.0f) != (mod < 0.0f)) mod += b;
  } else {
    mod = std::copysign(0.0f, b);
  }
  return mod;
}

inline float max_f(float a, float b) { return (a > b || a != a) ? a : b; }  // NaN propagates
inline float min_f(float a, float b) { return (a < b || a != a) ? a : b; }

template <class F>
inline void map2(float* y, const float* a, int sa, const float* b, int sb, size_t n, F f) {
  if (sa && sb) {
    for (size_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  } else if (sb) {
    const float av = a[0];
    for (size_t i = 0; i < n; ++i) y[i] = f(av, b[i]);
  } else if (sa) {
    const float bv = b[0];
    for (size_t i = 0; i < n; ++i) y[i] = f(a[i], bv);
  } else {
    const float v = f(a[0], b[0]);
    for (size_t i = 0; i < n; ++i) y[i] = v;
  }
}

inline float b2f(bool v) { return v ? 1.0f : 0.0f; }

void binary(int kind, float* y, const float* a, int sa, const float* b, int sb, size_t n) {
  switch (kind) {
    case B_ADD: map2(y, a, sa, b, sb, n, [](float p, float q) { return p + q; }); break;
    case B_SUB: map2(y, a, sa, b, sb, n, [](float p, float q) { return p - q; }); break;
    case B_MUL: map2(y, a, sa, b, sb, n, [](float p, float q) { return p * q; }); break;
    case B_DIV: map2(y, a, sa, b, sb, n, [](float p, float q) { return p / q; }); break;
    case B_POW: map2(y, a, sa, b, sb, n, [](float p, float q) { return std::pow(p, q); }); break;
    case B_MAX: map2(y, a, sa, b, sb, n, [](float p, float q) { return max_f(p, q); }); break;
    case B_MIN: map2(y, a, sa, b, sb, n, [](float p, float q) { return min_f(p, q); }); break;
    case B_FLOOR_DIV: map2(y, a, sa, b, sb, n, [](float p, float q) { return floor_div_f(p, q); }); break;
    case B_MOD: map2(y, a, sa, b, sb, n, [](float p, float q) { return mod_f(p, q); }); break;
    case B_EQ: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p == q); }); break;
    case B_NE: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p != q); }); break;
    case B_GT: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p > q); }); break;
    case B_GE: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p >= q); }); break;
    case B_LT: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p < q); }); break;
    case B_LE: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p <= q); }); break;
    case B_AND: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p != 0.0f && q != 0.0f); }); break;
    case B_OR: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f(p != 0.0f || q != 0.0f); }); break;
    case B_XOR: map2(y, a, sa, b, sb, n, [](float p, float q) { return b2f((p != 0.0f) != (q != 0.0f)); }); break;
    default: break;
  }
}

// One gradient row: d[i] (+)= f(g, a, b, y) with a and b at strides sa, sb.
template <class F>
inline void grad_row(float* d, bool acc, const float* g, const float* a, int sa, const float* b, int sb,
                     const float* y, size_t n, F f) {
  if (!d) return;
  if (sa && sb) {
    if (acc) for (size_t i = 0; i < n; ++i) d[i] += f(g[i], a[i], b[i], y[i]);
    else for (size_t i = 0; i < n; ++i) d[i] = f(g[i], a[i], b[i], y[i]);
  } else if (sa) {
    const float bv = b[0];
    if (acc) for (size_t i = 0; i < n; ++i) d[i] += f(g[i], a[i], bv, y[i]);
    else for (size_t i = 0; i < n; ++i) d[i] = f(g[i], a[i], bv, y[i]);
  } else if (sb) {
    const float av = a[0];
    if (acc) for (size_t i = 0; i < n; ++i) d[i] += f(g[i], av, b[i], y[i]);
    else for (size_t i = 0; i < n; ++i) d[i] = f(g[i], av, b[i], y[i]);
  } else {
    const float av = a[0], bv = b[0];
    if (acc) for (size_t i = 0; i < n; ++i) d[i] += f(g[i], av, bv, y[i]);
    else for (size_t i = 0; i < n; ++i) d[i] = f(g[i], av, bv, y[i]);
  }
}

// Ties of maximum/minimum split the gradient in halves (PyTorch's rule, so Keras on torch agrees).
void binary_backward(int kind, float* da, bool acc_a, float* db, bool acc_b, const float* g, const float* a, int sa,
                     const float* b, int sb, const float* y, size_t n) {
  auto both = [&](auto fa, auto fb) {
    grad_row(da, acc_a, g, a, sa, b, sb, y, n, fa);
    grad_row(db, acc_b, g, a, sa, b, sb, y, n, fb);
  };
  switch (kind) {
    case B_ADD:
      both([](float d, float, float, float) { return d; }, [](float d, float, float, float) { return d; });
      break;
    case B_SUB:
      both([](float d, float, float, float) { return d; }, [](float d, float, float, float) { return -d; });
      break;
    case B_MUL:
      both([](float d, float, float q, float) { return d * q; }, [](float d, float p, float, float) { return d * p; });
      break;
    case B_DIV:
      both([](float d, float, float q, float) { return d / q; },
           [](float d, float p, float q, float) { return -(d * p) / (q * q); });
      break;
    case B_POW:
      both([](float d, float p, float q, float) { return q == 0.0f ? 0.0f : d * q * std::pow(p, q - 1.0f); },
           [](float d, float p, float, float r) {  // PyTorch: 0 where the base is 0 (and the exponent >= 0)
             return p == 0.0f ? 0.0f : d * r * std::log(p);
           });
      break;
    case B_MAX:
      both([](float d, float p, float q, float) { return p > q ? d : (p == q ? d * 0.5f : (p != p ? d : 0.0f)); },
           [](float d, float p, float q, float) { return q > p ? d : (p == q ? d * 0.5f : (q != q ? d : 0.0f)); });
      break;
    case B_MIN:
      both([](float d, float p, float q, float) { return p < q ? d : (p == q ? d * 0.5f : (p != p ? d : 0.0f)); },
           [](float d, float p, float q, float) { return q < p ? d : (p == q ? d * 0.5f : (q != q ? d : 0.0f)); });
      break;
    case B_MOD:
      both([](float d, float, float, float) { return d; },
           [](float d, float p, float q, float) { return -(d * floor_div_f(p, q)); });
      break;
    default:  // no gradient: zeros
      both([](float, float, float, float) { return 0.0f; }, [](float, float, float, float) { return 0.0f; });
      break;
  }
}

// -- reductions --

template <class Init, class Step, class Fin>
inline void reduce_with(float* y, const float* x, const float* aux, size_t O, size_t R, size_t I, Init init,
                        Step step, Fin fin) {
  if (I == 1) {
    // Contiguous rows: kLanes fixed lanes, folded by a fixed tree.
    for (size_t o = 0; o < O; ++o) {
      const float* r = x + o * R;
      const float c = aux ? aux[o] : 0.0f;
      float acc[kLanes];
      for (int l = 0; l < kLanes; ++l) acc[l] = init();
      size_t i = 0;
      for (; i + kLanes <= R; i += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] = step(acc[l], r[i + l], c);
      for (int l = 0; i < R; ++i, ++l) acc[l] = step(acc[l], r[i], c);
      for (int w = kLanes / 2; w > 0; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] = fin(acc[l], acc[l + w]);
      y[o] = acc[0];
    }
    return;
  }
  for (size_t o = 0; o < O; ++o) {
    float* yo = y + o * I;
    const float* c = aux ? aux + o * I : nullptr;
    for (size_t i = 0; i < I; ++i) yo[i] = init();
    for (size_t r = 0; r < R; ++r) {
      const float* xr = x + (o * R + r) * I;
      if (c)
        for (size_t i = 0; i < I; ++i) yo[i] = step(yo[i], xr[i], c[i]);
      else
        for (size_t i = 0; i < I; ++i) yo[i] = step(yo[i], xr[i], 0.0f);
    }
  }
}

void reduce(int kind, float* y, const float* x, const float* aux, size_t O, size_t R, size_t I) {
  auto zero = [] { return 0.0f; };
  auto one = [] { return 1.0f; };
  auto add = [](float p, float q) { return p + q; };
  auto mul = [](float p, float q) { return p * q; };
  constexpr float inf = std::numeric_limits<float>::infinity();
  switch (kind) {
    case R_SUM: reduce_with(y, x, nullptr, O, R, I, zero, [](float s, float v, float) { return s + v; }, add); break;
    case R_SUMSQ: reduce_with(y, x, nullptr, O, R, I, zero, [](float s, float v, float) { return s + v * v; }, add); break;
    case R_SUMABS:
      reduce_with(y, x, nullptr, O, R, I, zero, [](float s, float v, float) { return s + std::fabs(v); }, add);
      break;
    case R_CSUMSQ:
      reduce_with(y, x, aux, O, R, I, zero, [](float s, float v, float c) { return s + (v - c) * (v - c); }, add);
      break;
    case R_SUMEXP:
      reduce_with(y, x, aux, O, R, I, zero, [](float s, float v, float c) { return s + exp_full(v - c); }, add);
      break;
    case R_PROD: reduce_with(y, x, nullptr, O, R, I, one, [](float s, float v, float) { return s * v; }, mul); break;
    case R_MAX:
      reduce_with(y, x, nullptr, O, R, I, [] { return -inf; }, [](float s, float v, float) { return max_f(v, s); },
                  [](float p, float q) { return max_f(p, q); });
      break;
    case R_MIN:
      reduce_with(y, x, nullptr, O, R, I, [] { return inf; }, [](float s, float v, float) { return min_f(v, s); },
                  [](float p, float q) { return min_f(p, q); });
      break;
    case R_MAXABS:
      reduce_with(y, x, nullptr, O, R, I, zero, [](float s, float v, float) { return max_f(std::fabs(v), s); },
                  [](float p, float q) { return max_f(p, q); });
      break;
    case R_MINABS:
      reduce_with(y, x, nullptr, O, R, I, [] { return inf; },
                  [](float s, float v, float) { return min_f(std::fabs(v), s); },
                  [](float p, float q) { return min_f(p, q); });
      break;
    case R_ANY:
      reduce_with(y, x, nullptr, O, R, I, zero, [](float s, float v, float) { return (s != 0.0f || v != 0.0f) ? 1.0f : 0.0f; },
                  [](float p, float q) { return (p != 0.0f || q != 0.0f) ? 1.0f : 0.0f; });
      break;
    case R_ALL:
      reduce_with(y, x, nullptr, O, R, I, one, [](float s, float v, float) { return (s != 0.0f && v != 0.0f) ? 1.0f : 0.0f; },
                  [](float p, float q) { return (p != 0.0f && q != 0.0f) ? 1.0f : 0.0f; });
      break;
    default: break;
  }
}

// -- softmax --

void softmax(float* y, const float* x, const float* mask, size_t O, size_t R, size_t I, bool log) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  if (I == 1) {
    for (size_t o = 0; o < O; ++o) {
      const float* xr = x + o * R;
      const float* mr = mask ? mask + o * R : nullptr;
      float* yr = y + o * R;
      if (mr)
        for (size_t r = 0; r < R; ++r) yr[r] = mr[r] == 0.0f ? xr[r] + kMaskedLogit : xr[r];
      else if (yr != xr)
        std::memcpy(yr, xr, R * sizeof(float));
      float m = -inf;
      for (size_t r = 0; r < R; ++r) m = max_f(yr[r], m);
      if (log) {
        float s = 0.0f;
        float acc[kLanes] = {0};
        size_t r = 0;
        for (; r + kLanes <= R; r += kLanes)
          for (int l = 0; l < kLanes; ++l) acc[l] += exp_full(yr[r + l] - m);
        for (int l = 0; r < R; ++r, ++l) acc[l] += exp_full(yr[r] - m);
        for (int w = kLanes / 2; w > 0; w /= 2)
          for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
        s = acc[0];
        const float shift = m + std::log(s);
        for (size_t q = 0; q < R; ++q) yr[q] = yr[q] - shift;
      } else {
        for (size_t r = 0; r < R; ++r) yr[r] = exp_full(yr[r] - m);
        const float inv = 1.0f / lane_sum(yr, static_cast<int>(R));
        for (size_t r = 0; r < R; ++r) yr[r] *= inv;
      }
    }
    return;
  }
  // Strided: the I columns of one block side by side, r = 0..R-1 in order.
  for (size_t o = 0; o < O; ++o) {
    const float* xb = x + o * R * I;
    const float* mb = mask ? mask + o * R * I : nullptr;
    float* yb = y + o * R * I;
    for (size_t k = 0; k < R * I; ++k) yb[k] = mb && mb[k] == 0.0f ? xb[k] + kMaskedLogit : xb[k];
    // m and s live in the last row's place would alias; keep them in small stack blocks of columns.
    constexpr size_t kCols = 256;
    float m[kCols], s[kCols];
    for (size_t i0 = 0; i0 < I; i0 += kCols) {
      const size_t w = I - i0 < kCols ? I - i0 : kCols;
      for (size_t i = 0; i < w; ++i) m[i] = -inf;
      for (size_t r = 0; r < R; ++r)
        for (size_t i = 0; i < w; ++i) m[i] = max_f(yb[r * I + i0 + i], m[i]);
      for (size_t i = 0; i < w; ++i) s[i] = 0.0f;
      if (log) {
        for (size_t r = 0; r < R; ++r)
          for (size_t i = 0; i < w; ++i) s[i] += exp_full(yb[r * I + i0 + i] - m[i]);
        for (size_t i = 0; i < w; ++i) s[i] = m[i] + std::log(s[i]);
        for (size_t r = 0; r < R; ++r)
          for (size_t i = 0; i < w; ++i) yb[r * I + i0 + i] -= s[i];
      } else {
        for (size_t r = 0; r < R; ++r)
          for (size_t i = 0; i < w; ++i) {
            float e = exp_full(yb[r * I + i0 + i] - m[i]);
            yb[r * I + i0 + i] = e;
            s[i] += e;
          }
        for (size_t i = 0; i < w; ++i) s[i] = 1.0f / s[i];
        for (size_t r = 0; r < R; ++r)
          for (size_t i = 0; i < w; ++i) yb[r * I + i0 + i] *= s[i];
      }
    }
  }
}

void softmax_backward(float* dx, const float* g, const float* y, size_t O, size_t R, size_t I, bool log, bool acc) {
  constexpr size_t kCols = 256;
  for (size_t o = 0; o < O; ++o) {
    const float* gb = g + o * R * I;
    const float* yb = y + o * R * I;
    float* db = dx + o * R * I;
    if (I == 1) {
      float dot;
      if (log) {
        dot = lane_sum(gb, static_cast<int>(R));
      } else {
        float acc_l[kLanes] = {0};
        size_t r = 0;
        for (; r + kLanes <= R; r += kLanes)
          for (int l = 0; l < kLanes; ++l) acc_l[l] += gb[r + l] * yb[r + l];
        for (int l = 0; r < R; ++r, ++l) acc_l[l] += gb[r] * yb[r];
        for (int w = kLanes / 2; w > 0; w /= 2)
          for (int l = 0; l < w; ++l) acc_l[l] += acc_l[l + w];
        dot = acc_l[0];
      }
      for (size_t r = 0; r < R; ++r) {
        const float v = log ? gb[r] - exp_full(yb[r]) * dot : yb[r] * (gb[r] - dot);
        db[r] = acc ? db[r] + v : v;
      }
      continue;
    }
    float s[kCols];
    for (size_t i0 = 0; i0 < I; i0 += kCols) {
      const size_t w = I - i0 < kCols ? I - i0 : kCols;
      for (size_t i = 0; i < w; ++i) s[i] = 0.0f;
      for (size_t r = 0; r < R; ++r)
        for (size_t i = 0; i < w; ++i) s[i] += log ? gb[r * I + i0 + i] : gb[r * I + i0 + i] * yb[r * I + i0 + i];
      for (size_t r = 0; r < R; ++r)
        for (size_t i = 0; i < w; ++i) {
          const size_t k = r * I + i0 + i;
          const float v = log ? gb[k] - exp_full(yb[k]) * s[i] : yb[k] * (gb[k] - s[i]);
          db[k] = acc ? db[k] + v : v;
        }
    }
  }
}

void fill_prim_from_impl(PrimKernels& k, const char* name) {
  k.name = name;
  k.unary = unary;
  k.unary_backward = unary_backward;
  k.binary = binary;
  k.binary_backward = binary_backward;
  k.reduce = reduce;
  k.softmax = softmax;
  k.softmax_backward = softmax_backward;
}

}  // namespace
}  // namespace bc

#include "ops/image_tone.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "ops/activation.h"
#include "ops/parallel.h"

namespace bc {

namespace {

constexpr double kItemFloats = 64e3;

// A value with its derivatives along up to three input directions (forward-mode): backward reruns
// the forward's formula on these, so the gradient is that of the same branches and clips.
struct Dual {
  double v = 0.0;
  double d[3] = {0.0, 0.0, 0.0};
  Dual() = default;
  Dual(double x) : v(x) {}  // NOLINT(runtime/explicit): constants enter formulas as in float
};

Dual operator+(const Dual& a, const Dual& b) {
  Dual r(a.v + b.v);
  for (int i = 0; i < 3; ++i) r.d[i] = a.d[i] + b.d[i];
  return r;
}
Dual operator-(const Dual& a, const Dual& b) {
  Dual r(a.v - b.v);
  for (int i = 0; i < 3; ++i) r.d[i] = a.d[i] - b.d[i];
  return r;
}
Dual operator-(const Dual& a) { return Dual(0.0) - a; }
Dual operator*(const Dual& a, const Dual& b) {
  Dual r(a.v * b.v);
  for (int i = 0; i < 3; ++i) r.d[i] = a.d[i] * b.v + a.v * b.d[i];
  return r;
}
Dual operator/(const Dual& a, const Dual& b) {
  Dual r(a.v / b.v);
  for (int i = 0; i < 3; ++i) r.d[i] = (a.d[i] * b.v - a.v * b.d[i]) / (b.v * b.v);
  return r;
}

double val(float x) { return x; }
double val(const Dual& x) { return x.v; }
float floor_of(float x) { return std::floor(x); }
Dual floor_of(const Dual& x) { return Dual(std::floor(x.v)); }

template <class T>
T tmax(const T& a, const T& b) { return val(a) >= val(b) ? a : b; }
template <class T>
T tmin(const T& a, const T& b) { return val(a) <= val(b) ? a : b; }
template <class T>
T tclip(const T& x, double lo, double hi) {  // torch.clip: the gradient passes where lo <= x <= hi
  return val(x) < lo ? T(static_cast<float>(lo)) : val(x) > hi ? T(static_cast<float>(hi)) : x;
}
template <class T>
T tabs(const T& x) { return val(x) < 0 ? -x : val(x) > 0 ? x : T(0.0f); }

// Keras's _transform_value_range: the identity when the ranges agree.
template <class T>
T remap(const T& x, float o0, float o1, float t0, float t1) {
  if (o0 == t0 && o1 == t1) return x;
  return (x - T(o0)) / T(o1 - o0) * T(t1 - t0) + T(t0);
}

template <class T>
T gray_of(const T& r, const T& g, const T& b) {
  return T(0.2989f) * r + T(0.587f) * g + T(0.114f) * b;
}

// keras.src.backend.torch.image.rgb_to_hsv (dm_pix's planes).
template <class T>
void rgb_to_hsv(T r, T g, T b, T& h, T& s, T& v) {
  const double eps = FLT_EPSILON;
  if (std::fabs(val(r)) < eps) r = T(0.0f);
  if (std::fabs(val(g)) < eps) g = T(0.0f);
  if (std::fabs(val(b)) < eps) b = T(0.0f);
  v = tmax(tmax(r, g), b);
  const T mn = tmin(tmin(r, g), b);
  const T range = v - mn;
  const T safe_v = val(v) > 0 ? v : T(1.0f);
  const T safe_range = val(range) > 0 ? range : T(1.0f);
  s = val(v) > 0 ? range / safe_v : T(0.0f);
  const T norm = T(1.0f) / (T(6.0f) * safe_range);
  T hue = val(v) == val(g) ? norm * (b - r) + T(static_cast<float>(2.0 / 6.0))
                           : norm * (r - g) + T(static_cast<float>(4.0 / 6.0));
  if (val(v) == val(r)) hue = norm * (g - b);
  const bool neg = val(hue) < 0.0;
  h = (val(range) > 0 ? hue : T(0.0f)) + T(neg ? 1.0f : 0.0f);
}

// keras.src.backend.torch.image.hsv_to_rgb.
template <class T>
void hsv_to_rgb(const T& h, const T& s, const T& v, T& r, T& g, T& b) {
  const T dh = (h - floor_of(h)) * T(6.0f);  // torch.remainder(h, 1)
  const T dr = tclip(tabs(dh - T(3.0f)) - T(1.0f), 0.0, 1.0);
  const T dg = tclip(T(2.0f) - tabs(dh - T(2.0f)), 0.0, 1.0);
  const T db = tclip(T(2.0f) - tabs(dh - T(4.0f)), 0.0, 1.0);
  const T oms = T(1.0f) - s;
  r = v * (oms + s * dr);
  g = v * (oms + s * dg);
  b = v * (oms + s * db);
}

bool per_value(int kind, int C) {
  return kind == TONE_INVERT || kind == TONE_SOLARIZE || kind == TONE_POSTERIZE || C == 1;
}

// One value (the kinds that treat each alone; grayscale and degeneration of one channel).
template <class T>
T tone_value(int kind, const float* a, const float* q, const T& x) {
  switch (kind) {
    case TONE_INVERT:
      return q[0] != 0.0f ? T(a[2]) - x : x;
    case TONE_SOLARIZE: {
      T r = tclip(remap(x, a[4], a[5], 0.0f, 255.0f) + T(q[0]), 0.0, 255.0);
      if (!(val(r) < q[1])) r = T(255.0f) - r;
      return remap(r, 0.0f, 255.0f, a[4], a[5]);
    }
    case TONE_POSTERIZE: {  // Keras casts to uint8 (truncation; no gradient), shifts right and back left
      const double u = std::min(255.0, std::max(0.0, val(remap(x, a[2], a[3], 0.0f, 255.0f))));
      const int shift = static_cast<int>(q[0]);
      const int p = (static_cast<int>(u) >> shift) << shift;
      return remap(T(static_cast<float>(p)), 0.0f, 255.0f, a[2], a[3]);
    }
    case TONE_DEGENERATE:  // one channel: its own grayscale
      return tclip(x, a[2], a[3]);
    default:  // grayscale of one channel: itself
      return x;
  }
}

// One RGB pixel.
template <class T>
void tone_pixel(int kind, const float* a, const float* q, const T* x, T* y) {
  switch (kind) {
    case TONE_GRAYSCALE: {
      const T gr = gray_of(x[0], x[1], x[2]);
      for (int k = 0; k < 3; ++k) y[k] = q[0] != 0.0f ? gr : x[k];
      return;
    }
    case TONE_DEGENERATE: {
      const T gr = gray_of(x[0], x[1], x[2]);
      for (int k = 0; k < 3; ++k) y[k] = tclip(x[k] + T(q[0]) * (gr - x[k]), a[2], a[3]);
      return;
    }
    case TONE_SATURATION: {
      T h, s, v;
      rgb_to_hsv(x[0], x[1], x[2], h, s, v);
      hsv_to_rgb(h, tclip(s * T(q[0]), a[2], a[3]), v, y[0], y[1], y[2]);
      return;
    }
    case TONE_HUE: {
      T h, s, v;
      rgb_to_hsv(remap(x[0], a[2], a[3], 0.0f, 1.0f), remap(x[1], a[2], a[3], 0.0f, 1.0f),
                 remap(x[2], a[2], a[3], 0.0f, 1.0f), h, s, v);
      h = h + T(q[0]);
      if (val(h) > 1.0) h = h - T(1.0f);
      if (val(h) < 0.0) h = h + T(1.0f);
      hsv_to_rgb(h, s, v, y[0], y[1], y[2]);
      for (int k = 0; k < 3; ++k) y[k] = remap(tclip(y[k], 0.0, 1.0), 0.0f, 1.0f, a[2], a[3]);
      return;
    }
    case TONE_RGB_TO_HSV:
      rgb_to_hsv(x[0], x[1], x[2], y[0], y[1], y[2]);
      return;
    case TONE_HSV_TO_RGB:
      hsv_to_rgb(x[0], x[1], x[2], y[0], y[1], y[2]);
      return;
    default:
      return;
  }
}

void tone_sample(const float* x, float* y, int P, int C, int kind, const float* a, const float* q) {
  const size_t n = static_cast<size_t>(P) * C;
  if (per_value(kind, C)) {
    for (size_t i = 0; i < n; ++i) y[i] = tone_value<float>(kind, a, q, x[i]);
    return;
  }
  for (int p = 0; p < P; ++p) tone_pixel<float>(kind, a, q, x + static_cast<size_t>(p) * 3, y + static_cast<size_t>(p) * 3);
}

void tone_sample_backward(const float* x, const float* g, float* dx, int P, int C, int kind, const float* a,
                          const float* q, bool acc) {
  const size_t n = static_cast<size_t>(P) * C;
  if (per_value(kind, C)) {
    for (size_t i = 0; i < n; ++i) {
      Dual xi(x[i]);
      xi.d[0] = 1.0;
      const float v = static_cast<float>(g[i] * tone_value<Dual>(kind, a, q, xi).d[0]);
      dx[i] = acc ? dx[i] + v : v;
    }
    return;
  }
  for (int p = 0; p < P; ++p) {
    const size_t o = static_cast<size_t>(p) * 3;
    Dual xi[3], yo[3];
    for (int k = 0; k < 3; ++k) {
      xi[k] = Dual(x[o + k]);
      xi[k].d[k] = 1.0;
    }
    tone_pixel<Dual>(kind, a, q, xi, yo);
    for (int k = 0; k < 3; ++k) {
      const double s = g[o] * yo[0].d[k] + g[o + 1] * yo[1].d[k] + g[o + 2] * yo[2].d[k];
      dx[o + k] = acc ? dx[o + k] + static_cast<float>(s) : static_cast<float>(s);
    }
  }
}

// AutoContrast, Keras's steps in float: to [0, 255], (x - min) * 255 / (max - min) per channel over
// the image, clipped, back to value_range; a channel whose result is NaN (max == min) kept as it is.
void autocontrast_sample(const float* x, float* y, int P, int C, const float* a) {
  for (int k = 0; k < C; ++k) {
    float lo = INFINITY, hi = -INFINITY;
    for (int p = 0; p < P; ++p) {
      const float v = remap(x[static_cast<size_t>(p) * C + k], a[0], a[1], 0.0f, 255.0f);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const float scale = 255.0f / (hi - lo), offset = -lo * scale;
    for (int p = 0; p < P; ++p) {
      const size_t i = static_cast<size_t>(p) * C + k;
      const float v = remap(x[i], a[0], a[1], 0.0f, 255.0f) * scale + offset;
      const float r = remap(std::min(std::max(v, 0.0f), 255.0f), 0.0f, 255.0f, a[0], a[1]);
      y[i] = std::isnan(r) ? x[i] : r;
    }
  }
}

// y_j = a0 + S (x_j - lo), S = (a1 - a0) / (hi - lo): dx_i = S g_i, plus to the minima (shared by
// ties) sum_j g_j S (x_j - hi) / (hi - lo), to the maxima -sum_j g_j S (x_j - lo) / (hi - lo).
void autocontrast_sample_backward(const float* x, const float* g, float* dx, int P, int C, const float* a,
                                  bool acc) {
  for (int k = 0; k < C; ++k) {
    double lo = INFINITY, hi = -INFINITY;
    for (int p = 0; p < P; ++p) {
      lo = std::min(lo, static_cast<double>(x[static_cast<size_t>(p) * C + k]));
      hi = std::max(hi, static_cast<double>(x[static_cast<size_t>(p) * C + k]));
    }
    const bool same = !(hi > lo) || a[1] == a[0];  // the forward kept the channel
    const double S = same ? 1.0 : (a[1] - a[0]) / (hi - lo);
    double to_lo = 0.0, to_hi = 0.0;
    int n_lo = 0, n_hi = 0;
    for (int p = 0; p < P; ++p) {
      const size_t i = static_cast<size_t>(p) * C + k;
      if (!same) {
        to_lo += g[i] * S * (x[i] - hi) / (hi - lo);
        to_hi -= g[i] * S * (x[i] - lo) / (hi - lo);
      }
      n_lo += x[i] == lo;
      n_hi += x[i] == hi;
    }
    for (int p = 0; p < P; ++p) {
      const size_t i = static_cast<size_t>(p) * C + k;
      double v = S * g[i];
      if (!same && x[i] == lo) v += to_lo / n_lo;
      if (!same && x[i] == hi) v += to_hi / n_hi;
      dx[i] = acc ? dx[i] + static_cast<float>(v) : static_cast<float>(v);
    }
  }
}

bool deterministic(int kind) {
  return kind == TONE_RGB_TO_HSV || kind == TONE_HSV_TO_RGB || kind == TONE_AUTOCONTRAST;
}

}  // namespace

int tone_arg_count(int kind) {
  static const int counts[] = {1, 3, 6, 4, 4, 4, 4, 0, 0, 2};
  return kind >= 0 && kind <= TONE_AUTOCONTRAST ? counts[kind] : -1;
}

void tone_images(const float* x, float* y, int B, int P, int C, int kind, const float* args, const float* q) {
  const size_t ps = static_cast<size_t>(P) * C;
  parallel_samples(B, static_cast<double>(ps), kItemFloats, [&](int b) {
    if (kind == TONE_AUTOCONTRAST)
      autocontrast_sample(x + b * ps, y + b * ps, P, C, args);
    else
      tone_sample(x + b * ps, y + b * ps, P, C, kind, args, q + 2 * b);
  });
}

void tone_images_backward(const float* x, const float* g, float* dx, int B, int P, int C, int kind,
                          const float* args, const float* q, bool accumulate) {
  const size_t ps = static_cast<size_t>(P) * C;
  parallel_samples(B, static_cast<double>(ps), kItemFloats, [&](int b) {
    if (kind == TONE_AUTOCONTRAST)
      autocontrast_sample_backward(x + b * ps, g + b * ps, dx + b * ps, P, C, args, accumulate);
    else
      tone_sample_backward(x + b * ps, g + b * ps, dx + b * ps, P, C, kind, args, q + 2 * b, accumulate);
  });
}

ToneOp::ToneOp(int in_t, int out_t, int P, int C, int kind, std::vector<float> args, uint64_t stream)
    : P_(P), C_(C), kind_(kind), args_(std::move(args)), stream_(stream) {
  BC_CHECK(P > 0 && C > 0, "colour augmentation: sizes must be positive");
  BC_CHECK(tone_arg_count(kind) >= 0 && static_cast<int>(args_.size()) == tone_arg_count(kind),
           "colour augmentation: unknown kind or wrong argument count");
  BC_CHECK(C == 3 || (C == 1 && (kind == TONE_GRAYSCALE || kind == TONE_DEGENERATE)) ||
               kind == TONE_INVERT || kind == TONE_SOLARIZE || kind == TONE_POSTERIZE || kind == TONE_AUTOCONTRAST,
           "colour augmentation: this kind needs 3 (RGB) channels");
  in = {in_t};
  out = {out_t};
}

void ToneOp::forward(Ctx& c) {
  const size_t ps = static_cast<size_t>(P_) * C_;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  applied_ = deterministic(kind_) || c.training;
  if (!applied_) {
    std::memcpy(y, x, c.B * ps * sizeof(float));
    return;
  }
  q_.assign(2 * static_cast<size_t>(c.B), 0.0f);
  if (!deterministic(kind_)) {
    const uint64_t key = rng_key(c.seed, stream_, c.step);
    const float* a = args_.data();
    for (int b = 0; b < c.B; ++b) {
      const uint64_t r = c.row0 + b;
      const float u = rng_uniform(key, 2 * r), v = rng_uniform(key, 2 * r + 1);
      float* q = q_.data() + 2 * b;
      switch (kind_) {
        case TONE_GRAYSCALE:
          q[0] = u < a[0];
          break;
        case TONE_INVERT:  // Keras: a probability drawn in [f0, f1], then a threshold below it
          q[0] = v < a[0] + u * (a[1] - a[0]);
          break;
        case TONE_SOLARIZE:  // Keras's ranges: [lower, upper * 255] (the lower end unscaled)
          q[0] = a[0] + u * (a[1] * 255.0f - a[0]);
          q[1] = a[2] + v * (a[3] * 255.0f - a[2]);
          break;
        case TONE_POSTERIZE: {  // bits: randint in [lower, upper), or lower when they agree
          const int lo = static_cast<int>(a[0]), hi = static_cast<int>(a[1]);
          const int bits = lo == hi ? lo : std::min(hi - 1, lo + static_cast<int>(u * (hi - lo)));
          q[0] = static_cast<float>(8 - bits);
          break;
        }
        case TONE_DEGENERATE:
          q[0] = a[0] + u * (a[1] - a[0]);
          break;
        case TONE_SATURATION: {  // Keras: f / (1 - f + epsilon) scales the saturation
          const float f = a[0] + u * (a[1] - a[0]);
          q[0] = f / (1.0f - f + 1e-7f);
          break;
        }
        case TONE_HUE:  // Keras: a random sign times [f0, f1] times 1/2
          q[0] = (u > 0.5f ? -1.0f : 1.0f) * (a[0] + v * (a[1] - a[0])) * 0.5f;
          break;
        default:
          break;
      }
    }
  }
  tone_images(x, y, c.B, P_, C_, kind_, args_.data(), q_.data());
}

void ToneOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t ps = static_cast<size_t>(P_) * C_;
  const float* d = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  if (!applied_) {
    add_or_copy(dx, d, c.B * ps, accum_dx[0]);
    return;
  }
  tone_images_backward(c.val(in[0]), d, dx, c.B, P_, C_, kind_, args_.data(), q_.data(), accum_dx[0]);
}

}  // namespace bc

// Reductions over an axis set (keepdims or not), softmax / log_softmax over an axis, cumsum /
// cumprod along an axis, argmax / argmin.
//
// x (s), axis: None (every axis), an int or a list -> y (s without those axes, or with them 1)
//   sum mean max min prod var std logsumexp norm any all; argmax argmin (one axis or None: the
//   flat index), float32 indices, the first of equal values
// gradients: sum g; mean g / R; max/min g shared evenly by the values equal to the result
//   (PyTorch's amax rule); prod g * (product of the others); var g * 2 (x - mean) / R; std
//   g (x - mean) / (R std) (0 where std is 0); logsumexp g exp(x - y); norm 2 / fro g x / y
//   (0 where y is 0), 1 g sign(x), inf / -inf as max / min of |x| times sign(x); any, all,
//   argmax, argmin: none
// softmax (log_softmax) x (s), axis, optional mask broadcastable to s (0: adds -1e9, Keras's
//   Softmax layer) -> y (s); dx = y (g - sum g y) (log: g - exp(y) sum g); the mask gets none
// cumsum / cumprod x (s), axis (None: over the flattened x, giving (n,)) -> y; dx = reversed
//   cumsum of g (cumprod: the product rule, exact where x has zeros)
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/prim/prim.h"
#include "ops/prim_families.h"

namespace bc {
namespace {

enum RedKind { K_SUM, K_MEAN, K_MAX, K_MIN, K_PROD, K_VAR, K_STD, K_LSE, K_NORM2, K_NORM1, K_NORMINF, K_NORMNINF,
               K_ANY, K_ALL, K_ARGMAX, K_ARGMIN };

// The axis mask of attrs "axis" (None: all) for nd axes.
void axis_mask(const Attrs& a, const std::vector<int64_t>& axes, bool all, int nd, bool* mask) {
  for (int i = 0; i < nd; ++i) mask[i] = all;
  for (int64_t ax : axes) {
    const int k = norm_axis(ax, nd, a, "axis");
    BC_CHECK(!mask[k] || all, a.where("axis") + " names axis " + std::to_string(k) + " twice");
    mask[k] = true;
  }
}

class ReducePrim : public PrimOp {
 public:
  ReducePrim(const std::string& kind, int red, const Attrs& a) : PrimOp(kind), red_(red) {
    all_ = !a.has("axis");
    axes_ = a.get_ints("axis");
    keepdims_ = a.get_bool("keepdims", false);
    BC_CHECK(all_ || !axes_.empty(), a.where("axis") + " must name at least one axis (or be None)");
    for (int64_t v : axes_) BC_CHECK(v != kNone, a.where("axis") + " must be ints");
    if (red == K_ARGMAX || red == K_ARGMIN)
      BC_CHECK(axes_.size() <= 1, a.where("axis") + " must be one axis or None");
    has_grad_ = !(red == K_ANY || red == K_ALL || red == K_ARGMAX || red == K_ARGMIN);
    attrs_ = a;  // for messages in infer
  }

  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    bool mask[kMaxDims];
    axis_mask(attrs_, axes_, all_, in[0].nd, mask);
    if (kind_ == "norm") {
      const int n = all_ ? in[0].nd : static_cast<int>(axes_.size());
      BC_CHECK(norm_mode_ != 1 || n == 1, "prim 'norm': a numeric ord takes one axis (a vector norm; matrix norms "
                                          "other than Frobenius are not supported), got " + std::to_string(n));
      BC_CHECK(norm_mode_ != 2 || n == 2, "prim 'norm': ord 'fro' takes two axes, got " + std::to_string(n));
      BC_CHECK(norm_mode_ != 0 || all_ || n <= 2, "prim 'norm' takes one or two axes");
    }
    Shape s;
    for (int i = 0; i < in[0].nd; ++i) {
      if (!mask[i]) s.d[s.nd++] = in[0].d[i];
      else if (keepdims_) s.d[s.nd++] = 1;
    }
    out[0] = s;
  }
  int norm_mode_ = 0;  // norm: 0 ord None, 1 a number (one axis), 2 'fro' (two axes)

 protected:
  void plan() override {
    bool mask[kMaxDims];
    axis_mask(attrs_, axes_, all_, in_[0].nd, mask);
    p_ = plan_reduce(in_[0], mask);
  }

  void run_forward(Ctx& c) override {
    const float* x = reduce_input(p_, c.val(in[0]), perm_);
    float* y = c.val(out[0]);
    const size_t O = p_.O, R = p_.R, I = p_.I;
    const PrimKernels& k = prim_kernels();
    auto red = [&](int kind, float* dst, const float* aux) {
      parallel_items(O, R * I, [&](size_t o0, size_t o1) {
        k.reduce(kind, dst + o0 * I, x + o0 * R * I, aux ? aux + o0 * I : nullptr, o1 - o0, R, I);
      });
    };
    const size_t n = O * I;
    const float fr = static_cast<float>(R);
    switch (red_) {
      case K_SUM: red(R_SUM, y, nullptr); break;
      case K_MEAN: red(R_SUM, y, nullptr); for (size_t i = 0; i < n; ++i) y[i] /= fr; break;
      case K_MAX: red(R_MAX, y, nullptr); break;
      case K_MIN: red(R_MIN, y, nullptr); break;
      case K_PROD: red(R_PROD, y, nullptr); break;
      case K_VAR:
      case K_STD:
        aux_.resize(n);
        red(R_SUM, aux_.data(), nullptr);
        for (size_t i = 0; i < n; ++i) aux_[i] /= fr;
        red(R_CSUMSQ, y, aux_.data());
        for (size_t i = 0; i < n; ++i) y[i] = red_ == K_STD ? std::sqrt(y[i] / fr) : y[i] / fr;
        break;
      case K_LSE:
        aux_.resize(n);
        red(R_MAX, aux_.data(), nullptr);
        for (size_t i = 0; i < n; ++i) aux_[i] = std::isfinite(aux_[i]) ? aux_[i] : 0.0f;
        red(R_SUMEXP, y, aux_.data());
        for (size_t i = 0; i < n; ++i) y[i] = aux_[i] + std::log(y[i]);
        break;
      case K_NORM2: red(R_SUMSQ, y, nullptr); for (size_t i = 0; i < n; ++i) y[i] = std::sqrt(y[i]); break;
      case K_NORM1: red(R_SUMABS, y, nullptr); break;
      case K_NORMINF: red(R_MAXABS, y, nullptr); break;
      case K_NORMNINF: red(R_MINABS, y, nullptr); break;
      case K_ANY: red(R_ANY, y, nullptr); break;
      case K_ALL: red(R_ALL, y, nullptr); break;
      case K_ARGMAX:
      case K_ARGMIN: {
        const bool mx = red_ == K_ARGMAX;
        for (size_t o = 0; o < O; ++o)
          for (size_t i = 0; i < I; ++i) {
            const float* xr = x + o * R * I + i;
            size_t best = 0;
            float bv = xr[0];
            for (size_t r = 1; r < R && bv == bv; ++r) {  // the first NaN wins, as NumPy
              const float v = xr[r * I];
              if (v != v || (mx ? v > bv : v < bv)) {
                bv = v;
                best = r;
              }
            }
            y[o * I + i] = static_cast<float>(best);
          }
        break;
      }
      default: break;
    }
  }

  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    const size_t O = p_.O, R = p_.R, I = p_.I;
    const float* x = reduce_input(p_, c.val(in[0]), perm_);
    const float* y = c.val(out[0]);
    const float* g = c.grad(out[0]);
    float* dx = c.grad(in[0]);
    float* dst = dx;
    bool acc = accum_dx[0];
    if (p_.permuted) {
      dxo_.resize(O * R * I);
      dst = dxo_.data();
      acc = false;
    }
    const float fr = static_cast<float>(R);
    if (red_ == K_MAX || red_ == K_MIN || red_ == K_NORMINF || red_ == K_NORMNINF) {  // ties share
      aux_.assign(O * I, 0.0f);
      const bool absv = red_ == K_NORMINF || red_ == K_NORMNINF;
      for (size_t o = 0; o < O; ++o)
        for (size_t r = 0; r < R; ++r)
          for (size_t i = 0; i < I; ++i) {
            const float v = x[(o * R + r) * I + i];
            aux_[o * I + i] += ((absv ? std::fabs(v) : v) == y[o * I + i]) ? 1.0f : 0.0f;
          }
    }
    if (red_ == K_PROD) prod_zeros(x, O, R, I);
    parallel_items(O, R * I * 4, [&](size_t o0, size_t o1) {
      for (size_t o = o0; o < o1; ++o)
        for (size_t r = 0; r < R; ++r) {
          const size_t base = (o * R + r) * I;
          for (size_t i = 0; i < I; ++i) {
            const size_t oi = o * I + i;
            const float v = x[base + i], gy = g[oi], yy = y[oi];
            float d = 0.0f;
            switch (red_) {
              case K_SUM: d = gy; break;
              case K_MEAN: d = gy / fr; break;
              case K_MAX:
              case K_MIN: d = (v == yy && aux_[oi] > 0.0f) ? gy / aux_[oi] : 0.0f; break;
              case K_NORMINF:
              case K_NORMNINF:
                d = (std::fabs(v) == yy && aux_[oi] > 0.0f) ? gy * (v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f)) / aux_[oi] : 0.0f;
                break;
              case K_PROD: d = gy * prod_others(x, o, r, i, R, I, v, yy); break;
              case K_VAR: d = gy * 2.0f * (v - aux_[oi]) / fr; break;
              case K_STD: d = yy > 0.0f ? gy * (v - aux_[oi]) / (fr * yy) : 0.0f; break;
              case K_LSE: d = gy * std::exp(v - yy); break;
              case K_NORM2: d = yy > 0.0f ? gy * v / yy : 0.0f; break;
              case K_NORM1: d = gy * (v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f)); break;
              default: break;
            }
            dst[base + i] = acc ? dst[base + i] + d : d;
          }
        }
    });
    if (p_.permuted) reduce_grad_out(p_, dx, accum_dx[0], dxo_.data(), perm2_);
  }

 private:
  // Per output: how many zeros its R values hold and where the first is (prod's gradient).
  void prod_zeros(const float* x, size_t O, size_t R, size_t I) {
    zeros_.assign(O * I, 0);
    zero_at_.assign(O * I, 0);
    for (size_t o = 0; o < O; ++o)
      for (size_t r = 0; r < R; ++r)
        for (size_t i = 0; i < I; ++i)
          if (x[(o * R + r) * I + i] == 0.0f && zeros_[o * I + i]++ == 0) zero_at_[o * I + i] = r;
  }
  // The product of the other R - 1 values of (o, ., i): y / v without zeros; with one zero, the
  // product of the rest at the zero and 0 elsewhere; 0 with more.
  float prod_others(const float* x, size_t o, size_t r, size_t i, size_t R, size_t I, float v, float y) const {
    const size_t oi = o * I + i;
    if (zeros_[oi] == 0) return y / v;
    if (zeros_[oi] > 1 || zero_at_[oi] != r) return 0.0f;
    float p = 1.0f;
    for (size_t q = 0; q < R; ++q)
      if (q != r) p *= x[(o * R + q) * I + i];
    return p;
  }

  int red_;
  bool all_ = false, keepdims_ = false;
  std::vector<int64_t> axes_;
  Attrs attrs_;
  ReducePlan p_;
  std::vector<float> perm_, perm2_, aux_, dxo_;
  std::vector<size_t> zeros_, zero_at_;
};

// (O, R, I) around one axis of s.
void split_axis(const Shape& s, int ax, size_t* O, size_t* R, size_t* I) {
  *O = *I = 1;
  for (int i = 0; i < ax; ++i) *O *= s.d[i];
  *R = s.d[ax];
  for (int i = ax + 1; i < s.nd; ++i) *I *= s.d[i];
}

class SoftmaxPrim : public PrimOp {
 public:
  SoftmaxPrim(const std::string& kind, const Attrs& a) : PrimOp(kind), log_(kind == "log_softmax") {
    axis_ = a.get_int("axis", -1);
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    BC_CHECK(in[0].nd >= 1, "prim '" + kind_ + "' needs at least one axis");
    norm_axis(axis_, in[0].nd, attrs_, "axis");
    if (in.size() > 1) {
      const Shape b = broadcast_shapes(in[0], in[1], kind_);
      BC_CHECK(b == in[0], "prim '" + kind_ + "': the mask " + in[1].str() + " does not broadcast to " + in[0].str());
    }
    out[0] = in[0];
  }

 protected:
  void plan() override {
    split_axis(in_[0], norm_axis(axis_, in_[0].nd, attrs_, "axis"), &O_, &R_, &I_);
    if (in.size() > 1 && in_[1] != in_[0]) walk_.init(in_[0], {in_[1]});
  }
  void run_forward(Ctx& c) override {
    const float* mask = nullptr;
    if (in.size() > 1) {
      mask = c.val(in[1]);
      if (in_[1] != in_[0]) {  // broadcast the mask out to x's shape
        mask_.resize(O_ * R_ * I_);
        const float* m = mask;
        for_walk(walk_, 1, [&](int64_t o, const int64_t* off, int64_t n) {
          const int64_t s = walk_.inner_stride(0);
          for (int64_t i = 0; i < n; ++i) mask_[o + i] = m[off[0] + i * s];
        });
        mask = mask_.data();
      }
    }
    const float* x = c.val(in[0]);
    float* y = c.val(out[0]);
    const PrimKernels& k = prim_kernels();
    const size_t RI = R_ * I_;
    parallel_items(O_, RI * 8, [&](size_t o0, size_t o1) {
      k.softmax(y + o0 * RI, x + o0 * RI, mask ? mask + o0 * RI : nullptr, o1 - o0, R_, I_, log_);
    });
  }
  void run_backward(Ctx& c) override {
    if (in.size() > 1 && need_dx[1] && !accum_dx[1]) std::memset(c.grad(in[1]), 0, c.numel(in[1]) * sizeof(float));
    if (!need_dx[0]) return;
    const float *g = c.grad(out[0]), *y = c.val(out[0]);
    float* dx = c.grad(in[0]);
    const bool acc = accum_dx[0];
    const PrimKernels& k = prim_kernels();
    const size_t RI = R_ * I_;
    parallel_items(O_, RI * 4, [&](size_t o0, size_t o1) {
      k.softmax_backward(dx + o0 * RI, g + o0 * RI, y + o0 * RI, o1 - o0, R_, I_, log_, acc);
    });
  }

 private:
  bool log_;
  int64_t axis_;
  Attrs attrs_;
  size_t O_ = 1, R_ = 1, I_ = 1;
  Walk walk_;
  std::vector<float> mask_;
};

class ScanPrim : public PrimOp {
 public:
  ScanPrim(const std::string& kind, const Attrs& a) : PrimOp(kind), prod_(kind == "cumprod") {
    flat_ = !a.has("axis");
    axis_ = a.get_int("axis", 0);
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    if (flat_) {
      Shape s;
      s.nd = 1;
      s.d[0] = in[0].numel();
      out[0] = s;
      return;
    }
    BC_CHECK(in[0].nd >= 1, "prim '" + kind_ + "' needs at least one axis");
    norm_axis(axis_, in[0].nd, attrs_, "axis");
    out[0] = in[0];
  }

 protected:
  void plan() override {
    if (flat_) {
      O_ = I_ = 1;
      R_ = static_cast<size_t>(in_[0].numel());
    } else {
      split_axis(in_[0], norm_axis(axis_, in_[0].nd, attrs_, "axis"), &O_, &R_, &I_);
    }
  }
  void run_forward(Ctx& c) override {
    const float* x = c.val(in[0]);
    float* y = c.val(out[0]);
    const size_t R = R_, I = I_;
    parallel_items(O_, R * I, [&](size_t o0, size_t o1) {
      for (size_t o = o0; o < o1; ++o) {
        const float* xb = x + o * R * I;
        float* yb = y + o * R * I;
        for (size_t i = 0; i < I; ++i) yb[i] = xb[i];
        for (size_t r = 1; r < R; ++r)
          for (size_t i = 0; i < I; ++i)
            yb[r * I + i] = prod_ ? yb[(r - 1) * I + i] * xb[r * I + i] : yb[(r - 1) * I + i] + xb[r * I + i];
      }
    });
  }
  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    const float *x = c.val(in[0]), *y = c.val(out[0]), *g = c.grad(out[0]);
    float* dx = c.grad(in[0]);
    const bool acc = accum_dx[0];
    const size_t R = R_, I = I_;
    parallel_items(O_, R * I * 2, [&](size_t o0, size_t o1) {
      std::vector<float> run(I);
      for (size_t o = o0; o < o1; ++o) {
        const size_t b = o * R * I;
        if (!prod_) {  // dx_r = sum_{q >= r} g_q
          for (size_t i = 0; i < I; ++i) run[i] = 0.0f;
          for (size_t r = R; r-- > 0;)
            for (size_t i = 0; i < I; ++i) {
              run[i] += g[b + r * I + i];
              dx[b + r * I + i] = acc ? dx[b + r * I + i] + run[i] : run[i];
            }
          continue;
        }
        for (size_t i = 0; i < I; ++i) {
          // First zero z: before it dx_r = sum_{q>=r} g_q y_q / x_r; at z the products without x_z;
          // after it 0.
          size_t z = R;
          for (size_t r = 0; r < R; ++r)
            if (x[b + r * I + i] == 0.0f) {
              z = r;
              break;
            }
          float s = 0.0f;
          std::vector<float> d(R, 0.0f);
          for (size_t r = R; r-- > 0;) {
            s += g[b + r * I + i] * y[b + r * I + i];
            if (r < z) d[r] = s / x[b + r * I + i];
          }
          if (z < R) {
            float p = z ? y[b + (z - 1) * I + i] : 1.0f, t = 0.0f;
            for (size_t q = z; q < R; ++q) {
              if (q > z) p *= x[b + q * I + i];
              t += g[b + q * I + i] * p;
            }
            d[z] = t;
          }
          for (size_t r = 0; r < R; ++r) dx[b + r * I + i] = acc ? dx[b + r * I + i] + d[r] : d[r];
        }
      }
    });
  }

 private:
  bool prod_, flat_ = false;
  int64_t axis_ = 0;
  Attrs attrs_;
  size_t O_ = 1, R_ = 1, I_ = 1;
};

}  // namespace

std::unique_ptr<PrimOp> make_reduce_prim(const std::string& kind, const Attrs& a, int) {
  static const std::pair<const char*, int> kinds[] = {
      {"sum", K_SUM}, {"mean", K_MEAN}, {"max", K_MAX}, {"min", K_MIN}, {"prod", K_PROD}, {"var", K_VAR},
      {"std", K_STD}, {"logsumexp", K_LSE}, {"any", K_ANY}, {"all", K_ALL}, {"argmax", K_ARGMAX},
      {"argmin", K_ARGMIN}};
  for (const auto& k : kinds)
    if (kind == k.first) return std::make_unique<ReducePrim>(kind, k.second, a);
  if (kind == "norm") {
    // ord: None (2 over one axis, Frobenius over two or the flattened x), 1, 2, inf, -inf, 'fro'
    int red = K_NORM2, mode = 0;
    if (a.type("ord") == Attr::STR) {
      BC_CHECK(a.get_str("ord", "") == "fro", "prim 'norm': ord '" + a.get_str("ord", "") +
                                                  "' is not supported (1, 2, inf, -inf, 'fro' or None)");
      mode = 2;
    } else if (a.has("ord")) {
      const double o = a.get_float("ord", 2.0);
      mode = 1;
      if (o == 2.0) red = K_NORM2;
      else if (o == 1.0) red = K_NORM1;
      else if (std::isinf(o)) red = o > 0 ? K_NORMINF : K_NORMNINF;
      else BC_CHECK(false, "prim 'norm': ord " + std::to_string(o) + " is not supported (1, 2, inf, -inf, 'fro' or None)");
    }
    auto op = std::make_unique<ReducePrim>(kind, red, a);
    op->norm_mode_ = mode;
    return op;
  }
  if (kind == "softmax" || kind == "log_softmax") return std::make_unique<SoftmaxPrim>(kind, a);
  if (kind == "cumsum" || kind == "cumprod") return std::make_unique<ScanPrim>(kind, a);
  return nullptr;
}

}  // namespace bc

// Elementwise primitives: unary maths and activations, casts, dropout; binary arithmetic and
// comparisons with NumPy broadcasting; where(cond, x, y).
//
// unary   x (s) -> y (s)             dx = g * f'(x)   (none: sign floor ceil round, casts to int/bool,
//                                                     logical_not, stop_gradient)
// binary  a (sa), b (sb) -> y (broadcast(sa, sb))     da, db: the gradient summed over the axes each
//                                                     operand was broadcast along (fixed order);
//                                                     comparisons and logical ops: none
// where   cond, x, y -> broadcast of the three        dx = g where cond != 0, dy = g where cond == 0
#include <cstring>

#include "core/rng.h"
#include "kernels/float/float.h"
#include "kernels/prim/prim.h"
#include "ops/dropout.h"
#include "ops/prim_families.h"

namespace bc {
namespace {

struct UnaryInfo {
  const char* kind;
  int op;
};
const UnaryInfo kUnary[] = {
    {"negative", U_NEG}, {"abs", U_ABS}, {"square", U_SQUARE}, {"sqrt", U_SQRT}, {"rsqrt", U_RSQRT},
    {"exp", U_EXP}, {"expm1", U_EXPM1}, {"log", U_LOG}, {"log1p", U_LOG1P}, {"sign", U_SIGN}, {"sin", U_SIN},
    {"cos", U_COS}, {"reciprocal", U_RECIPROCAL}, {"floor", U_FLOOR}, {"ceil", U_CEIL}, {"round", U_ROUND},
    {"relu", U_RELU}, {"relu6", U_RELU6}, {"gelu", U_GELU}, {"silu", U_SILU}, {"swish", U_SILU},
    {"sigmoid", U_SIGMOID}, {"tanh", U_TANH}, {"softplus", U_SOFTPLUS}, {"softsign", U_SOFTSIGN}, {"elu", U_ELU},
    {"selu", U_SELU}, {"leaky_relu", U_LEAKY_RELU}, {"hard_sigmoid", U_HARD_SIGMOID}, {"hard_silu", U_HARD_SILU},
    {"hard_swish", U_HARD_SILU}, {"log_sigmoid", U_LOG_SIGMOID}, {"erf", U_ERF}, {"clip", U_CLIP},
    {"logical_not", U_LOGICAL_NOT}, {"stop_gradient", U_IDENTITY}, {"identity", U_IDENTITY},
};

bool unary_has_grad(int op) {
  return !(op == U_SIGN || op == U_FLOOR || op == U_CEIL || op == U_ROUND || op == U_TRUNC || op == U_NOT_ZERO ||
           op == U_LOGICAL_NOT);
}

class UnaryPrim : public PrimOp {
 public:
  UnaryPrim(const std::string& kind, int op, float a, float b) : PrimOp(kind), op_(op), a_(a), b_(b) {
    has_grad_ = unary_has_grad(op) && kind != "stop_gradient";
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override { out[0] = in[0]; }

 protected:
  void run_forward(Ctx& c) override {
    const float* x = c.val(in[0]);
    float* y = c.val(out[0]);
    const PrimKernels& k = prim_kernels();
    parallel_items(c.numel(in[0]), 8, [&](size_t i0, size_t i1) { k.unary(op_, y + i0, x + i0, i1 - i0, a_, b_); });
  }
  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    const float *g = c.grad(out[0]), *x = c.val(in[0]), *y = c.val(out[0]);
    float* dx = c.grad(in[0]);
    const bool acc = accum_dx[0];
    const PrimKernels& k = prim_kernels();
    parallel_items(c.numel(in[0]), 8, [&](size_t i0, size_t i1) {
      k.unary_backward(op_, dx + i0, g + i0, x + i0, y + i0, i1 - i0, a_, b_, acc);
    });
  }

 private:
  int op_;
  float a_, b_;
};

// Dropout inside a traced call (bigcore.random.dropout, layers.Dropout in a custom layer): the
// counter-based stream keyed by (seed, step, stream), as DropoutOp; identity outside training.
class DropoutPrim : public PrimOp {
 public:
  DropoutPrim(float rate, uint64_t stream) : PrimOp("dropout"), rate_(rate), stream_(stream) {}
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override { out[0] = in[0]; }

 protected:
  void run_forward(Ctx& c) override {
    const size_t n = c.numel(in[0]);
    training_ = c.training;
    if (!training_) {
      std::memcpy(c.val(out[0]), c.val(in[0]), n * sizeof(float));
      return;
    }
    keep_.resize(n);
    // a batched tensor's stream continues the global batch's (data parallel); a batch-less one is
    // the same on every rank
    const uint64_t first = (*c.tensors)[in[0]].batched ? c.row0 * c.per_sample(in[0]) : 0;
    dropout_apply(c.val(out[0]), keep_.data(), c.val(in[0]), n, rate_, rng_key(c.seed, stream_, c.step), first);
  }
  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    const size_t n = c.numel(in[0]);
    const float* g = c.grad(out[0]);
    float* dx = c.grad(in[0]);
    const bool acc = accum_dx[0];
    if (training_) {
      dropout_grad(dx, keep_.data(), g, n, rate_, acc);
      return;
    }
    for (size_t i = 0; i < n; ++i) dx[i] = acc ? dx[i] + g[i] : g[i];
  }

 private:
  float rate_;
  uint64_t stream_;
  bool training_ = false;
  std::vector<unsigned char> keep_;
};

struct BinaryInfo {
  const char* kind;
  int op;
  bool grad;
};
const BinaryInfo kBinary[] = {
    {"add", B_ADD, true}, {"subtract", B_SUB, true}, {"multiply", B_MUL, true}, {"divide", B_DIV, true},
    {"power", B_POW, true}, {"maximum", B_MAX, true}, {"minimum", B_MIN, true}, {"floor_divide", B_FLOOR_DIV, false},
    {"mod", B_MOD, true}, {"equal", B_EQ, false}, {"not_equal", B_NE, false}, {"greater", B_GT, false},
    {"greater_equal", B_GE, false}, {"less", B_LT, false}, {"less_equal", B_LE, false},
    {"logical_and", B_AND, false}, {"logical_or", B_OR, false}, {"logical_xor", B_XOR, false},
};

// The gradient of one broadcast operand: straight into dx when it has the output's size, else
// through a full-size buffer summed down to its shape.
struct GradTarget {
  float* full = nullptr;  // where the kernel writes (dx itself, or scratch)
  bool acc = false;
  bool reduce = false;
};

class BinaryPrim : public PrimOp {
 public:
  BinaryPrim(const std::string& kind, int op, bool grad) : PrimOp(kind), op_(op) { has_grad_ = grad; }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    out[0] = broadcast_shapes(in[0], in[1], kind_);
  }

 protected:
  void plan() override { walk_.init(out_[0], {in_[0], in_[1]}); }
  void run_forward(Ctx& c) override {
    const float *a = c.val(in[0]), *b = c.val(in[1]);
    float* y = c.val(out[0]);
    const PrimKernels& k = prim_kernels();
    const int sa = static_cast<int>(walk_.inner_stride(0)), sb = static_cast<int>(walk_.inner_stride(1));
    for_walk(walk_, 4, [&](int64_t o, const int64_t* off, int64_t n) {
      k.binary(op_, y + o, a + off[0], sa, b + off[1], sb, static_cast<size_t>(n));
    });
  }
  void run_backward(Ctx& c) override {
    const size_t n_out = static_cast<size_t>(out_[0].numel());
    GradTarget t[2];
    const float* g = c.grad(out[0]);
    // add's gradients, and subtract's first, are g itself: a broadcast operand sums g directly
    const bool is_g[2] = {op_ == B_ADD || op_ == B_SUB, op_ == B_ADD};
    for (int i = 0; i < 2; ++i) {
      if (!need_dx[i]) continue;
      if (is_g[i] && static_cast<size_t>(in_[i].numel()) != n_out) {
        reduce_to(c.grad(in[i]), accum_dx[i], g, out_[0], in_[i], scratch_);
        continue;
      }
      if (static_cast<size_t>(in_[i].numel()) == n_out) {
        t[i].full = c.grad(in[i]);
        t[i].acc = accum_dx[i];
      } else {
        full_[i].resize(n_out);
        t[i].full = full_[i].data();
        t[i].reduce = true;
      }
    }
    // x op x: both parts land in one gradient; the plan (program.cpp) has the second one add, and
    // the kernel writes a row's first part before adding its second.
    if (!t[0].full && !t[1].full) return;
    const float *a = c.val(in[0]), *b = c.val(in[1]), *y = c.val(out[0]);
    const PrimKernels& k = prim_kernels();
    const int sa = static_cast<int>(walk_.inner_stride(0)), sb = static_cast<int>(walk_.inner_stride(1));
    for_walk(walk_, 8, [&](int64_t o, const int64_t* off, int64_t n) {
      k.binary_backward(op_, t[0].full ? t[0].full + o : nullptr, t[0].acc, t[1].full ? t[1].full + o : nullptr,
                        t[1].acc, g + o, a + off[0], sa, b + off[1], sb, y + o, static_cast<size_t>(n));
    });
    for (int i = 0; i < 2; ++i)
      if (t[i].reduce) reduce_to(c.grad(in[i]), accum_dx[i], full_[i].data(), out_[0], in_[i], scratch_);
  }

 private:
  int op_;
  Walk walk_;
  std::vector<float> full_[2], scratch_;
};

class WherePrim : public PrimOp {
 public:
  WherePrim() : PrimOp("where") {}
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    out[0] = broadcast_shapes(broadcast_shapes(in[0], in[1], kind_), in[2], kind_);
  }

 protected:
  void plan() override { walk_.init(out_[0], {in_[0], in_[1], in_[2]}); }
  void run_forward(Ctx& c) override {
    const float *cond = c.val(in[0]), *x = c.val(in[1]), *z = c.val(in[2]);
    float* y = c.val(out[0]);
    const int64_t sc = walk_.inner_stride(0), sx = walk_.inner_stride(1), sz = walk_.inner_stride(2);
    for_walk(walk_, 2, [&](int64_t o, const int64_t* off, int64_t n) {
      const float *cr = cond + off[0], *xr = x + off[1], *zr = z + off[2];
      float* yr = y + o;
      for (int64_t i = 0; i < n; ++i) yr[i] = cr[i * sc] != 0.0f ? xr[i * sx] : zr[i * sz];
    });
  }
  void run_backward(Ctx& c) override {
    const size_t n_out = static_cast<size_t>(out_[0].numel());
    if (need_dx[0] && !accum_dx[0]) std::memset(c.grad(in[0]), 0, c.numel(in[0]) * sizeof(float));
    const float *cond = c.val(in[0]), *g = c.grad(out[0]);
    const int64_t sc = walk_.inner_stride(0);
    for (int k = 1; k <= 2; ++k) {
      if (!need_dx[k]) continue;
      full_.resize(n_out);
      const bool pick = k == 1;
      for_walk(walk_, 2, [&](int64_t o, const int64_t* off, int64_t n) {
        const float* cr = cond + off[0];
        float* d = full_.data() + o;
        for (int64_t i = 0; i < n; ++i) d[i] = ((cr[i * sc] != 0.0f) == pick) ? g[o + i] : 0.0f;
      });
      reduce_to(c.grad(in[k]), accum_dx[k], full_.data(), out_[0], in_[k], scratch_);
    }
  }

 private:
  Walk walk_;
  std::vector<float> full_, scratch_;
};

}  // namespace

std::unique_ptr<PrimOp> make_elementwise_prim(const std::string& kind, const Attrs& a, int) {
  for (const auto& u : kUnary) {
    if (kind != u.kind) continue;
    float p = 0.0f, q = 0.0f;
    if (u.op == U_ELU) p = static_cast<float>(a.get_float("alpha", 1.0));
    if (u.op == U_LEAKY_RELU) p = static_cast<float>(a.get_float("negative_slope", 0.2));
    if (u.op == U_GELU) p = a.get_bool("approximate", true) ? 1.0f : 0.0f;
    if (u.op == U_CLIP) {
      p = static_cast<float>(a.get_float("x_min"));
      q = static_cast<float>(a.get_float("x_max"));
    }
    return std::make_unique<UnaryPrim>(kind, u.op, p, q);
  }
  if (kind == "cast") {
    const std::string dt = a.get_str("dtype", "");
    if (dt == "float32" || dt == "float64") return std::make_unique<UnaryPrim>(kind, U_IDENTITY, 0.0f, 0.0f);
    if (dt == "bool") return std::make_unique<UnaryPrim>(kind, U_NOT_ZERO, 0.0f, 0.0f);
    for (const char* t : {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
      if (dt == t) return std::make_unique<UnaryPrim>(kind, U_TRUNC, 0.0f, 0.0f);
    BC_CHECK(false, "prim 'cast': dtype '" + dt + "' is not supported (float32, float64, bool or an int type: the "
                    "program computes in float32, ints as integer-valued floats)");
  }
  if (kind == "dropout") {
    const double rate = a.get_float("rate");
    BC_CHECK(rate >= 0.0 && rate < 1.0, "prim 'dropout': rate must be in [0, 1), got " + std::to_string(rate));
    return std::make_unique<DropoutPrim>(static_cast<float>(rate), static_cast<uint64_t>(a.get_int("stream", 0)));
  }
  for (const auto& b : kBinary)
    if (kind == b.kind) return std::make_unique<BinaryPrim>(kind, b.op, b.grad);
  if (kind == "where") return std::make_unique<WherePrim>();
  return nullptr;
}

}  // namespace bc

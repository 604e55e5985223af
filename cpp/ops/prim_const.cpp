// Constants: values fixed when the program is built (batch-less outputs), or shaped like another
// tensor (the _like forms, symbolic lengths resolved per call). No gradient.
//
// constant   value (a flat list), shape                     zeros / ones  shape (optional as stop)
// full       shape (optional as stop), fill_value           eye  N, M (N), k (0)
// arange     start (0), stop (optional: else the output tensor's length), step (1) -> (n,)
// zeros_like / ones_like  x -> x's shape                    full_like  x, fill_value
// random_normal  shape (optional as stop), mean, stddev, truncated, stream: N(mean, stddev^2) draws
// random_uniform shape (optional as stop), minval, maxval, stream: U[minval, maxval) draws
//   keyed by (seed, stream, step, the batch's first row, the program's forward count): new values
//   every call, the same for any thread count
#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "ops/prim_families.h"

namespace bc {
namespace {

Shape shape_attr(const Attrs& a, const std::string& key) {
  const std::vector<int64_t> v = a.get_ints(key);
  BC_CHECK(static_cast<int>(v.size()) <= kMaxDims, a.where(key) + ": too many axes");
  Shape s;
  s.nd = static_cast<int>(v.size());
  for (int i = 0; i < s.nd; ++i) {
    BC_CHECK(v[i] >= 1 && v[i] != kNone, a.where(key) + " must hold lengths >= 1");
    s.d[i] = v[i];
  }
  return s;
}

class ConstPrim : public PrimOp {
 public:
  enum Mode { VALUES, FILL, EYE, ARANGE, LIKE, NORMAL, UNIFORM };
  ConstPrim(const std::string& kind, Mode m) : PrimOp(kind), mode_(m) { has_grad_ = false; }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    if (mode_ == LIKE) {
      out[0] = in[0];
    } else if (mode_ == ARANGE && !has_stop_) {
      BC_CHECK(out[0].nd == 1, "prim 'arange' needs the attribute 'stop' outside a program (or a 1-D output tensor)");
    } else if ((mode_ == FILL || mode_ == NORMAL || mode_ == UNIFORM) && !has_stop_) {
      // a shape of run-time lengths: the output tensor's, per call
      BC_CHECK(out[0].nd >= 0, "prim '" + kind_ + "' needs the attribute 'shape' outside a program");
    } else {
      out[0] = shape_;
    }
  }

  Mode mode_;
  Shape shape_;
  std::vector<float> values_;
  double fill_ = 0.0, start_ = 0.0, step_ = 1.0, lo_ = 0.0, hi_ = 1.0;
  bool truncated_ = false;
  uint64_t stream_ = 0;
  bool has_stop_ = true;
  int64_t k_ = 0;

 protected:
  void run_forward(Ctx& c) override {
    float* y = c.val(out[0]);
    const size_t n = c.numel(out[0]);
    switch (mode_) {
      case VALUES: std::memcpy(y, values_.data(), n * sizeof(float)); break;
      case FILL:
      case LIKE:
        for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(fill_);
        break;
      case EYE: {
        const int64_t N = out_[0].d[0], M = out_[0].d[1];
        std::memset(y, 0, n * sizeof(float));
        for (int64_t i = 0; i < N; ++i)
          if (i + k_ >= 0 && i + k_ < M) y[i * M + i + k_] = 1.0f;
        break;
      }
      case ARANGE:
        for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(start_ + static_cast<double>(i) * step_);
        break;
      case NORMAL:
      case UNIFORM: {
        // the call count keeps predict calls (which share the step) from repeating one draw
        const uint64_t key = rng_key(rng_key(c.seed, stream_, c.step), c.row0, c.calls);
        if (mode_ == NORMAL) fill_normal(y, n, key, static_cast<float>(lo_), static_cast<float>(hi_), truncated_);
        else fill_uniform(y, n, key, static_cast<float>(lo_), static_cast<float>(hi_));
        break;
      }
    }
  }
  void run_backward(Ctx&) override {}
};

}  // namespace

std::unique_ptr<PrimOp> make_const_prim(const std::string& kind, const Attrs& a, int) {
  std::unique_ptr<ConstPrim> op;
  if (kind == "constant") {
    op = std::make_unique<ConstPrim>(kind, ConstPrim::VALUES);
    op->shape_ = shape_attr(a, "shape");
    for (double v : a.get_floats("value")) op->values_.push_back(static_cast<float>(v));
    BC_CHECK(static_cast<int64_t>(op->values_.size()) == op->shape_.numel(),
             "prim 'constant': " + std::to_string(op->values_.size()) + " values for shape " + op->shape_.str());
  } else if (kind == "zeros" || kind == "ones" || kind == "full") {
    op = std::make_unique<ConstPrim>(kind, ConstPrim::FILL);
    op->has_stop_ = a.has("shape");
    if (op->has_stop_) op->shape_ = shape_attr(a, "shape");
    op->fill_ = kind == "zeros" ? 0.0 : (kind == "ones" ? 1.0 : a.get_float("fill_value"));
  } else if (kind == "zeros_like" || kind == "ones_like" || kind == "full_like") {
    op = std::make_unique<ConstPrim>(kind, ConstPrim::LIKE);
    op->fill_ = kind == "zeros_like" ? 0.0 : (kind == "ones_like" ? 1.0 : a.get_float("fill_value"));
  } else if (kind == "eye") {
    op = std::make_unique<ConstPrim>(kind, ConstPrim::EYE);
    const int64_t N = a.get_int("N"), M = a.get_int("M", N);
    BC_CHECK(N >= 1 && M >= 1, "prim 'eye': N and M must be >= 1");
    op->k_ = a.get_int("k", 0);
    op->shape_.nd = 2;
    op->shape_.d[0] = N;
    op->shape_.d[1] = M;
  } else if (kind == "arange") {
    op = std::make_unique<ConstPrim>(kind, ConstPrim::ARANGE);
    op->start_ = a.get_float("start", 0.0);
    op->step_ = a.get_float("step", 1.0);
    BC_CHECK(op->step_ != 0.0, "prim 'arange': step cannot be 0");
    op->has_stop_ = a.has("stop");
    if (op->has_stop_) {
      const double n = std::ceil((a.get_float("stop") - op->start_) / op->step_);
      BC_CHECK(n >= 1, "prim 'arange': the range is empty (empty tensors are not supported)");
      op->shape_.nd = 1;
      op->shape_.d[0] = static_cast<int64_t>(n);
    }
  } else if (kind == "random_normal" || kind == "random_uniform") {
    const bool normal = kind == "random_normal";
    op = std::make_unique<ConstPrim>(kind, normal ? ConstPrim::NORMAL : ConstPrim::UNIFORM);
    op->has_stop_ = a.has("shape");
    if (op->has_stop_) op->shape_ = shape_attr(a, "shape");
    op->lo_ = normal ? a.get_float("mean", 0.0) : a.get_float("minval", 0.0);
    op->hi_ = normal ? a.get_float("stddev", 1.0) : a.get_float("maxval", 1.0);
    BC_CHECK(normal ? op->hi_ >= 0.0 : op->hi_ > op->lo_,
             "prim '" + kind + "': " + (normal ? "stddev must be >= 0" : "maxval must be above minval"));
    op->truncated_ = normal && a.get_int("truncated", 0) != 0;
    op->stream_ = static_cast<uint64_t>(a.get_int("stream", 0));
  } else {
    return nullptr;
  }
  return op;
}

}  // namespace bc

// Layout primitives: values moved, never changed. Most are a strided view of the input (a
// gather forward, a scatter or a broadcast sum backward).
//
// transpose   axes (None: reversed)                           y = x permuted; dx = g permuted back
// reshape     shape (optional, one -1 allowed; without it the output tensor's shape), same size
// expand_dims axis (int or list: positions in the result)     squeeze axis (None: every length-1 axis)
// broadcast_to shape (optional as reshape)                     dx = g summed over the broadcast axes
// concatenate axis; stack axis (inputs of one shape)           dx_k = the k-th piece of g
// split       axis, indices_or_sections (an int n: n equal pieces; a list: cut points) -> several outputs
// slice       start, stop, step: per leading axis (None allowed; Python's slice rules, resolved
//             against each call's shape); the rest of the axes whole. dx = g in place, 0 elsewhere
// take        axis (None: flattened x); inputs x, ids (integer values, negative counting from the
//             end): y = x[..., ids, ...]; dx = g added back at the ids (in order); ids get none
// take_along_axis axis; x, ids (x's rank, other axes broadcast)   as take
// one_hot     num_classes, axis (-1): a new axis, 1 where the id matches (negative ids: all 0,
//             ids >= num_classes: an error); no gradient
// repeat      repeats (int or one per element), axis (None: flattened) as NumPy
// tile        repeats (per axis, NumPy's padding rules)        pad  pad_width (a (before, after) pair
//             per axis, or one pair for all), constant_values; mode 'constant' only
// flip        axis (None: every axis)
#include <cmath>
#include <cstring>

#include "ops/prim_families.h"

namespace bc {
namespace {

// out (shape) read from x at offset + sum idx_i * st_i.
struct View {
  Shape shape;
  int64_t offset = 0;
  int64_t st[kMaxDims] = {};
};

template <class F>
void for_rows(const View& v, size_t cost, F f) {
  const int nd = v.shape.nd;
  const int64_t inner = nd ? v.shape.d[nd - 1] : 1;
  int64_t rows = 1;
  for (int i = 0; i + 1 < nd; ++i) rows *= v.shape.d[i];
  parallel_items(static_cast<size_t>(rows), static_cast<size_t>(inner) * cost, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      int64_t q = static_cast<int64_t>(r), off = v.offset;
      for (int i = nd - 2; i >= 0; --i) {
        off += (q % v.shape.d[i]) * v.st[i];
        q /= v.shape.d[i];
      }
      f(static_cast<int64_t>(r) * inner, off, inner, nd ? v.st[nd - 1] : 0);
    }
  });
}

void gather(float* y, const float* x, const View& v) {
  for_rows(v, 1, [&](int64_t o, int64_t off, int64_t n, int64_t s) {
    if (s == 1) std::memcpy(y + o, x + off, n * sizeof(float));
    else
      for (int64_t j = 0; j < n; ++j) y[o + j] = x[off + j * s];
  });
}

// dx[view(i)] (+)= g[i] for an injective view (each dx element written at most once); with
// !acc the rest of dx is zeroed first.
void scatter(float* dx, size_t n_dx, const float* g, const View& v, bool acc, bool covers_all) {
  if (!acc && !covers_all) std::memset(dx, 0, n_dx * sizeof(float));
  const bool assign = !acc;
  for_rows(v, 1, [&](int64_t o, int64_t off, int64_t n, int64_t s) {
    if (assign)
      for (int64_t j = 0; j < n; ++j) dx[off + j * s] = g[o + j];
    else
      for (int64_t j = 0; j < n; ++j) dx[off + j * s] += g[o + j];
  });
}

void add_or_copy_n(float* dst, const float* src, size_t n, bool acc) {
  if (acc)
    for (size_t i = 0; i < n; ++i) dst[i] += src[i];
  else
    std::memcpy(dst, src, n * sizeof(float));
}

// Shape from a list with at most one -1, for `numel` values.
Shape shape_from(const std::vector<int64_t>& v, int64_t numel, const std::string& kind) {
  Shape s;
  BC_CHECK(static_cast<int>(v.size()) <= kMaxDims, "prim '" + kind + "': too many axes");
  s.nd = static_cast<int>(v.size());
  int unknown = -1;
  int64_t known = 1;
  for (int i = 0; i < s.nd; ++i) {
    if (v[i] == -1) {
      BC_CHECK(unknown < 0, "prim '" + kind + "': only one -1 is allowed in a shape");
      unknown = i;
    } else {
      BC_CHECK(v[i] >= 1, "prim '" + kind + "': shape entries must be >= 1 or -1, got " + std::to_string(v[i]));
      known *= v[i];
      s.d[i] = v[i];
    }
  }
  if (unknown >= 0) {
    BC_CHECK(numel % known == 0, "prim '" + kind + "': cannot reshape " + std::to_string(numel) + " values with -1");
    s.d[unknown] = numel / known;
  }
  return s;
}

// A copy-shaped op: forward copies (reshape, expand_dims, squeeze), backward adds back.
class CopyPrim : public PrimOp {
 public:
  enum Mode { RESHAPE, EXPAND, SQUEEZE };
  CopyPrim(const std::string& kind, Mode m, const Attrs& a) : PrimOp(kind), mode_(m) {
    has_shape_ = a.has("shape") && m == RESHAPE;
    if (m == RESHAPE) shape_ = a.get_ints("shape");
    if (m == EXPAND) axes_ = a.get_ints("axis");
    if (m == SQUEEZE) {
      all_ = !a.has("axis");
      axes_ = a.get_ints("axis");
    }
    if (m == EXPAND) BC_CHECK(!axes_.empty(), "prim 'expand_dims' needs the attribute 'axis'");
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape& x = in[0];
    Shape s;
    if (mode_ == RESHAPE) {
      if (has_shape_) s = shape_from(shape_, x.numel(), kind_);
      else {
        BC_CHECK(out[0].nd >= 0, "prim 'reshape' needs the attribute 'shape' outside a program");
        s = out[0];
      }
      BC_CHECK(s.numel() == x.numel(), "prim 'reshape': cannot reshape " + x.str() + " to " + s.str());
    } else if (mode_ == EXPAND) {
      const int nd = x.nd + static_cast<int>(axes_.size());
      BC_CHECK(nd <= kMaxDims, "prim 'expand_dims': too many axes");
      bool ins[kMaxDims] = {};
      for (int64_t a : axes_) {
        const int k = norm_axis(a, nd, attrs_, "axis");
        BC_CHECK(!ins[k], attrs_.where("axis") + " repeats an axis");
        ins[k] = true;
      }
      s.nd = nd;
      for (int i = 0, j = 0; i < nd; ++i) s.d[i] = ins[i] ? 1 : x.d[j++];
    } else {
      bool drop[kMaxDims] = {};
      for (int64_t a : axes_) {
        const int k = norm_axis(a, x.nd, attrs_, "axis");
        BC_CHECK(x.d[k] == 1, "prim 'squeeze': axis " + std::to_string(k) + " of " + x.str() + " is not 1");
        drop[k] = true;
      }
      for (int i = 0; i < x.nd; ++i)
        if (!(drop[i] || (all_ && x.d[i] == 1))) s.d[s.nd++] = x.d[i];
    }
    out[0] = s;
  }

 protected:
  void run_forward(Ctx& c) override {
    std::memcpy(c.val(out[0]), c.val(in[0]), c.numel(in[0]) * sizeof(float));
  }
  void run_backward(Ctx& c) override {
    if (need_dx[0]) add_or_copy_n(c.grad(in[0]), c.grad(out[0]), c.numel(in[0]), accum_dx[0]);
  }

 private:
  Mode mode_;
  bool has_shape_ = false, all_ = false;
  std::vector<int64_t> shape_, axes_;
  Attrs attrs_;
};

// One-to-one strided views: transpose, slice, flip.
class ViewPrim : public PrimOp {
 public:
  enum Mode { TRANSPOSE, SLICE, FLIP };
  ViewPrim(const std::string& kind, Mode m, const Attrs& a) : PrimOp(kind), mode_(m) {
    if (m == TRANSPOSE) {
      all_ = !a.has("axes");
      axes_ = a.get_ints("axes");
    } else if (m == FLIP) {
      all_ = !a.has("axis");
      axes_ = a.get_ints("axis");
    } else {
      start_ = a.get_ints("start");
      stop_ = a.get_ints("stop");
      step_ = a.get_ints("step");
      const size_t n = std::max(start_.size(), std::max(stop_.size(), step_.size()));
      start_.resize(n, kNone);
      stop_.resize(n, kNone);
      step_.resize(n, 1);
      for (int64_t s : step_) BC_CHECK(s != 0, "prim 'slice': a step cannot be 0");
    }
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    out[0] = view_of(in[0]).shape;
  }

 protected:
  View view_of(const Shape& x) const {
    View v;
    int64_t st[kMaxDims];
    strides_of(x, st);
    v.shape = x;
    if (mode_ == TRANSPOSE) {
      int perm[kMaxDims];
      if (all_) {
        for (int i = 0; i < x.nd; ++i) perm[i] = x.nd - 1 - i;
      } else {
        BC_CHECK(static_cast<int>(axes_.size()) == x.nd, "prim 'transpose': axes must name each of the " +
                                                             std::to_string(x.nd) + " axes once");
        bool seen[kMaxDims] = {};
        for (int i = 0; i < x.nd; ++i) {
          perm[i] = norm_axis(axes_[i], x.nd, attrs_, "axes");
          BC_CHECK(!seen[perm[i]], "prim 'transpose': axes must name each axis once");
          seen[perm[i]] = true;
        }
      }
      for (int i = 0; i < x.nd; ++i) {
        v.shape.d[i] = x.d[perm[i]];
        v.st[i] = st[perm[i]];
      }
    } else if (mode_ == FLIP) {
      bool f[kMaxDims] = {};
      for (int i = 0; i < x.nd; ++i) f[i] = all_;
      for (int64_t a : axes_) f[norm_axis(a, x.nd, attrs_, "axis")] = true;
      for (int i = 0; i < x.nd; ++i) {
        v.st[i] = f[i] ? -st[i] : st[i];
        if (f[i]) v.offset += (x.d[i] - 1) * st[i];
      }
    } else {
      BC_CHECK(static_cast<int>(start_.size()) <= x.nd, "prim 'slice': " + std::to_string(start_.size()) +
                                                            " axes sliced, but the input " + x.str() + " has " +
                                                            std::to_string(x.nd));
      for (int i = 0; i < x.nd; ++i) {
        v.st[i] = st[i];
        if (i >= static_cast<int>(start_.size())) continue;
        int64_t first, len;
        slice_range(x.d[i], start_[i], stop_[i], step_[i], &first, &len);
        BC_CHECK(len >= 1, "prim 'slice': axis " + std::to_string(i) + " of " + x.str() +
                               " slices to nothing (empty tensors are not supported)");
        v.shape.d[i] = len;
        v.offset += first * st[i];
        v.st[i] = st[i] * step_[i];
      }
    }
    return v;
  }
  void plan() override { view_ = view_of(in_[0]); }
  void run_forward(Ctx& c) override { gather(c.val(out[0]), c.val(in[0]), view_); }
  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    scatter(c.grad(in[0]), c.numel(in[0]), c.grad(out[0]), view_, accum_dx[0], mode_ != SLICE);
  }

 private:
  Mode mode_;
  bool all_ = false;
  std::vector<int64_t> axes_, start_, stop_, step_;
  Attrs attrs_;
  View view_;
};

// broadcast_to and tile: the output is the input broadcast (tile: along interleaved axes).
class BroadcastPrim : public PrimOp {
 public:
  BroadcastPrim(const std::string& kind, const Attrs& a) : PrimOp(kind), tile_(kind == "tile") {
    if (tile_) {
      reps_ = a.get_ints("repeats");
      BC_CHECK(!reps_.empty(), "prim 'tile' needs the attribute 'repeats'");
      for (int64_t r : reps_) BC_CHECK(r >= 1, "prim 'tile': repeats must be >= 1");
    } else {
      has_shape_ = a.has("shape");
      shape_ = a.get_ints("shape");
    }
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    Shape from, to;
    views(in[0], out[0], &from, &to);
    if (!tile_) {
      out[0] = to;
      return;
    }
    Shape s;
    s.nd = to.nd / 2;
    for (int i = 0; i < s.nd; ++i) s.d[i] = to.d[2 * i] * to.d[2 * i + 1];
    out[0] = s;
  }

 protected:
  // The broadcast as shapes: from (the input, maybe with length-1 axes) -> to.
  void views(const Shape& x, const Shape& declared, Shape* from, Shape* to) const {
    if (!tile_) {
      Shape t;
      if (has_shape_) {
        BC_CHECK(static_cast<int>(shape_.size()) <= kMaxDims, "prim 'broadcast_to': too many axes");
        t.nd = static_cast<int>(shape_.size());
        for (int i = 0; i < t.nd; ++i) {
          BC_CHECK(shape_[i] >= 1, "prim 'broadcast_to': shape entries must be >= 1");
          t.d[i] = shape_[i];
        }
      } else {
        BC_CHECK(declared.nd >= 0, "prim 'broadcast_to' needs the attribute 'shape' outside a program");
        t = declared;
      }
      BC_CHECK(broadcast_shapes(x, t, kind_) == t, "prim 'broadcast_to': " + x.str() + " does not broadcast to " + t.str());
      *from = x;
      *to = t;
      return;
    }
    const int nd = std::max(x.nd, static_cast<int>(reps_.size()));
    BC_CHECK(2 * nd <= kMaxDims, "prim 'tile': too many axes");
    from->nd = to->nd = 2 * nd;
    for (int i = 0; i < nd; ++i) {
      const int jx = i - (nd - x.nd), jr = i - (nd - static_cast<int>(reps_.size()));
      const int64_t d = jx >= 0 ? x.d[jx] : 1, r = jr >= 0 ? reps_[jr] : 1;
      from->d[2 * i] = 1;
      from->d[2 * i + 1] = d;
      to->d[2 * i] = r;
      to->d[2 * i + 1] = d;
    }
  }
  void plan() override {
    Shape declared = out_[0];
    views(in_[0], declared, &from_, &to_);
    walk_.init(to_, {from_});
  }
  void run_forward(Ctx& c) override {
    const float* x = c.val(in[0]);
    float* y = c.val(out[0]);
    const int64_t s = walk_.inner_stride(0);
    for_walk(walk_, 1, [&](int64_t o, const int64_t* off, int64_t n) {
      if (s == 1) std::memcpy(y + o, x + off[0], n * sizeof(float));
      else
        for (int64_t j = 0; j < n; ++j) y[o + j] = x[off[0]];
    });
  }
  void run_backward(Ctx& c) override {
    if (need_dx[0]) reduce_to(c.grad(in[0]), accum_dx[0], c.grad(out[0]), to_, from_, scratch_);
  }

 private:
  bool tile_, has_shape_ = false;
  std::vector<int64_t> reps_, shape_;
  Shape from_, to_;
  Walk walk_;
  std::vector<float> scratch_;
};

// concatenate / stack: inputs are (O, R_k, I) blocks side by side along the axis.
class ConcatPrim : public PrimOp {
 public:
  ConcatPrim(const std::string& kind, const Attrs& a) : PrimOp(kind), stack_(kind == "stack") {
    axis_ = a.get_int("axis", 0);
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape& x0 = in[0];
    Shape s = x0;
    if (stack_) {
      BC_CHECK(x0.nd + 1 <= kMaxDims, "prim 'stack': too many axes");
      const int ax = norm_axis(axis_, x0.nd + 1, attrs_, "axis");
      for (const auto& x : in) BC_CHECK(x == x0, "prim 'stack': every input must have shape " + x0.str() + ", got " + x.str());
      s.nd = x0.nd + 1;
      for (int i = 0, j = 0; i < s.nd; ++i) s.d[i] = i == ax ? static_cast<int64_t>(in.size()) : x0.d[j++];
    } else {
      BC_CHECK(x0.nd >= 1, "prim 'concatenate' needs inputs with at least one axis");
      const int ax = norm_axis(axis_, x0.nd, attrs_, "axis");
      s.d[ax] = 0;
      for (const auto& x : in) {
        bool ok = x.nd == x0.nd;
        for (int i = 0; ok && i < x.nd; ++i) ok = i == ax || x.d[i] == x0.d[i];
        BC_CHECK(ok, "prim 'concatenate': shapes " + x0.str() + " and " + x.str() + " differ off axis " + std::to_string(ax));
        s.d[ax] += x.d[ax];
      }
    }
    out[0] = s;
  }

 protected:
  void plan() override {
    const Shape& x0 = in_[0];
    const int ax = stack_ ? norm_axis(axis_, x0.nd + 1, attrs_, "axis") : norm_axis(axis_, x0.nd, attrs_, "axis");
    O_ = I_ = 1;
    for (int i = 0; i < ax; ++i) O_ *= x0.d[i];
    for (int i = stack_ ? ax : ax + 1; i < x0.nd; ++i) I_ *= x0.d[i];
    widths_.clear();
    total_ = 0;
    for (const auto& x : in_) {
      widths_.push_back(stack_ ? I_ : static_cast<size_t>(x.d[ax]) * I_);
      total_ += widths_.back();
    }
  }
  void run_forward(Ctx& c) override {
    float* y = c.val(out[0]);
    size_t off = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      const float* x = c.val(in[k]);
      const size_t w = widths_[k];
      for (size_t o = 0; o < O_; ++o) std::memcpy(y + o * total_ + off, x + o * w, w * sizeof(float));
      off += w;
    }
  }
  void run_backward(Ctx& c) override {
    const float* g = c.grad(out[0]);
    size_t off = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      const size_t w = widths_[k];
      if (need_dx[k]) {
        float* dx = c.grad(in[k]);
        for (size_t o = 0; o < O_; ++o) add_or_copy_n(dx + o * w, g + o * total_ + off, w, accum_dx[k]);
      }
      off += w;
    }
  }

 private:
  bool stack_;
  int64_t axis_;
  Attrs attrs_;
  size_t O_ = 1, I_ = 1, total_ = 0;
  std::vector<size_t> widths_;
};

class SplitPrim : public PrimOp {
 public:
  SplitPrim(const Attrs& a) : PrimOp("split") {
    axis_ = a.get_int("axis", 0);
    if (a.type("indices_or_sections") == Attr::INT) {
      sections_ = a.get_int("indices_or_sections");
      BC_CHECK(sections_ >= 1, "prim 'split': sections must be >= 1");
      n_out_ = static_cast<int>(sections_);
    } else {
      cuts_ = a.get_ints("indices_or_sections");
      BC_CHECK(a.has("indices_or_sections"), "prim 'split' needs the attribute 'indices_or_sections'");
      for (int64_t v : cuts_) BC_CHECK(v != kNone, "prim 'split': cut points must be ints");
      n_out_ = static_cast<int>(cuts_.size()) + 1;
    }
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape& x = in[0];
    BC_CHECK(x.nd >= 1, "prim 'split' needs an input with at least one axis");
    const int ax = norm_axis(axis_, x.nd, attrs_, "axis");
    const std::vector<int64_t> len = lengths(x.d[ax]);
    for (int j = 0; j < n_out_; ++j) {
      out[j] = x;
      out[j].d[ax] = len[j];
    }
  }

 protected:
  std::vector<int64_t> lengths(int64_t n) const {
    std::vector<int64_t> len;
    if (sections_ > 0) {
      BC_CHECK(n % sections_ == 0, "prim 'split': an axis of length " + std::to_string(n) + " does not split into " +
                                       std::to_string(sections_) + " equal pieces");
      len.assign(sections_, n / sections_);
      return len;
    }
    int64_t prev = 0;
    for (size_t j = 0; j <= cuts_.size(); ++j) {
      int64_t c = j < cuts_.size() ? cuts_[j] : n;
      if (c < 0) c += n;
      c = std::min(std::max(c, prev), n);
      BC_CHECK(c > prev, "prim 'split': piece " + std::to_string(j) + " is empty (empty tensors are not supported)");
      len.push_back(c - prev);
      prev = c;
    }
    return len;
  }
  void plan() override {
    const Shape& x = in_[0];
    const int ax = norm_axis(axis_, x.nd, attrs_, "axis");
    O_ = I_ = 1;
    for (int i = 0; i < ax; ++i) O_ *= x.d[i];
    for (int i = ax + 1; i < x.nd; ++i) I_ *= x.d[i];
    total_ = static_cast<size_t>(x.d[ax]) * I_;
    widths_.clear();
    for (const auto& o : out_) widths_.push_back(static_cast<size_t>(o.d[ax]) * I_);
  }
  void run_forward(Ctx& c) override {
    const float* x = c.val(in[0]);
    size_t off = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      float* y = c.val(out[k]);
      const size_t w = widths_[k];
      for (size_t o = 0; o < O_; ++o) std::memcpy(y + o * w, x + o * total_ + off, w * sizeof(float));
      off += w;
    }
  }
  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    float* dx = c.grad(in[0]);
    size_t off = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      const float* g = c.grad(out[k]);
      const size_t w = widths_[k];
      for (size_t o = 0; o < O_; ++o) add_or_copy_n(dx + o * total_ + off, g + o * w, w, accum_dx[0]);
      off += w;
    }
  }

 private:
  int64_t axis_ = 0, sections_ = 0;
  std::vector<int64_t> cuts_;
  Attrs attrs_;
  size_t O_ = 1, I_ = 1, total_ = 0;
  std::vector<size_t> widths_;
};

// Checks float ids are integers in [-n, n) and returns them wrapped to [0, n).
void checked_ids(const float* ids, size_t m, int64_t n, const std::string& kind, std::vector<int64_t>& out) {
  out.resize(m);
  for (size_t i = 0; i < m; ++i) {
    const float v = ids[i];
    BC_CHECK(v == std::floor(v) && v >= -static_cast<float>(n) && v < static_cast<float>(n),
             "prim '" + kind + "' expects integer indices in [" + std::to_string(-n) + ", " + std::to_string(n) +
                 "), got " + std::to_string(v));
    const int64_t k = static_cast<int64_t>(v);
    out[i] = k < 0 ? k + n : k;
  }
}

class TakePrim : public PrimOp {
 public:
  TakePrim(const Attrs& a) : PrimOp("take") {
    flat_ = !a.has("axis");
    axis_ = a.get_int("axis", 0);
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    Shape x = in[0];
    if (flat_) {
      x.nd = 1;
      x.d[0] = in[0].numel();
    }
    BC_CHECK(x.nd >= 1, "prim 'take' needs an input with at least one axis");
    const int ax = norm_axis(axis_, x.nd, attrs_, "axis");
    const Shape& ids = in[1];
    BC_CHECK(x.nd - 1 + ids.nd <= kMaxDims, "prim 'take': too many axes");
    Shape s;
    for (int i = 0; i < ax; ++i) s.d[s.nd++] = x.d[i];
    for (int i = 0; i < ids.nd; ++i) s.d[s.nd++] = ids.d[i];
    for (int i = ax + 1; i < x.nd; ++i) s.d[s.nd++] = x.d[i];
    out[0] = s;
  }

 protected:
  void plan() override {
    const int nd = flat_ ? 1 : in_[0].nd;
    const int ax = flat_ ? 0 : norm_axis(axis_, nd, attrs_, "axis");
    O_ = I_ = 1;
    if (flat_) {
      N_ = static_cast<size_t>(in_[0].numel());
    } else {
      for (int i = 0; i < ax; ++i) O_ *= in_[0].d[i];
      N_ = static_cast<size_t>(in_[0].d[ax]);
      for (int i = ax + 1; i < nd; ++i) I_ *= in_[0].d[i];
    }
    M_ = static_cast<size_t>(in_[1].numel());
  }
  void run_forward(Ctx& c) override {
    checked_ids(c.val(in[1]), M_, static_cast<int64_t>(N_), kind_, ids_);  // before any thread starts
    const float* x = c.val(in[0]);
    float* y = c.val(out[0]);
    parallel_items(O_, M_ * I_, [&](size_t o0, size_t o1) {
      for (size_t o = o0; o < o1; ++o)
        for (size_t j = 0; j < M_; ++j)
          std::memcpy(y + (o * M_ + j) * I_, x + (o * N_ + static_cast<size_t>(ids_[j])) * I_, I_ * sizeof(float));
    });
  }
  void run_backward(Ctx& c) override {
    if (need_dx[1] && !accum_dx[1]) std::memset(c.grad(in[1]), 0, c.numel(in[1]) * sizeof(float));
    if (!need_dx[0]) return;
    float* dx = c.grad(in[0]);
    const float* g = c.grad(out[0]);
    if (!accum_dx[0]) std::memset(dx, 0, c.numel(in[0]) * sizeof(float));
    parallel_items(O_, M_ * I_, [&](size_t o0, size_t o1) {  // each o owns its block of dx
      for (size_t o = o0; o < o1; ++o)
        for (size_t j = 0; j < M_; ++j) {
          float* d = dx + (o * N_ + static_cast<size_t>(ids_[j])) * I_;
          const float* s = g + (o * M_ + j) * I_;
          for (size_t i = 0; i < I_; ++i) d[i] += s[i];
        }
    });
  }

 private:
  bool flat_ = false;
  int64_t axis_ = 0;
  Attrs attrs_;
  size_t O_ = 1, N_ = 1, I_ = 1, M_ = 1;
  std::vector<int64_t> ids_;
};

class TakeAlongPrim : public PrimOp {
 public:
  TakeAlongPrim(const Attrs& a) : PrimOp("take_along_axis") {
    axis_ = a.get_int("axis");
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape &x = in[0], &ids = in[1];
    BC_CHECK(x.nd >= 1 && ids.nd == x.nd, "prim 'take_along_axis': the indices " + ids.str() +
                                             " must have as many axes as the input " + x.str());
    const int ax = norm_axis(axis_, x.nd, attrs_, "axis");
    Shape s;
    s.nd = x.nd;
    for (int i = 0; i < x.nd; ++i) {
      if (i == ax) {
        s.d[i] = ids.d[i];
        continue;
      }
      BC_CHECK(x.d[i] == ids.d[i] || x.d[i] == 1 || ids.d[i] == 1,
               "prim 'take_along_axis': " + x.str() + " and " + ids.str() + " do not broadcast off the axis");
      s.d[i] = std::max(x.d[i], ids.d[i]);
    }
    out[0] = s;
  }

 protected:
  void plan() override {
    ax_ = norm_axis(axis_, in_[0].nd, attrs_, "axis");
    // per output element: its offset in x with the axis index left out, and in ids
    const Shape &o = out_[0], &x = in_[0], &ids = in_[1];
    int64_t xs[kMaxDims], is[kMaxDims];
    strides_of(x, xs);
    strides_of(ids, is);
    const size_t n = static_cast<size_t>(o.numel());
    xoff_.resize(n);
    ioff_.resize(n);
    for (size_t k = 0; k < n; ++k) {
      int64_t q = static_cast<int64_t>(k), xo = 0, io = 0;
      for (int i = o.nd - 1; i >= 0; --i) {
        const int64_t idx = q % o.d[i];
        q /= o.d[i];
        if (i != ax_ && x.d[i] > 1) xo += idx * xs[i];
        if (ids.d[i] > 1) io += idx * is[i];
      }
      xoff_[k] = xo;
      ioff_[k] = io;
    }
    axis_stride_ = xs[ax_];
  }
  void run_forward(Ctx& c) override {
    checked_ids(c.val(in[1]), c.numel(in[1]), in_[0].d[ax_], kind_, ids_);
    const float* x = c.val(in[0]);
    float* y = c.val(out[0]);
    for (size_t k = 0; k < xoff_.size(); ++k) y[k] = x[xoff_[k] + ids_[ioff_[k]] * axis_stride_];
  }
  void run_backward(Ctx& c) override {
    if (need_dx[1] && !accum_dx[1]) std::memset(c.grad(in[1]), 0, c.numel(in[1]) * sizeof(float));
    if (!need_dx[0]) return;
    float* dx = c.grad(in[0]);
    const float* g = c.grad(out[0]);
    if (!accum_dx[0]) std::memset(dx, 0, c.numel(in[0]) * sizeof(float));
    for (size_t k = 0; k < xoff_.size(); ++k) dx[xoff_[k] + ids_[ioff_[k]] * axis_stride_] += g[k];
  }

 private:
  int64_t axis_ = 0;
  int ax_ = 0;
  int64_t axis_stride_ = 1;
  Attrs attrs_;
  std::vector<int64_t> xoff_, ioff_, ids_;
};

class OneHotPrim : public PrimOp {
 public:
  OneHotPrim(const Attrs& a) : PrimOp("one_hot") {
    classes_ = a.get_int("num_classes");
    BC_CHECK(classes_ >= 1, "prim 'one_hot': num_classes must be >= 1");
    axis_ = a.get_int("axis", -1);
    attrs_ = a;
    has_grad_ = false;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape& x = in[0];
    BC_CHECK(x.nd + 1 <= kMaxDims, "prim 'one_hot': too many axes");
    const int ax = norm_axis(axis_, x.nd + 1, attrs_, "axis");
    Shape s;
    s.nd = x.nd + 1;
    for (int i = 0, j = 0; i < s.nd; ++i) s.d[i] = i == ax ? classes_ : x.d[j++];
    out[0] = s;
  }

 protected:
  void plan() override {
    const int ax = norm_axis(axis_, in_[0].nd + 1, attrs_, "axis");
    O_ = I_ = 1;
    for (int i = 0; i < ax; ++i) O_ *= in_[0].d[i];
    for (int i = ax; i < in_[0].nd; ++i) I_ *= in_[0].d[i];
  }
  void run_forward(Ctx& c) override {
    const float* x = c.val(in[0]);
    const size_t n = c.numel(in[0]);
    for (size_t i = 0; i < n; ++i)
      BC_CHECK(x[i] == std::floor(x[i]) && x[i] < static_cast<float>(classes_),
               "prim 'one_hot' expects integer ids below num_classes = " + std::to_string(classes_) + ", got " +
                   std::to_string(x[i]));
    float* y = c.val(out[0]);
    const size_t C = static_cast<size_t>(classes_);
    std::memset(y, 0, O_ * C * I_ * sizeof(float));
    for (size_t o = 0; o < O_; ++o)
      for (size_t i = 0; i < I_; ++i) {
        const float v = x[o * I_ + i];
        if (v >= 0.0f) y[(o * C + static_cast<size_t>(v)) * I_ + i] = 1.0f;
      }
  }
  void run_backward(Ctx&) override {}

 private:
  int64_t classes_ = 1, axis_ = -1;
  Attrs attrs_;
  size_t O_ = 1, I_ = 1;
};

class RepeatPrim : public PrimOp {
 public:
  RepeatPrim(const Attrs& a) : PrimOp("repeat") {
    reps_ = a.get_ints("repeats");
    BC_CHECK(!reps_.empty(), "prim 'repeat' needs the attribute 'repeats'");
    for (int64_t r : reps_) BC_CHECK(r >= 0 && r != kNone, "prim 'repeat': repeats must be >= 0");
    flat_ = !a.has("axis");
    axis_ = a.get_int("axis", 0);
    attrs_ = a;
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    Shape x = in[0];
    if (flat_) {
      x.nd = 1;
      x.d[0] = in[0].numel();
    }
    BC_CHECK(x.nd >= 1, "prim 'repeat' needs an input with at least one axis");
    const int ax = norm_axis(axis_, x.nd, attrs_, "axis");
    BC_CHECK(reps_.size() == 1 || static_cast<int64_t>(reps_.size()) == x.d[ax],
             "prim 'repeat': repeats has " + std::to_string(reps_.size()) + " entries for an axis of length " +
                 std::to_string(x.d[ax]));
    int64_t total = 0;
    for (int64_t j = 0; j < x.d[ax]; ++j) total += reps_.size() == 1 ? reps_[0] : reps_[j];
    BC_CHECK(total >= 1, "prim 'repeat': the result is empty (empty tensors are not supported)");
    x.d[ax] = total;
    out[0] = x;
  }

 protected:
  void plan() override {
    const int nd = flat_ ? 1 : in_[0].nd;
    const int ax = flat_ ? 0 : norm_axis(axis_, nd, attrs_, "axis");
    O_ = I_ = 1;
    if (flat_) {
      N_ = static_cast<size_t>(in_[0].numel());
    } else {
      for (int i = 0; i < ax; ++i) O_ *= in_[0].d[i];
      N_ = static_cast<size_t>(in_[0].d[ax]);
      for (int i = ax + 1; i < nd; ++i) I_ *= in_[0].d[i];
    }
    src_.clear();
    for (size_t j = 0; j < N_; ++j)
      for (int64_t r = 0; r < (reps_.size() == 1 ? reps_[0] : reps_[j]); ++r) src_.push_back(j);
  }
  void run_forward(Ctx& c) override {
    const float* x = c.val(in[0]);
    float* y = c.val(out[0]);
    const size_t M = src_.size();
    for (size_t o = 0; o < O_; ++o)
      for (size_t j = 0; j < M; ++j) std::memcpy(y + (o * M + j) * I_, x + (o * N_ + src_[j]) * I_, I_ * sizeof(float));
  }
  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    float* dx = c.grad(in[0]);
    const float* g = c.grad(out[0]);
    if (!accum_dx[0]) std::memset(dx, 0, c.numel(in[0]) * sizeof(float));
    const size_t M = src_.size();
    for (size_t o = 0; o < O_; ++o)
      for (size_t j = 0; j < M; ++j) {
        float* d = dx + (o * N_ + src_[j]) * I_;
        const float* s = g + (o * M + j) * I_;
        for (size_t i = 0; i < I_; ++i) d[i] += s[i];
      }
  }

 private:
  std::vector<int64_t> reps_;
  bool flat_ = false;
  int64_t axis_ = 0;
  Attrs attrs_;
  size_t O_ = 1, N_ = 1, I_ = 1;
  std::vector<size_t> src_;
};

class PadPrim : public PrimOp {
 public:
  PadPrim(const Attrs& a) : PrimOp("pad") {
    pads_ = a.get_ints("pad_width");
    BC_CHECK(!pads_.empty() && pads_.size() % 2 == 0, "prim 'pad': pad_width must be (before, after) pairs");
    for (int64_t p : pads_) BC_CHECK(p >= 0 && p != kNone, "prim 'pad': pad widths must be >= 0");
    const std::string mode = a.get_str("mode", "constant");
    BC_CHECK(mode == "constant", "prim 'pad': mode '" + mode + "' is not supported (only 'constant')");
    value_ = static_cast<float>(a.get_float("constant_values", 0.0));
  }
  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape& x = in[0];
    BC_CHECK(pads_.size() == 2 || static_cast<int>(pads_.size()) == 2 * x.nd,
             "prim 'pad': pad_width has " + std::to_string(pads_.size() / 2) + " pairs for " + std::to_string(x.nd) + " axes");
    Shape s = x;
    for (int i = 0; i < x.nd; ++i) s.d[i] += before(i) + after(i);
    out[0] = s;
  }

 protected:
  int64_t before(int i) const { return pads_.size() == 2 ? pads_[0] : pads_[2 * i]; }
  int64_t after(int i) const { return pads_.size() == 2 ? pads_[1] : pads_[2 * i + 1]; }
  void plan() override {  // the input's place inside the output, as a view of the output
    int64_t st[kMaxDims];
    strides_of(out_[0], st);
    inner_ = View();
    inner_.shape = in_[0];
    for (int i = 0; i < in_[0].nd; ++i) {
      inner_.st[i] = st[i];
      inner_.offset += before(i) * st[i];
    }
  }
  void run_forward(Ctx& c) override {
    float* y = c.val(out[0]);
    const size_t n = c.numel(out[0]);
    for (size_t i = 0; i < n; ++i) y[i] = value_;
    scatter(y, n, c.val(in[0]), inner_, false, true);
  }
  void run_backward(Ctx& c) override {
    if (!need_dx[0]) return;
    const size_t n = c.numel(in[0]);
    if (!accum_dx[0]) {
      gather(c.grad(in[0]), c.grad(out[0]), inner_);
      return;
    }
    tmp_.resize(n);
    gather(tmp_.data(), c.grad(out[0]), inner_);
    float* dx = c.grad(in[0]);
    for (size_t i = 0; i < n; ++i) dx[i] += tmp_[i];
  }

 private:
  std::vector<int64_t> pads_;
  float value_ = 0.0f;
  View inner_;
  std::vector<float> tmp_;
};

}  // namespace

std::unique_ptr<PrimOp> make_layout_prim(const std::string& kind, const Attrs& a, int, int) {
  if (kind == "reshape") return std::make_unique<CopyPrim>(kind, CopyPrim::RESHAPE, a);
  if (kind == "expand_dims") return std::make_unique<CopyPrim>(kind, CopyPrim::EXPAND, a);
  if (kind == "squeeze") return std::make_unique<CopyPrim>(kind, CopyPrim::SQUEEZE, a);
  if (kind == "transpose") return std::make_unique<ViewPrim>(kind, ViewPrim::TRANSPOSE, a);
  if (kind == "slice") return std::make_unique<ViewPrim>(kind, ViewPrim::SLICE, a);
  if (kind == "flip") return std::make_unique<ViewPrim>(kind, ViewPrim::FLIP, a);
  if (kind == "broadcast_to" || kind == "tile") return std::make_unique<BroadcastPrim>(kind, a);
  if (kind == "concatenate" || kind == "stack") return std::make_unique<ConcatPrim>(kind, a);
  if (kind == "split") return std::make_unique<SplitPrim>(a);
  if (kind == "take") return std::make_unique<TakePrim>(a);
  if (kind == "take_along_axis") return std::make_unique<TakeAlongPrim>(a);
  if (kind == "one_hot") return std::make_unique<OneHotPrim>(a);
  if (kind == "repeat") return std::make_unique<RepeatPrim>(a);
  if (kind == "pad") return std::make_unique<PadPrim>(a);
  return nullptr;
}

}  // namespace bc

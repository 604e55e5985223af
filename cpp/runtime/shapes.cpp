// Run-time shapes: the symbol table, and the Program's shape methods (declared in program.h,
// kept here so the program's own file holds only the calls into them).
#include "runtime/shapes.h"

#include <algorithm>

#include "runtime/program.h"

namespace bc {

namespace {
constexpr int64_t kMaxValue = int64_t(1) << 40;  // no axis is longer; keeps products in range

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
}  // namespace

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < nd; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (nd == 1 ? ",)" : ")");
}

int64_t checked_numel(const Shape& s, const std::string& what) {
  int64_t n = 1;
  for (int i = 0; i < s.nd; ++i) {
    BC_CHECK(s.d[i] >= 0 && (s.d[i] == 0 || n <= kMaxValue / s.d[i]),
             what + " would hold more than 2^40 values (shape " + s.str() + ")");
    n *= s.d[i];
  }
  return n;
}

void slice_range(int64_t n, int64_t start, int64_t stop, int64_t step, int64_t* first, int64_t* len) {
  BC_CHECK(step != 0 && step != kNone, "a slice step cannot be 0");
  const int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? n : n - 1;
  auto clamp = [&](int64_t v, int64_t dflt) {
    if (v == kNone) return dflt;
    if (v < 0) return std::max(v + n, lower);
    return std::min(v, upper);
  };
  const int64_t a = clamp(start, step > 0 ? lower : upper), b = clamp(stop, step > 0 ? upper : lower);
  *first = a;
  if (step > 0) *len = b > a ? (b - a + step - 1) / step : 0;
  else *len = a > b ? (a - b - step - 1) / (-step) : 0;
}

int Symbols::add_input(const std::string& name) {
  SymDef d;
  d.kind = SYM_INPUT;
  d.name = name;
  defs_.push_back(d);
  return size() - 1;
}

int Symbols::add_derived(int kind, const std::vector<int>& syms, const std::vector<int64_t>& consts,
                         const std::string& name) {
  const size_t want_s = kind == SYM_AFFINE || kind == SYM_SLICE ? 1 : 2;
  const size_t want_k = kind == SYM_AFFINE || kind == SYM_SLICE ? 3 : 0;
  BC_CHECK(kind >= SYM_AFFINE && kind <= SYM_SLICE, "unknown derived symbol kind " + std::to_string(kind));
  BC_CHECK(syms.size() == want_s && consts.size() == want_k,
           "a derived symbol of kind " + std::to_string(kind) + " takes " + std::to_string(want_s) +
               " symbols and " + std::to_string(want_k) + " constants");
  for (int s : syms) BC_CHECK(s >= 0 && s < size(), "a derived symbol names an unknown symbol " + std::to_string(s));
  if (kind == SYM_AFFINE) BC_CHECK(consts[2] >= 1, "an affine symbol's divisor must be >= 1");
  if (kind == SYM_SLICE) BC_CHECK(consts[2] != 0 && consts[2] != kNone, "a slice step cannot be 0");
  SymDef d;
  d.kind = kind;
  d.s = syms[0];
  d.t = syms.size() > 1 ? syms[1] : -1;
  for (size_t i = 0; i < consts.size(); ++i) d.k[i] = consts[i];
  d.name = name;
  defs_.push_back(d);
  return size() - 1;
}

std::string Symbols::name(int s) const {
  const SymDef& d = defs_.at(s);
  return d.name.empty() ? "s" + std::to_string(s) : d.name;
}

void Symbols::derive(std::vector<int64_t>& v, bool lenient) const {
  for (int i = 0; i < size(); ++i) {
    const SymDef& d = defs_[i];
    int64_t x = 0;
    switch (d.kind) {
      case SYM_INPUT:
        continue;
      case SYM_AFFINE: {
        int64_t ax;
        BC_CHECK(!__builtin_mul_overflow(d.k[0], v[d.s], &ax) && !__builtin_add_overflow(ax, d.k[1], &ax),
                 "dimension " + name(i) + " overflows");
        x = floor_div(ax, d.k[2]);
        break;
      }
      case SYM_SUM:
        x = v[d.s] + v[d.t];  // each at most 2^40
        break;
      case SYM_PROD:
        BC_CHECK(!__builtin_mul_overflow(v[d.s], v[d.t], &x), "dimension " + name(i) + " overflows");
        break;
      case SYM_BCAST: {
        const int64_t a = v[d.s], b = v[d.t];
        BC_CHECK(lenient || a == b || a == 1 || b == 1,
                 "shapes do not broadcast: " + name(d.s) + " = " + std::to_string(a) + " against " + name(d.t) +
                     " = " + std::to_string(b));
        x = a == 1 ? b : (b == 1 ? a : std::max(a, b));
        break;
      }
      case SYM_SLICE: {
        int64_t first;
        slice_range(v[d.s], d.k[0], d.k[1], d.k[2], &first, &x);
        break;
      }
      default:
        BC_CHECK(false, "corrupt symbol table");
    }
    BC_CHECK(x >= 1 && x <= kMaxValue, "dimension " + name(i) + " resolves to " + std::to_string(x) +
                                           " for these inputs (a dimension must be at least 1)");
    v[i] = x;
  }
}

// -- Program --

int Program::add_symbol(const std::string& name) { return shapes_.symbols.add_input(name); }

int Program::add_derived_symbol(int kind, const std::vector<int>& syms, const std::vector<int64_t>& consts,
                                const std::string& name) {
  return shapes_.symbols.add_derived(kind, syms, consts, name);
}

namespace {
std::vector<int64_t> probe_values(const Symbols& s) {
  std::vector<int64_t> v(s.size(), kProbeValue);
  s.derive(v, true);
  return v;
}
}  // namespace

int Program::add_shaped_tensor(const std::vector<Dim>& dims, bool is_input, bool batched) {
  const int max_rank = kMaxDims - (batched ? 1 : 0);
  BC_CHECK(static_cast<int>(dims.size()) <= max_rank,
           "a tensor has at most " + std::to_string(max_rank) + " axes besides the batch axis");
  BC_CHECK(batched || !is_input, "a model input has a batch axis");
  bool symbolic = false;
  for (const Dim& d : dims) {
    if (d.sym < 0) {
      BC_CHECK(d.c >= 1 && d.c <= kMaxValue, "a constant dimension must be >= 1, got " + std::to_string(d.c));
      continue;
    }
    BC_CHECK(d.sym < shapes_.symbols.size(), "unknown symbol " + std::to_string(d.sym));
    BC_CHECK(!is_input || shapes_.symbols.def(d.sym).kind == SYM_INPUT,
             "a model input's axes are constants or input symbols, not the derived " + shapes_.symbols.name(d.sym));
    symbolic = true;
  }
  Tensor t;
  t.is_input = is_input;
  t.batched = batched;
  t.dims = dims;
  // Until a call resolves them, symbols hold their probe values (a stand-in for checks at build time).
  t.shape = resolved_shape_of(t.dims, symbolic ? probe_values(shapes_.symbols) : std::vector<int64_t>());
  t.per_sample = static_cast<size_t>(checked_numel(t.shape, "a tensor"));
  tensors_.push_back(std::move(t));
  planned_ = false;
  capacity_ = 0;
  return static_cast<int>(tensors_.size()) - 1;
}

int Program::add_weight_tensor(size_t offset, const std::vector<int64_t>& dims, bool foreign) {
  BC_CHECK(static_cast<int>(dims.size()) <= kMaxDims, "a weight has at most " + std::to_string(kMaxDims) + " axes");
  std::vector<Dim> d;
  int64_t n = 1;
  for (int64_t v : dims) {
    BC_CHECK(v >= 1, "a weight's dimensions must be >= 1");
    d.push_back({v, -1});
    n *= v;
  }
  if (!foreign) {
    const Segment& s = segment_at(offset);
    BC_CHECK(static_cast<int64_t>(s.size) == n, "the weight at arena offset " + std::to_string(offset) + " holds " +
                                                    std::to_string(s.size) + " values, not " + std::to_string(n));
  }
  int t = add_shaped_tensor(d, false, false);
  tensors_[t].alias = static_cast<long>(offset);
  return t;
}

int Program::add_view_tensor(int base, const std::vector<Dim>& dims) {
  BC_CHECK(base >= 0 && base < n_tensors(), "add_view_tensor: unknown tensor " + std::to_string(base));
  const int r = root(base);
  const bool batched = tensors_[r].batched;
  int t = add_shaped_tensor(dims, false, batched);
  Tensor& v = tensors_[t];
  const Tensor& b = tensors_[r];
  BC_CHECK(v.per_sample == b.per_sample, "add_view_tensor: a view holds " + std::to_string(v.per_sample) +
                                             " values per sample, its tensor " + std::to_string(b.per_sample));
  v.view = r;
  v.is_input = b.is_input;  // a model input's view gets no gradient either
  v.alias = b.alias;        // a weight's view reads the arenas too
  return t;
}

Shape resolved_shape_of(const std::vector<Dim>& dims, const std::vector<int64_t>& sym) {
  Shape s;
  s.nd = static_cast<int>(dims.size());
  for (int i = 0; i < s.nd; ++i) s.d[i] = dim_value(dims[i], sym);
  return s;
}

Shape Program::resolved_shape(int t, const std::vector<int64_t>& sym) const {
  BC_CHECK(t >= 0 && t < n_tensors(), "unknown tensor " + std::to_string(t));
  BC_CHECK(sym.size() == static_cast<size_t>(shapes_.symbols.size()), "symbol values do not match the program");
  return resolved_shape_of(tensors_[t].dims, sym);
}

Shape Program::probe_shape(int t) const {
  BC_CHECK(t >= 0 && t < n_tensors(), "unknown tensor " + std::to_string(t));
  const Tensor& x = tensors_[t];
  Shape s = resolved_shape_of(x.dims, probe_values(shapes_.symbols));
  if (!x.batched) return s;
  for (int i = s.nd; i > 0; --i) s.d[i] = s.d[i - 1];
  s.d[0] = kProbeBatch;
  s.nd++;
  return s;
}

std::vector<int64_t> Program::resolve_symbols(const std::vector<std::vector<int64_t>>& input_dims) const {
  const Symbols& syms = shapes_.symbols;
  if (syms.size() == 0) return {};
  BC_CHECK(input_dims.size() == inputs_.size(), "the model expects " + std::to_string(inputs_.size()) +
                                                    " input arrays, got " + std::to_string(input_dims.size()));
  std::vector<int64_t> v(syms.size(), 0);
  std::vector<std::pair<int, int>> bound_by(syms.size(), {-1, -1});  // (input, axis) that set it
  for (size_t k = 0; k < inputs_.size(); ++k) {
    const Tensor& t = tensors_[inputs_[k]];
    bool symbolic = false;
    for (const Dim& d : t.dims) symbolic = symbolic || d.sym >= 0;
    if (!symbolic) continue;  // the binding checks its values per sample
    const auto& a = input_dims[k];
    Shape want = resolved_shape_of(t.dims, std::vector<int64_t>(syms.size(), -1));
    auto shape_text = [&]() {
      std::string s = "(None";
      for (int i = 0; i < want.nd; ++i) s += ", " + (t.dims[i].sym >= 0 ? syms.name(t.dims[i].sym) : std::to_string(want.d[i]));
      return s + ")";
    };
    auto got_text = [&]() {
      std::string s = "(n";
      for (int64_t x : a) s += ", " + std::to_string(x);
      return s + ")";
    };
    BC_CHECK(a.size() == t.dims.size(), "input " + std::to_string(k) + " must have shape " + shape_text() +
                                            ", got " + got_text());
    for (size_t i = 0; i < a.size(); ++i) {
      const Dim& d = t.dims[i];
      if (d.sym < 0) {
        BC_CHECK(a[i] == d.c, "input " + std::to_string(k) + " must have shape " + shape_text() + ", got " + got_text());
        continue;
      }
      BC_CHECK(a[i] >= 1, "input " + std::to_string(k) + " has an empty axis " + std::to_string(i + 1) + ": shape " +
                              got_text());
      if (v[d.sym] == 0) {
        v[d.sym] = a[i];
        bound_by[d.sym] = {static_cast<int>(k), static_cast<int>(i + 1)};
      } else {
        BC_CHECK(v[d.sym] == a[i], "axis " + std::to_string(i + 1) + " of input " + std::to_string(k) + " has length " +
                                       std::to_string(a[i]) + ", but " + syms.name(d.sym) + " is " +
                                       std::to_string(v[d.sym]) + " (axis " + std::to_string(bound_by[d.sym].second) +
                                       " of input " + std::to_string(bound_by[d.sym].first) + ")");
      }
    }
  }
  for (int s = 0; s < syms.size(); ++s)
    if (syms.def(s).kind == SYM_INPUT && v[s] == 0) v[s] = 1;  // named by no input (nor, then, by any tensor that runs)
  syms.derive(v);
  return v;
}

// Per call: a program without symbols compares two empty vectors and is done.
void Program::apply_symbols(const std::vector<int64_t>& sym) {
  if (sym == shapes_.values) return;
  BC_CHECK(sym.size() == static_cast<size_t>(shapes_.symbols.size()),
           "these arrays were bound before the program's shapes changed: bind them again");
  shapes_.values = sym;
  ctx_.shape_epoch = ++shapes_.epoch;
  for (auto& t : tensors_) {
    bool symbolic = false;
    for (const Dim& d : t.dims) symbolic = symbolic || d.sym >= 0;
    if (!symbolic) continue;
    t.shape = resolved_shape_of(t.dims, sym);
    const size_t ps = static_cast<size_t>(checked_numel(t.shape, "a tensor"));
    if (ps != t.per_sample) shapes_.resized = true;
    t.per_sample = ps;
  }
  for (const auto& t : tensors_)
    BC_CHECK(t.view < 0 || t.per_sample == tensors_[t.view].per_sample,
             "a reshaped tensor's size does not match its input's for these inputs");
  for (const auto& l : losses_)
    BC_CHECK(tensors_[l.tensor].per_sample % l.C == 0, "a loss's width does not divide its output for these inputs");
  for (const auto& m : metrics_)
    BC_CHECK(tensors_[m.tensor].per_sample % m.C == 0, "a metric's width does not divide its output for these inputs");
}

}  // namespace bc

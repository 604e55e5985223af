// The primitives' common part: attributes, the shape check per call, the factory, eager calls and
// the strided helpers (broadcast walks, reductions over axis sets, permutations).
#include "ops/prim.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "kernels/prim/prim.h"
#include "ops/prim_families.h"

namespace bc {

// -- attributes --

const Attr* Attrs::find(const std::string& key) const {
  auto it = m_.find(key);
  if (it == m_.end()) return nullptr;
  read_.insert(key);
  return &it->second;
}

bool Attrs::has(const std::string& key) const {
  const Attr* a = find(key);
  return a && a->type != Attr::NONE;
}

Attr::Type Attrs::type(const std::string& key) const {
  auto it = m_.find(key);
  return it == m_.end() ? Attr::NONE : it->second.type;
}

int64_t Attrs::get_int(const std::string& key) const {
  const Attr* a = find(key);
  BC_CHECK(a && a->type != Attr::NONE, "prim '" + kind_ + "' needs the attribute '" + key + "'");
  BC_CHECK(a->type == Attr::INT, where(key) + " must be an int");
  return a->i;
}

int64_t Attrs::get_int(const std::string& key, int64_t dflt) const {
  const Attr* a = find(key);
  if (!a || a->type == Attr::NONE) return dflt;
  BC_CHECK(a->type == Attr::INT, where(key) + " must be an int");
  return a->i;
}

double Attrs::get_float(const std::string& key) const {
  const Attr* a = find(key);
  BC_CHECK(a && a->type != Attr::NONE, "prim '" + kind_ + "' needs the attribute '" + key + "'");
  return get_float(key, 0.0);
}

double Attrs::get_float(const std::string& key, double dflt) const {
  const Attr* a = find(key);
  if (!a || a->type == Attr::NONE) return dflt;
  BC_CHECK(a->type == Attr::INT || a->type == Attr::FLOAT, where(key) + " must be a number");
  return a->type == Attr::INT ? static_cast<double>(a->i) : a->f;
}

bool Attrs::get_bool(const std::string& key, bool dflt) const {
  const Attr* a = find(key);
  if (!a || a->type == Attr::NONE) return dflt;
  BC_CHECK(a->type == Attr::INT, where(key) + " must be a bool");
  return a->i != 0;
}

std::string Attrs::get_str(const std::string& key, const std::string& dflt) const {
  const Attr* a = find(key);
  if (!a || a->type == Attr::NONE) return dflt;
  BC_CHECK(a->type == Attr::STR, where(key) + " must be a string");
  return a->s;
}

std::vector<int64_t> Attrs::get_ints(const std::string& key) const {
  const Attr* a = find(key);
  if (!a || a->type == Attr::NONE) return {};
  if (a->type == Attr::INT) return {a->i};
  BC_CHECK(a->type == Attr::INTS || (a->type == Attr::FLOATS && a->floats.empty()), where(key) + " must be a list of ints");
  return a->ints;
}

std::vector<double> Attrs::get_floats(const std::string& key) const {
  const Attr* a = find(key);
  if (!a || a->type == Attr::NONE) return {};
  if (a->type == Attr::INT) return {static_cast<double>(a->i)};
  if (a->type == Attr::FLOAT) return {a->f};
  if (a->type == Attr::INTS) {
    std::vector<double> v;
    for (int64_t x : a->ints) {
      BC_CHECK(x != kNone, where(key) + " must be a list of numbers");
      v.push_back(static_cast<double>(x));
    }
    return v;
  }
  BC_CHECK(a->type == Attr::FLOATS, where(key) + " must be a list of numbers");
  return a->floats;
}

void Attrs::done() const {
  std::string unknown, known;
  for (const auto& e : m_) {
    if (read_.count(e.first)) known += (known.empty() ? "" : ", ") + e.first;
    else unknown += (unknown.empty() ? "'" : ", '") + e.first + "'";
  }
  BC_CHECK(unknown.empty(), "prim '" + kind_ + "' has no attribute " + unknown +
                                (known.empty() ? "" : " (it read: " + known + ")"));
}

// -- the op base --

void PrimOp::check(const std::vector<Shape>& in, const std::vector<Shape>& declared) const {
  std::vector<Shape> o = declared;
  infer(in, o);
  for (size_t j = 0; j < o.size(); ++j) {
    checked_numel(o[j], "prim '" + kind_ + "': output " + std::to_string(j));
    if (declared[j].nd >= 0 && o[j] != declared[j]) {
      std::string ins;
      for (size_t i = 0; i < in.size(); ++i) ins += (i ? ", " : "") + in[i].str();
      throw std::invalid_argument("prim '" + kind_ + "': output " + std::to_string(j) + " has shape " + o[j].str() +
                                  " for inputs of shapes " + ins + ", but its tensor has shape " + declared[j].str());
    }
  }
}

void PrimOp::forward(Ctx& c) {
  if (c.B != last_B_ || c.shape_epoch != last_epoch_) {
    std::vector<Shape> ins(in.size()), outs(out.size());
    for (size_t i = 0; i < in.size(); ++i) ins[i] = c.shape(in[i]);
    for (size_t j = 0; j < out.size(); ++j) outs[j] = c.shape(out[j]);
    check(ins, outs);
    in_ = std::move(ins);
    out_ = std::move(outs);
    plan();
    last_B_ = c.B;
    last_epoch_ = c.shape_epoch;
  }
  run_forward(c);
}

void PrimOp::backward(Ctx& c) {
  if (has_grad_) {
    run_backward(c);
    return;
  }
  for (size_t i = 0; i < in.size(); ++i)  // no gradient: the inputs get zeros
    if (need_dx[i] && !accum_dx[i]) std::memset(c.grad(in[i]), 0, c.numel(in[i]) * sizeof(float));
}

// -- the factory --

namespace {
struct PrimInfo {
  const char* kind;
  int min_in, max_in;  // max_in -1: any number
  int n_out;           // -1: from the attrs
};

const PrimInfo kPrims[] = {
    // elementwise, unary (prim_elementwise.cpp)
    {"negative", 1, 1, 1}, {"abs", 1, 1, 1}, {"square", 1, 1, 1}, {"sqrt", 1, 1, 1}, {"rsqrt", 1, 1, 1},
    {"exp", 1, 1, 1}, {"expm1", 1, 1, 1}, {"log", 1, 1, 1}, {"log1p", 1, 1, 1}, {"sign", 1, 1, 1},
    {"sin", 1, 1, 1}, {"cos", 1, 1, 1}, {"reciprocal", 1, 1, 1}, {"floor", 1, 1, 1}, {"ceil", 1, 1, 1},
    {"round", 1, 1, 1}, {"relu", 1, 1, 1}, {"relu6", 1, 1, 1}, {"gelu", 1, 1, 1}, {"silu", 1, 1, 1},
    {"swish", 1, 1, 1}, {"sigmoid", 1, 1, 1}, {"tanh", 1, 1, 1}, {"softplus", 1, 1, 1}, {"softsign", 1, 1, 1},
    {"elu", 1, 1, 1}, {"selu", 1, 1, 1}, {"leaky_relu", 1, 1, 1}, {"hard_sigmoid", 1, 1, 1},
    {"hard_silu", 1, 1, 1}, {"hard_swish", 1, 1, 1}, {"log_sigmoid", 1, 1, 1}, {"erf", 1, 1, 1},
    {"clip", 1, 1, 1}, {"cast", 1, 1, 1}, {"logical_not", 1, 1, 1}, {"stop_gradient", 1, 1, 1},
    {"identity", 1, 1, 1}, {"dropout", 1, 1, 1},
    // elementwise, binary and ternary
    {"add", 2, 2, 1}, {"subtract", 2, 2, 1}, {"multiply", 2, 2, 1}, {"divide", 2, 2, 1}, {"power", 2, 2, 1},
    {"maximum", 2, 2, 1}, {"minimum", 2, 2, 1}, {"floor_divide", 2, 2, 1}, {"mod", 2, 2, 1},
    {"equal", 2, 2, 1}, {"not_equal", 2, 2, 1}, {"greater", 2, 2, 1}, {"greater_equal", 2, 2, 1},
    {"less", 2, 2, 1}, {"less_equal", 2, 2, 1}, {"logical_and", 2, 2, 1}, {"logical_or", 2, 2, 1},
    {"logical_xor", 2, 2, 1}, {"where", 3, 3, 1},
    // reductions, softmax, scans (prim_reduce.cpp)
    {"sum", 1, 1, 1}, {"mean", 1, 1, 1}, {"max", 1, 1, 1}, {"min", 1, 1, 1}, {"prod", 1, 1, 1},
    {"var", 1, 1, 1}, {"std", 1, 1, 1}, {"logsumexp", 1, 1, 1}, {"norm", 1, 1, 1}, {"any", 1, 1, 1},
    {"all", 1, 1, 1}, {"argmax", 1, 1, 1}, {"argmin", 1, 1, 1}, {"softmax", 1, 2, 1}, {"log_softmax", 1, 2, 1},
    {"cumsum", 1, 1, 1}, {"cumprod", 1, 1, 1},
    // matmul (prim_matmul.cpp); fused attention (prim_attention.cpp)
    {"matmul", 2, 2, 1}, {"dot_product_attention", 3, 4, 1},
    // layout (prim_layout.cpp)
    {"transpose", 1, 1, 1}, {"reshape", 1, 1, 1}, {"expand_dims", 1, 1, 1}, {"squeeze", 1, 1, 1},
    {"concatenate", 1, -1, 1}, {"stack", 1, -1, 1}, {"split", 1, 1, -1}, {"slice", 1, 1, 1}, {"take", 2, 2, 1},
    {"take_along_axis", 2, 2, 1}, {"one_hot", 1, 1, 1}, {"repeat", 1, 1, 1}, {"tile", 1, 1, 1}, {"pad", 1, 1, 1},
    {"broadcast_to", 1, 1, 1}, {"flip", 1, 1, 1},
    // constants (prim_const.cpp)
    {"constant", 0, 0, 1}, {"arange", 0, 0, 1}, {"zeros", 0, 0, 1}, {"ones", 0, 0, 1}, {"full", 0, 0, 1},
    {"eye", 0, 0, 1}, {"zeros_like", 1, 1, 1}, {"ones_like", 1, 1, 1}, {"full_like", 1, 1, 1},
    {"random_normal", 0, 0, 1}, {"random_uniform", 0, 0, 1},
    // a built-in loss per row (prim_loss.cpp)
    {"loss_rows", 2, 2, 1}, {"ctc_loss", 4, 4, 1},
};
}  // namespace

std::vector<std::string> prim_kinds() {
  std::vector<std::string> v;
  for (const auto& p : kPrims) v.push_back(p.kind);
  return v;
}

std::unique_ptr<PrimOp> make_prim(const std::string& kind, const Attrs& attrs, int n_in, int n_out) {
  const PrimInfo* info = nullptr;
  for (const auto& p : kPrims)
    if (kind == p.kind) info = &p;
  BC_CHECK(info, "unknown prim kind '" + kind + "'");
  BC_CHECK(n_in >= info->min_in && (info->max_in < 0 || n_in <= info->max_in),
           "prim '" + kind + "' takes " +
               (info->min_in == info->max_in ? std::to_string(info->min_in)
                                             : std::to_string(info->min_in) + (info->max_in < 0 ? " or more" : " to " + std::to_string(info->max_in))) +
               " inputs, got " + std::to_string(n_in));
  std::unique_ptr<PrimOp> op = make_elementwise_prim(kind, attrs, n_in);
  if (!op) op = make_reduce_prim(kind, attrs, n_in);
  if (!op) op = make_matmul_prim(kind, attrs, n_in);
  if (!op) op = make_layout_prim(kind, attrs, n_in, n_out);
  if (!op) op = make_const_prim(kind, attrs, n_in);
  if (!op) op = make_attention_prim(kind, attrs, n_in);
  if (!op) op = make_loss_prim(kind, attrs, n_in);
  BC_CHECK(op, "prim '" + kind + "' has no implementation");  // kPrims and the families disagree
  attrs.done();
  BC_CHECK(n_out < 0 || n_out == op->n_outputs(), "prim '" + kind + "' has " + std::to_string(op->n_outputs()) +
                                                       " outputs, got " + std::to_string(n_out));
  return op;
}

// -- eager calls --

namespace {
struct Eager {
  std::vector<Tensor> tensors;
  std::unique_ptr<PrimOp> op;
  Ctx ctx;
};

void run_eager(Eager& e, const std::string& kind, const Attrs& attrs, const std::vector<HostArray>& ins) {
  e.op = make_prim(kind, attrs, static_cast<int>(ins.size()), -1);
  PrimOp& op = *e.op;
  const int n_in = static_cast<int>(ins.size()), n_out = op.n_outputs();
  std::vector<Shape> in_shapes, out_shapes(n_out);
  for (const auto& a : ins) {
    BC_CHECK(a.shape.numel() >= 1, "prim '" + kind + "': empty arrays are not supported, got shape " + a.shape.str());
    in_shapes.push_back(a.shape);
  }
  for (auto& s : out_shapes) s.nd = -1;
  op.infer(in_shapes, out_shapes);
  for (int j = 0; j < n_out; ++j) checked_numel(out_shapes[j], "prim '" + kind + "': output " + std::to_string(j));
  e.tensors.resize(n_in + n_out);
  for (int k = 0; k < n_in + n_out; ++k) {
    Tensor& t = e.tensors[k];
    t.batched = false;
    t.shape = k < n_in ? in_shapes[k] : out_shapes[k - n_in];
    t.per_sample = static_cast<size_t>(t.shape.numel());
    t.val.resize(t.per_sample);
    t.grad.resize(t.per_sample);
    if (k < n_in) std::memcpy(t.val.data(), ins[k].data.data(), t.per_sample * sizeof(float));
  }
  for (int k = 0; k < n_in; ++k) op.in.push_back(k);
  for (int k = 0; k < n_out; ++k) op.out.push_back(n_in + k);
  op.need_dx.assign(n_in, 1);
  op.accum_dx.assign(n_in, 0);
  e.ctx.tensors = &e.tensors;
  e.ctx.B = 1;
  e.ctx.training = true;  // dropout applies (bigcore.random.dropout)
  FlushDenormals ftz;
  op.forward(e.ctx);
}

HostArray take(Tensor& t) {
  HostArray a;
  a.shape = t.shape;
  a.data.assign(t.val.data(), t.val.data() + t.per_sample);
  return a;
}
}  // namespace

std::vector<HostArray> prim_forward(const std::string& kind, const Attrs& attrs, const std::vector<HostArray>& ins) {
  Eager e;
  run_eager(e, kind, attrs, ins);
  std::vector<HostArray> outs;
  for (int j : e.op->out) outs.push_back(take(e.tensors[j]));
  return outs;
}

std::vector<HostArray> prim_backward(const std::string& kind, const Attrs& attrs, const std::vector<HostArray>& ins,
                                     const std::vector<HostArray>& out_grads) {
  Eager e;
  run_eager(e, kind, attrs, ins);
  BC_CHECK(out_grads.size() == e.op->out.size(), "prim '" + kind + "' has " + std::to_string(e.op->out.size()) +
                                                      " outputs, got " + std::to_string(out_grads.size()) + " gradients");
  for (size_t j = 0; j < out_grads.size(); ++j) {
    Tensor& t = e.tensors[e.op->out[j]];
    BC_CHECK(out_grads[j].shape == t.shape, "prim '" + kind + "': the gradient of output " + std::to_string(j) +
                                                " must have shape " + t.shape.str() + ", got " + out_grads[j].shape.str());
    std::memcpy(t.grad.data(), out_grads[j].data.data(), t.per_sample * sizeof(float));
  }
  {
    FlushDenormals ftz;
    e.op->backward(e.ctx);
  }
  std::vector<HostArray> grads;
  for (int i : e.op->in) {
    HostArray a;
    a.shape = e.tensors[i].shape;
    a.data.assign(e.tensors[i].grad.data(), e.tensors[i].grad.data() + e.tensors[i].per_sample);
    grads.push_back(std::move(a));
  }
  return grads;
}

// -- helpers --

int norm_axis(int64_t a, int nd, const Attrs& attrs, const std::string& key) {
  BC_CHECK(a != kNone && a >= -nd && a < nd, attrs.where(key) + " = " + (a == kNone ? "None" : std::to_string(a)) +
                                                 " is out of range for " + std::to_string(nd) + " axes");
  return static_cast<int>(a < 0 ? a + nd : a);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& kind) {
  Shape s;
  s.nd = std::max(a.nd, b.nd);
  BC_CHECK(s.nd <= kMaxDims, "prim '" + kind + "': more than " + std::to_string(kMaxDims) + " axes");
  for (int i = 0; i < s.nd; ++i) {
    const int ia = i - (s.nd - a.nd), ib = i - (s.nd - b.nd);
    const int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
    BC_CHECK(da == db || da == 1 || db == 1,
             "prim '" + kind + "': shapes " + a.str() + " and " + b.str() + " do not broadcast");
    s.d[i] = da == 1 ? db : da;
  }
  return s;
}

void strides_of(const Shape& s, int64_t* st) {
  int64_t k = 1;
  for (int i = s.nd - 1; i >= 0; --i) {
    st[i] = k;
    k *= s.d[i];
  }
}

void parallel_items(size_t n, size_t cost, const std::function<void(size_t, size_t)>& f) {
  constexpr size_t kMinWork = size_t(1) << 17;  // below this, one thread (waking others costs more)
  const int threads = omp_in_parallel() ? 1 : get_num_threads();
  if (threads <= 1 || n < 2 || n * cost < kMinWork) {
    f(0, n);
    return;
  }
  const size_t pieces = std::min(n, static_cast<size_t>(threads) * 4);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t p = 0; p < pieces; ++p) {
    FlushDenormals ftz;  // as the calling thread
    f(n * p / pieces, n * (p + 1) / pieces);
  }
}

void Walk::init(const Shape& out, const std::vector<Shape>& ops) {
  nops = static_cast<int>(ops.size());
  int64_t od[kMaxDims], ost[3][kMaxDims];
  int n = 0;
  for (int i = 0; i < out.nd; ++i) {
    if (out.d[i] == 1) continue;  // a length-1 axis moves no operand
    od[n] = out.d[i];
    for (int k = 0; k < nops; ++k) {
      const Shape& s = ops[k];
      const int j = i - (out.nd - s.nd);
      if (j < 0 || s.d[j] == 1) {  // an axis the operand lacks (j < 0: nothing of s to read) or broadcasts
        ost[k][n] = 0;
        continue;
      }
      int64_t stride = 1;
      for (int q = j + 1; q < s.nd; ++q) stride *= s.d[q];
      ost[k][n] = stride;
    }
    ++n;
  }
  nd = 0;
  for (int i = 0; i < n; ++i) {
    bool merge = nd > 0;
    for (int k = 0; k < nops && merge; ++k) merge = st[k][nd - 1] == ost[k][i] * od[i];
    if (merge) {
      d[nd - 1] *= od[i];
      for (int k = 0; k < nops; ++k) st[k][nd - 1] = ost[k][i];
    } else {
      d[nd] = od[i];
      for (int k = 0; k < nops; ++k) st[k][nd] = ost[k][i];
      ++nd;
    }
  }
  inner = nd ? d[nd - 1] : 1;
  rows = 1;
  for (int i = 0; i + 1 < nd; ++i) rows *= d[i];
}

void Walk::offsets(int64_t r, int64_t* o_off, int64_t* off) const {
  *o_off = r * inner;
  for (int k = 0; k < nops; ++k) off[k] = 0;
  for (int i = nd - 2; i >= 0; --i) {
    const int64_t idx = r % d[i];
    r /= d[i];
    for (int k = 0; k < nops; ++k) off[k] += idx * st[k][i];
  }
}

void invert_perm(const int* perm, int nd, int* inv) {
  for (int i = 0; i < nd; ++i) inv[perm[i]] = i;
}

void permute(float* y, const float* x, const Shape& xs, const int* perm) {
  Shape ys;
  ys.nd = xs.nd;
  int64_t xst[kMaxDims], st[kMaxDims];
  strides_of(xs, xst);
  for (int i = 0; i < xs.nd; ++i) {
    ys.d[i] = xs.d[perm[i]];
    st[i] = xst[perm[i]];
  }
  const int nd = ys.nd;
  const int64_t inner = nd ? ys.d[nd - 1] : 1, in_st = nd ? st[nd - 1] : 0;
  int64_t rows = 1;
  for (int i = 0; i + 1 < nd; ++i) rows *= ys.d[i];
  parallel_items(static_cast<size_t>(rows), static_cast<size_t>(inner), [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      int64_t q = static_cast<int64_t>(r), off = 0;
      for (int i = nd - 2; i >= 0; --i) {
        off += (q % ys.d[i]) * st[i];
        q /= ys.d[i];
      }
      float* yr = y + r * inner;
      const float* xr = x + off;
      if (in_st == 1) std::memcpy(yr, xr, inner * sizeof(float));
      else
        for (int64_t j = 0; j < inner; ++j) yr[j] = xr[j * in_st];
    }
  });
}

ReducePlan plan_reduce(const Shape& s, const bool* mask) {
  ReducePlan p;
  p.in = s;
  // groups of consecutive axes (size-1 axes dropped) with the same status
  int groups = 0, red_groups = 0, last = -1;
  for (int i = 0; i < s.nd; ++i) {
    if (s.d[i] == 1) continue;
    const int st = mask[i] ? 1 : 0;
    if (st != last) {
      ++groups;
      red_groups += st;
      last = st;
    }
  }
  if (red_groups <= 1) {
    bool seen_red = false;
    for (int i = 0; i < s.nd; ++i) {
      if (s.d[i] == 1) continue;
      if (mask[i]) {
        p.R *= s.d[i];
        seen_red = true;
      } else if (seen_red) {
        p.I *= s.d[i];
      } else {
        p.O *= s.d[i];
      }
    }
    return p;
  }
  p.permuted = true;
  int k = 0;
  for (int i = 0; i < s.nd; ++i)
    if (!mask[i]) {
      p.perm[k++] = i;
      p.O *= s.d[i];
    }
  for (int i = 0; i < s.nd; ++i)
    if (mask[i]) {
      p.perm[k++] = i;
      p.R *= s.d[i];
    }
  return p;
}

const float* reduce_input(const ReducePlan& p, const float* x, std::vector<float>& scratch) {
  if (!p.permuted) return x;
  if (scratch.size() < p.O * p.R) scratch.resize(p.O * p.R);
  permute(scratch.data(), x, p.in, p.perm);
  return scratch.data();
}

void reduce_grad_out(const ReducePlan& p, float* dx, bool accumulate, const float* dx_ori, std::vector<float>& scratch) {
  const size_t n = p.O * p.R * p.I;
  if (!p.permuted) {
    if (dx == dx_ori) return;
    if (accumulate)
      for (size_t i = 0; i < n; ++i) dx[i] += dx_ori[i];
    else
      std::memcpy(dx, dx_ori, n * sizeof(float));
    return;
  }
  Shape ps;
  ps.nd = p.in.nd;
  for (int i = 0; i < ps.nd; ++i) ps.d[i] = p.in.d[p.perm[i]];
  int inv[kMaxDims];
  invert_perm(p.perm, p.in.nd, inv);
  if (!accumulate) {
    permute(dx, dx_ori, ps, inv);
    return;
  }
  if (scratch.size() < n) scratch.resize(n);
  permute(scratch.data(), dx_ori, ps, inv);
  for (size_t i = 0; i < n; ++i) dx[i] += scratch[i];
}

void reduce_to(float* dst, bool accumulate, const float* src, const Shape& from, const Shape& to,
               std::vector<float>& scratch) {
  bool mask[kMaxDims];
  bool any = false;
  for (int i = 0; i < from.nd; ++i) {
    const int j = i - (from.nd - to.nd);
    mask[i] = (j < 0 || to.d[j] == 1) && from.d[i] > 1;
    any = any || mask[i];
  }
  const size_t n_to = static_cast<size_t>(to.numel());
  if (!any) {  // the same values, maybe with length-1 axes added
    if (accumulate)
      for (size_t i = 0; i < n_to; ++i) dst[i] += src[i];
    else
      std::memcpy(dst, src, n_to * sizeof(float));
    return;
  }
  const ReducePlan p = plan_reduce(from, mask);
  std::vector<float> perm_buf;
  const float* x = reduce_input(p, src, perm_buf);
  const PrimKernels& k = prim_kernels();
  if (!accumulate) {
    parallel_items(p.O, p.R * p.I, [&](size_t o0, size_t o1) {
      k.reduce(R_SUM, dst + o0 * p.I, x + o0 * p.R * p.I, nullptr, o1 - o0, p.R, p.I);
    });
    return;
  }
  if (scratch.size() < n_to) scratch.resize(n_to);
  float* tmp = scratch.data();
  parallel_items(p.O, p.R * p.I, [&](size_t o0, size_t o1) {
    k.reduce(R_SUM, tmp + o0 * p.I, x + o0 * p.R * p.I, nullptr, o1 - o0, p.R, p.I);
  });
  for (size_t i = 0; i < n_to; ++i) dst[i] += tmp[i];
}

}  // namespace bc

// Primitives: the native ops that traced custom layers and bigcore.ops lower to, one generic
// entry for all of them.
//
//   Program.add_prim(kind, inputs, outputs, attrs)      a primitive in a program (tensor ids)
//   _core.prim_forward(kind, attrs, [arrays])            the same op on numpy arrays (eager)
//   _core.prim_backward(kind, attrs, [arrays], [grads])  the input gradients for output gradients
//
// Every kind is listed in kPrims (prim.cpp) with its input and output counts; /work/notes/prims.md
// (and the kinds' comments in prim_*.cpp) give attrs, shape rules and gradients. Shapes are full
// shapes: a batched tensor's batch axis first, a batch-less one (a weight, a constant) without it,
// broadcasting as NumPy does. A primitive derives its output shapes from its inputs' every time
// they change (a new batch size or run-time length) and checks them against its output tensors;
// at build time add_prim runs the same check on probe shapes (runtime/shapes.h), so a wrong
// declaration fails when the model is lowered. Unknown kinds, unknown or ill-typed attrs and shapes
// a kind cannot take throw std::invalid_argument (ValueError), never crash.
//
// Determinism: a primitive parallelizes only over independent outputs, and every sum runs in a
// fixed order (kernels/prim), so results do not depend on the thread count or the ISA path.
#pragma once
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/op.h"

namespace bc {

// One attribute value as it crosses from Python.
struct Attr {
  enum Type { NONE, INT, FLOAT, STR, INTS, FLOATS } type = NONE;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<int64_t> ints;  // kNone (shapes.h) for a None inside a list
  std::vector<double> floats;
};

// A primitive's attributes; each getter marks its key read, and done() rejects the rest by name.
class Attrs {
 public:
  explicit Attrs(std::string kind = "") : kind_(std::move(kind)) {}
  void set(const std::string& key, Attr v) { m_[key] = std::move(v); }
  bool has(const std::string& key) const;  // present and not None
  Attr::Type type(const std::string& key) const;  // NONE when absent (does not mark it read)
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t dflt) const;
  double get_float(const std::string& key, double dflt) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key, bool dflt) const;
  std::string get_str(const std::string& key, const std::string& dflt) const;
  std::vector<int64_t> get_ints(const std::string& key) const;  // an int becomes a list of one
  std::vector<double> get_floats(const std::string& key) const;
  void done() const;  // throws for any attribute no getter read
  const std::string& kind() const { return kind_; }
  std::string where(const std::string& key) const { return "prim '" + kind_ + "': attribute '" + key + "'"; }

 private:
  const Attr* find(const std::string& key) const;
  std::string kind_;
  std::map<std::string, Attr> m_;
  mutable std::set<std::string> read_;
};

class PrimOp : public Op {
 public:
  explicit PrimOp(std::string kind) : kind_(std::move(kind)) {}
  void forward(Ctx& c) final;
  void backward(Ctx& c) final;
  // out arrives holding the output tensors' shapes (nd < 0: unknown, an eager call) and leaves
  // holding this op's for inputs of shapes `in`; throws invalid_argument for shapes it cannot take.
  virtual void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const = 0;
  // infer(), then out must equal the declared shapes: "prim 'k': output 0 has shape (..) for inputs .."
  void check(const std::vector<Shape>& in, const std::vector<Shape>& declared) const;
  const std::string& kind() const { return kind_; }
  int n_outputs() const { return n_out_; }
  bool has_grad() const { return has_grad_; }

 protected:
  virtual void plan() {}  // after in_ / out_ change: strides, scratch sizes
  virtual void run_forward(Ctx& c) = 0;
  virtual void run_backward(Ctx& c) = 0;  // has_grad_ only; honours need_dx / accum_dx
  std::string kind_;
  int n_out_ = 1;
  bool has_grad_ = true;
  std::vector<Shape> in_, out_;  // this call's shapes

 private:
  int last_B_ = -1;
  uint64_t last_epoch_ = ~uint64_t(0);
};

// The primitive `kind` with these attrs for n_in inputs (n_out outputs, or -1: as the attrs say).
// Throws invalid_argument for an unknown kind, a wrong count or a bad attr.
std::unique_ptr<PrimOp> make_prim(const std::string& kind, const Attrs& attrs, int n_in, int n_out);
std::vector<std::string> prim_kinds();

// Eager calls (bigcore.ops on numpy arrays, tests): the op runs on batch-less tensors.
struct HostArray {
  Shape shape;
  std::vector<float> data;
};
std::vector<HostArray> prim_forward(const std::string& kind, const Attrs& attrs, const std::vector<HostArray>& ins);
// The input gradients for these output gradients (a kind without gradient gives zeros).
std::vector<HostArray> prim_backward(const std::string& kind, const Attrs& attrs, const std::vector<HostArray>& ins,
                                     const std::vector<HostArray>& out_grads);

// -- helpers the primitive families share (prim.cpp) --

// Normalizes axis a of an nd-axis shape (negative counts from the end); throws naming the attr.
int norm_axis(int64_t a, int nd, const Attrs& attrs, const std::string& key);
// NumPy broadcast of two shapes; throws "shapes (..) and (..) do not broadcast".
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& kind);
// Row-major strides of a shape (elements).
void strides_of(const Shape& s, int64_t* st);

// Runs f(i0, i1) over [0, n) in pieces: on several threads when n * cost (a rough count of float
// operations per item) is large enough to pay for them. Every item must be independent.
void parallel_items(size_t n, size_t cost, const std::function<void(size_t, size_t)>& f);

// A strided walk: out (shape) and up to 3 operands, each with strides over out's axes (0 on a
// broadcast axis), collapsed where contiguous. inner(o_off, off[k], n) is called per inner row.
struct Walk {
  int nd = 0;         // collapsed axes
  int64_t d[kMaxDims];
  int64_t st[3][kMaxDims];  // per operand
  int nops = 0;
  int64_t inner = 1;  // the last collapsed axis' length
  int64_t rows = 1;   // product of the other axes
  // operands: shapes broadcastable to out (right-aligned)
  void init(const Shape& out, const std::vector<Shape>& ops);
  // offsets of row r (r < rows): the output's and each operand's first element
  void offsets(int64_t r, int64_t* o_off, int64_t* off) const;
  int64_t inner_stride(int k) const { return nd ? st[k][nd - 1] : 0; }
};

// Runs f(o_off, off, n) over every inner row of a walk, cut into pieces of at most 16384 values
// so one long row also spreads over threads: o_off is the output's offset, off[k] operand k's.
template <class F>
void for_walk(const Walk& w, size_t cost, F f) {
  const int64_t chunk = w.inner > 16384 ? 16384 : w.inner;
  const int64_t per_row = (w.inner + chunk - 1) / chunk;
  parallel_items(static_cast<size_t>(w.rows * per_row), static_cast<size_t>(chunk) * cost, [&](size_t i0, size_t i1) {
    for (size_t it = i0; it < i1; ++it) {
      const int64_t r = static_cast<int64_t>(it) / per_row, j0 = (static_cast<int64_t>(it) % per_row) * chunk;
      int64_t o, off[3];
      w.offsets(r, &o, off);
      for (int k = 0; k < w.nops; ++k) off[k] += j0 * w.inner_stride(k);
      f(o + j0, off, std::min(chunk, w.inner - j0));
    }
  });
}

// dst (shape `to`, numel) (+)= src (shape `from`) summed over the axes `to` broadcasts along
// (right-aligned, `to` no larger); fixed order. scratch: grown as needed.
void reduce_to(float* dst, bool accumulate, const float* src, const Shape& from, const Shape& to,
               std::vector<float>& scratch);
// y = x permuted: y's axis i is x's axis perm[i].
void permute(float* y, const float* x, const Shape& xs, const int* perm);
void invert_perm(const int* perm, int nd, int* inv);

// A reduction over the axes `mask` marks of shape s, as (O, R, I): x viewed as (O, R, I) directly
// when the reduced axes form one block once size-1 axes are dropped, else after permuting x so
// the kept axes come first (perm; then I == 1).
struct ReducePlan {
  size_t O = 1, R = 1, I = 1;
  bool permuted = false;
  int perm[kMaxDims];
  Shape in;  // s
};
ReducePlan plan_reduce(const Shape& s, const bool* mask);
// x as the plan's (O, R, I): x itself, or its permutation in scratch.
const float* reduce_input(const ReducePlan& p, const float* x, std::vector<float>& scratch);
// dx_ori (O, R, I) in the plan's layout -> dx (s) (+)=; scratch for the permuted case.
void reduce_grad_out(const ReducePlan& p, float* dx, bool accumulate, const float* dx_ori, std::vector<float>& scratch);

}  // namespace bc

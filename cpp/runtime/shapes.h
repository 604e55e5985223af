// Run-time shapes of the native program's tensors.
//
// A tensor's shape is a template over its non-batch axes: each axis a constant (>= 1) or a symbol,
// an int id into the program's symbol table. An input symbol takes its value from the model input
// arrays of each call (every axis a tensor of that input names it by); a derived symbol is computed
// from earlier symbols: (a * s + b) // d, s1 + s2, s1 * s2, broadcast(s1, s2) (equal, or one of
// them 1) or the length of a Python slice start:stop:step of s. Everything is resolved once per
// call, before the ops run: a few integers per tensor, and nothing at all for a program without
// symbols. Ops read the resolved shapes through Ctx::shape (op.h) and never cache a symbolic size.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bc {

constexpr int kMaxDims = 8;  // axes of a tensor, its batch axis included

// A resolved shape: nd axes (a batched tensor's batch axis first).
struct Shape {
  int nd = 0;
  int64_t d[kMaxDims] = {};
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < nd; ++i) n *= d[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (nd != o.nd) return false;
    for (int i = 0; i < nd; ++i)
      if (d[i] != o.d[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "(2, 3)", "(4,)", "()"
};

// One axis of a shape template: the constant c when sym < 0, else the value of symbol sym.
struct Dim {
  int64_t c = 1;
  int sym = -1;
};

enum SymKind : int {
  SYM_INPUT = 0,   // bound by a model input's axis
  SYM_AFFINE = 1,  // (k0 * s + k1) // k2, k2 >= 1 (floor)
  SYM_SUM = 2,     // s + t
  SYM_PROD = 3,    // s * t
  SYM_BCAST = 4,   // broadcast(s, t): s == t, or one of them 1 (the other)
  SYM_SLICE = 5,   // len(range(*slice(k0, k1, k2).indices(s))); kNone in k0/k1 is Python's None
};
constexpr int64_t kNone = INT64_MIN;

struct SymDef {
  int kind = SYM_INPUT;
  int s = -1, t = -1;
  int64_t k[3] = {0, 0, 1};
  std::string name;
};

// The symbol table of a program and the rules that give each symbol its value.
class Symbols {
 public:
  int add_input(const std::string& name);
  // syms / consts as SymKind says (each symbol named must exist already); throws invalid_argument.
  // name: what the length is, for the message when it resolves below 1 ("" : "s<id>").
  int add_derived(int kind, const std::vector<int>& syms, const std::vector<int64_t>& consts,
                  const std::string& name = "");
  int size() const { return static_cast<int>(defs_.size()); }
  const SymDef& def(int s) const { return defs_.at(s); }
  std::string name(int s) const;
  // Fills in every derived symbol of v (input symbols already set); throws invalid_argument when
  // one is < 1 or a broadcast fails. lenient: a broadcast of two different values takes the larger
  // (the shape probe at build time, where every input symbol has the same stand-in value).
  void derive(std::vector<int64_t>& v, bool lenient = false) const;

 private:
  std::vector<SymDef> defs_;
};

// A program's shape state: its symbols and their values for the current call.
struct ShapeState {
  Symbols symbols;
  std::vector<int64_t> values;  // this call's value of every symbol
  bool resized = false;         // some tensor's per_sample changed: buffers need a look
  uint64_t epoch = 0;           // bumped whenever values change (Ctx::shape_epoch)
};

inline int64_t dim_value(const Dim& d, const std::vector<int64_t>& sym) { return d.sym < 0 ? d.c : sym[d.sym]; }
Shape resolved_shape_of(const std::vector<Dim>& dims, const std::vector<int64_t>& sym);
// The number of values of s; throws invalid_argument above 2^40 (no tensor is that large, and
// products of long axes must not overflow into a small buffer).
int64_t checked_numel(const Shape& s, const std::string& what);

// Python's slice(start, stop, step).indices(n) (kNone for None): the first index and the length.
void slice_range(int64_t n, int64_t start, int64_t stop, int64_t step, int64_t* first, int64_t* len);

// The value every input symbol takes when a program checks its ops' shapes at build time: unlikely
// to equal a constant of the model, and never 1 (which would broadcast). The batch likewise.
constexpr int64_t kProbeValue = 1021;
constexpr int64_t kProbeBatch = 1019;

}  // namespace bc

// matmul: a (..., M, K) @ b (..., K, N) -> (broadcast(...), M, N), NumPy's rules: a 1-D a is
// (1, K) and a 1-D b is (K, 1), their axis dropped from the result. Through the project's GEMM
// (deterministic tiles). da = g b^T and db = a^T g per batch item, summed in item order over the
// items an operand was broadcast to. When b has no batch axes and a's batch is the result's (x @ W),
// the batch folds into M: one GEMM forward and one per gradient.
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "ops/prim_families.h"

namespace bc {
namespace {

class MatmulPrim : public PrimOp {
 public:
  MatmulPrim() : PrimOp("matmul") {}

  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape &a = in[0], &b = in[1];
    BC_CHECK(a.nd >= 1 && b.nd >= 1, "prim 'matmul' needs operands with at least one axis, got " + a.str() + " @ " + b.str());
    const int64_t K = a.d[a.nd - 1], Kb = b.nd == 1 ? b.d[0] : b.d[b.nd - 2];
    BC_CHECK(K == Kb, "prim 'matmul': " + a.str() + " @ " + b.str() + ": the contracted axes differ (" +
                          std::to_string(K) + " vs " + std::to_string(Kb) + ")");
    Shape ab = batch_of(a), bb = batch_of(b);
    Shape o = broadcast_shapes(ab, bb, kind_);
    BC_CHECK(o.nd + 2 <= kMaxDims, "prim 'matmul': too many axes");
    if (a.nd >= 2) o.d[o.nd++] = a.d[a.nd - 2];
    if (b.nd >= 2) o.d[o.nd++] = b.d[b.nd - 1];
    out[0] = o;
  }

 protected:
  static Shape batch_of(const Shape& s) {
    Shape b;
    b.nd = s.nd > 2 ? s.nd - 2 : 0;
    for (int i = 0; i < b.nd; ++i) b.d[i] = s.d[i];
    return b;
  }

  void plan() override {
    const Shape &a = in_[0], &b = in_[1];
    K_ = static_cast<int>(a.d[a.nd - 1]);
    M_ = a.nd >= 2 ? static_cast<int>(a.d[a.nd - 2]) : 1;
    N_ = b.nd >= 2 ? static_cast<int>(b.d[b.nd - 1]) : 1;
    const Shape ab = batch_of(a), bb = batch_of(b);
    ob_ = broadcast_shapes(ab, bb, kind_);
    items_ = static_cast<size_t>(ob_.numel());
    fold_ = bb.numel() == 1 && ab.numel() == ob_.numel();
    // per result item, the item of a and of b it reads (broadcast batch axes repeat)
    a_item_.resize(items_);
    b_item_.resize(items_);
    int64_t ast[kMaxDims], bst[kMaxDims];
    strides_of(ab, ast);
    strides_of(bb, bst);
    for (size_t it = 0; it < items_; ++it) {
      int64_t q = static_cast<int64_t>(it), ia = 0, ib = 0;
      for (int i = ob_.nd - 1; i >= 0; --i) {
        const int64_t idx = q % ob_.d[i];
        q /= ob_.d[i];
        const int ja = i - (ob_.nd - ab.nd), jb = i - (ob_.nd - bb.nd);
        if (ja >= 0 && ab.d[ja] > 1) ia += idx * ast[ja];
        if (jb >= 0 && bb.d[jb] > 1) ib += idx * bst[jb];
      }
      a_item_[it] = static_cast<size_t>(ia);
      b_item_[it] = static_cast<size_t>(ib);
    }
    a_full_ = static_cast<size_t>(ab.numel()) == items_;
    b_full_ = static_cast<size_t>(bb.numel()) == items_;
  }

  void run_forward(Ctx& c) override {
    const float *a = c.val(in[0]), *b = c.val(in[1]);
    float* y = c.val(out[0]);
    const int M = M_, N = N_, K = K_;
    if (fold_) {
      gemm(false, false, static_cast<int>(items_) * M, N, K, 1.0f, a, K, b, N, 0.0f, y, N);
      return;
    }
    const size_t am = static_cast<size_t>(M) * K, bm = static_cast<size_t>(K) * N, ym = static_cast<size_t>(M) * N;
    parallel_items(items_, 2 * ym * K, [&](size_t i0, size_t i1) {
      for (size_t it = i0; it < i1; ++it)
        gemm(false, false, M, N, K, 1.0f, a + a_item_[it] * am, K, b + b_item_[it] * bm, N, 0.0f, y + it * ym, N);
    });
  }

  void run_backward(Ctx& c) override {
    const float *a = c.val(in[0]), *b = c.val(in[1]), *g = c.grad(out[0]);
    const int M = M_, N = N_, K = K_;
    const size_t am = static_cast<size_t>(M) * K, bm = static_cast<size_t>(K) * N, ym = static_cast<size_t>(M) * N;
    if (fold_) {
      const int rows = static_cast<int>(items_) * M;
      if (need_dx[0]) gemm(false, true, rows, K, N, 1.0f, g, N, b, N, accum_dx[0] ? 1.0f : 0.0f, c.grad(in[0]), K);
      if (need_dx[1]) gemm(true, false, K, N, rows, 1.0f, a, K, g, N, accum_dx[1] ? 1.0f : 0.0f, c.grad(in[1]), N);
      return;
    }
    // x @ x: the plan has the second gradient add to the first (in order below).
    if (need_dx[0]) {
      float* da = c.grad(in[0]);
      if (a_full_) {
        const float beta = accum_dx[0] ? 1.0f : 0.0f;
        parallel_items(items_, 2 * ym * K, [&](size_t i0, size_t i1) {
          for (size_t it = i0; it < i1; ++it)
            gemm(false, true, M, K, N, 1.0f, g + it * ym, N, b + b_item_[it] * bm, N, beta, da + it * am, K);
        });
      } else {
        if (!accum_dx[0]) std::memset(da, 0, c.numel(in[0]) * sizeof(float));
        for (size_t it = 0; it < items_; ++it)
          gemm(false, true, M, K, N, 1.0f, g + it * ym, N, b + b_item_[it] * bm, N, 1.0f, da + a_item_[it] * am, K);
      }
    }
    if (need_dx[1]) {
      float* db = c.grad(in[1]);
      if (b_full_) {
        const float beta = accum_dx[1] ? 1.0f : 0.0f;
        parallel_items(items_, 2 * ym * K, [&](size_t i0, size_t i1) {
          for (size_t it = i0; it < i1; ++it)
            gemm(true, false, K, N, M, 1.0f, a + a_item_[it] * am, K, g + it * ym, N, beta, db + it * bm, N);
        });
      } else {
        if (!accum_dx[1]) std::memset(db, 0, c.numel(in[1]) * sizeof(float));
        for (size_t it = 0; it < items_; ++it)
          gemm(true, false, K, N, M, 1.0f, a + a_item_[it] * am, K, g + it * ym, N, 1.0f, db + b_item_[it] * bm, N);
      }
    }
  }

 private:
  int M_ = 1, N_ = 1, K_ = 1;
  Shape ob_;
  size_t items_ = 1;
  bool fold_ = false, a_full_ = true, b_full_ = true;
  std::vector<size_t> a_item_, b_item_;
};

}  // namespace

std::unique_ptr<PrimOp> make_matmul_prim(const std::string& kind, const Attrs&, int) {
  if (kind == "matmul") return std::make_unique<MatmulPrim>();
  return nullptr;
}

}  // namespace bc

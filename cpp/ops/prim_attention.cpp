// dot_product_attention: keras.ops.dot_product_attention on the fused kernel (kernels/attention/),
// one op where a composition would hold the whole (B, N, T, S) score matrix.
//
//   q (B, T, N, H), k (B, S, K, H), v (B, S, K, Hv) [, mask] -> o (B, T, N, Hv)
//   attrs: scale (number, required), is_causal (bool, default false: key s > query t masked,
//   top-left aligned as Keras's tril(ones(T, S)))
//
// N % K == 0: query head n reads key/value head n / (N / K) (grouped-query). The three share one
// batch length. mask: broadcastable to (B, N, T, S) with length 1 along the heads (the kernel's
// masks are per batch and query row, shared by every head); nonzero = attend. A row with no key
// to attend gives the mean of the values, as Keras's large negative fill does. Gradients: q, k,
// v; the mask has none (zeros).
#include <cmath>
#include <cstring>

#include "ops/attention.h"
#include "ops/prim_families.h"

namespace bc {
namespace {

class DotProductAttentionPrim : public PrimOp {
 public:
  DotProductAttentionPrim(float scale, bool causal) : PrimOp("dot_product_attention"), scale_(scale), causal_(causal) {}

  void infer(const std::vector<Shape>& in, std::vector<Shape>& out) const override {
    const Shape &q = in[0], &k = in[1], &v = in[2];
    const std::string who = "prim 'dot_product_attention': ";
    BC_CHECK(q.nd == 4 && k.nd == 4 && v.nd == 4, who + "query, key and value must be 4-D (batch, length, heads, "
                                                        "size), got " + q.str() + ", " + k.str() + ", " + v.str());
    BC_CHECK(k.d[0] == q.d[0] && v.d[0] == q.d[0],
             who + "query, key and value need one batch length, got " + q.str() + ", " + k.str() + ", " + v.str());
    BC_CHECK(k.d[1] == v.d[1] && k.d[2] == v.d[2],
             who + "key and value need the same length and heads, got " + k.str() + " and " + v.str());
    BC_CHECK(k.d[3] == q.d[3], who + "query and key need the same head size, got " + q.str() + " and " + k.str());
    BC_CHECK(q.d[2] % k.d[2] == 0, who + "the query heads (" + std::to_string(q.d[2]) +
                                       ") must be a multiple of the key/value heads (" + std::to_string(k.d[2]) + ")");
    if (in.size() > 3) {
      const Shape& m = in[3];
      const int64_t want[4] = {q.d[0], q.d[2], q.d[1], k.d[1]};  // (B, N, T, S)
      BC_CHECK(m.nd <= 4, who + "the mask must broadcast to (B, N, T, S) = " + full_str(want) + ", got " + m.str());
      for (int i = 0; i < m.nd; ++i) {
        const int64_t len = m.d[i], w = want[4 - m.nd + i];
        BC_CHECK(len == 1 || len == w,
                 who + "the mask must broadcast to (B, N, T, S) = " + full_str(want) + ", got " + m.str());
        BC_CHECK(4 - m.nd + i != 1 || len == 1, who + "the mask must not vary across heads (length 1 on axis 1 of "
                                                      "(B, N, T, S)), got " + m.str());
      }
    }
    Shape o = q;
    o.d[3] = v.d[3];
    out[0] = o;
  }

 protected:
  void plan() override {
    d_.B = static_cast<int>(in_[0].d[0]);
    d_.Tq = static_cast<int>(in_[0].d[1]);
    d_.Nq = static_cast<int>(in_[0].d[2]);
    d_.H = static_cast<int>(in_[0].d[3]);
    d_.S = static_cast<int>(in_[1].d[1]);
    d_.Nkv = static_cast<int>(in_[1].d[2]);
    d_.Hv = static_cast<int>(in_[2].d[3]);
    if (in_.size() < 4) return;
    // the mask's lengths and strides as (B, T, S), 0 on an axis it broadcasts along
    const Shape& m = in_[3];
    int64_t len[4] = {1, 1, 1, 1}, st[kMaxDims];
    strides_of(m, st);
    for (int i = 0; i < m.nd; ++i) {
      const int a = 4 - m.nd + i;
      len[a] = m.d[i];
      mst_[a] = m.d[i] == 1 ? 0 : st[i];
    }
    for (int a = 0; a < 4 - m.nd; ++a) mst_[a] = 0;
    key_only_ = len[2] == 1;  // (B or 1, 1, 1, S or 1): a mask over the keys
    direct_ = key_only_ ? len[0] == d_.B && len[3] == d_.S : len[0] == d_.B && len[2] == d_.Tq && len[3] == d_.S;
  }

  // The mask as the kernel reads it: kmask (B, S) or amask (B, T, S), the input itself when it
  // already has that layout, else broadcast into buf_ (by the forward; the backward reuses it).
  AttnMasks masks(Ctx& c, bool fill) {
    AttnMasks m;
    m.causal = causal_;
    m.zero_full_rows = false;
    if (in.size() < 4) return m;
    const float* x = c.val(in[3]);
    const float* src = x;
    if (!direct_ && fill) {
      const size_t T = key_only_ ? 1 : static_cast<size_t>(d_.Tq), S = static_cast<size_t>(d_.S);
      buf_.resize(static_cast<size_t>(d_.B) * T * S);
      float* p = buf_.data();
      for (int b = 0; b < d_.B; ++b)
        for (size_t t = 0; t < T; ++t)
          for (size_t s = 0; s < S; ++s)
            *p++ = x[b * mst_[0] + static_cast<int64_t>(t) * mst_[2] + static_cast<int64_t>(s) * mst_[3]];
    }
    if (!direct_) src = buf_.data();
    (key_only_ ? m.kmask : m.amask) = src;
    return m;
  }

  void run_forward(Ctx& c) override {
    run_.forward(c.val(out[0]), nullptr, c.val(in[0]), c.val(in[1]), c.val(in[2]), d_, masks(c, true), scale_,
                 AttnDropout{});
  }

  void run_backward(Ctx& c) override {
    float* g[3];
    for (int i = 0; i < 3; ++i) g[i] = need_dx[i] ? c.grad(in[i]) : nullptr;
    if (g[0] || g[1] || g[2])
      run_.backward(g[0], g[1], g[2], accum_dx[0], accum_dx[1], accum_dx[2], c.grad(out[0]), nullptr, nullptr,
                    c.val(in[0]), c.val(in[1]), c.val(in[2]), c.val(out[0]), d_, masks(c, false), scale_, AttnDropout{});
    if (in.size() > 3 && need_dx[3] && !accum_dx[3]) std::memset(c.grad(in[3]), 0, c.numel(in[3]) * sizeof(float));
  }

 private:
  static std::string full_str(const int64_t* d) {
    Shape s;
    s.nd = 4;
    for (int i = 0; i < 4; ++i) s.d[i] = d[i];
    return s.str();
  }
  float scale_;
  bool causal_;
  AttnDims d_;
  int64_t mst_[4] = {0, 0, 0, 0};  // the mask's strides along (B, N, T, S)
  bool key_only_ = false, direct_ = false;
  std::vector<float> buf_;
  AttentionRun run_;
};

}  // namespace

std::unique_ptr<PrimOp> make_attention_prim(const std::string& kind, const Attrs& a, int) {
  if (kind != "dot_product_attention") return nullptr;
  const double scale = a.get_float("scale");
  BC_CHECK(std::isfinite(scale), "prim 'dot_product_attention': scale must be finite, got " + std::to_string(scale));
  return std::make_unique<DotProductAttentionPrim>(static_cast<float>(scale), a.get_bool("is_causal", false));
}

}  // namespace bc

// Attention: dispatch, tiling and threads (attention.h has the layouts and the determinism rule).
// Per query tile the forward keeps R x C scores, the row max, the row sum and the output rows;
// the backward, per key tile, recomputes each score tile from the saved log-sum-exp.
#include "kernels/attention/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/rng.h"
#include "isa/isa.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"

namespace bc {
namespace {

// Fixed tile sizes (never the thread count): query rows per task and keys per tile. A 32 x 64
// score tile is 8 KB; with the packed keys (64 x H) it stays in L1 for H up to 64.
constexpr int kBr = 32, kBc = 64;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---- dispatch: one table, filled with the path cpp/isa/ picks ---------------------------------

AttnKernels& table() {
  static AttnKernels k = [] {
    AttnKernels t{};
    fill_attention_ref(t);
    return t;
  }();
  return k;
}

void install(const char* path) {
  AttnKernels k{};
  const std::string p = path;
  if (p == "avx512") fill_attention_avx512(k);
  else if (p == "avx2") fill_attention_avx2(k);
  else fill_attention_ref(k);
  table() = k;
}

[[maybe_unused]] const bool registered = isa::add_family(
    {"attention", {{"avx512", isa::AVX512 | isa::AVX2 | isa::FMA}, {"avx2", isa::AVX2 | isa::FMA}, {"ref", 0}},
     install});

constexpr double kSerialFlops = 1e6;  // below this an attention call stays on one thread

int threads_for(int items) { return omp_in_parallel() ? 1 : std::max(1, std::min(get_num_threads(), items)); }

void check(const AttnDims& d) {
  BC_CHECK(d.B >= 0 && d.Tq > 0 && d.S > 0 && d.H > 0 && d.Hv > 0, "attention needs positive sizes");
  BC_CHECK(d.Nq > 0 && d.Nkv > 0 && d.Nq % d.Nkv == 0,
           "attention: the query heads (" + std::to_string(d.Nq) + ") must be a multiple of the key/value heads (" +
               std::to_string(d.Nkv) + ")");
}

struct Rows {  // floats between consecutive positions of each tensor
  size_t q, k, v, o;
  explicit Rows(const AttnDims& d)
      : q(static_cast<size_t>(d.Nq) * d.H), k(static_cast<size_t>(d.Nkv) * d.H),
        v(static_cast<size_t>(d.Nkv) * d.Hv), o(static_cast<size_t>(d.Nq) * d.Hv) {}
};

// allow (R x C, ld kBc) for query rows i0.. and keys j0.. of batch row b; returns null when the
// masks allow every pair of the tile (the common case costs no tile pass).
const float* build_allow(float* allow, float* row_ok, float* col_ok, const AttnDims& d, const AttnMasks& m, int b,
                         int i0, int R, int j0, int C) {
  bool any = m.amask != nullptr || (m.causal && j0 + C - 1 > i0);
  for (int r = 0; r < R; ++r) {
    row_ok[r] = m.qmask && m.qmask[static_cast<size_t>(b) * d.Tq + i0 + r] == 0.0f ? 0.0f : 1.0f;
    any = any || row_ok[r] == 0.0f;
  }
  for (int c = 0; c < C; ++c) {
    const size_t j = static_cast<size_t>(b) * d.S + j0 + c;
    const bool ok = !(m.kmask && m.kmask[j] == 0.0f) && !(m.kmask2 && m.kmask2[j] == 0.0f);
    col_ok[c] = ok ? 1.0f : 0.0f;
    any = any || !ok;
  }
  if (!any) return nullptr;
  for (int r = 0; r < R; ++r) {
    float* a = allow + static_cast<size_t>(r) * kBc;
    const int i = i0 + r;
    for (int c = 0; c < C; ++c) a[c] = row_ok[r] * col_ok[c];
    if (m.causal)
      for (int c = std::max(0, i + 1 - j0); c < C; ++c) a[c] = 0.0f;
    if (m.amask) {
      const float* am = m.amask + (static_cast<size_t>(b) * d.Tq + i) * d.S + j0;
      for (int c = 0; c < C; ++c) a[c] = am[c] != 0.0f ? a[c] : 0.0f;
    }
  }
  return allow;
}

// Per-thread work space of one task.
struct Scratch {
  std::vector<float> qs, kt, vt, s, p, dp, t, acc_k, acc_v, out, allow, keep, m, l, alpha, row_ok, col_ok, lz;
  Scratch(const AttnDims& d) {
    qs.resize(static_cast<size_t>(kBr) * d.H);
    kt.resize(static_cast<size_t>(d.H) * kBc);
    vt.resize(static_cast<size_t>(d.Hv) * kBc);
    for (auto* b : {&s, &p, &dp, &allow, &keep}) b->resize(static_cast<size_t>(kBr) * kBc);
    t.resize(static_cast<size_t>(kBc) * kBr);
    acc_k.resize(static_cast<size_t>(kBc) * d.H);
    acc_v.resize(static_cast<size_t>(kBc) * d.Hv);
    out.resize(static_cast<size_t>(kBr) * d.Hv);
    for (auto* b : {&m, &l, &alpha, &row_ok, &lz}) b->resize(kBr);
    col_ok.resize(kBc);
  }
};

// qs (R x H) = scale * query rows i0.. of head n; kt (H x C, ld kBc) = keys j0.. of head g, transposed.
void load_q(float* qs, const float* q, const AttnDims& d, const Rows& st, int b, int n, int i0, int R, float scale) {
  for (int r = 0; r < R; ++r) {
    const float* src = q + (static_cast<size_t>(b) * d.Tq + i0 + r) * st.q + static_cast<size_t>(n) * d.H;
    for (int h = 0; h < d.H; ++h) qs[static_cast<size_t>(r) * d.H + h] = src[h] * scale;
  }
}

void pack_t(float* dst, const float* src, size_t ld_src, int C, int W) {  // dst (W x C, ld kBc) = src (C x W)^T
  for (int c = 0; c < C; ++c)
    for (int w = 0; w < W; ++w) dst[static_cast<size_t>(w) * kBc + c] = src[static_cast<size_t>(c) * ld_src + w];
}

// dk, dv rows j0 .. j0 + C of key/value head g in batch row b (+)= acc_k, acc_v (C rows of H, Hv):
// both backward paths end with this write-back.
void write_kv_grads(float* dk, float* dv, bool acc_k, bool acc_v, const float* gk, const float* gv, const AttnDims& d,
                    const Rows& st, int b, int g, int j0, int C) {
  for (int c = 0; c < C; ++c) {
    const size_t row = static_cast<size_t>(b) * d.S + j0 + c;
    if (dk) {
      float* dst = dk + row * st.k + static_cast<size_t>(g) * d.H;
      const float* src = gk + static_cast<size_t>(c) * d.H;
      for (int h = 0; h < d.H; ++h) dst[h] = acc_k ? dst[h] + src[h] : src[h];
    }
    if (dv) {
      float* dst = dv + row * st.v + static_cast<size_t>(g) * d.Hv;
      const float* src = gv + static_cast<size_t>(c) * d.Hv;
      for (int h = 0; h < d.Hv; ++h) dst[h] = acc_v ? dst[h] + src[h] : src[h];
    }
  }
}

void dropout_tile(const AttnKernels& ak, Scratch& w, const AttnDims& d, const AttnDropout& drop, int b, int n,
                  int i0, int R, int j0, int C) {
  const uint64_t first = ((static_cast<uint64_t>(drop.row0 + b) * d.Nq + n) * d.Tq + i0) * d.S + j0;
  ak.dropout_scale(w.keep.data(), R, C, kBc, first, static_cast<uint64_t>(d.S), 1, drop.key, drop.rate);
}

// One forward task: query rows i0 .. i0 + R of head n in batch row b.
void forward_task(Scratch& w, float* o, float* lse, float* probs, const float* q, const float* k, const float* v,
                  const AttnDims& d, const AttnMasks& m, float scale, const AttnDropout& drop, int b, int n, int i0) {
  const AttnKernels& ak = table();
  const Kernels& fk = kernels();
  const Rows st(d);
  const int R = std::min(kBr, d.Tq - i0), g = n / (d.Nq / d.Nkv);
  const float* kb = k + static_cast<size_t>(b) * d.S * st.k + static_cast<size_t>(g) * d.H;
  const float* vb = v + static_cast<size_t>(b) * d.S * st.v + static_cast<size_t>(g) * d.Hv;
  load_q(w.qs.data(), q, d, st, b, n, i0, R, scale);
  std::fill(w.m.begin(), w.m.end(), kNegInf);
  std::fill(w.l.begin(), w.l.end(), 0.0f);
  std::fill(w.out.begin(), w.out.end(), 0.0f);
  const int j_end = m.causal ? std::min(d.S, i0 + R) : d.S;  // later keys are masked for every row
  for (int j0 = 0; j0 < j_end; j0 += kBc) {
    const int C = std::min(kBc, d.S - j0);
    pack_t(w.kt.data(), kb + static_cast<size_t>(j0) * st.k, st.k, C, d.H);
    fk.small_gemm(w.s.data(), kBc, w.qs.data(), d.H, w.kt.data(), kBc, R, C, d.H, false);
    const float* allow = build_allow(w.allow.data(), w.row_ok.data(), w.col_ok.data(), d, m, b, i0, R, j0, C);
    ak.online_softmax(w.s.data(), allow, R, C, kBc, w.m.data(), w.l.data(), w.alpha.data());
    for (int r = 0; r < R; ++r)
      for (int h = 0; h < d.Hv; ++h) w.out[static_cast<size_t>(r) * d.Hv + h] *= w.alpha[r];
    if (drop.rate > 0.0f) {
      dropout_tile(ak, w, d, drop, b, n, i0, R, j0, C);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) w.s[static_cast<size_t>(r) * kBc + c] *= w.keep[static_cast<size_t>(r) * kBc + c];
    }
    fk.small_gemm(w.out.data(), d.Hv, w.s.data(), kBc, vb + static_cast<size_t>(j0) * st.v, st.v, R, d.Hv, C, true);
  }
  for (int r = 0; r < R; ++r) {
    float* dst = o + (static_cast<size_t>(b) * d.Tq + i0 + r) * st.o + static_cast<size_t>(n) * d.Hv;
    const float* acc = w.out.data() + static_cast<size_t>(r) * d.Hv;
    float* z = lse + (static_cast<size_t>(b) * d.Nq + n) * d.Tq + i0 + r;
    if (w.m[r] == kNegInf) {  // the row attends to nothing
      *z = kNegInf;
      for (int h = 0; h < d.Hv; ++h) dst[h] = 0.0f;
      if (!m.zero_full_rows) {  // the mean of every value, summed in key order
        for (int j = 0; j < d.S; ++j)
          for (int h = 0; h < d.Hv; ++h) dst[h] += vb[static_cast<size_t>(j) * st.v + h];
        for (int h = 0; h < d.Hv; ++h) dst[h] /= static_cast<float>(d.S);
      }
      continue;
    }
    for (int h = 0; h < d.Hv; ++h) dst[h] = acc[h] / w.l[r];
    *z = w.m[r] + std::log(w.l[r]);
  }
  if (!probs) return;
  // The weights themselves, normalized: the same score tiles again, exp(s - lse).
  const float* lz = lse + (static_cast<size_t>(b) * d.Nq + n) * d.Tq + i0;
  for (int r = 0; r < R; ++r) w.lz[r] = lz[r] == kNegInf ? 0.0f : lz[r];
  for (int j0 = 0; j0 < d.S; j0 += kBc) {
    const int C = std::min(kBc, d.S - j0);
    pack_t(w.kt.data(), kb + static_cast<size_t>(j0) * st.k, st.k, C, d.H);
    fk.small_gemm(w.s.data(), kBc, w.qs.data(), d.H, w.kt.data(), kBc, R, C, d.H, false);
    const float* allow = build_allow(w.allow.data(), w.row_ok.data(), w.col_ok.data(), d, m, b, i0, R, j0, C);
    ak.probs_from_lse(w.s.data(), allow, R, C, kBc, w.lz.data());
    for (int r = 0; r < R; ++r) {
      float* dst = probs + ((static_cast<size_t>(b) * d.Nq + n) * d.Tq + i0 + r) * d.S + j0;
      const float* src = w.s.data() + static_cast<size_t>(r) * kBc;
      if (lz[r] == kNegInf) {
        const float u = m.zero_full_rows ? 0.0f : 1.0f / static_cast<float>(d.S);
        std::fill(dst, dst + C, u);
      } else {
        std::copy(src, src + C, dst);
      }
    }
  }
}

// One backward task: every query head of key/value head g in batch row b, key tile by key tile.
void backward_task(Scratch& w, float* dq, float* dk, float* dv, bool acc_k, bool acc_v, const float* dout,
                   const float* dprobs, const float* q, const float* k, const float* v, const float* lse,
                   const std::vector<float>& D, const AttnDims& d,
                   const AttnMasks& m, float scale, const AttnDropout& drop, int b, int g) {
  const AttnKernels& ak = table();
  const Kernels& fk = kernels();
  const Rows st(d);
  const int group = d.Nq / d.Nkv;
  const float* kb = k + static_cast<size_t>(b) * d.S * st.k + static_cast<size_t>(g) * d.H;
  const float* vb = v + static_cast<size_t>(b) * d.S * st.v + static_cast<size_t>(g) * d.Hv;
  const bool want_qk = dq || dk;
  const float uniform = 1.0f / static_cast<float>(d.S);
  // Causal: query rows before the key tile see none of it, unless a row that attends to nothing
  // spreads over every value (other masks, mean rows).
  const bool skip_causal = m.causal && (m.zero_full_rows || !(m.qmask || m.kmask || m.kmask2 || m.amask));
  for (int j0 = 0; j0 < d.S; j0 += kBc) {
    const int C = std::min(kBc, d.S - j0);
    pack_t(w.kt.data(), kb + static_cast<size_t>(j0) * st.k, st.k, C, d.H);
    pack_t(w.vt.data(), vb + static_cast<size_t>(j0) * st.v, st.v, C, d.Hv);
    std::fill(w.acc_k.begin(), w.acc_k.end(), 0.0f);
    std::fill(w.acc_v.begin(), w.acc_v.end(), 0.0f);
    for (int gi = 0; gi < group; ++gi) {
      const int n = g * group + gi;
      const size_t head_row = (static_cast<size_t>(b) * d.Nq + n) * d.Tq;
      const float* Dn = D.data() + head_row;
      for (int i0 = skip_causal ? (j0 / kBr) * kBr : 0; i0 < d.Tq; i0 += kBr) {
        const int R = std::min(kBr, d.Tq - i0);
        load_q(w.qs.data(), q, d, st, b, n, i0, R, scale);
        fk.small_gemm(w.s.data(), kBc, w.qs.data(), d.H, w.kt.data(), kBc, R, C, d.H, false);
        const float* allow = build_allow(w.allow.data(), w.row_ok.data(), w.col_ok.data(), d, m, b, i0, R, j0, C);
        bool any_full = false;
        for (int r = 0; r < R; ++r) {
          const float z = lse[head_row + i0 + r];
          w.lz[r] = z == kNegInf ? 0.0f : z;
          any_full = any_full || z == kNegInf;
        }
        ak.probs_from_lse(w.s.data(), allow, R, C, kBc, w.lz.data());  // s now holds P
        if (any_full)
          for (int r = 0; r < R; ++r)
            if (lse[head_row + i0 + r] == kNegInf) std::fill_n(w.s.data() + static_cast<size_t>(r) * kBc, C, 0.0f);
        // pd: the weights the values saw (dropout applied; the mean rows of a row that attends to nothing)
        const float* pd = w.s.data();
        const bool dropped = drop.rate > 0.0f;
        if (dropped || (any_full && !m.zero_full_rows)) {  // (a full row may still be a mean row)
          if (dropped) dropout_tile(ak, w, d, drop, b, n, i0, R, j0, C);
          for (int r = 0; r < R; ++r) {
            float* dst = w.p.data() + static_cast<size_t>(r) * kBc;
            const float* src = w.s.data() + static_cast<size_t>(r) * kBc;
            const float* kp = w.keep.data() + static_cast<size_t>(r) * kBc;
            if (lse[head_row + i0 + r] == kNegInf) std::fill_n(dst, C, m.zero_full_rows ? 0.0f : uniform);
            else if (dropped) for (int c = 0; c < C; ++c) dst[c] = src[c] * kp[c];
            else std::copy(src, src + C, dst);
          }
          pd = w.p.data();
        }
        const float* dout_i = dout + (static_cast<size_t>(b) * d.Tq + i0) * st.o + static_cast<size_t>(n) * d.Hv;
        if (dv) {
          transpose32(w.t.data(), kBr, pd, kBc, R, C);
          fk.small_gemm(w.acc_v.data(), d.Hv, w.t.data(), kBr, dout_i, st.o, C, d.Hv, R, true);
        }
        if (!want_qk) continue;
        fk.small_gemm(w.dp.data(), kBc, dout_i, st.o, w.vt.data(), kBc, R, C, d.Hv, false);
        if (dropped)
          for (int r = 0; r < R; ++r)
            for (int c = 0; c < C; ++c) w.dp[static_cast<size_t>(r) * kBc + c] *= w.keep[static_cast<size_t>(r) * kBc + c];
        if (dprobs)
          for (int r = 0; r < R; ++r) {
            const float* da = dprobs + (head_row + i0 + r) * d.S + j0;
            for (int c = 0; c < C; ++c) w.dp[static_cast<size_t>(r) * kBc + c] += da[c];
          }
        ak.softmax_grad(w.dp.data(), w.s.data(), R, C, kBc, Dn + i0, scale);  // dp now holds scale * dS
        if (dq)
          fk.small_gemm(dq + (static_cast<size_t>(b) * d.Tq + i0) * st.q + static_cast<size_t>(n) * d.H, st.q,
                        w.dp.data(), kBc, kb + static_cast<size_t>(j0) * st.k, st.k, R, d.H, C, true);
        if (dk) {
          transpose32(w.t.data(), kBr, w.dp.data(), kBc, R, C);
          fk.small_gemm(w.acc_k.data(), d.H, w.t.data(), kBr,
                        q + (static_cast<size_t>(b) * d.Tq + i0) * st.q + static_cast<size_t>(n) * d.H, st.q, C, d.H,
                        R, true);
        }
      }
    }
    write_kv_grads(dk, dv, acc_k, acc_v, w.acc_k.data(), w.acc_v.data(), d, st, b, g, j0, C);
  }
}

// ---- the materialized-tile path (attention.h): per (batch, head) the whole (S, Tq) block ---------

// Tq * S of one head at most (512 KB of scores: the block and its gradient stay in a 1 MB L2), and
// enough query columns to fill the vectors.
constexpr size_t kTileMaxScores = 128 * 1024;
constexpr int kTileMinTq = 16;

// Per-thread work space of the tile path, kept between calls (thread_local: the team's threads
// persist): a fresh block of 160 KB or more is a fresh mmap, and its page faults and zeroing cost
// about as much as a head's exp. It only grows, to at most a few blocks of kTileMaxScores.
struct TileScratch {
  std::vector<float> qt, dot, ot, s, s2, keep, work, colbias, acc_k, acc_v;
  static void grow(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
  }
  TileScratch& fit(const AttnDims& d) {
    const size_t block = static_cast<size_t>(d.S) * d.Tq;
    grow(qt, static_cast<size_t>(d.H) * d.Tq);
    grow(dot, static_cast<size_t>(d.Hv) * d.Tq);
    grow(ot, static_cast<size_t>(d.H) * d.Tq);  // dQ's rows before they are added
    grow(acc_k, static_cast<size_t>(d.S) * d.H);
    grow(acc_v, static_cast<size_t>(d.S) * d.Hv);
    grow(s, block);
    grow(s2, block);
    grow(keep, block);  // the dropout factors, then the weights the values saw
    grow(work, d.Tq);
    grow(colbias, d.Tq);
    return *this;
  }
};

TileScratch& tile_scratch() {
  static thread_local TileScratch w;
  return w;
}

constexpr float kLog2e = 1.44269504088896341f;  // the tile path's scores are in log2 units (attention.h)

// qt (H x Tq) = scale * log2(e) * the query rows of head n, transposed: the scores come out in the
// log2 units the column kernels take (attention.h).
void tile_load_qt(float* qt, const float* q, const AttnDims& d, const Rows& st, int b, int n, float scale) {
  transpose32(qt, d.Tq, q + static_cast<size_t>(b) * d.Tq * st.q + static_cast<size_t>(n) * d.H,
              static_cast<int>(st.q), d.Tq, d.H);
  const float s2 = scale * kLog2e;
  for (size_t e = 0; e < static_cast<size_t>(d.H) * d.Tq; ++e) qt[e] *= s2;
}

// s (S x Tq) = K (S x H) @ qt, then -inf where a mask forbids the pair. Causal: rows j0.. of a
// block of keys skip the columns before j0 (all masked); each score is the same k-ordered sum
// whatever the columns beside it (small_gemm), so the skipping changes no bits.
void tile_scores(TileScratch& w, float* s, const float* kb, const AttnDims& d, const Rows& st, const AttnMasks& m,
                 int b) {
  const Kernels& fk = kernels();
  const int Tq = d.Tq, S = d.S;
  if (!m.causal) {
    fk.small_gemm(s, Tq, kb, static_cast<int>(st.k), w.qt.data(), Tq, S, Tq, d.H, false);
  } else {
    constexpr int kRows = 16;
    for (int j0 = 0; j0 < S; j0 += kRows) {
      const int R = std::min(kRows, S - j0), c0 = std::min(j0, Tq);
      float* sj = s + static_cast<size_t>(j0) * Tq;
      for (int r = 0; r < R; ++r) std::fill_n(sj + static_cast<size_t>(r) * Tq, c0, kNegInf);
      if (c0 < Tq)
        fk.small_gemm(sj + c0, Tq, kb + static_cast<size_t>(j0) * st.k, static_cast<int>(st.k), w.qt.data() + c0, Tq,
                      R, Tq - c0, d.H, false);
      for (int r = 0; r < R; ++r)  // key j0 + r > query i
        std::fill(sj + static_cast<size_t>(r) * Tq + c0, sj + static_cast<size_t>(r) * Tq + std::min(Tq, j0 + r),
                  kNegInf);
    }
  }
  bool qmasked = false;
  for (int i = 0; i < Tq; ++i) {
    const bool off = m.qmask && m.qmask[static_cast<size_t>(b) * Tq + i] == 0.0f;
    w.colbias[i] = off ? kNegInf : 0.0f;
    qmasked = qmasked || off;
  }
  for (int j = 0; j < S; ++j) {
    float* row = s + static_cast<size_t>(j) * Tq;
    const size_t bj = static_cast<size_t>(b) * S + j;
    if ((m.kmask && m.kmask[bj] == 0.0f) || (m.kmask2 && m.kmask2[bj] == 0.0f)) {
      std::fill_n(row, Tq, kNegInf);
      continue;
    }
    if (qmasked)
      for (int i = 0; i < Tq; ++i) row[i] += w.colbias[i];  // + 0 keeps the bits, + -inf masks
    if (m.amask) {
      const float* am = m.amask + static_cast<size_t>(b) * Tq * S + j;
      for (int i = 0; i < Tq; ++i)
        if (am[static_cast<size_t>(i) * S] == 0.0f) row[i] = kNegInf;
    }
  }
}

// keep (S x Tq) = 1 / (1 - rate) or 0: the draws of attention.h's AttnDropout, transposed (row j,
// column i is draw base + i * S + j).
void tile_keep(const AttnKernels& ak, float* keep, const AttnDims& d, const AttnDropout& drop, int b, int n) {
  const uint64_t base = (static_cast<uint64_t>(drop.row0 + b) * d.Nq + n) * d.Tq * d.S;
  ak.dropout_scale(keep, d.S, d.Tq, d.Tq, base, 1, static_cast<uint64_t>(d.S), drop.key, drop.rate);
}

void tile_forward(TileScratch& w, float* o, float* lse, float* probs, const float* q, const float* k, const float* v,
                  const AttnDims& d, const AttnMasks& m, float scale, const AttnDropout& drop, int b,
                  int n) {
  const AttnKernels& ak = table();
  const Kernels& fk = kernels();
  const Rows st(d);
  const int Tq = d.Tq, S = d.S, g = n / (d.Nq / d.Nkv);
  const size_t head = static_cast<size_t>(b) * d.Nq + n;
  const float* kb = k + static_cast<size_t>(b) * S * st.k + static_cast<size_t>(g) * d.H;
  const float* vb = v + static_cast<size_t>(b) * S * st.v + static_cast<size_t>(g) * d.Hv;
  float* s = w.s.data();
  float* z = lse + head * Tq;
  float* inv_l = w.work.data();
  tile_load_qt(w.qt.data(), q, d, st, b, n, scale);
  tile_scores(w, s, kb, d, st, m, b);
  ak.col_softmax(s, S, Tq, Tq, z, inv_l);  // unnormalized: the output is scaled by inv_l instead
  const float* pd = s;  // the (unnormalized) weights the values see
  if (drop.rate > 0.0f) {
    tile_keep(ak, w.s2.data(), d, drop, b, n);
    for (size_t e = 0; e < static_cast<size_t>(S) * Tq; ++e) w.s2[e] *= s[e];
    pd = w.s2.data();
  }
  // o (Tq x Hv) = P^T V, times l: P is held keys-as-rows, so op(x) = P^T is x stored transposed, and
  // the rows go straight to the output (the same k-ordered sums as o^T = V^T P would give).
  float* ob = o + static_cast<size_t>(b) * Tq * st.o + static_cast<size_t>(n) * d.Hv;
  fk.fma_gemm(ob, static_cast<int>(st.o), pd, Tq, true, vb, static_cast<int>(st.v), Tq, d.Hv, S, false);
  for (int i = 0; i < Tq; ++i) {
    float* row = ob + static_cast<size_t>(i) * st.o;
    for (int h = 0; h < d.Hv; ++h) row[h] *= inv_l[i];
  }
  for (int i = 0; i < Tq; ++i) {
    if (z[i] != kNegInf) continue;
    float* dst = o + (static_cast<size_t>(b) * Tq + i) * st.o + static_cast<size_t>(n) * d.Hv;
    for (int h = 0; h < d.Hv; ++h) dst[h] = 0.0f;  // the row attends to nothing: as the flash path
    if (!m.zero_full_rows) {
      for (int j = 0; j < S; ++j)
        for (int h = 0; h < d.Hv; ++h) dst[h] += vb[static_cast<size_t>(j) * st.v + h];
      for (int h = 0; h < d.Hv; ++h) dst[h] /= static_cast<float>(S);
    }
  }
  if (!probs) return;
  const float u = m.zero_full_rows ? 0.0f : 1.0f / static_cast<float>(S);
  for (int i = 0; i < Tq; ++i) {
    float* dst = probs + (head * Tq + i) * S;
    if (z[i] == kNegInf) std::fill_n(dst, S, u);
    else
      for (int j = 0; j < S; ++j) dst[j] = s[static_cast<size_t>(j) * Tq + i] * inv_l[i];
  }
}

// Every query head of key/value head g in batch row b; D: dout . o (+ dprobs . probs) per row.
void tile_backward(TileScratch& w, float* dq, float* dk, float* dv, bool acc_q, bool acc_k, bool acc_v,
                   const float* dout, const float* dprobs, const float* q, const float* k,
                   const float* v, const float* lse, const std::vector<float>& D, const AttnDims& d,
                   const AttnMasks& m, float scale, const AttnDropout& drop, int b, int g) {
  const AttnKernels& ak = table();
  const Kernels& fk = kernels();
  const Rows st(d);
  const int Tq = d.Tq, S = d.S, group = d.Nq / d.Nkv;
  const size_t block = static_cast<size_t>(S) * Tq;
  const float* kb = k + static_cast<size_t>(b) * S * st.k + static_cast<size_t>(g) * d.H;
  const float* vb = v + static_cast<size_t>(b) * S * st.v + static_cast<size_t>(g) * d.Hv;
  const bool dropped = drop.rate > 0.0f;
  // y (S x N) (+)= x (S x Tq) @ W (Tq x N): N is a head's width, the sum runs over the queries.
  auto narrow = [&](float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K,
                    bool acc) {
    if (!ak.narrow_gemm(y, ldy, x, ldx, W, ldw, M, N, K, acc)) fk.small_gemm(y, ldy, x, ldx, W, ldw, M, N, K, acc);
  };
  for (int gi = 0; gi < group; ++gi) {
    const int n = g * group + gi;
    const size_t head = static_cast<size_t>(b) * d.Nq + n;
    const float* z = lse + head * Tq;
    float* z2 = w.work.data();  // lse in the scores' log2 units
    for (int i = 0; i < Tq; ++i) z2[i] = z[i] * kLog2e;
    const float* Dn = D.data() + head * Tq;
    float* p = w.s.data();  // the weights again, from the scores and lse
    tile_load_qt(w.qt.data(), q, d, st, b, n, scale);
    tile_scores(w, p, kb, d, st, m, b);
    bool any_full = false;
    for (int i = 0; i < Tq; ++i) any_full = any_full || z[i] == kNegInf;
    if (dropped) tile_keep(ak, w.keep.data(), d, drop, b, n);
    const float* dout_n = dout + static_cast<size_t>(b) * Tq * st.o + static_cast<size_t>(n) * d.Hv;
    float* ds = w.s2.data();
    if (dq || dk) {
      transpose32(w.dot.data(), Tq, dout_n, static_cast<int>(st.o), Tq, d.Hv);
      fk.small_gemm(ds, Tq, vb, static_cast<int>(st.v), w.dot.data(), Tq, S, Tq, d.Hv, false);  // dP^T = V dO^T
      if (dropped)
        for (size_t e = 0; e < block; ++e) ds[e] *= w.keep[e];
      if (dprobs) {
        const float* da = dprobs + head * Tq * S;
        for (int j = 0; j < S; ++j)
          for (int i = 0; i < Tq; ++i) ds[static_cast<size_t>(j) * Tq + i] += da[static_cast<size_t>(i) * S + j];
      }
      ak.col_probs_grad(p, ds, S, Tq, Tq, z2, Dn, scale);  // p, and scale * dS^T, in one pass
    } else {
      ak.col_probs_from_lse(p, S, Tq, Tq, z2);
    }
    if (dv) {
      const float* pd = p;  // the weights the values saw: dropout, the mean rows (built in keep's place)
      if (dropped || (any_full && !m.zero_full_rows)) {
        const float u = m.zero_full_rows ? 0.0f : 1.0f / static_cast<float>(S);
        for (int j = 0; j < S; ++j) {
          float* dst = w.keep.data() + static_cast<size_t>(j) * Tq;
          const float* src = p + static_cast<size_t>(j) * Tq;
          for (int i = 0; i < Tq; ++i) dst[i] = dropped ? src[i] * dst[i] : src[i];
          if (any_full)
            for (int i = 0; i < Tq; ++i)
              if (z[i] == kNegInf) dst[i] = u;
        }
        pd = w.keep.data();
      }
      narrow(w.acc_v.data(), d.Hv, pd, Tq, dout_n, static_cast<int>(st.o), S, d.Hv, Tq, gi > 0);
    }
    if (dk)
      narrow(w.acc_k.data(), d.H, ds, Tq, q + static_cast<size_t>(b) * Tq * st.q + static_cast<size_t>(n) * d.H,
             static_cast<int>(st.q), S, d.H, Tq, gi > 0);
    if (dq) {  // dQ = dS K, dS held transposed (as o in the forward)
      float* dqn = dq + static_cast<size_t>(b) * Tq * st.q + static_cast<size_t>(n) * d.H;
      if (!acc_q) {
        fk.fma_gemm(dqn, static_cast<int>(st.q), ds, Tq, true, kb, static_cast<int>(st.k), Tq, d.H, S, false);
      } else {  // the sum first, then added: the bits of dq + (its sum)
        fk.fma_gemm(w.ot.data(), d.H, ds, Tq, true, kb, static_cast<int>(st.k), Tq, d.H, S, false);
        for (int i = 0; i < Tq; ++i) {
          float* dst = dqn + static_cast<size_t>(i) * st.q;
          for (int h = 0; h < d.H; ++h) dst[h] += w.ot[static_cast<size_t>(i) * d.H + h];
        }
      }
    }
  }
  write_kv_grads(dk, dv, acc_k, acc_v, w.acc_k.data(), w.acc_v.data(), d, st, b, g, 0, S);
}

}  // namespace

const AttnKernels& attention_kernels() { return table(); }

bool attention_uses_tile(const AttnDims& d, AttnPath path) {
  if (path != AttnPath::Auto) return path == AttnPath::Tile;
  return d.Tq >= kTileMinTq && static_cast<size_t>(d.Tq) * d.S <= kTileMaxScores;
}

void attention_forward(float* o, float* lse, float* probs, const float* q, const float* k, const float* v,
                       const AttnDims& d, const AttnMasks& m, float scale, const AttnDropout& drop, AttnPath path) {
  check(d);
  BC_CHECK(drop.rate >= 0.0f && drop.rate < 1.0f, "attention dropout must be in [0, 1)");
  if (attention_uses_tile(d, path)) {
    const long tasks = static_cast<long>(d.B) * d.Nq;
    const double flops = 2.0 * d.B * d.Nq * d.Tq * static_cast<double>(d.S) * (d.H + d.Hv);
    const int threads = flops < kSerialFlops ? 1 : threads_for(static_cast<int>(std::min<long>(tasks, 1 << 20)));
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      FlushDenormals ftz;
      TileScratch& w = tile_scratch().fit(d);
#pragma omp for schedule(static)
      for (long t = 0; t < tasks; ++t)
        tile_forward(w, o, lse, probs, q, k, v, d, m, scale, drop, static_cast<int>(t / d.Nq),
                     static_cast<int>(t % d.Nq));
    }
    return;
  }
  const int tiles = (d.Tq + kBr - 1) / kBr;
  const long tasks = static_cast<long>(d.B) * d.Nq * tiles;
  // A small call (one query row of a decoding step) runs on the calling thread: waking the team
  // costs more than its work.
  const double flops = 2.0 * d.B * d.Nq * d.Tq * static_cast<double>(d.S) * (d.H + d.Hv);
  const int threads = flops < kSerialFlops ? 1 : threads_for(static_cast<int>(std::min<long>(tasks, 1 << 20)));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    FlushDenormals ftz;
    Scratch w(d);
#pragma omp for schedule(static)
    for (long t = 0; t < tasks; ++t) {
      const int it = static_cast<int>(t % tiles), n = static_cast<int>((t / tiles) % d.Nq),
                b = static_cast<int>(t / (static_cast<long>(tiles) * d.Nq));
      forward_task(w, o, lse, probs, q, k, v, d, m, scale, drop, b, n, it * kBr);
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, bool acc_q, bool acc_k, bool acc_v, const float* dout,
                        const float* dprobs, const float* probs, const float* q, const float* k, const float* v,
                        const float* o, const float* lse, const AttnDims& d, const AttnMasks& m, float scale,
                        const AttnDropout& drop, AttnPath path) {
  check(d);
  BC_CHECK(!dprobs || probs, "attention_backward: the weights' gradient needs the weights");
  const Rows st(d);
  const AttnKernels& ak = table();
  const bool tile = attention_uses_tile(d, path);
  // D[row] = dout . o (+ dprobs . probs): the softmax gradient's row term, once per query row.
  const size_t rows = static_cast<size_t>(d.B) * d.Nq * d.Tq;
  std::vector<float> D(rows);
  const long tasks = static_cast<long>(d.B) * d.Nkv;
  const int threads = threads_for(static_cast<int>(std::min<long>(tasks, 1 << 20)));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    FlushDenormals ftz;
    float e[1];
#pragma omp for schedule(static)
    for (long t = 0; t < static_cast<long>(d.B) * d.Nq; ++t) {
      const int b = static_cast<int>(t / d.Nq), n = static_cast<int>(t % d.Nq);
      const size_t off = (static_cast<size_t>(b) * d.Tq) * st.o + static_cast<size_t>(n) * d.Hv;
      float* Dn = D.data() + static_cast<size_t>(t) * d.Tq;
      ak.row_dot(Dn, dout + off, static_cast<int>(st.o), o + off, static_cast<int>(st.o), d.Tq, d.Hv);
      if (dprobs)
        for (int i = 0; i < d.Tq; ++i) {
          const size_t p0 = (static_cast<size_t>(t) * d.Tq + i) * d.S;
          ak.row_dot(e, dprobs + p0, d.S, probs + p0, d.S, 1, d.S);
          Dn[i] += e[0];
        }
      if (dq && !acc_q && !tile)  // (the tile path assigns)
        for (int i = 0; i < d.Tq; ++i)
          std::fill_n(dq + (static_cast<size_t>(b) * d.Tq + i) * st.q + static_cast<size_t>(n) * d.H, d.H, 0.0f);
    }
    if (tile) {
      TileScratch& tw = tile_scratch().fit(d);
#pragma omp for schedule(static)
      for (long t = 0; t < tasks; ++t)
        tile_backward(tw, dq, dk, dv, acc_q, acc_k, acc_v, dout, dprobs, q, k, v, lse, D, d, m, scale, drop,
                      static_cast<int>(t / d.Nkv), static_cast<int>(t % d.Nkv));
    } else {
      Scratch w(d);
#pragma omp for schedule(static)
    for (long t = 0; t < tasks; ++t)
      backward_task(w, dq, dk, dv, acc_k, acc_v, dout, dprobs, q, k, v, lse, D, d, m, scale, drop,
                    static_cast<int>(t / d.Nkv), static_cast<int>(t % d.Nkv));
    }
  }
}

}  // namespace bc

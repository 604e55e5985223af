// Scaled dot-product attention, forward and backward, two ways (AttnPath below). Flash: the
// (Tq, S) score matrix of a head is never held whole; the forward walks key tiles with an online
// softmax and keeps one log-sum-exp per query row, the backward recomputes each score tile from
// it. Tile, for short sequences: one head's whole block at a time (at most kTileMaxScores, in L2),
// its weights recomputed in the backward as flash's are: nothing of size Tq x S outlives a task.
//
// Layouts (row-major, batch first, heads interleaved as Keras's projections leave them):
//   q (B, Tq, Nq, H), k (B, S, Nkv, H), v (B, S, Nkv, Hv) -> o (B, Tq, Nq, Hv), lse (B, Nq, Tq),
//   probs (B, Nq, Tq, S) only when the caller asks for the attention weights.
// Query head n reads key/value head n / (Nq / Nkv) (grouped-query attention; Nq == Nkv is MHA).
//
// Determinism: the forward runs tasks of (batch, head, query tile) (tile path: (batch, head)), the
// backward tasks of (batch, key/value head); every sum inside a task has a fixed order and the
// tiles have fixed sizes, so the bits do not depend on the thread count. The products go through the float
// family's small_gemm (one fused multiply-add per term, k in order) and the elementwise tile
// work below is written lane by lane with a fixed order, so every ISA path gives the same bits.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/common.h"

namespace bc {

struct AttnDims {
  int B = 0, Tq = 0, S = 0;  // batch, query length, key length
  int Nq = 1, Nkv = 1;       // query heads, key/value heads (Nq % Nkv == 0)
  int H = 0, Hv = 0;         // key and value head sizes
};

// What a query row may attend to: every given mask must allow the pair. Mask values are floats,
// 0 = masked (Keras's boolean masks, as the program carries them).
struct AttnMasks {
  const float* qmask = nullptr;   // (B, Tq): a masked query row attends to nothing
  const float* kmask = nullptr;   // (B, S): the value's mask
  const float* kmask2 = nullptr;  // (B, S): the key's mask
  const float* amask = nullptr;   // (B, Tq, S): attention_mask
  bool causal = false;            // key j > query i masked (Keras: top-left aligned)
  // A row that may attend to nothing: true gives 0 (Keras's explicit softmax path, taken with
  // dropout or returned scores); false gives the mean of every value, as a fused kernel's
  // additive -inf-like mask does (Keras's dot_product_attention path). Its gradient reaches only
  // the values (the scores do not change the output).
  bool zero_full_rows = false;
};

// Dropout on the attention weights: weight (b, n, i, j) is kept when draw
// ((row0 + b) * Nq + n) * Tq * S + i * S + j of Dropout's stream (core/rng.h drop_bits24 / 2^24) is
// >= rate, then scaled by 1 / (1 - rate).
struct AttnDropout {
  float rate = 0.0f;
  uint64_t key = 0;
  uint64_t row0 = 0;  // the batch's first row in the global batch (data parallel)
};

// Two ways to the same result (to ~1e-6; each deterministic on its own):
//   flash: the tiles above, for any length; the scores are recomputed in the backward.
//   tile:  short sequences (Tq * S small enough for one (batch, head) block to sit in L2, Tq not
//          tiny): the whole (S, Tq) block of a head at once, keys as rows and queries as columns,
//          so every product is a small_gemm vectorized over a long axis and the softmax runs down
//          the columns without horizontal sums; the backward recomputes the block from lse.
//          Sums have other orders than flash's (a column's sum over keys: four partial sums over
//          j % 4), so its bits differ from flash's, but not between ISA paths or thread counts.
// Auto picks by shape (attention_uses_tile); the others force a path (tests).
enum class AttnPath { Auto, Flash, Tile };
bool attention_uses_tile(const AttnDims& d, AttnPath path = AttnPath::Auto);

// o, lse (lse[row] = -inf marks a row that attends to nothing); probs may be null.
void attention_forward(float* o, float* lse, float* probs, const float* q, const float* k, const float* v,
                       const AttnDims& d, const AttnMasks& m, float scale, const AttnDropout& drop,
                       AttnPath path = AttnPath::Auto);

// Gradients of q, k, v (each may be null: not needed), assigned or accumulated (acc_*). dprobs:
// the gradient of the returned weights (null when none were returned or nothing reads them); it
// needs probs.
void attention_backward(float* dq, float* dk, float* dv, bool acc_q, bool acc_k, bool acc_v, const float* dout,
                        const float* dprobs, const float* probs, const float* q, const float* k, const float* v,
                        const float* o, const float* lse, const AttnDims& d, const AttnMasks& m, float scale,
                        const AttnDropout& drop, AttnPath path = AttnPath::Auto);

// Per-ISA elementwise work on one tile of R rows x C columns (leading dimension ld); body.h.
struct AttnKernels {
  const char* name;
  // Online softmax: s holds scores in, unnormalized weights out (0 where allow is 0; allow may be
  // null: all allowed). m, l: the running row max and sum (in/out); alpha (out): the factor that
  // rescales what was accumulated before this tile (0 while a row has seen nothing allowed).
  void (*online_softmax)(float* s, const float* allow, int R, int C, int ld, float* m, float* l, float* alpha);
  // s (scores) -> exp(s - lse[r]) where allowed, else 0 (lse finite).
  void (*probs_from_lse)(float* s, const float* allow, int R, int C, int ld, const float* lse);
  // keep (R, C) = 1 / (1 - rate) or 0: value (r, c) is draw first + r * row_step + c * col_step of
  // Dropout's stream (core/rng.h drop_bits24), vectorized along c.
  void (*dropout_scale)(float* keep, int R, int C, int ld, uint64_t first, uint64_t row_step, uint64_t col_step,
                        uint64_t key, float rate);
  // ds = p * (dp - D[r]) * scale in place of dp (dp already scaled by keep and grown by dA).
  void (*softmax_grad)(float* dp, const float* p, int R, int C, int ld, const float* D, float scale);
  // out[r] = sum_j a[r, j] * b[r, j]: in j order for up to 32 columns, else in fixed lanes (body.h).
  void (*row_dot)(float* out, const float* a, int lda, const float* b, int ldb, int R, int C);
  // The tile path's column kernels: s (S x Tq, ld) holds keys as rows and queries as columns.
  // x (n) = exp(x), vectorized (exp_f's method with fused multiply-adds; same bits on every path).
  void (*exp)(float* x, size_t n);
  // The column kernels take scores in log2 units (the queries scaled by log2(e) too) and
  // exponentiate with 2^x: the same weights, and fewer operations than exp (body.h's exp2_v).
  // Scores (-inf = masked) -> 2^(s - max) of each column, left unnormalized (the caller scales
  // what it makes of them by inv_l: Tq products instead of a pass over the block); 0 where masked.
  // lse (Tq) out, natural log, -inf for a column that allows nothing; inv_l (Tq) out: 1 / the
  // column's sum, 0 there.
  void (*col_softmax)(float* s, int S, int Tq, int ld, float* lse, float* inv_l);
  // Scores (-inf = masked) -> 2^(s - z2[i]); 0 where masked or z2[i] is -inf. z2 = lse * log2(e).
  void (*col_probs_from_lse)(float* s, int S, int Tq, int ld, const float* z2);
  // col_probs_from_lse's p into s, and dp -> p * (dp - D[i]) * scale, in one pass.
  void (*col_probs_grad)(float* s, float* dp, int S, int Tq, int ld, const float* z2, const float* D, float scale);
  // small_gemm's y (M x N) (+)= x (M x K) @ W (K x N), same bits, for few columns (N up to 4 vectors
  // of this path; returns false, doing nothing, above that).
  bool (*narrow_gemm)(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N, int K,
                      bool acc);
};

void fill_attention_ref(AttnKernels& k);
void fill_attention_avx2(AttnKernels& k);
void fill_attention_avx512(AttnKernels& k);

const AttnKernels& attention_kernels();  // the path in use (cpp/isa/ picks it)

}  // namespace bc

// The recurrent layers' unit split: inference on a few rows, where the chunked loop (recurrent.cpp)
// would run on one thread, cut by units instead, each thread running every step on its units' gate
// columns and waiting each step for the others' slices of h.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "isa/isa.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "ops/recurrent.h"

namespace bc {

namespace {
// The split serves inference on at most kSplitMaxRows rows (batch-1 serving), which the chunked loop
// runs on one thread, wherever the threads have units enough to share (kSplitUnits each)
// and the step's product is worth a barrier (kSplitMinStepFlops: an LSTM of 64 units at batch 8 split
// 0.26 -> 0.23 ms, 48 units at batch 8 lost 0.16 -> 0.23). Each thread's slice of R is 1 / P of it,
// which also keeps a large R within the cores' L2 (LSTM(512) at batch 1: 7.2 -> 3.1 ms). More rows go
// in chunks, one per thread: there the split measured no faster (LSTM(256) at batch 64 3% slower,
// LSTM(128) 17%), since the chunks need no barrier.
constexpr int kSplitMaxRows = 16, kSplitUnits = 16;
// An R larger than a core's L2 (2 MB here) takes the split up to kSplitMaxRowsLargeR rows: each chunk
// would stream all of R from L3 every step, each slice is half of it (LSTM(512) at batch 32 18.9 ->
// 15.7 ms, batch 40 21.6 -> 18.6; batch 48 5% slower, as LSTM(768) at batch 64 8%; GRU(512) at
// batch 32 12.6 -> 10.8 ms).
constexpr int kSplitMaxRowsLargeR = 40;
constexpr size_t kSplitLargeRBytes = size_t(2) << 20;
constexpr double kSplitMinStepFlops = 2e5;
// An R larger than a core's L1 data cache splits at any step size: whole, it streams from L2 every
// step, where each thread's half may stay in L1 (Zen 3, 32 KiB L1: the seed LSTM(64), R 64 KiB, at
// batch 1 124 -> 65 us, batch 4 300 -> 195; LSTM(48), R 36 KiB, batch 1 74 -> 57, batch 8 383 -> 279;
// LSTM(32), R 16 KiB, fits and lost at batch 1, 35 -> 37).
// Each step's product goes in pieces of kZigCols columns, in reverse order on odd steps: the part of
// the slice read last is read first next step, while still in L2 (a slice near L2's size otherwise
// streams from L3 every step: LSTM(512) at batch 8 6.09 -> 5.51 ms, batch 16 8.87 -> 8.40). Columns
// are independent sums, so the order changes no bits. A multiple of every path's panel width.
constexpr int kZigCols = 256;

// Waits until flag >= target: spinning first (the other core is a step's work away), then yielding,
// so that a thread waiting on a descheduled one (a loaded machine) gives it the core.
inline void wait_at_least(const std::atomic<int>& flag, int target) {
  for (int spins = 0; flag.load(std::memory_order_acquire) < target; ++spins) {
    if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// dst (rows, G Up) <- the columns [g U + u0, g U + u0 + Up) of src (rows, G U, row stride ld) for the
// G gates g, side by side: one thread's slice of a gate-major matrix (R, W or a bias row).
void gate_slice(float* dst, const float* src, size_t ld, int rows, int G, int U, int u0, int Up) {
  for (int r = 0; r < rows; ++r)
    for (int g = 0; g < G; ++g)
      std::memcpy(dst + (static_cast<size_t>(r) * G + g) * Up, src + r * ld + static_cast<size_t>(g) * U + u0,
                  Up * sizeof(float));
}
}  // namespace

// Each thread copies its slice of R (its units' columns of the G gates, side by side) once per call,
// packs it for the own kernel (PackedGemmWeights) and runs every step on it. With the per-step
// projection (step_proj_) it projects its own columns of W too. Each gate value is the same k-ordered
// chain of fused multiply-adds as the GEMM's own kernel gives the chunked loop (gemm_is_own), the
// bias is added after the projection's sum as input_projection adds it, and the cell maths is per
// unit, so the bits are the chunked loop's.
bool RecurrentOp::split_forward(Ctx& c) {
  const int B = c.B, T = cfg_.T, U = cfg_.U, D = cfg_.D, G = G_, GU = G * U;
  const bool large_r = static_cast<size_t>(U) * GU * sizeof(float) > kSplitLargeRBytes;
  if (!splits() || training_ || B < 1 || B > (large_r ? kSplitMaxRowsLargeR : kSplitMaxRows) || T < 2 ||
      (2.0 * B * U * GU < kSplitMinStepFlops && 4L * U * GU <= isa::l1d_bytes()) ||
      !float_products() || !gemm_is_own() || omp_in_parallel())
    return false;
  // (no more threads than processors: each waits on the others every step)
  const int P = std::min({get_num_threads(), U / kSplitUnits, omp_get_num_procs()});
  if (P < 2) return false;
  const bool apart = rec_apart();
  const int Wmax = G * ((U + P - 1) / P);
  // Per thread, in Wmax-float rows: R's slice (U), the gate rows (B) and h_prev R apart (B), W's
  // slice (D) with the input bias's (1), the recurrent bias's (1).
  const size_t per_thread = static_cast<size_t>(U + B + (apart ? B : 0) + (step_proj_ ? D + 1 : 0) + 1) * Wmax;
  if (split_.size() < P * per_thread) split_.resize(P * per_thread);
  if (split_packs_.size() < static_cast<size_t>(2 * P)) split_packs_.resize(2 * P);
  const Kernels& k = kernels();
  float* H = H_.data();
  // Each thread counts the steps whose h slice it has written; a step waits only for the others'
  // counts (one cache line each), lighter than a team barrier, and h is the only value shared.
  struct alignas(64) Done {
    std::atomic<int> steps{0};
  };
  std::vector<Done> done(P);
  // OpenMP may give the region fewer threads than asked (OMP_THREAD_LIMIT, OMP_DYNAMIC): each thread
  // would then wait forever for a slice nobody computes, so a short team does nothing and the chunks
  // run instead. The whole team sees the same count, so it agrees.
  bool short_team = false;
#pragma omp parallel num_threads(P)
  if (omp_get_num_threads() != P) {
#pragma omp single nowait
    short_team = true;
  } else {
    FlushDenormals ftz;  // as the calling thread (program.cpp)
    const int p = omp_get_thread_num();
    const int u0 = U * p / P, Up = U * (p + 1) / P - u0, Wp = G * Up;
    float* rs = split_.data() + p * per_thread;          // (U, Wp): this thread's columns of R
    float* z = rs + static_cast<size_t>(U) * Wmax;       // (B, Wp): its gate rows of the step
    float* rec = apart ? z + static_cast<size_t>(B) * Wmax : z;  // (B, Wp): h_prev R
    float* brec = rec + static_cast<size_t>(B) * Wmax;   // (Wp): the recurrent bias's slice
    float* ws = brec + Wmax;                             // (D, Wp), (Wp): W's slice, the input bias's
    float* bs = ws + static_cast<size_t>(D) * Wmax;
    PackedGemmWeights &rpack = split_packs_[2 * p], &wpack = split_packs_[2 * p + 1];
    gate_slice(rs, c.params + r_, GU, U, G, U, u0, Up);
    if (!gemm_reads_packed(B) || !rpack.pack(rs, Wp, U, Wp)) rpack.clear();
    const bool rbias = apart && b_ >= 0;  // (GRU: the bias's second half)
    if (rbias) gate_slice(brec, c.params + b_ + GU, GU, 1, G, U, u0, Up);
    if (step_proj_) {
      gate_slice(ws, c.params + w_, GU, D, G, U, u0, Up);
      if (b_ >= 0) gate_slice(bs, c.params + b_, GU, 1, G, U, u0, Up);
      if (!gemm_reads_packed(B) || !wpack.pack(ws, Wp, D, Wp)) wpack.clear();
    }
    for (int s = 0; s < T; ++s) {
      const int t = tin(s), tp = s ? tin(s - 1) : -1;
      if (step_proj_) {  // x_t W + b, this thread's columns
        const float* xt = c.val(in[0]) + row(0, t) * D;
        if (wpack.ready()) gemm_packed(B, xt, T * D, wpack, false, z, Wp);
        else k.fma_gemm(z, Wp, xt, T * D, false, ws, Wp, B, Wp, D, false);
        if (b_ >= 0) k.bias_act_forward(z, bs, B, Wp, ACT_LINEAR);
      } else {
        for (int b = 0; b < B; ++b) gate_slice(z + static_cast<size_t>(b) * Wp, proj_row(b, t), GU, 1, G, U, u0, Up);
      }
      if (s || state0_ >= 0) {
        for (int q = 0; q < P; ++q)  // h of step s - 1, whole
          wait_at_least(done[q].steps, s);
        const float* hp = s ? H + row(0, tp) * U : state0(c, 0, 0);
        const int ldh = s ? T * U : U, pieces = (Wp + kZigCols - 1) / kZigCols;
        for (int i = 0; i < pieces; ++i) {
          const int q = s & 1 ? pieces - 1 - i : i;
          const int n0 = q * kZigCols, n1 = std::min(Wp, n0 + kZigCols);
          if (rpack.ready()) gemm_packed_cols(B, hp, ldh, rpack, !apart, rec, Wp, n0, n1);
          else k.fma_gemm(rec + n0, Wp, hp, ldh, false, rs + n0, Wp, B, n1 - n0, U, !apart);
        }
      } else if (apart) {  // h_0 = 0: h_0 R = 0
        std::memset(rec, 0, static_cast<size_t>(B) * Wp * sizeof(float));
      }
      for (int b = 0; b < B; ++b)
        split_cell(c, b, t, tp, u0, Up, z + static_cast<size_t>(b) * Wp, rec + static_cast<size_t>(b) * Wp,
                   rbias ? brec : nullptr);
      done[p].steps.store(s + 1, std::memory_order_release);
    }
    rpack.clear();
    wpack.clear();
  }
  return !short_team;
}

}  // namespace bc

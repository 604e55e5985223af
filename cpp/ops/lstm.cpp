#include "ops/lstm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"

namespace bc {

LstmOp::LstmOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
               const std::vector<int>& out_t, size_t w, size_t r, long b)
    : RecurrentOp(cfg, 4, 2, x_t, mask_t, state_t, out_t, w, r, b) {}

void LstmOp::backward(Ctx& c) {
  if (dc_.size() < static_cast<size_t>(c.B) * cfg_.U) dc_.resize(static_cast<size_t>(c.B) * cfg_.U);
  RecurrentOp::backward(c);
}

void LstmOp::forward(Ctx& c) {
  set_length(c);  // T for this call, before the buffers are sized
  const size_t rows = static_cast<size_t>(c.B) * cfg_.T;
  if (C_.size() < rows * cfg_.U) C_.resize(rows * cfg_.U);
  RecurrentOp::forward(c);
  if (cfg_.return_state) {
    const int U = cfg_.U, last = tin(cfg_.T - 1);
    for (int b = 0; b < c.B; ++b)
      std::memcpy(c.val(out[2]) + static_cast<size_t>(b) * U, C_.data() + row(b, last) * U, U * sizeof(float));
  }
}

namespace {
// The unit split (split_forward) serves inference on one chunk of at most kSplitMaxRows rows (batch-1
// serving), which the chunked loop runs on one thread, wherever the threads have units enough to share
// (kSplitUnits each) and the step's product is worth a barrier (kSplitMinStepFlops: 64 units at batch
// 8 split 0.26 -> 0.23 ms, 48 units at batch 8 lost 0.16 -> 0.23). Each thread's slice of R is 1 / P
// of it, which also keeps large R within the cores' L2 (512 units at batch 1: 7.2 -> 3.1 ms). More
// rows go in chunks, one per thread: there the split measured no faster (256 units at batch 64 3%
// slower, 128 units 17%), since the chunks need no barrier.
constexpr int kSplitMaxRows = 16, kSplitUnits = 16;
constexpr double kSplitMinStepFlops = 2e5;

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

// dst (rows, 4 Up) <- the columns [g U + u0, g U + u0 + Up) of src (rows, 4 U, row stride ld) for
// the four gates g, side by side: one thread's slice of a gate-major matrix (R, W or a bias row).
void gate_slice(float* dst, const float* src, size_t ld, int rows, int U, int u0, int Up) {
  for (int r = 0; r < rows; ++r)
    for (int g = 0; g < 4; ++g)
      std::memcpy(dst + (static_cast<size_t>(r) * 4 + g) * Up, src + r * ld + static_cast<size_t>(g) * U + u0,
                  Up * sizeof(float));
}
}  // namespace

// Inference with threads to spare: the units are split between the threads, each copying its slice
// of R (its units' columns of the four gates, side by side) once per call, packing it for the own
// kernel (PackedGemmWeights) and running every step on it, waiting each step for the others' slices
// of h. With the per-step projection (step_proj_), each thread projects its own columns too. Each
// gate value is the same k-ordered chain of fused multiply-adds as the GEMM's own kernel gives the
// chunked loop (gemm_is_own), the bias is added after the projection's sum as input_projection adds
// it, and the cell maths is per unit, so the bits are the chunked loop's.
bool LstmOp::split_forward(Ctx& c) {
  const int B = c.B, T = cfg_.T, U = cfg_.U, D = cfg_.D, GU = 4 * U;
  if (training_ || B < 1 || B > kSplitMaxRows || chunk_ < B || T < 2 || 2.0 * B * U * GU < kSplitMinStepFlops ||
      !float_products() || !gemm_is_own() || omp_in_parallel())
    return false;
  // (no more threads than processors: each waits on the others every step)
  const int P = std::min({get_num_threads(), U / kSplitUnits, omp_get_num_procs()});
  if (P < 2) return false;
  const int W4max = 4 * ((U + P - 1) / P);
  const size_t Dw = step_proj_ ? static_cast<size_t>(D) + 1 : 0;  // W's slice and the bias's
  const size_t per_thread = (U + B + Dw) * W4max;
  if (split_.size() < P * per_thread) split_.resize(P * per_thread);
  if (split_packs_.size() < static_cast<size_t>(2 * P)) split_packs_.resize(2 * P);
  const Kernels& k = kernels();
  const float* R = c.params + r_;
  float *H = H_.data(), *C = C_.data();
  // Each thread counts the steps whose h slice it has written; a step waits only for the others'
  // counts (one cache line each), lighter than a team barrier, and h is the only value shared.
  struct alignas(64) Done {
    std::atomic<int> steps{0};
  };
  std::vector<Done> done(P);
#pragma omp parallel num_threads(P)
  {
    FlushDenormals ftz;  // as the calling thread (program.cpp)
    const int p = omp_get_thread_num();
    const int u0 = U * p / P, Up = U * (p + 1) / P - u0, W4 = 4 * Up;
    float* rs = split_.data() + p * per_thread;      // (U, 4 Up): this thread's columns of R
    float* z = rs + static_cast<size_t>(U) * W4max;  // (B, 4 Up): its gate rows of the step
    float* ws = z + static_cast<size_t>(B) * W4max;  // (D, 4 Up) and (4 Up): its columns of W and b
    float* bs = ws + static_cast<size_t>(D) * W4max;
    PackedGemmWeights &rpack = split_packs_[2 * p], &wpack = split_packs_[2 * p + 1];
    gate_slice(rs, R, GU, U, U, u0, Up);
    if (!gemm_reads_packed(B) || !rpack.pack(rs, W4, U, W4)) rpack.clear();
    if (step_proj_) {
      gate_slice(ws, c.params + w_, GU, D, U, u0, Up);
      if (b_ >= 0) gate_slice(bs, c.params + b_, GU, 1, U, u0, Up);
      if (!gemm_reads_packed(B) || !wpack.pack(ws, W4, D, W4)) wpack.clear();
    }
    for (int s = 0; s < T; ++s) {
      const int t = tin(s), tp = s ? tin(s - 1) : -1;
      if (step_proj_) {  // x_t W + b, this thread's columns
        const float* xt = c.val(in[0]) + row(0, t) * D;
        if (wpack.ready()) gemm_packed(B, xt, T * D, wpack, false, z, W4);
        else k.fma_gemm(z, W4, xt, T * D, false, ws, W4, B, W4, D, false);
        if (b_ >= 0) k.bias_act_forward(z, bs, B, W4, ACT_LINEAR);
      } else {
        for (int b = 0; b < B; ++b)
          for (int g = 0; g < 4; ++g)
            std::memcpy(z + static_cast<size_t>(b) * W4 + g * Up, proj_row(b, t) + g * U + u0, Up * sizeof(float));
      }
      if (s || state0_ >= 0) {
        for (int q = 0; q < P; ++q)  // h of step s - 1, whole
          wait_at_least(done[q].steps, s);
        const float* hp = s ? H + row(0, tp) * U : state0(c, 0, 0);
        const int ldh = s ? T * U : U;
        if (rpack.ready()) gemm_packed(B, hp, ldh, rpack, true, z, W4);
        else k.fma_gemm(z, W4, hp, ldh, false, rs, W4, B, W4, U, true);
      }
      for (int b = 0; b < B; ++b) {
        const float* cp = (tp >= 0 ? C + row(b, tp) * U : state0(c, 1, b)) + u0;
        const float* hp = (tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b)) + u0;
        float *cb = C + row(b, t) * U + u0, *hb = H + row(b, t) * U + u0;
        if (masked(c, b, t)) {  // the state passes through a masked step unchanged
          std::memcpy(cb, cp, Up * sizeof(float));
          std::memcpy(hb, hp, Up * sizeof(float));
          continue;
        }
        k.lstm_row_forward(z + static_cast<size_t>(b) * W4, cb, hb, cp, Up, cfg_.act, cfg_.ract);
      }
      done[p].steps.store(s + 1, std::memory_order_release);
    }
    rpack.clear();
    wpack.clear();
  }
  return true;
}

// Per step: Z_t += h_prev R (one GEMM for the chunk), then the fused cell kernel per row.
void LstmOp::chunk_forward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U, GU = 4 * U, n = b1 - b0;
  const Kernels& k = kernels();
  float *Z = Z_.data(), *H = H_.data(), *C = C_.data();
  for (int s = 0; s < T; ++s) {
    const int t = tin(s), tp = s ? tin(s - 1) : -1;
    if (step_proj_) project_step(c, b0, b1, t);
    if (s || state0_ >= 0) {
      int ld;
      const float* hp = rec_rows(c, b0, b1, s, &ld);
      recurrent_matmul(c, hp, ld, n, Z + srow(b0, t) * GU, sld() * GU, true);
    } else if (training_) {
      for (int b = b0; b < b1; ++b) load_hprev(b, s, nullptr);
    }
    for (int b = b0; b < b1; ++b) {
      const float* cp = tp >= 0 ? C + row(b, tp) * U : state0(c, 1, b);
      const float* hp = tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b);
      if (masked(c, b, t)) {  // the state passes through a masked step unchanged
        std::memcpy(C + row(b, t) * U, cp, U * sizeof(float));
        std::memcpy(H + row(b, t) * U, hp, U * sizeof(float));
        continue;
      }
      k.lstm_row_forward(Z + srow(b, t) * GU, C + row(b, t) * U, H + row(b, t) * U, cp, U, cfg_.act, cfg_.ract);
    }
  }
}

void LstmOp::chunk_backward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U, GU = 4 * U;
  const Kernels& k = kernels();
  float *dZ = dZ_.data(), *C = C_.data();
  for (int b = b0; b < b1; ++b) {
    float* dc = dc_.data() + static_cast<size_t>(b) * U;
    if (cfg_.return_state) std::memcpy(dc, c.grad(out[2]) + static_cast<size_t>(b) * U, U * sizeof(float));
    else std::memset(dc, 0, U * sizeof(float));
  }
  for (int s = T - 1; s >= 0; --s) {
    const int t = tin(s), tp = s ? tin(s - 1) : -1;
    add_dy(c, b0, b1, s);
    for (int b = b0; b < b1; ++b) {
      if (masked(c, b, t)) {  // the state passed through: dh and dc carry on unchanged
        std::memset(dZ + row(b, t) * GU, 0, GU * sizeof(float));
        continue;
      }
      const float* cp = tp >= 0 ? C + row(b, tp) * U : state0(c, 1, b);
      k.lstm_row_backward(dZ + row(b, t) * GU, dc_.data() + static_cast<size_t>(b) * U, Z_.data() + row(b, t) * GU,
                          C + row(b, t) * U, cp, dh_.data() + static_cast<size_t>(b) * U, U, cfg_.act, cfg_.ract);
    }
    if (s || state0_ >= 0) dh_prev(c, b0, b1, t, dZ, nullptr);
  }
  if (state0_ >= 0) {  // dh, dc now hold dL/dh_0, dL/dc_0
    state0_grad(c, 0, b0, b1, dh_.data());
    state0_grad(c, 1, b0, b1, dc_.data());
  }
}

}  // namespace bc

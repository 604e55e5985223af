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
// The unit split (split_forward) serves inference on one chunk of at most this many rows, with at
// least kSplitUnits units per thread and R small enough that each thread's slice stays in L2.
constexpr int kSplitMaxRows = 16, kSplitUnits = 16, kSplitMaxUnits = 256;

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
}  // namespace

// Inference on a few rows (batch-1 serving), where the chunked loop would leave all but one thread
// idle: the units are split between the threads, each packing its slice of R once per call (its
// units' columns of the four gates, side by side) and running every step on it, waiting each step
// for the others' slices of h. Each gate value is the same k-ordered chain of fused multiply-adds as the
// GEMM's own kernel gives the chunked loop (gemm_is_own), and the cell maths is per unit, so the
// bits are the chunked loop's.
bool LstmOp::split_forward(Ctx& c) {
  const int B = c.B, T = cfg_.T, U = cfg_.U, GU = 4 * U;
  if (training_ || step_proj_ || B < 1 || B > kSplitMaxRows || chunk_ < B || T < 2 || U > kSplitMaxUnits ||
      !float_products() || !gemm_is_own() || omp_in_parallel())
    return false;
  // (no more threads than processors: each waits on the others every step)
  const int P = std::min({get_num_threads(), U / kSplitUnits, omp_get_num_procs()});
  if (P < 2) return false;
  const int W4max = 4 * ((U + P - 1) / P);
  const size_t per_thread = static_cast<size_t>(U + B) * W4max;
  if (split_.size() < P * per_thread) split_.resize(P * per_thread);
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
    float* rs = split_.data() + p * per_thread;  // (U, 4 Up): this thread's columns of R
    float* z = rs + static_cast<size_t>(U) * W4max;  // (B, 4 Up): its gate rows of the step
    for (int r = 0; r < U; ++r)
      for (int g = 0; g < 4; ++g)
        std::memcpy(rs + static_cast<size_t>(r) * W4 + g * Up, R + static_cast<size_t>(r) * GU + g * U + u0,
                    Up * sizeof(float));
    for (int s = 0; s < T; ++s) {
      const int t = tin(s), tp = s ? tin(s - 1) : -1;
      for (int b = 0; b < B; ++b)
        for (int g = 0; g < 4; ++g)
          std::memcpy(z + static_cast<size_t>(b) * W4 + g * Up, proj_row(b, t) + g * U + u0, Up * sizeof(float));
      if (s || state0_ >= 0) {
        for (int q = 0; q < P; ++q)  // h of step s - 1, whole
          wait_at_least(done[q].steps, s);
        const float* hp = s ? H + row(0, tp) * U : state0(c, 0, 0);
        k.fma_gemm(z, W4, hp, s ? T * U : U, false, rs, W4, B, W4, U, true);
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

#include "ops/recurrent.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/rng.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "ops/activation.h"
#include "ops/parallel.h"

namespace bc {

namespace {
// Rows per chunk of the time loop: a function of the batch size only, so the bits never depend
// on the thread count; small batches stay in one chunk (GEMMs of fewer rows lose efficiency).
int chunk_rows(int B) {
  if (B <= 16) return B;
  int c = (B + 1) / 2;
  return std::max(16, (c + 7) / 8 * 8);
}

// Inference keeps every step's projection (B*T*G*U floats) only below this many bytes.
constexpr size_t kAllStepsBytes = size_t(2) << 20;

// first: the stream index of m[0] (a data-parallel rank's rows continue the global batch's)
void keep_mask(std::vector<float>& m, size_t n, float rate, uint64_t key, uint64_t first) {
  m.resize(n);
  const float scale = 1.0f / (1.0f - rate);
  for (size_t i = 0; i < n; ++i) m[i] = rng_uniform(key, first + i) >= rate ? scale : 0.0f;
}

template <class F>
void for_chunks(int B, int chunk, F&& f) {
  const int n = (B + chunk - 1) / chunk;
  const int threads = std::min(get_num_threads(), n);
  if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < n; ++i) {
      FlushDenormals ftz;  // as the calling thread (program.cpp)
      f(i * chunk, std::min(B, (i + 1) * chunk));
    }
  } else {
    for (int i = 0; i < n; ++i) f(i * chunk, std::min(B, (i + 1) * chunk));
  }
}
}  // namespace

RecurrentOp::RecurrentOp(const RnnConfig& cfg, int gates, int n_states, int x_t, int mask_t,
                         const std::vector<int>& state_t, const std::vector<int>& out_t, size_t w,
                         size_t r, long b)
    : cfg_(cfg), G_(gates), w_(w), r_(r), b_(b) {
  BC_CHECK(cfg.D > 0 && cfg.U > 0 && cfg.T >= 0, "recurrent layer sizes must be positive");
  // The cells differentiate through their outputs (kernels/float/rnn.h), one value at a time.
  for (int a : {cfg.act, cfg.ract})
    BC_CHECK(act_valid(a) && !act_needs_input(a) && !act_is_rowwise(a),
             "recurrent layer: activation id " + std::to_string(a) + " is not one a cell takes (linear, relu, "
             "sigmoid, tanh, hard_sigmoid, relu6, leaky_relu, hard_tanh, soft_shrink, hard_shrink, exponential)");
  BC_CHECK(cfg.dropout >= 0.0f && cfg.dropout < 1.0f && cfg.recurrent_dropout >= 0.0f &&
               cfg.recurrent_dropout < 1.0f, "dropout rates must be in [0, 1)");
  BC_CHECK(out_t.size() == static_cast<size_t>(1 + (cfg.return_state ? n_states : 0)),
           "recurrent layer: wrong number of outputs");
  BC_CHECK(state_t.empty() || state_t.size() == static_cast<size_t>(n_states),
           "recurrent layer: expected " + std::to_string(n_states) + " initial state tensors, got " +
               std::to_string(state_t.size()));
  in = {x_t};
  if (cfg.has_mask) in.push_back(mask_t);
  if (!state_t.empty()) {
    state0_ = static_cast<int>(in.size());
    in.insert(in.end(), state_t.begin(), state_t.end());
  }
  out = out_t;
  params = {w, r};
  if (b >= 0) params.push_back(static_cast<size_t>(b));
  zeros_.assign(static_cast<size_t>(G_) * cfg.U, 0.0f);
}

void RecurrentOp::set_length(Ctx& c) {
  const size_t D = cfg_.D, U = cfg_.U, ps = c.per_sample(in[0]);
  BC_CHECK(ps % D == 0 && ps >= D, "recurrent layer: an input of " + std::to_string(ps) +
                                       " values per sample is not (timesteps, " + std::to_string(D) + ")");
  BC_CHECK(ps / D <= static_cast<size_t>(INT32_MAX), "recurrent layer: too many timesteps");
  const size_t T = ps / D;
  if (cfg_.has_mask)
    BC_CHECK(c.per_sample(in[1]) == T, "recurrent layer: the mask has " + std::to_string(c.per_sample(in[1])) +
                                           " steps per sample, but the input has " + std::to_string(T));
  BC_CHECK(c.per_sample(out[0]) == (cfg_.return_sequences ? T * U : U),
           "recurrent layer: the output tensor does not hold (" + std::string(cfg_.return_sequences ? "T, " : "") +
               std::to_string(U) + ") values per sample for T = " + std::to_string(T));
  cfg_.T = static_cast<int>(T);
}

void RecurrentOp::load_hprev(int b, int s, const float* h_prev) {
  const int U = cfg_.U;
  float* dst = Hprev_.data() + row(b, tin(s)) * U;
  if (!h_prev) {
    std::memset(dst, 0, U * sizeof(float));
  } else if (training_ && cfg_.recurrent_dropout > 0.0f) {
    const float* m = rmask_.data() + static_cast<size_t>(b) * U;
    for (int j = 0; j < U; ++j) dst[j] = h_prev[j] * m[j];
  } else {
    std::memcpy(dst, h_prev, U * sizeof(float));
  }
}

// Inference with a large batch: this step's rows only, into the front of Z_ (srow/sld).
void RecurrentOp::project_step(Ctx& c, int b0, int b1, int t) {
  const int D = cfg_.D, GU = G_ * cfg_.U;
  input_projection(c, c.val(in[0]) + row(b0, t) * D, cfg_.T * D, b1 - b0, Z_.data() + static_cast<size_t>(b0) * GU);
}

const float* RecurrentOp::rec_rows(Ctx& c, int b0, int b1, int s, int* ld) {
  const int U = cfg_.U, t = tin(s);
  if (s == 0) {  // the initial state's rows (callers ask only when there is one)
    if (!training_) {
      *ld = U;
      return state0(c, 0, b0);
    }
    for (int b = b0; b < b1; ++b) load_hprev(b, 0, state0(c, 0, b));
  } else {
    const int tp = tin(s - 1);
    *ld = cfg_.T * U;
    if (!training_) return H_.data() + row(b0, tp) * U;
    for (int b = b0; b < b1; ++b) load_hprev(b, s, H_.data() + row(b, tp) * U);
  }
  *ld = cfg_.T * U;
  return Hprev_.data() + row(b0, t) * U;
}

void RecurrentOp::state0_grad(Ctx& c, int k, int b0, int b1, const float* d) {
  const size_t i = static_cast<size_t>(state0_ + k), U = cfg_.U;
  if (!need_dx[i]) return;
  float* g = c.grad(in[i]) + b0 * U;
  const size_t n = static_cast<size_t>(b1 - b0) * U;
  if (accum_dx[i]) {
    for (size_t j = 0; j < n; ++j) g[j] += d[b0 * U + j];
  } else {
    std::memcpy(g, d + b0 * U, n * sizeof(float));
  }
}

float* RecurrentOp::dy_row(Ctx& c, int b, int s) {
  const int U = cfg_.U, t = tin(s);
  if (lead_masked(b, s)) return nullptr;  // that output was zeros, not h
  if (cfg_.return_sequences) {
    if (cfg_.zero_output_for_mask && masked(c, b, t)) return nullptr;
    int p = cfg_.output_in_input_order ? t : s;
    return c.grad(out[0]) + row(b, p) * U;
  }
  return s == cfg_.T - 1 ? c.grad(out[0]) + static_cast<size_t>(b) * U : nullptr;
}

void RecurrentOp::add_dy(Ctx& c, int b0, int b1, int s) {
  const int U = cfg_.U;
  for (int b = b0; b < b1; ++b)
    if (const float* dy = dy_row(c, b, s)) {
      float* dh = dh_.data() + static_cast<size_t>(b) * U;
      for (int j = 0; j < U; ++j) dh[j] += dy[j];
    }
}

void RecurrentOp::dh_prev(Ctx& c, int b0, int b1, int t, const float* drec, const float* direct,
                          const float* inner) {
  const int T = cfg_.T, U = cfg_.U, GU = G_ * U;
  if (rtpack_.ready())
    gemm_packed(b1 - b0, drec + row(b0, t) * GU, T * GU, rtpack_, false, tmp_.data() + static_cast<size_t>(b0) * U, U);
  else
    gemm(false, false, b1 - b0, U, GU, 1.0f, drec + row(b0, t) * GU, T * GU, Rt_.data(), U, 0.0f,
         tmp_.data() + static_cast<size_t>(b0) * U, U);
  const bool rdrop = training_ && cfg_.recurrent_dropout > 0.0f;
  for (int b = b0; b < b1; ++b) {
    if (masked(c, b, t)) continue;
    float* dh = dh_.data() + static_cast<size_t>(b) * U;
    const float* g = tmp_.data() + static_cast<size_t>(b) * U;
    const float* m = rdrop ? rmask_.data() + static_cast<size_t>(b) * U : nullptr;
    const float* d = direct ? direct + static_cast<size_t>(b) * U : nullptr;
    if (inner) {
      const float* in_b = inner + static_cast<size_t>(b) * U;
      for (int j = 0; j < U; ++j) {
        const float v = g[j] + in_b[j];
        dh[j] = (m ? v * m[j] : v) + (d ? d[j] : 0.0f);
      }
      continue;
    }
    for (int j = 0; j < U; ++j) dh[j] = (m ? g[j] * m[j] : g[j]) + (d ? d[j] : 0.0f);
  }
}

void RecurrentOp::fold_embedding(int ids_t, size_t table, int V) {
  BC_CHECK(V > 0, "fold_embedding: the vocabulary must not be empty");
  fold_ids_ = ids_t;
  fold_table_ = table;
  fold_V_ = V;
}

bool RecurrentOp::memo_projection(Ctx& c, int rows) {
  const size_t D = cfg_.D, GU = static_cast<size_t>(G_) * cfg_.U;
  // The memo's rows have the unfolded bits only on the own GEMM; int8 layers project otherwise.
  if (fold_ids_ < 0 || training_ || !float_products() || !gemm_is_own() || !ProjectionMemo::fits(fold_V_, D, GU))
    return false;
  if (!(*c.tensors)[fold_ids_].batched || c.per_sample(fold_ids_) * D != c.per_sample(in[0])) return false;
  if (!memo_) memo_ = std::make_unique<ProjectionMemo>();
  return memo_->lookup(c.val(fold_ids_), static_cast<size_t>(rows), c.params + w_, b_ >= 0 ? c.params + b_ : nullptr,
                       c.params + fold_table_, fold_V_, D, GU,
                       [&](const float* x, int m, float* z) { input_projection(c, x, cfg_.D, m, z); });
}

void RecurrentOp::input_projection(Ctx& c, const float* x, int ldx, int rows, float* z) {
  const int D = cfg_.D, GU = G_ * cfg_.U;
  if (wpack_.ready()) gemm_packed(rows, x, ldx, wpack_, false, z, GU);
  else gemm(false, false, rows, GU, D, 1.0f, x, ldx, c.params + w_, GU, 0.0f, z, GU);
  if (b_ >= 0) kernels().bias_act_forward(z, c.params + b_, rows, GU, ACT_LINEAR);
}

void RecurrentOp::recurrent_matmul(Ctx& c, const float* h, int ldh, int n, float* out, int ldo, bool add) {
  if (rpack_.ready()) return gemm_packed(n, h, ldh, rpack_, add, out, ldo);
  const int U = cfg_.U, GU = G_ * U;
  gemm(false, false, n, GU, U, 1.0f, h, ldh, c.params + r_, GU, add ? 1.0f : 0.0f, out, ldo);
}

// x (B, T, D) -> Z = x W + b for every timestep in one GEMM, then the time loop in chunks.
void RecurrentOp::forward(Ctx& c) {
  set_length(c);
  const int B = c.B, T = cfg_.T, D = cfg_.D, U = cfg_.U, GU = G_ * U;
  const size_t rows = static_cast<size_t>(B) * T;
  training_ = c.training;
  step_proj_ = !training_ && rows * GU * sizeof(float) > kAllStepsBytes;
  if (Z_.size() < (step_proj_ ? static_cast<size_t>(B) : rows) * GU) Z_.resize((step_proj_ ? B : rows) * GU);
  if (H_.size() < rows * U) H_.resize(rows * U);
  if (training_ && Hprev_.size() < rows * U) Hprev_.resize(rows * U);
  chunk_ = chunk_rows(B);
  const float* x = c.val(in[0]);
  if (training_ && cfg_.dropout > 0.0f) {
    keep_mask(dmask_, static_cast<size_t>(B) * D, cfg_.dropout, rng_key(c.seed, cfg_.stream, c.step),
              c.row0 * D);
    if (xin_.size() < rows * D) xin_.resize(rows * D);
    for (size_t i = 0; i < rows; ++i) {
      const float* m = dmask_.data() + (i / T) * D;
      for (int j = 0; j < D; ++j) xin_.data()[i * D + j] = x[i * D + j] * m[j];
    }
    x = xin_.data();
  }
  if (training_ && cfg_.recurrent_dropout > 0.0f)
    keep_mask(rmask_, static_cast<size_t>(B) * U, cfg_.recurrent_dropout,
              rng_key(c.seed, cfg_.stream ^ 0x9e3779b97f4a7c15ULL, c.step), c.row0 * U);
  memo_rows_ = !step_proj_ && memo_projection(c, static_cast<int>(rows));
  if (!step_proj_ && !memo_rows_) input_projection(c, x, D, static_cast<int>(rows), Z_.data());
  first_real_.clear();
  if (state0_ >= 0 && cfg_.has_mask) {
    first_real_.assign(B, T);
    for (int b = 0; b < B; ++b)
      for (int s = 0; s < T; ++s)
        if (!masked(c, b, tin(s))) {
          first_real_[b] = s;
          break;
        }
  }
  if (!split_forward(c)) {
    if (memo_rows_) memo_->gather(Z_.data());  // the chunks add into Z_ in place
    memo_rows_ = false;
    if (float_products() && T > 1 && gemm_reads_packed(chunk_)) {
      rpack_.pack(c.params + r_, GU, U, GU);
      if (step_proj_) wpack_.pack(c.params + w_, GU, D, GU);  // x_t W at every step too
    }
    for_chunks(B, chunk_, [&](int b0, int b1) { chunk_forward(c, b0, b1); });
    rpack_.clear();
    wpack_.clear();
  }
  memo_rows_ = false;

  float* y = c.val(out[0]);
  const int last = tin(T - 1);
  for (int b = 0; b < B; ++b) {
    if (cfg_.return_sequences) {
      for (int s = 0; s < T; ++s) {
        int t = tin(s), p = cfg_.output_in_input_order ? t : s;
        float* dst = y + row(b, p) * U;
        if ((cfg_.zero_output_for_mask && masked(c, b, t)) || lead_masked(b, s))
          std::memset(dst, 0, U * sizeof(float));
        else std::memcpy(dst, H_.data() + row(b, t) * U, U * sizeof(float));
      }
    } else if (lead_masked(b, T - 1)) {
      std::memset(y + static_cast<size_t>(b) * U, 0, U * sizeof(float));
    } else {
      std::memcpy(y + static_cast<size_t>(b) * U, H_.data() + row(b, last) * U, U * sizeof(float));
    }
    if (cfg_.return_state)
      std::memcpy(c.val(out[1]) + static_cast<size_t>(b) * U, H_.data() + row(b, last) * U, U * sizeof(float));
  }
}

void RecurrentOp::backward(Ctx& c) {
  const int B = c.B, T = cfg_.T, D = cfg_.D, U = cfg_.U, GU = G_ * U;
  const int rows = B * T;
  if (dZ_.size() < static_cast<size_t>(rows) * GU) dZ_.resize(static_cast<size_t>(rows) * GU);
  if (dh_.size() < static_cast<size_t>(B) * U) {
    dh_.resize(static_cast<size_t>(B) * U);
    tmp_.resize(static_cast<size_t>(B) * U);
  }
  if (cfg_.return_state) std::memcpy(dh_.data(), c.grad(out[1]), static_cast<size_t>(B) * U * sizeof(float));
  else std::memset(dh_.data(), 0, static_cast<size_t>(B) * U * sizeof(float));
  // R^T once, so that no step repacks R (the BLAS did, on every step's dh_prev product)
  if (Rt_.size() < static_cast<size_t>(GU) * U) Rt_.resize(static_cast<size_t>(GU) * U);
  transpose32(Rt_.data(), U, c.params + r_, GU, U, GU);
  if (T > 1 && gemm_reads_packed(chunk_)) rtpack_.pack(Rt_.data(), U, GU, U);
  for_chunks(B, chunk_, [&](int b0, int b1) { chunk_backward(c, b0, b1); });
  rtpack_.clear();
  if (cfg_.has_mask && need_dx[1] && !accum_dx[1])  // a mask gets no gradient (Keras casts it to bool)
    std::memset(c.grad(in[1]), 0, static_cast<size_t>(B) * T * sizeof(float));

  const bool dropped = training_ && cfg_.dropout > 0.0f;
  const float* x = dropped ? xin_.data() : c.val(in[0]);
  gemm(true, false, D, GU, rows, 1.0f, x, D, dZ_.data(), GU, accum_dw[0] ? 1.0f : 0.0f, c.grads + w_, GU);
  gemm(true, false, U, GU, rows, 1.0f, Hprev_.data(), U, rec_grad(), GU, accum_dw[1] ? 1.0f : 0.0f,
       c.grads + r_, GU);
  if (b_ >= 0) {
    col_sum_team(c.grads + b_, dZ_.data(), rows, GU, accum_dw[2]);
    if (rec_bias())  // GRU (reset_after=True): the recurrent half of the bias
      col_sum_team(c.grads + b_ + GU, rec_grad(), rows, GU, accum_dw[2]);
  }
  if (!need_dx[0]) return;
  float* dx = c.grad(in[0]);
  if (!dropped) {
    gemm(false, true, rows, D, GU, 1.0f, dZ_.data(), GU, c.params + w_, GU, accum_dx[0] ? 1.0f : 0.0f, dx, D);
    return;
  }
  // dx = (dZ W^T) * input mask; xin_ is free again and holds the product
  gemm(false, true, rows, D, GU, 1.0f, dZ_.data(), GU, c.params + w_, GU, 0.0f, xin_.data(), D);
  for (int i = 0; i < rows; ++i) {
    const float* m = dmask_.data() + static_cast<size_t>(i / T) * D;
    for (int j = 0; j < D; ++j) {
      float v = xin_.data()[static_cast<size_t>(i) * D + j] * m[j];
      float& d = dx[static_cast<size_t>(i) * D + j];
      d = accum_dx[0] ? d + v : v;
    }
  }
}

}  // namespace bc

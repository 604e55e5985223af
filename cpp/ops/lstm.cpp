#include "ops/lstm.h"

#include <cstring>

#include "kernels/float/float.h"

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

// The unit split's cell (recurrent_split.cpp): z holds the gates' pre-activations, h_prev R added.
void LstmOp::split_cell(Ctx& c, int b, int t, int tp, int u0, int Up, float* z, float*, const float*) {
  const int U = cfg_.U;
  float *H = H_.data(), *C = C_.data();
  const float* cp = (tp >= 0 ? C + row(b, tp) * U : state0(c, 1, b)) + u0;
  const float* hp = (tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b)) + u0;
  float *cb = C + row(b, t) * U + u0, *hb = H + row(b, t) * U + u0;
  if (masked(c, b, t)) {  // the state passes through a masked step unchanged
    std::memcpy(cb, cp, Up * sizeof(float));
    std::memcpy(hb, hp, Up * sizeof(float));
    return;
  }
  kernels().lstm_row_forward(z, cb, hb, cp, Up, cfg_.act, cfg_.ract);
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

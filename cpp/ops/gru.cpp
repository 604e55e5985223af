#include "ops/gru.h"

#include <cstring>

#include "kernels/float/float.h"

namespace bc {

GruOp::GruOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
             const std::vector<int>& out_t, size_t w, size_t r, long b)
    : RecurrentOp(cfg, 3, 1, x_t, mask_t, state_t, out_t, w, r, b) {}

// Buffers are sized here, before the chunks run on threads.
void GruOp::forward(Ctx& c) {
  set_length(c);  // T for this call, before the buffers are sized
  const size_t n = static_cast<size_t>(c.B) * cfg_.T * 3 * cfg_.U;
  if (R_.size() < n) R_.resize(n);  // (B, 3U) would do for step_proj_ inference; sized for either
  RecurrentOp::forward(c);
}

void GruOp::backward(Ctx& c) {
  const size_t n = static_cast<size_t>(c.B) * cfg_.T * 3 * cfg_.U;
  if (dR_.size() < n) dR_.resize(n);
  if (dhd_.size() < static_cast<size_t>(c.B) * cfg_.U) dhd_.resize(static_cast<size_t>(c.B) * cfg_.U);
  RecurrentOp::backward(c);
}

void GruOp::chunk_forward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U, GU = 3 * U, n = b1 - b0;
  const Kernels& k = kernels();
  float *Z = Z_.data(), *H = H_.data(), *R = R_.data();
  const float* brec = b_ >= 0 ? c.params + b_ + GU : nullptr;
  for (int s = 0; s < T; ++s) {
    const int t = tin(s), tp = s ? tin(s - 1) : -1;
    if (step_proj_) project_step(c, b0, b1, t);
    if (s || state0_ >= 0) {
      int ld;
      const float* hp = rec_rows(c, b0, b1, s, &ld);
      recurrent_matmul(c, hp, ld, n, R + srow(b0, t) * GU, sld() * GU, false);
    } else {
      for (int b = b0; b < b1; ++b) {
        if (training_) load_hprev(b, s, nullptr);
        std::memset(R + srow(b, t) * GU, 0, GU * sizeof(float));
      }
    }
    for (int b = b0; b < b1; ++b) {
      const float* hp = tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b);
      if (masked(c, b, t)) {
        std::memcpy(H + row(b, t) * U, hp, U * sizeof(float));
        continue;
      }
      k.gru_row_forward(Z + srow(b, t) * GU, R + srow(b, t) * GU, H + row(b, t) * U, hp, brec, U,
                        cfg_.act, cfg_.ract);
    }
  }
}

// The unit split's cell (recurrent_split.cpp): rec, h_prev R for these units, takes the recurrent
// bias in place, as the chunked loop's R_ row does.
void GruOp::split_cell(Ctx& c, int b, int t, int tp, int u0, int Up, float* z, float* rec, const float* rec_bias) {
  const int U = cfg_.U;
  float* H = H_.data();
  const float* hp = (tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b)) + u0;
  float* hb = H + row(b, t) * U + u0;
  if (masked(c, b, t)) {
    std::memcpy(hb, hp, Up * sizeof(float));
    return;
  }
  kernels().gru_row_forward(z, rec, hb, hp, rec_bias, Up, cfg_.act, cfg_.ract);
}

void GruOp::chunk_backward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U, GU = 3 * U;
  const Kernels& k = kernels();
  float *dZ = dZ_.data(), *dR = dR_.data(), *H = H_.data();
  for (int s = T - 1; s >= 0; --s) {
    const int t = tin(s), tp = s ? tin(s - 1) : -1;
    add_dy(c, b0, b1, s);
    for (int b = b0; b < b1; ++b) {
      float* dh = dh_.data() + static_cast<size_t>(b) * U;
      if (masked(c, b, t)) {
        std::memset(dZ + row(b, t) * GU, 0, GU * sizeof(float));
        std::memset(dR + row(b, t) * GU, 0, GU * sizeof(float));
        continue;
      }
      const float* hp = tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b);
      k.gru_row_backward(dZ + row(b, t) * GU, dR + row(b, t) * GU, dhd_.data() + static_cast<size_t>(b) * U,
                         Z_.data() + row(b, t) * GU, R_.data() + row(b, t) * GU, hp, dh, U, cfg_.act, cfg_.ract);
    }
    if (s || state0_ >= 0) dh_prev(c, b0, b1, t, dR, dhd_.data());  // plus the direct path through z * h_prev
  }
  if (state0_ >= 0) state0_grad(c, 0, b0, b1, dh_.data());  // dh now holds dL/dh_0
}

GruBeforeOp::GruBeforeOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
                         const std::vector<int>& out_t, size_t w, size_t r, long b)
    : RecurrentOp(cfg, 3, 1, x_t, mask_t, state_t, out_t, w, r, b) {}

void GruBeforeOp::forward(Ctx& c) {
  set_length(c);
  const size_t B = c.B, U = cfg_.U, rows = B * cfg_.T;
  if (RH_.size() < rows * U) RH_.resize(rows * U);
  if (rec_.size() < B * 2 * U) rec_.resize(B * 2 * U);
  if (rech_.size() < B * U) rech_.resize(B * U);
  RecurrentOp::forward(c);
}

void GruBeforeOp::backward(Ctx& c) {
  const size_t B = c.B, U = cfg_.U, GU = 3 * U, rows = B * cfg_.T;
  if (dR_.size() < rows * GU) dR_.resize(rows * GU);
  if (dhd_.size() < B * U) dhd_.resize(B * U);
  if (drh_.size() < B * U) drh_.resize(B * U);
  RecurrentOp::backward(c);  // dW, dR[:, :2U] (dR_'s h third is zeros, adding nothing), the bias, dx
  // dR[:, 2U:] += RH^T dL/d(hh pre-activation)
  gemm(true, false, cfg_.U, cfg_.U, static_cast<int>(rows), 1.0f, RH_.data(), cfg_.U, dZ_.data() + 2 * U,
       static_cast<int>(GU), 1.0f, c.grads + r_ + 2 * U, static_cast<int>(GU));
}

void GruBeforeOp::chunk_forward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U, GU = 3 * U, n = b1 - b0;
  const Kernels& k = kernels();
  const float* Rw = c.params + r_;
  float *Z = Z_.data(), *H = H_.data(), *RH = RH_.data(), *rec = rec_.data(), *rech = rech_.data();
  for (int s = 0; s < T; ++s) {
    const int t = tin(s), tp = s ? tin(s - 1) : -1;
    if (step_proj_) project_step(c, b0, b1, t);
    const float* hp = zeros_.data();  // h_prev as multiplied by R, row b at hp + (b - b0) * ld
    int ld = 0;
    if (s || state0_ >= 0) {
      hp = rec_rows(c, b0, b1, s, &ld);
      gemm(false, false, n, 2 * U, U, 1.0f, hp, ld, Rw, GU, 0.0f, rec + static_cast<size_t>(b0) * 2 * U, 2 * U);
    } else {
      for (int b = b0; b < b1; ++b) {
        if (training_) load_hprev(b, s, nullptr);
        std::memset(rec + static_cast<size_t>(b) * 2 * U, 0, 2 * U * sizeof(float));
      }
    }
    for (int b = b0; b < b1; ++b) {
      float* rh = RH + row(b, t) * U;
      if (masked(c, b, t)) {
        const float* h_prev = tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b);
        std::memcpy(H + row(b, t) * U, h_prev, U * sizeof(float));
        std::memset(rh, 0, U * sizeof(float));  // so that it adds nothing to dR[:, 2U:]
        continue;
      }
      k.gru_before_row_gates(Z + srow(b, t) * GU, rec + static_cast<size_t>(b) * 2 * U, rh,
                             hp + static_cast<size_t>(b - b0) * ld, U, cfg_.ract);
    }
    gemm(false, false, n, U, U, 1.0f, RH + row(b0, t) * U, T * U, Rw + 2 * U, GU, 0.0f,
         rech + static_cast<size_t>(b0) * U, U);
    for (int b = b0; b < b1; ++b) {
      if (masked(c, b, t)) continue;
      const float* h_prev = tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b);
      k.gru_before_row_out(Z + srow(b, t) * GU, rech + static_cast<size_t>(b) * U, H + row(b, t) * U, h_prev, U,
                           cfg_.act);
    }
  }
}

void GruBeforeOp::chunk_backward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U, GU = 3 * U, n = b1 - b0;
  const Kernels& k = kernels();
  float *dZ = dZ_.data(), *dR = dR_.data(), *H = H_.data(), *drh = drh_.data();
  for (int s = T - 1; s >= 0; --s) {
    const int t = tin(s), tp = s ? tin(s - 1) : -1;
    add_dy(c, b0, b1, s);
    for (int b = b0; b < b1; ++b) {
      if (masked(c, b, t)) {
        std::memset(dZ + row(b, t) * GU, 0, GU * sizeof(float));
        continue;
      }
      const float* h_prev = tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b);
      k.gru_before_row_backward_out(dZ + row(b, t) * GU, dhd_.data() + static_cast<size_t>(b) * U,
                                    Z_.data() + row(b, t) * GU, h_prev, dh_.data() + static_cast<size_t>(b) * U, U,
                                    cfg_.act, cfg_.ract);
    }
    // dL/dRH = dL/d(hh pre-activation) R[:, 2U:]^T (Rt_'s last U rows)
    gemm(false, false, n, U, U, 1.0f, dZ + row(b0, t) * GU + 2 * U, T * GU, Rt_.data() + static_cast<size_t>(2) * U * U,
         U, 0.0f, drh + static_cast<size_t>(b0) * U, U);
    for (int b = b0; b < b1; ++b) {
      float* dr = dR + row(b, t) * GU;
      if (masked(c, b, t)) {
        std::memset(dr, 0, GU * sizeof(float));
        continue;
      }
      float* dz = dZ + row(b, t) * GU;
      k.gru_before_row_backward_gates(dz, drh + static_cast<size_t>(b) * U, Z_.data() + row(b, t) * GU,
                                      Hprev_.data() + row(b, t) * U, U, cfg_.ract);
      std::memcpy(dr, dz, 2 * U * sizeof(float));
      std::memset(dr + 2 * U, 0, U * sizeof(float));
    }
    if (s || state0_ >= 0) dh_prev(c, b0, b1, t, dR, dhd_.data(), drh);  // (drec R^T + dL/dhp via RH) * mask + dh z
  }
  if (state0_ >= 0) state0_grad(c, 0, b0, b1, dh_.data());
}

}  // namespace bc

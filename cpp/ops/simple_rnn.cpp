#include "ops/simple_rnn.h"

#include <cstring>

#include "kernels/float/float.h"

namespace bc {

SimpleRnnOp::SimpleRnnOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
                         const std::vector<int>& out_t, size_t w, size_t r, long b)
    : RecurrentOp(cfg, 1, 1, x_t, mask_t, state_t, out_t, w, r, b) {}

// Per step: Z_t += h_prev R (one GEMM for the chunk), then h_t = act(Z_t) per row.
void SimpleRnnOp::chunk_forward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U, n = b1 - b0;
  const Kernels& k = kernels();
  float *Z = Z_.data(), *H = H_.data();
  for (int s = 0; s < T; ++s) {
    const int t = tin(s), tp = s ? tin(s - 1) : -1;
    if (step_proj_) project_step(c, b0, b1, t);
    if (s || state0_ >= 0) {
      int ld;
      const float* hp = rec_rows(c, b0, b1, s, &ld);
      recurrent_matmul(c, hp, ld, n, Z + srow(b0, t) * U, sld() * U, true);
    } else if (training_) {
      for (int b = b0; b < b1; ++b) load_hprev(b, s, nullptr);
    }
    for (int b = b0; b < b1; ++b) {
      float* h = H + row(b, t) * U;
      if (masked(c, b, t)) {  // the state passes through a masked step unchanged
        std::memcpy(h, tp >= 0 ? H + row(b, tp) * U : state0(c, 0, b), U * sizeof(float));
        continue;
      }
      std::memcpy(h, Z + srow(b, t) * U, U * sizeof(float));
      k.bias_act_forward(h, nullptr, 1, U, cfg_.act);
    }
  }
}

// dZ_t = dh * act'(h_t) (every cell activation's derivative is a function of its output here);
// dh_{t-1} = dZ_t R^T.
void SimpleRnnOp::chunk_backward(Ctx& c, int b0, int b1) {
  const int T = cfg_.T, U = cfg_.U;
  const Kernels& k = kernels();
  float* dZ = dZ_.data();
  for (int s = T - 1; s >= 0; --s) {
    const int t = tin(s);
    add_dy(c, b0, b1, s);
    for (int b = b0; b < b1; ++b) {
      float* dz = dZ + row(b, t) * U;
      if (masked(c, b, t)) {  // the state passed through: dh carries on unchanged
        std::memset(dz, 0, U * sizeof(float));
        continue;
      }
      std::memcpy(dz, dh_.data() + static_cast<size_t>(b) * U, U * sizeof(float));
      k.act_backward(dz, H_.data() + row(b, t) * U, 1, U, cfg_.act);
    }
    if (s || state0_ >= 0) dh_prev(c, b0, b1, t, dZ, nullptr);
  }
  if (state0_ >= 0) state0_grad(c, 0, b0, b1, dh_.data());  // dh now holds dL/dh_0
}

}  // namespace bc

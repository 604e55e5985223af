// Quantized LSTM and GRU (inference): the float layers' time loop, masking, output layout and
// fused cell kernels (recurrent.h, lstm.h, gru.h) with both matmuls run int8 by QLinear (quant.h):
//   input projection  Z (B*T, G*U) = int8(x) W_q * (t_m s_n) + b   one GEMM over every timestep;
//                     t_m per row (dynamic) or the calibrated x_scale
//   recurrent matmul  h_prev (n, U) R_q * (t_h s_n), per step        t_h per row, always dynamic:
//                     h changes every step and sample; its max |h| costs U compares per row,
//                     nothing beside the U x G*U product, and a fixed scale would waste most of
//                     the 8 bits on the many rows whose |h| stays far below 1
// LSTM adds the recurrent product to Z (Z + hR, the float layer's GEMM with beta = 1); GRU keeps
// it apart for the reset gate, as the float layer does. Weights: W (D, G*U) and R (U, G*U) int8 in
// [-127, 127] with per-column scales (N = G*U), held by the op; the float bias in the arena.
#pragma once
#include <memory>
#include <vector>

#include "kernels/quant/quant.h"
#include "ops/gru.h"
#include "ops/lstm.h"

namespace bc {

template <class Float>  // LstmOp or GruOp
class QRecurrentOp : public Float {
 public:
  // wq (D, G*U), w_scale (G*U), rq (U, G*U), r_scale (G*U); b: arena offset or < 0;
  // x_scale > 0: a calibrated input scale, 0: per-row dynamic.
  QRecurrentOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
               const std::vector<int>& out_t,
               const int8_t* wq, const float* w_scale, const int8_t* rq, const float* r_scale,
               long b, float x_scale);
  void backward(Ctx& c) override;

 protected:
  void input_projection(Ctx& c, const float* x, int ldx, int rows, float* z) override;
  void recurrent_matmul(Ctx& c, const float* h, int ldh, int n, float* out, int ldo,
                        bool add) override;
  bool float_products() const override { return false; }

 private:
  std::unique_ptr<QLinear> W_, R_;
  float x_scale_;
};

using QLstmOp = QRecurrentOp<LstmOp>;
using QGruOp = QRecurrentOp<GruOp>;

}  // namespace bc

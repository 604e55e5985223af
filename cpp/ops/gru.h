// GRU, gates z, r, h: GruOp is Keras's default reset_after=True layout (bias (2, 3U): input half,
// recurrent half), GruBeforeOp reset_after=False (bias (3U), the reset gate applied to h_prev before
// the candidate's recurrent product). See recurrent.h for shapes.
#pragma once
#include "ops/recurrent.h"

namespace bc {

class GruOp : public RecurrentOp {
 public:
  GruOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
        const std::vector<int>& out_t, size_t w, size_t r, long b);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 protected:
  void chunk_forward(Ctx& c, int b0, int b1) override;
  void chunk_backward(Ctx& c, int b0, int b1) override;
  float* rec_grad() override { return dR_.data(); }
  bool splits() const override { return true; }
  bool rec_apart() const override { return true; }
  bool rec_bias() const override { return true; }
  void split_cell(Ctx& c, int b, int t, int tp, int u0, int Up, float* z, float* rec,
                  const float* rec_bias) override;

 private:
  AlignedBuf R_, dR_;  // (B, T, 3U): h_prev R + recurrent bias; its gradient
  AlignedBuf dhd_;     // (B, U): the direct part of dL/dh_prev (through z * h_prev)
};

// reset_after=False: per step h_prev R[:, :2U] for z and r, then (r * h_prev) R[:, 2U:] for the
// candidate; two GEMMs per step forward, three backward. No unit split (splits() false: the candidate's
// product needs every unit's r * h_prev), so inference on a few rows runs the chunked loop.
class GruBeforeOp : public RecurrentOp {
 public:
  GruBeforeOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
              const std::vector<int>& out_t, size_t w, size_t r, long b);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 protected:
  void chunk_forward(Ctx& c, int b0, int b1) override;
  void chunk_backward(Ctx& c, int b0, int b1) override;
  float* rec_grad() override { return dR_.data(); }

 private:
  AlignedBuf RH_;          // (B, T, U): r * h_prev (recurrent dropout applied), as multiplied by R[:, 2U:]
  AlignedBuf rec_, rech_;  // (B, 2U), (B, U): this step's h_prev R[:, :2U] and RH R[:, 2U:]
  AlignedBuf dR_;          // (B, T, 3U): dL/d(z, r) pre-activations, zeros in the h third (which RH multiplies)
  AlignedBuf dhd_, drh_;   // (B, U): the direct part of dL/dh_prev (through z * h_prev); dL/dRH
};

}  // namespace bc

// GRU with Keras's default reset_after=True layout (gates z, r, h; bias (2, 3U): input half,
// recurrent half): see recurrent.h for shapes.
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
  void split_cell(Ctx& c, int b, int t, int tp, int u0, int Up, float* z, float* rec,
                  const float* rec_bias) override;

 private:
  AlignedBuf R_, dR_;  // (B, T, 3U): h_prev R + recurrent bias; its gradient
  AlignedBuf dhd_;     // (B, U): the direct part of dL/dh_prev (through z * h_prev)
};

}  // namespace bc

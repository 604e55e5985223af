// LSTM (Keras layout, gates i, f, c, o): see recurrent.h for shapes. Extra state output c_T
// (and initial state input c_0).
#pragma once
#include <vector>

#include "ops/recurrent.h"

namespace bc {

class LstmOp : public RecurrentOp {
 public:
  LstmOp(const RnnConfig& cfg, int x_t, int mask_t, const std::vector<int>& state_t,
         const std::vector<int>& out_t, size_t w, size_t r, long b);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 protected:
  void chunk_forward(Ctx& c, int b0, int b1) override;
  void chunk_backward(Ctx& c, int b0, int b1) override;
  float* rec_grad() override { return dZ_.data(); }
  bool splits() const override { return true; }
  void split_cell(Ctx& c, int b, int t, int tp, int u0, int Up, float* z, float* rec,
                  const float* rec_bias) override;

 private:
  AlignedBuf C_;   // (B, T, U) cell state after each input time
  AlignedBuf dc_;  // (B, U) running dL/dc
};

}  // namespace bc

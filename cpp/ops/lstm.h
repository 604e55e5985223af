// LSTM (Keras layout, gates i, f, c, o): see recurrent.h for shapes. Extra state output c_T
// (and initial state input c_0).
#pragma once
#include <vector>

#include "kernels/gemm/gemm.h"
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
  bool split_forward(Ctx& c) override;

 private:
  AlignedBuf C_;   // (B, T, U) cell state after each input time
  AlignedBuf dc_;  // (B, U) running dL/dc
  std::vector<float> split_;  // split_forward's per-thread slices of R, W and b, and gate rows
  std::vector<PackedGemmWeights> split_packs_;  // per thread: its R slice and W slice, packed
};

}  // namespace bc

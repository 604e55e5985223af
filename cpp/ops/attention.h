// Attention: q (B, Tq, Nq*H), k (B, S, Nkv*H), v (B, S, Nkv*Hv) -> o (B, Tq, Nq*Hv) and, when asked,
// the weights (B, Nq, Tq, S). The projections around it are DenseOps; this op is the fused
// softmax(q k^T * scale + masks) v of kernels/attention: short sequences keep the weights of a
// training forward for the backward (the tile path), longer ones keep no T x S matrix (flash).
#pragma once
#include <vector>

#include "core/common.h"
#include "kernels/attention/attention.h"
#include "runtime/op.h"

namespace bc {

// One fused attention call's forward and backward (kernels/attention/), holding what the forward
// leaves for the backward: the rows' log-sum-exp (both paths recompute the weights from it).
// AttentionOp and the dot_product_attention primitive (prim_attention.cpp) both run through it.
class AttentionRun {
 public:
  void forward(float* o, float* probs, const float* q, const float* k, const float* v, const AttnDims& d,
               const AttnMasks& m, float scale, const AttnDropout& drop);
  // The same inputs, masks and dims as the forward just before.
  void backward(float* dq, float* dk, float* dv, bool acc_q, bool acc_k, bool acc_v, const float* dout,
                const float* dprobs, const float* probs, const float* q, const float* k, const float* v,
                const float* o, const AttnDims& d, const AttnMasks& m, float scale, const AttnDropout& drop) const;

 private:
  std::vector<float> lse_;
};

struct AttentionConfig {
  int Nq = 1, Nkv = 1, H = 0, Hv = 0;
  float scale = 1.0f;
  bool causal = false, zero_full_rows = false;
  // The query mask does not mask the weights; it zeroes the output rows it blanks (Keras's Attention
  // layer). Otherwise it blanks whole rows of weights (MultiHeadAttention).
  bool qmask_zero_rows = false;
  float dropout = 0.0f;
  uint64_t stream = 0;  // keys the dropout stream with (seed, step)
};

class AttentionOp : public Op {
 public:
  // Mask tensors: -1 when absent. qmask (B, Tq), kmask / kmask2 (B, S), amask (B, Tq, S).
  AttentionOp(const AttentionConfig& cfg, int q, int k, int v, int qmask, int kmask, int kmask2, int amask, int o,
              int probs);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  AttentionConfig cfg_;
  int qmask_ = -1, kmask_ = -1, kmask2_ = -1, amask_ = -1;  // positions in `in`
  bool probs_ = false;
  AttentionRun run_;
  std::vector<float> dout_;
  void dims(const Ctx& c, int* Tq, int* S) const;
};

// y = x * w[0]: a trainable scalar times a tensor (Keras Attention's use_scale on the query).
class ScaleOp : public Op {
 public:
  ScaleOp(int x, int y, size_t w);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
};

}  // namespace bc

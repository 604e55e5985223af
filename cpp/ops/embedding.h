// Embedding: ids (B, T) as floats -> out (B, T, E) = table[ids]; optional mask (B, T) = ids != 0.
#pragma once
#include "runtime/op.h"

namespace bc {

class EmbeddingOp : public Op {
 public:
  EmbeddingOp(int ids_t, int out_t, int mask_t, size_t table, int V, int E);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;
  int vocab() const { return V_; }

 private:
  int V_, E_;
};

}  // namespace bc

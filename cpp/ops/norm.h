// LayerNormalization / RMSNormalization over the last C values: x (rows, C) [+ res (rows, C)] ->
// y (rows, C); gamma, beta (C) arena segments (either absent: scale / center off). With res the
// op is the residual add and the norm in one pass (kernels/norm).
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

class NormOp : public Op {
 public:
  // gamma, beta: arena offsets or -1; res: a tensor id or -1.
  NormOp(int x, int res, int y, long gamma, long beta, int C, float eps, bool rms);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  long gamma_, beta_;
  int C_;
  float eps_;
  bool rms_;
  std::vector<float> mean_, rstd_;
  int rows(const Ctx& c) const;
};

}  // namespace bc

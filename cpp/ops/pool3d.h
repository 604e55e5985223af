// 3-D pooling (Keras MaxPooling3D, AveragePooling3D), channels last, on kernels/conv/volume.h.
// in (B, D, H, W, C) -> out (B, OD, OH, OW, C)
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/conv/volume.h"
#include "ops/pool.h"
#include "runtime/op.h"

namespace bc {

class Pool3DOp : public Op {
 public:
  Pool3DOp(int in_t, int out_t, const VolGeom& g, int mode);  // mode: POOL_MAX or POOL_AVG (ops/pool.h)
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  VolGeom g_;
  int mode_;
  std::vector<int32_t> arg_;  // max: where each output's gradient goes (training)
};

}  // namespace bc

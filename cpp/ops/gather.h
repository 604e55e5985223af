// Layers that move values without arithmetic: RepeatVector, Permute, ZeroPadding, Cropping,
// UpSampling (nearest). One per-sample index map: out[b, i] = index[i] >= 0 ? in[b, index[i]] : 0;
// backward adds each dout[b, i] to din[b, index[i]] in i order (a fixed order: the same bits for any
// thread count).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/op.h"

namespace bc {

class GatherOp : public Op {
 public:
  GatherOp(int in_t, int out_t, std::vector<int32_t> index, size_t in_size);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::vector<int32_t> index_;
  size_t in_size_;
};

// Keras Masking: a position (a row of `width` values) is kept when any value differs from
// mask_value; out = in * kept, and mask_out (B, positions) = kept (1 or 0).
class MaskingOp : public Op {
 public:
  MaskingOp(int in_t, int out_t, int mask_out, int width, float mask_value);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int width_;
  float mask_value_;
};

}  // namespace bc

// Adaptive average / max pooling (Keras's ops.adaptive_average_pool / adaptive_max_pool, torch's
// bins): output cell i of an axis of n inputs and m outputs pools inputs [floor(i*n/m),
// ceil((i+1)*n/m)), so bins may overlap (m not dividing n, or m > n). Up to three spatial axes
// (1-D and 2-D run as 3-D with leading axes of 1); channels last or first.
#pragma once
#include <array>
#include <vector>

#include "runtime/op.h"

namespace bc {

struct AdaptivePoolGeom {
  std::array<int, 3> in{1, 1, 1}, out{1, 1, 1};  // spatial sizes (D, H, W)
  int C = 0;
  bool channels_first = false;
};

class AdaptivePoolOp : public Op {
 public:
  AdaptivePoolOp(int x, int out, const AdaptivePoolGeom& g, bool max);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  AdaptivePoolGeom g_;
  bool max_;
  size_t in_size_ = 0, out_size_ = 0;           // floats per sample
  std::array<size_t, 3> in_stride_{}, out_stride_{};
  size_t in_cstride_ = 0, out_cstride_ = 0;
  std::array<std::vector<int>, 3> lo_, hi_;     // each axis' bins
  std::vector<int> arg_;                        // max: the input offset (in its sample) of each output
  // fn(offset of channel 0 of the output cell in its sample, i, j, k) over every output cell.
  template <class Fn>
  void each_out(Fn&& fn) const;
};

}  // namespace bc

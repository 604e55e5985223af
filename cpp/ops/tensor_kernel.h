// keras.ops.conv / depthwise_conv / conv_transpose with the kernel a tensor of the program (a custom
// layer's weight read as a tensor, or a computed one). The convolution ops read their kernel from
// the parameter arena; this op runs one of them over a private arena holding the kernel's values,
// copied in each forward, and hands the kernel gradient the inner op computes there back to the
// kernel tensor (assigned or added, as the program's plan says).
#pragma once
#include <memory>

#include "runtime/op.h"

namespace bc {

class TensorKernelOp : public Op {
 public:
  // inner: a convolution reading its kernel at arena offset 0 (no bias), its one input not a weight
  // (the private arena replaces the program's); kernel_t: a batch-less tensor of n floats.
  TensorKernelOp(std::unique_ptr<Op> inner, int kernel_t, size_t n);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  Ctx inner_ctx(const Ctx& c);

  std::unique_ptr<Op> inner_;
  size_t n_;
  AlignedBuf w_, dw_;
};

}  // namespace bc

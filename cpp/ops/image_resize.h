// Keras's Resizing, CenterCrop and RandomCrop, channels last: in (B, H, W, C) -> out (B, OH, OW, C).
// Each output is a box of the input (y0, x0, bh, bw), which may reach outside the image (a pad,
// read as fill_value), resized to (OH, OW) as Keras's torch backend does (F.interpolate: bilinear
// with half-pixel centres and align_corners=False, "nearest-exact"); a box of the output's size
// is a plain crop. RandomCrop draws one box per batch in training (Keras: one offset per call).
#pragma once
#include <array>
#include <cstdint>

#include "runtime/op.h"

namespace bc {

using ImageBox = std::array<int, 4>;  // y0, x0, bh, bw

// One sample: y (OH, OW, C) = the box of x (H, W, C) resized.
void box_resize(const float* x, float* y, int H, int W, int C, int OH, int OW, const ImageBox& box, int interp,
                float fill_value);
// dx (H, W, C) += its transpose applied to dy.
void box_resize_backward(float* dx, const float* dy, int H, int W, int C, int OH, int OW, const ImageBox& box,
                         int interp);

class CropResizeOp : public Op {
 public:
  // infer_box: inference (and training when random is false: the train_box); random: in training
  // the box is (u0 (H - OH + 1), u1 (W - OW + 1), OH, OW) for one draw per batch.
  CropResizeOp(int in_t, int out_t, int H, int W, int C, int OH, int OW, int interp, float fill_value,
               ImageBox infer_box, ImageBox train_box, bool random, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int H_, W_, C_, OH_, OW_, interp_;
  float fill_value_;
  ImageBox infer_, train_, box_{};  // box_: the last forward's
  bool random_;
  uint64_t stream_;
};

}  // namespace bc

// Keras's RandomContrast and RandomBrightness, channels last (B, H, W, C): the identity at
// inference; in training one factor per sample (counter-based RNG at the sample's global row).
// Contrast: y = clip((x - mean) f + mean, lo, hi), the mean per sample and channel over H and W,
// f in [1 - lower, 1 + upper]. Brightness: y = clip(x + d, lo, hi), d in [lower, upper] (hi - lo).
// Backward: the clip passes the gradient where lo <= value <= hi (torch.clip's rule).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/op.h"

namespace bc {

enum ColorKind : int { COLOR_CONTRAST = 0, COLOR_BRIGHTNESS = 1 };

class ColorOp : public Op {
 public:
  ColorOp(int in_t, int out_t, int P, int C, int kind, float lower, float upper, float lo, float hi, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int P_, C_, kind_;  // P = H * W positions
  float lower_, upper_, lo_, hi_;
  uint64_t stream_;
  std::vector<float> f_;     // per sample: the factor (contrast) or delta (brightness); empty: identity
  std::vector<char> pass_;   // per value: inside the clip range
};

}  // namespace bc

// Keras's per-pixel colour layers, channels last (B, H, W, C): RandomGrayscale, RandomInvert,
// Solarization, RandomPosterization, RandomColorDegeneration, RandomSaturation, RandomHue, and the
// deterministic AutoContrast and keras.ops.image.rgb_to_hsv / hsv_to_rgb. The random kinds are the
// identity at inference; in training each draws its factors once per sample (counter-based RNG at
// the sample's global row), so a seeded run is the same for any thread count. Each follows Keras
// 3's torch formulas step for step in float (value-range maps, Keras's HSV planes). Backward: the
// per-pixel map is rerun on dual numbers (exact derivatives of the same formula, torch's rules at
// clips and branches); AutoContrast's includes the min and max (ties share, as torch's amin/amax).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/op.h"

namespace bc {

enum ToneKind : int {
  TONE_GRAYSCALE = 0,    // args: p (probability)
  TONE_INVERT = 1,       // args: f0, f1, top (value_range[1])
  TONE_SOLARIZE = 2,     // args: a0, a1, t0, t1, vr0, vr1
  TONE_POSTERIZE = 3,    // args: bits0, bits1, vr0, vr1 (gradient: none, a uint8 cast in Keras)
  TONE_DEGENERATE = 4,   // args: f0, f1, vr0, vr1
  TONE_SATURATION = 5,   // args: f0, f1, vr0, vr1
  TONE_HUE = 6,          // args: f0, f1, vr0, vr1
  TONE_RGB_TO_HSV = 7,   // deterministic
  TONE_HSV_TO_RGB = 8,   // deterministic
  TONE_AUTOCONTRAST = 9  // deterministic; args: vr0, vr1
};

// Argument count of each kind, -1 for an unknown kind.
int tone_arg_count(int kind);

class ToneOp : public Op {
 public:
  ToneOp(int in_t, int out_t, int P, int C, int kind, std::vector<float> args, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int P_, C_, kind_;  // P = H * W positions
  std::vector<float> args_;
  uint64_t stream_;
  std::vector<float> q_;  // per sample: its two drawn parameters; empty: the identity (inference)
  bool applied_ = false;
};

// One batch on arrays (tests): q holds 2 parameters per sample as forward draws them (ignored by
// the deterministic kinds). backward: dx for the upstream gradient g (y: g; x: the input).
void tone_images(const float* x, float* y, int B, int P, int C, int kind, const float* args, const float* q);
void tone_images_backward(const float* x, const float* g, float* dx, int B, int P, int C, int kind,
                          const float* args, const float* q, bool accumulate);

}  // namespace bc

// Keras's geometric image augmentations, channels last (B, H, W, C) -> (B, H, W, C): RandomFlip and
// the affine ones (RandomRotation, RandomZoom, RandomTranslation, RandomShear). The identity at inference; in
// training each sample's parameters come from the counter-based RNG keyed by (seed, layer stream,
// step) at the sample's global row, so a seeded run is reproducible for any thread count.
// The affine sampling is Keras's affine_transform (backend map_coordinates, order 0 or 1): output
// pixel (i, j) reads the input at row b0*j + b1*i + b2, column a0*j + a1*i + a2, each axis
// interpolated on its own (bilinear: floor and floor + 1; nearest: round half to even), an index
// outside the image fixed by the fill mode. Backward scatters the same weights, sample by sample.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/op.h"

namespace bc {

enum ImageFill : int { FILL_REFLECT = 0, FILL_WRAP = 1, FILL_CONSTANT = 2, FILL_NEAREST = 3 };
enum ImageInterp : int { INTERP_BILINEAR = 0, INTERP_NEAREST = 1 };
enum AffineKind : int { AFFINE_ROTATION = 0, AFFINE_ZOOM = 1, AFFINE_TRANSLATION = 2, AFFINE_SHEAR = 3 };
enum FlipMode : int { FLIP_HORIZONTAL = 0, FLIP_VERTICAL = 1, FLIP_BOTH = 2 };

// One sample (H, W, C): y = x sampled through m = (a0, a1, a2, b0, b1, b2).
void affine_sample(const float* x, float* y, int H, int W, int C, const float* m, int interp, int fill,
                   float fill_value);
// dx (H, W, C) += the transpose of affine_sample applied to dy (dx zeroed by the caller to assign).
void affine_sample_backward(float* dx, const float* dy, int H, int W, int C, const float* m, int interp, int fill);
// Keras's matrix for one draw: u0, u1 uniforms in [0, 1) mapped into [lo, hi] of each factor
// (rotation: lo[0], hi[0] in turns; zoom: height then width, same_zoom: the width zooms as the
// height; translation: height then width fractions; shear: x then y factors, the matrix Keras's
// (1, sx, 0, sy, 1, 0) with the sign +; the op draws a third uniform for Keras's common sign).
void affine_matrix(int kind, const float* lo, const float* hi, bool same_zoom, float u0, float u1, int H, int W,
                   float* m);

class FlipOp : public Op {
 public:
  FlipOp(int in_t, int out_t, int H, int W, int C, int mode, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int H_, W_, C_, mode_;
  uint64_t stream_;
  std::vector<char> flip_;  // per sample of the last training forward; empty: the identity
};

class AffineOp : public Op {
 public:
  AffineOp(int in_t, int out_t, int H, int W, int C, int kind, std::vector<float> lo, std::vector<float> hi,
           bool same_zoom, int interp, int fill, float fill_value, uint64_t stream);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int H_, W_, C_, kind_;
  float lo_[2], hi_[2];
  bool same_zoom_;
  int interp_, fill_;
  float fill_value_;
  uint64_t stream_;
  std::vector<float> m_;  // 6 per sample of the last training forward; empty: the identity
};

}  // namespace bc

// Pooling (Keras MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and the global poolings), channels last;
// the window poolings over the geometry G (ops/window_geom.h).
// in (B, [D,] H, W, C) -> out (B, [OD,] OH, OW, C); global: in (B, P, C) -> out (B, C).
#pragma once
#include <cstdint>
#include <vector>

#include "ops/window_geom.h"
#include "runtime/op.h"

namespace bc {

enum PoolMode : int { POOL_MAX = 0, POOL_AVG = 1 };

template <class G>
class PoolOpT : public Op {
 public:
  // var_pad >= 0 (ConvGeom only): a 1-D pooling over a run-time length, or a 2-D one over run-time
  // image sizes, its sizes and padding derived per call (ops/window_geom.h: set_window_sizes; 0 valid, 1 same).
  PoolOpT(int in_t, int out_t, const G& g, int mode, int var_pad = -1);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  void resolve_length(Ctx& c);
  G g_;
  int mode_;
  int var_pad_ = -1;
  std::vector<int32_t> arg_;  // max: where each output's gradient goes (training)
};

using PoolOp = PoolOpT<ConvGeom>;
using Pool3DOp = PoolOpT<VolGeom>;

// Over all P positions of each sample; mask (B, P) (avg only; -1: none): the mean over the
// unmasked positions (Keras: their sum over their count, NaN when none is).
class GlobalPoolOp : public Op {
 public:
  GlobalPoolOp(int in_t, int out_t, int mask_t, int P, int C, int mode);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int positions(const Ctx& c) const;  // this call's P (the input's per-sample size over C)
  int C_, mode_;
  bool masked_;
  std::vector<int32_t> arg_;
};

}  // namespace bc

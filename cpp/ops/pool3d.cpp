#include "ops/pool3d.h"

#include <algorithm>

#include "ops/parallel.h"

namespace bc {

namespace {
constexpr double kItemFloats = 256e3;  // floats of input per work item, as PoolOp's
}  // namespace

Pool3DOp::Pool3DOp(int in_t, int out_t, const VolGeom& g, int mode) : g_(g), mode_(mode) {
  check_vol_geom(g, "Pooling3D");
  BC_CHECK(g.DD == 1 && g.DH == 1 && g.DW == 1, "Pooling3D: pooling windows have no dilation");
  BC_CHECK(mode == POOL_MAX || mode == POOL_AVG, "Pooling3D: unknown mode");
  in = {in_t};
  out = {out_t};
}

void Pool3DOp::forward(Ctx& c) {
  const int spi = samples_per_item(c.B, static_cast<double>(g_.in_size()), kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  int32_t* arg = nullptr;
  if (mode_ == POOL_MAX && c.training) {
    arg_.resize(static_cast<size_t>(c.B) * g_.out_positions() * g_.C);
    arg = arg_.data();
  }
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    if (mode_ == POOL_MAX) vol_max_pool_forward(y, arg, x, g_, b0, b1);
    else vol_avg_pool_forward(y, x, g_, b0, b1);
  });
}

void Pool3DOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const int spi = samples_per_item(c.B, static_cast<double>(g_.in_size()), kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const float* dy = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    if (mode_ == POOL_MAX) vol_max_pool_backward(dx, dy, arg_.data(), g_, b0, b1, acc);
    else vol_avg_pool_backward(dx, dy, g_, b0, b1, acc);
  });
}

}  // namespace bc

#include "ops/pool.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "ops/parallel.h"

namespace bc {

namespace {
constexpr double kItemFloats = 256e3;  // floats of input per work item
}  // namespace

template <class G>
PoolOpT<G>::PoolOpT(int in_t, int out_t, const G& g, int mode, int var_pad) : g_(g), mode_(mode), var_pad_(var_pad) {
  if constexpr (kIsVolume<G>) {
    check_vol_geom(g, "Pooling3D");
    BC_CHECK(g.DD == 1 && g.DH == 1 && g.DW == 1, "Pooling3D: pooling windows have no dilation");
    BC_CHECK(mode == POOL_MAX || mode == POOL_AVG, "Pooling3D: unknown mode");
    BC_CHECK(var_pad == -1, "Pooling3D: a run-time length is for 1-D pooling only (var_pad -1)");
  } else {
    check_geom(g, "Pooling");
    BC_CHECK(mode == POOL_MAX || mode == POOL_AVG, "Pooling: unknown mode");
    BC_CHECK(var_pad >= -1 && var_pad <= 1, "Pooling: var_pad must be -1 (fixed sizes), 0 (valid) or 1 (same)");
  }
  in = {in_t};
  out = {out_t};
}

template <class G>
void PoolOpT<G>::resolve_length(Ctx& c) {
  if constexpr (!kIsVolume<G>) {
    if (var_pad_ >= 0)
      set_window_sizes(g_, c.shape(in[0]), c.shape(out[0]), c.per_sample(in[0]), c.per_sample(out[0]), g_.C, var_pad_);
  }
}

template <class G>
void PoolOpT<G>::forward(Ctx& c) {
  resolve_length(c);
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
    if (mode_ == POOL_MAX) max_pool_forward(y, arg, x, g_, b0, b1);
    else avg_pool_forward(y, x, g_, b0, b1);
  });
}

template <class G>
void PoolOpT<G>::backward(Ctx& c) {
  if (!need_dx[0]) return;
  resolve_length(c);
  const int spi = samples_per_item(c.B, static_cast<double>(g_.in_size()), kItemFloats);
  const int items = (c.B + spi - 1) / spi;
  const float* dy = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  parallel_items(items, [&](int i) {
    const int b0 = i * spi, b1 = std::min(c.B, b0 + spi);
    if (mode_ == POOL_MAX) max_pool_backward(dx, dy, arg_.data(), g_, b0, b1, acc);
    else avg_pool_backward(dx, dy, g_, b0, b1, acc);
  });
}

template class PoolOpT<ConvGeom>;
template class PoolOpT<VolGeom>;

GlobalPoolOp::GlobalPoolOp(int in_t, int out_t, int mask_t, int P, int C, int mode)
    : C_(C), mode_(mode), masked_(mask_t >= 0) {
  // P: the positions at build time (the probe's for run-time sizes); the op reads them per call (positions())
  BC_CHECK(P > 0 && C > 0, "GlobalPooling: sizes must be positive");
  BC_CHECK(mode == POOL_MAX || mode == POOL_AVG, "GlobalPooling: unknown mode");
  BC_CHECK(!masked_ || mode == POOL_AVG, "GlobalPooling: only the average takes a mask");
  in = {in_t};
  if (masked_) in.push_back(mask_t);
  out = {out_t};
}

int GlobalPoolOp::positions(const Ctx& c) const {
  const size_t n = c.per_sample(in[0]);
  BC_CHECK(n % C_ == 0 && n > 0, "GlobalPooling: the input is not whole positions of channels");
  return static_cast<int>(n / C_);
}

void GlobalPoolOp::forward(Ctx& c) {
  const int P = positions(c);
  const float* x = c.val(in[0]);
  const float* m = masked_ ? c.val(in[1]) : nullptr;
  float* y = c.val(out[0]);
  if (mode_ == POOL_MAX && c.training) arg_.resize(static_cast<size_t>(c.B) * C_);
  int32_t* arg = mode_ == POOL_MAX && c.training ? arg_.data() : nullptr;
  for (int b = 0; b < c.B; ++b) {
    const float* xb = x + static_cast<long>(b) * P * C_;
    float* yb = y + static_cast<long>(b) * C_;
    if (mode_ == POOL_MAX) {
      ConvGeom g;
      g.H = 1; g.W = P; g.C = C_; g.OW = 1; g.KW = P; g.SW = P;
      conv_kernels().max_pool_forward(yb, arg ? arg + static_cast<long>(b) * C_ : nullptr, xb, g, 0, 1);
      continue;
    }
    std::memset(yb, 0, C_ * sizeof(float));
    float count = 0.0f;
    for (int p = 0; p < P; ++p) {
      const float w = m ? m[static_cast<long>(b) * P + p] : 1.0f;
      if (w == 0.0f) continue;
      count += 1.0f;
      const float* s = xb + static_cast<long>(p) * C_;
      for (int k = 0; k < C_; ++k) yb[k] += s[k];
    }
    for (int k = 0; k < C_; ++k) yb[k] = yb[k] / count;
  }
}

void GlobalPoolOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const int P = positions(c);
  const float* dy = c.grad(out[0]);
  const float* m = masked_ ? c.val(in[1]) : nullptr;
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  for (int b = 0; b < c.B; ++b) {
    float* d = dx + static_cast<long>(b) * P * C_;
    const float* g = dy + static_cast<long>(b) * C_;
    if (!acc) std::memset(d, 0, static_cast<size_t>(P) * C_ * sizeof(float));
    if (mode_ == POOL_MAX) {
      const int32_t* a = arg_.data() + static_cast<long>(b) * C_;
      for (int k = 0; k < C_; ++k)
        if (a[k] >= 0) d[a[k]] += g[k];
      continue;
    }
    float count = 0.0f;
    for (int p = 0; p < P; ++p) count += (!m || m[static_cast<long>(b) * P + p] != 0.0f) ? 1.0f : 0.0f;
    for (int p = 0; p < P; ++p) {
      if (m && m[static_cast<long>(b) * P + p] == 0.0f) continue;
      float* dp = d + static_cast<long>(p) * C_;
      for (int k = 0; k < C_; ++k) dp[k] += g[k] / count;
    }
  }
}

}  // namespace bc

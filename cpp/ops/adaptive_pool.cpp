#include "ops/adaptive_pool.h"

#include <algorithm>

#include "ops/parallel.h"

namespace bc {

AdaptivePoolOp::AdaptivePoolOp(int x, int out_t, const AdaptivePoolGeom& g, bool max) : g_(g), max_(max) {
  BC_CHECK(g.C > 0, "adaptive pooling needs a positive channel count");
  for (int a = 0; a < 3; ++a) {
    BC_CHECK(g.in[a] > 0 && g.out[a] > 0, "adaptive pooling needs positive input and output sizes");
    const long n = g.in[a], m = g.out[a];
    for (long i = 0; i < m; ++i) {
      lo_[a].push_back(static_cast<int>(i * n / m));
      hi_[a].push_back(static_cast<int>(((i + 1) * n + m - 1) / m));
    }
  }
  const size_t C = static_cast<size_t>(g.C);
  in_size_ = C * g.in[0] * g.in[1] * g.in[2];
  out_size_ = C * g.out[0] * g.out[1] * g.out[2];
  BC_CHECK(in_size_ < (size_t{1} << 31), "adaptive pooling: a sample is too large (2^31 values or more)");
  // element (c, d, h, w) of a sample sits at c * cstride + d * stride[0] + h * stride[1] + w * stride[2]
  const size_t inner_in = g.channels_first ? 1 : C, inner_out = g.channels_first ? 1 : C;
  in_stride_ = {inner_in * g.in[1] * g.in[2], inner_in * g.in[2], inner_in};
  out_stride_ = {inner_out * g.out[1] * g.out[2], inner_out * g.out[2], inner_out};
  in_cstride_ = g.channels_first ? static_cast<size_t>(g.in[0]) * g.in[1] * g.in[2] : 1;
  out_cstride_ = g.channels_first ? static_cast<size_t>(g.out[0]) * g.out[1] * g.out[2] : 1;
  in = {x};
  out = {out_t};
}

template <class Fn>
void AdaptivePoolOp::each_out(Fn&& fn) const {
  for (int i = 0; i < g_.out[0]; ++i)
    for (int j = 0; j < g_.out[1]; ++j)
      for (int k = 0; k < g_.out[2]; ++k)
        fn(i * out_stride_[0] + j * out_stride_[1] + k * out_stride_[2], i, j, k);
}

void AdaptivePoolOp::forward(Ctx& c) {
  BC_CHECK(c.per_sample(in[0]) == in_size_ && c.per_sample(out[0]) == out_size_,
           "adaptive pooling: the tensors' sizes differ from the geometry");
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  if (max_) arg_.resize(static_cast<size_t>(c.B) * out_size_);
  const int C = g_.C;
  parallel_samples(c.B, static_cast<double>(in_size_), 1 << 14, [&](int b) {
    const float* xs = x + static_cast<size_t>(b) * in_size_;
    float* ys = y + static_cast<size_t>(b) * out_size_;
    int* as = max_ ? arg_.data() + static_cast<size_t>(b) * out_size_ : nullptr;
    each_out([&](size_t o, int i, int j, int k) {
      const int d0 = lo_[0][i], d1 = hi_[0][i], h0 = lo_[1][j], h1 = hi_[1][j], w0 = lo_[2][k], w1 = hi_[2][k];
      const float cnt = static_cast<float>((d1 - d0) * (h1 - h0) * (w1 - w0));
      if (!g_.channels_first) {  // channels last: whole rows of C, each channel in the same bin order
        float* yr = ys + o;
        int* ar = max_ ? as + o : nullptr;
        bool first = true;
        for (int d = d0; d < d1; ++d)
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) {
              const size_t at = d * in_stride_[0] + h * in_stride_[1] + w * in_stride_[2];
              const float* xr = xs + at;
              if (!max_) {
                if (first) std::fill(yr, yr + C, 0.0f);
                for (int ch = 0; ch < C; ++ch) yr[ch] += xr[ch];
              } else if (first) {
                for (int ch = 0; ch < C; ++ch) yr[ch] = xr[ch], ar[ch] = static_cast<int>(at) + ch;
              } else {
                for (int ch = 0; ch < C; ++ch) {
                  const float u = xr[ch], v = yr[ch];
                  if (u > v || (u != u && v == v)) yr[ch] = u, ar[ch] = static_cast<int>(at) + ch;
                }
              }
              first = false;
            }
        if (!max_)
          for (int ch = 0; ch < C; ++ch) yr[ch] /= cnt;
        return;
      }
      for (int ch = 0; ch < C; ++ch) {
        const size_t oc = o + ch * out_cstride_;
        float v = 0.0f;
        int best = -1;
        // the bin in (d, h, w) order: the first maximum wins, a NaN wins (as torch)
        for (int d = d0; d < d1; ++d)
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) {
              const size_t at = ch * in_cstride_ + d * in_stride_[0] + h * in_stride_[1] + w * in_stride_[2];
              const float u = xs[at];
              if (!max_) {
                v += u;
              } else if (best < 0 || u > v || (u != u && v == v)) {
                v = u, best = static_cast<int>(at);
              }
            }
        if (max_) {
          ys[oc] = v, as[oc] = best;
        } else {
          ys[oc] = v / cnt;
        }
      }
    });
  });
}

void AdaptivePoolOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const float* dy = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  const int C = g_.C;
  // a sample at a time (bins overlap: each sample's gradient is added up in output order)
  parallel_samples(c.B, static_cast<double>(in_size_), 1 << 14, [&](int b) {
    float* ds = dx + static_cast<size_t>(b) * in_size_;
    const float* gs = dy + static_cast<size_t>(b) * out_size_;
    if (!acc)
      for (size_t t = 0; t < in_size_; ++t) ds[t] = 0.0f;
    if (max_) {
      const int* as = arg_.data() + static_cast<size_t>(b) * out_size_;
      for (size_t o = 0; o < out_size_; ++o) ds[as[o]] += gs[o];
      return;
    }
    each_out([&](size_t o, int i, int j, int k) {
      const int d0 = lo_[0][i], d1 = hi_[0][i], h0 = lo_[1][j], h1 = hi_[1][j], w0 = lo_[2][k], w1 = hi_[2][k];
      const float cnt = static_cast<float>((d1 - d0) * (h1 - h0) * (w1 - w0));
      if (!g_.channels_first) {  // channels last: rows of C (each input gets its cells in the same order)
        const float* gr = gs + o;
        for (int d = d0; d < d1; ++d)
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w) {
              float* dr = ds + d * in_stride_[0] + h * in_stride_[1] + w * in_stride_[2];
              for (int ch = 0; ch < C; ++ch) dr[ch] += gr[ch] / cnt;
            }
        return;
      }
      for (int ch = 0; ch < C; ++ch) {
        const float g = gs[o + ch * out_cstride_] / cnt;
        for (int d = d0; d < d1; ++d)
          for (int h = h0; h < h1; ++h)
            for (int w = w0; w < w1; ++w)
              ds[ch * in_cstride_ + d * in_stride_[0] + h * in_stride_[1] + w * in_stride_[2]] += g;
      }
    });
  });
}

}  // namespace bc

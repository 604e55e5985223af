#include "ops/global_pool.h"

#include <algorithm>
#include <string>

#include "ops/parallel.h"

namespace bc {

GlobalPool1DOp::GlobalPool1DOp(int x, int mask, int out_t, int C, bool max, bool channels_first)
    : C_(C), max_(max), channels_first_(channels_first), masked_(mask >= 0) {
  BC_CHECK(C > 0, "global pooling needs a positive channel count");
  BC_CHECK(!(max && mask >= 0), "global max pooling takes no mask (Keras ignores it)");
  in = {x};
  if (mask >= 0) in.push_back(mask);
  out = {out_t};
}

// Index of element (b, t, ch) of x: steps-major, or channels-major when channels_first.
size_t GlobalPool1DOp::at(int b, int t, int ch, int T) const {
  const size_t base = static_cast<size_t>(b) * T * C_;
  return base + (channels_first_ ? static_cast<size_t>(ch) * T + t : static_cast<size_t>(t) * C_ + ch);
}

void GlobalPool1DOp::forward(Ctx& c) {
  BC_CHECK(c.per_sample(in[0]) % C_ == 0, "global pooling: input width is not a multiple of the channels");
  const int T = static_cast<int>(c.per_sample(in[0]) / C_);
  const float* x = c.val(in[0]);
  const float* m = masked_ ? c.val(in[1]) : nullptr;
  float* y = c.val(out[0]);
  if (max_) arg_.resize(static_cast<size_t>(c.B) * C_);
  // A sample at a time on the team: each output is its own sample's sum in time order.
  parallel_samples(c.B, static_cast<double>(T) * C_, 1 << 14, [&](int b) {
    float cnt = 0.0f;
    if (!max_) {
      for (int t = 0; t < T; ++t) cnt += m ? (m[static_cast<size_t>(b) * T + t] != 0.0f ? 1.0f : 0.0f) : 1.0f;
    }
    if (!max_ && !channels_first_) {  // time outer, channels inner: contiguous rows, each channel summed in time order
      float* o = y + static_cast<size_t>(b) * C_;
      std::fill(o, o + C_, 0.0f);
      for (int t = 0; t < T; ++t) {
        if (m && m[static_cast<size_t>(b) * T + t] == 0.0f) continue;
        const float* xr = x + at(b, t, 0, T);
        for (int ch = 0; ch < C_; ++ch) o[ch] += xr[ch];
      }
      for (int ch = 0; ch < C_; ++ch) o[ch] /= cnt;
      return;
    }
    for (int ch = 0; ch < C_; ++ch) {
      float* o = y + static_cast<size_t>(b) * C_ + ch;
      if (max_) {
        int best = 0;
        float v = x[at(b, 0, ch, T)];
        for (int t = 1; t < T; ++t) {
          const float u = x[at(b, t, ch, T)];
          if (u > v || (u != u && v == v)) best = t, v = u;  // NaN wins, as a max reduction
        }
        arg_[static_cast<size_t>(b) * C_ + ch] = best;
        *o = v;
      } else {
        float s = 0.0f;
        for (int t = 0; t < T; ++t)
          if (!m || m[static_cast<size_t>(b) * T + t] != 0.0f) s += x[at(b, t, ch, T)];
        *o = s / cnt;
      }
    }
  });
}

void GlobalPool1DOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const int T = static_cast<int>(c.per_sample(in[0]) / C_);
  const float* m = masked_ ? c.val(in[1]) : nullptr;
  const float* dy = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  if (!max_ && !channels_first_) avg_row_.resize(static_cast<size_t>(c.B) * C_);
  parallel_samples(c.B, static_cast<double>(T) * C_, 1 << 14, [&](int b) {
    float cnt = 0.0f;
    if (!max_)
      for (int t = 0; t < T; ++t) cnt += m ? (m[static_cast<size_t>(b) * T + t] != 0.0f ? 1.0f : 0.0f) : 1.0f;
    if (!max_ && !channels_first_) {  // each kept step gets dy / count, a row at a time
      float* avg = avg_row_.data() + static_cast<size_t>(b) * C_;
      for (int ch = 0; ch < C_; ++ch) avg[ch] = dy[static_cast<size_t>(b) * C_ + ch] / cnt;
      for (int t = 0; t < T; ++t) {
        const bool kept = !m || m[static_cast<size_t>(b) * T + t] != 0.0f;
        float* dst = dx + at(b, t, 0, T);
        if (acc && kept) {
          for (int ch = 0; ch < C_; ++ch) dst[ch] += avg[ch];
        } else if (acc) {
          for (int ch = 0; ch < C_; ++ch) dst[ch] += 0.0f;  // as the general rule: -0.0 becomes +0.0
        } else if (kept) {
          std::copy(avg, avg + C_, dst);
        } else {
          std::fill(dst, dst + C_, 0.0f);
        }
      }
      return;
    }
    for (int t = 0; t < T; ++t)
      for (int ch = 0; ch < C_; ++ch) {
        const float d = dy[static_cast<size_t>(b) * C_ + ch];
        float g;
        if (max_) g = arg_[static_cast<size_t>(b) * C_ + ch] == t ? d : 0.0f;
        else g = (!m || m[static_cast<size_t>(b) * T + t] != 0.0f) ? d / cnt : 0.0f;
        float& dst = dx[at(b, t, ch, T)];
        dst = acc ? dst + g : g;
      }
  });
}

}  // namespace bc

#include "ops/gather.h"

#include <cstring>

#include "ops/parallel.h"

namespace bc {

GatherOp::GatherOp(int in_t, int out_t, std::vector<int32_t> index, size_t in_size)
    : index_(std::move(index)), in_size_(in_size) {
  for (int32_t k : index_) BC_CHECK(k >= -1 && static_cast<size_t>(k + 1) <= in_size, "gather: index out of range");
  in = {in_t};
  out = {out_t};
}

void GatherOp::forward(Ctx& c) {
  const size_t n = index_.size();
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  const int32_t* idx = index_.data();
  const bool per_sample = n * c.B > 65536;  // one item per sample when large
  parallel_items(per_sample ? c.B : 1, [&](int i) {
    const int b0 = per_sample ? i : 0, b1 = per_sample ? i + 1 : c.B;
    for (int b = b0; b < b1; ++b) {
      const float* xb = x + b * in_size_;
      float* yb = y + b * n;
      for (size_t k = 0; k < n; ++k) yb[k] = idx[k] >= 0 ? xb[idx[k]] : 0.0f;
    }
  });
}

void GatherOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const size_t n = index_.size();
  const float* dy = c.grad(out[0]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  const int32_t* idx = index_.data();
  const bool per_sample = n * c.B > 65536;
  parallel_items(per_sample ? c.B : 1, [&](int i) {
    const int b0 = per_sample ? i : 0, b1 = per_sample ? i + 1 : c.B;
    for (int b = b0; b < b1; ++b) {
      float* d = dx + b * in_size_;
      const float* g = dy + b * n;
      if (!acc) std::memset(d, 0, in_size_ * sizeof(float));
      for (size_t k = 0; k < n; ++k)
        if (idx[k] >= 0) d[idx[k]] += g[k];
    }
  });
}

MaskingOp::MaskingOp(int in_t, int out_t, int mask_out, int width, float mask_value)
    : width_(width), mask_value_(mask_value) {
  BC_CHECK(width > 0, "Masking: the feature width must be positive");
  in = {in_t};
  out = {out_t, mask_out};
}

void MaskingOp::forward(Ctx& c) {
  const long rows = static_cast<long>(c.B) * (c.per_sample(in[0]) / width_);
  const float* x = c.val(in[0]);
  float* y = c.val(out[0]);
  float* m = c.val(out[1]);
  for (long r = 0; r < rows; ++r) {
    const float* xr = x + r * width_;
    bool keep = false;
    for (int k = 0; k < width_; ++k) keep = keep || xr[k] != mask_value_;
    m[r] = keep ? 1.0f : 0.0f;
    for (int k = 0; k < width_; ++k) y[r * width_ + k] = keep ? xr[k] : 0.0f;
  }
}

void MaskingOp::backward(Ctx& c) {
  if (!need_dx[0]) return;
  const long rows = static_cast<long>(c.B) * (c.per_sample(in[0]) / width_);
  const float* dy = c.grad(out[0]);
  const float* m = c.val(out[1]);
  float* dx = c.grad(in[0]);
  const bool acc = accum_dx[0];
  for (long r = 0; r < rows; ++r)
    for (int k = 0; k < width_; ++k) {
      const float g = m[r] != 0.0f ? dy[r * width_ + k] : 0.0f;
      dx[r * width_ + k] = acc ? dx[r * width_ + k] + g : g;
    }
}

}  // namespace bc

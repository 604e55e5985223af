#include "ops/merge.h"

#include <cstring>

#include "ops/activation.h"

namespace bc {

ConcatOp::ConcatOp(const std::vector<int>& ins, int out_t, const std::vector<int>& widths)
    : widths_(widths) {
  BC_CHECK(ins.size() == widths.size() && !ins.empty(), "Concatenate needs one width per input");
  in = ins;
  out = {out_t};
  for (int w : widths) {
    BC_CHECK(w > 0, "Concatenate widths must be positive");
    total_ += w;
  }
}

void ConcatOp::forward(Ctx& c) {
  const size_t per = c.per_sample(out[0]) / total_;  // rows per sample (timesteps of a sequence)
  for (size_t k = 0; k < in.size(); ++k)  // lengths are checked per call: they may be symbolic
    BC_CHECK(c.per_sample(in[k]) == per * widths_[k],
             "Concatenate: input " + std::to_string(k) + " has " + std::to_string(c.per_sample(in[k]) / widths_[k]) +
                 " rows per sample, the output " + std::to_string(per));
  const size_t rows = c.B * per;
  float* y = c.val(out[0]);
  size_t off = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const float* x = c.val(in[k]);
    const int w = widths_[k];
    for (size_t r = 0; r < rows; ++r) std::memcpy(y + r * total_ + off, x + r * w, w * sizeof(float));
    off += w;
  }
}

void ConcatOp::backward(Ctx& c) {
  const size_t rows = c.B * (c.per_sample(out[0]) / total_);
  const float* dy = c.grad(out[0]);
  size_t off = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const int w = widths_[k];
    if (need_dx[k]) {
      float* dx = c.grad(in[k]);
      for (size_t r = 0; r < rows; ++r) add_or_copy(dx + r * w, dy + r * total_ + off, w, accum_dx[k]);
    }
    off += w;
  }
}

AddOp::AddOp(const std::vector<int>& ins, int out_t, int mode) : mode_(mode) {
  BC_CHECK(ins.size() >= 2, "a merge layer needs at least 2 inputs");
  BC_CHECK(mode >= 0 && mode <= 2, "unknown merge mode");
  in = ins;
  out = {out_t};
}

void AddOp::forward(Ctx& c) {
  for (size_t k = 0; k < in.size(); ++k)  // lengths are checked per call: they may be symbolic
    BC_CHECK(c.per_sample(in[k]) == c.per_sample(out[0]),
             "a merge layer's inputs differ in size for these inputs: input " + std::to_string(k) + " has " +
                 std::to_string(c.per_sample(in[k])) + " values per sample, the output " +
                 std::to_string(c.per_sample(out[0])));
  const size_t n = c.B * c.per_sample(out[0]);
  float* y = c.val(out[0]);
  std::memcpy(y, c.val(in[0]), n * sizeof(float));
  for (size_t k = 1; k < in.size(); ++k) {
    const float* x = c.val(in[k]);
    if (mode_ == 2) for (size_t i = 0; i < n; ++i) y[i] *= x[i];
    else for (size_t i = 0; i < n; ++i) y[i] += x[i];
  }
  if (mode_ == 1) {
    const float inv = 1.0f / static_cast<float>(in.size());
    for (size_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

void AddOp::backward(Ctx& c) {
  const size_t n = c.B * c.per_sample(out[0]);
  const float* dy = c.grad(out[0]);
  const float scale = mode_ == 1 ? 1.0f / static_cast<float>(in.size()) : 1.0f;
  for (size_t k = 0; k < in.size(); ++k) {
    if (!need_dx[k]) continue;
    float* dx = c.grad(in[k]);
    for (size_t i = 0; i < n; ++i) {
      float g = dy[i] * scale;
      if (mode_ == 2)  // product rule: the other factors
        for (size_t m = 0; m < in.size(); ++m)
          if (m != k) g *= c.val(in[m])[i];
      dx[i] = accum_dx[k] ? dx[i] + g : g;
    }
  }
}

}  // namespace bc

#include "ops/merge.h"

#include <cstring>

#include "ops/activation.h"
#include "ops/parallel.h"

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
  BC_CHECK(mode >= 0 && mode <= 3, "unknown merge mode");
  BC_CHECK(mode != 3 || ins.size() == 2, "Subtract needs exactly 2 inputs");
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
  float* out_y = c.val(out[0]);
  const float inv = 1.0f / static_cast<float>(in.size());
  // Elementwise, so spans on the team (a Transformer's residual adds) keep every element's bits.
  parallel_spans(n, size_t(1) << 15, [&](size_t a, size_t m) {
    float* y = out_y + a;
    std::memcpy(y, c.val(in[0]) + a, m * sizeof(float));
    for (size_t k = 1; k < in.size(); ++k) {
      const float* x = c.val(in[k]) + a;
      if (mode_ == 2) for (size_t i = 0; i < m; ++i) y[i] *= x[i];
      else if (mode_ == 3) for (size_t i = 0; i < m; ++i) y[i] -= x[i];
      else for (size_t i = 0; i < m; ++i) y[i] += x[i];
    }
    if (mode_ == 1)
      for (size_t i = 0; i < m; ++i) y[i] *= inv;
  });
}

void AddOp::backward(Ctx& c) {
  const size_t n = c.B * c.per_sample(out[0]);
  const float* dy = c.grad(out[0]);
  const float scale = mode_ == 1 ? 1.0f / static_cast<float>(in.size()) : 1.0f;
  for (size_t k = 0; k < in.size(); ++k) {
    if (!need_dx[k]) continue;
    float* dx = c.grad(in[k]);
    if (mode_ == 0 && !accum_dx[k]) {  // the common case (residuals, embeddings): a copy, on the team
      parallel_spans(n, size_t(1) << 15, [&](size_t a, size_t m) { std::memcpy(dx + a, dy + a, m * sizeof(float)); });
      continue;
    }
    if (mode_ == 3 && k == 1) {  // the subtrahend
      if (accum_dx[k]) for (size_t i = 0; i < n; ++i) dx[i] -= dy[i];
      else for (size_t i = 0; i < n; ++i) dx[i] = -dy[i];
      continue;
    }
    if (mode_ != 2) {  // separate tight loops: these vectorize, the general one below does not
      if (accum_dx[k]) for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * scale;
      else for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * scale;
      continue;
    }
    for (size_t i = 0; i < n; ++i) {
      float g = dy[i] * scale;
      for (size_t m = 0; m < in.size(); ++m)  // product rule: the other factors
        if (m != k) g *= c.val(in[m])[i];
      dx[i] = accum_dx[k] ? dx[i] + g : g;
    }
  }
}

namespace {
// A mask tensor's gradient, when an op is asked for it: zeros (Keras casts masks to bool).
void zero_mask_grads(Ctx& c, const Op& op, size_t first) {
  for (size_t k = first; k < op.in.size(); ++k)
    if (op.need_dx[k] && !op.accum_dx[k])
      std::memset(c.grad(op.in[k]), 0, c.B * c.per_sample(op.in[k]) * sizeof(float));
}
}  // namespace

MaskedMulOp::MaskedMulOp(const std::vector<int>& ins, const std::vector<int>& masks, int out_t) {
  BC_CHECK(ins.size() >= 2 && masks.size() == ins.size(), "Multiply: one mask (or -1) per input");
  in = ins;
  out = {out_t};
  n_in_ = ins.size();
  all_masked_ = true;
  for (int m : masks) {
    if (m < 0) {
      mask_at_.push_back(-1);
      all_masked_ = false;
    } else {
      mask_at_.push_back(static_cast<int>(in.size()));
      in.push_back(m);
    }
  }
  BC_CHECK(in.size() > n_in_, "Multiply with masks needs a masked input");
}

float MaskedMulOp::factor(Ctx& c, int k, size_t i, size_t per) const {
  const int m = mask_at_[k];
  if (m >= 0 && c.val(in[m])[i / per] == 0.0f) return 1.0f;
  return c.val(in[k])[i];
}

bool MaskedMulOp::open(Ctx& c, size_t r) const {
  if (!all_masked_) return true;
  for (size_t k = 0; k < n_in_; ++k)
    if (c.val(in[mask_at_[k]])[r] != 0.0f) return true;
  return false;
}

void MaskedMulOp::forward(Ctx& c) {
  const size_t n = c.B * c.per_sample(out[0]), per = c.per_sample(out[0]) / c.per_sample(in[n_in_]);
  float* y = c.val(out[0]);
  for (size_t i = 0; i < n; ++i) {
    float v = factor(c, 0, i, per);
    for (size_t k = 1; k < n_in_; ++k) v *= factor(c, static_cast<int>(k), i, per);
    y[i] = open(c, i / per) ? v : 0.0f;
  }
}

void MaskedMulOp::backward(Ctx& c) {
  const size_t n = c.B * c.per_sample(out[0]), per = c.per_sample(out[0]) / c.per_sample(in[n_in_]);
  const float* dy = c.grad(out[0]);
  for (size_t k = 0; k < n_in_; ++k) {
    if (!need_dx[k]) continue;
    float* dx = c.grad(in[k]);
    const int m = mask_at_[k];
    for (size_t i = 0; i < n; ++i) {
      float g = 0.0f;  // a masked step's value was replaced by 1: no gradient
      if ((m < 0 || c.val(in[m])[i / per] != 0.0f) && open(c, i / per)) {
        g = dy[i];
        for (size_t j = 0; j < n_in_; ++j)
          if (j != k) g *= factor(c, static_cast<int>(j), i, per);
      }
      dx[i] = accum_dx[k] ? dx[i] + g : g;
    }
  }
  zero_mask_grads(c, *this, n_in_);
}

ExtremumOp::ExtremumOp(const std::vector<int>& ins, const std::vector<int>& masks, int out_t, bool is_max)
    : max_(is_max) {
  BC_CHECK(ins.size() >= 2 && masks.size() == ins.size(), "Maximum / Minimum: at least 2 inputs, one mask (or -1) each");
  in = ins;
  out = {out_t};
  n_in_ = ins.size();
  for (int m : masks) {
    mask_at_.push_back(m < 0 ? -1 : static_cast<int>(in.size()));
    if (m >= 0) in.push_back(m);
  }
}

int ExtremumOp::mask_of(Ctx& c, size_t k, size_t r) const {
  const int m = mask_at_[k];
  return m < 0 ? -1 : (c.val(in[m])[r] != 0.0f ? 1 : 0);
}

float ExtremumOp::pick(float a, float b) const {  // torch.maximum / minimum: NaN wins
  if (a != a || b != b) return a + b;
  return max_ ? (a > b ? a : b) : (a < b ? a : b);
}

void ExtremumOp::forward(Ctx& c) {
  for (size_t k = 0; k < n_in_; ++k)  // lengths are checked per call: they may be symbolic
    BC_CHECK(c.per_sample(in[k]) == c.per_sample(out[0]),
             "a merge layer's inputs differ in size for these inputs: input " + std::to_string(k) + " has " +
                 std::to_string(c.per_sample(in[k])) + " values per sample, the output " +
                 std::to_string(c.per_sample(out[0])));
  const size_t per_row = values_per_mask(c), n = c.B * c.per_sample(out[0]);
  float* y = c.val(out[0]);
  for (size_t i = 0; i < n; ++i) y[i] = fold(c, i, i / per_row, nullptr);
}

size_t ExtremumOp::values_per_mask(Ctx& c) const {
  return in.size() > n_in_ ? c.per_sample(out[0]) / c.per_sample(in[n_in_]) : 1;
}

float ExtremumOp::fold(Ctx& c, size_t i, size_t r, Step* steps) const {
  float o = c.val(in[0])[i];
  int om = mask_of(c, 0, r);
  for (size_t k = 1; k < n_in_; ++k) {
    const int m = mask_of(c, k, r);
    const float x = m == 0 ? o : c.val(in[k])[i];
    if (om == 0) o = x;
    if (steps) steps[k] = {o, x, m, om};
    om = (m >= 0 && om >= 0) ? (m | om) : -1;
    o = pick(o, x);
  }
  return o;
}

void ExtremumOp::backward(Ctx& c) {
  const size_t per_row = values_per_mask(c), n = c.B * c.per_sample(out[0]);
  const float* dy = c.grad(out[0]);
  for (size_t k = 0; k < n_in_; ++k)
    if (need_dx[k] && !accum_dx[k]) std::memset(c.grad(in[k]), 0, n * sizeof(float));
  std::vector<Step> steps(n_in_);
  for (size_t i = 0; i < n; ++i) {
    fold(c, i, i / per_row, steps.data());  // the forward again, keeping each step's operands
    float g = dy[i];  // the gradient of the running result after step k
    for (size_t k = n_in_ - 1; k >= 1; --k) {
      const Step& s = steps[k];
      const bool tie = s.a == s.b, a_loses = max_ ? s.a < s.b : s.a > s.b, b_loses = max_ ? s.a > s.b : s.a < s.b;
      const float ga = a_loses ? 0.0f : (tie ? g * 0.5f : g), gb = b_loses ? 0.0f : (tie ? g * 0.5f : g);
      const float gx = gb + (s.om == 0 ? ga : 0.0f);        // x's value also stood in for the running result
      const float gprev = (s.om == 0 ? 0.0f : ga) + (s.m == 0 ? gx : 0.0f);  // a masked x took its value
      if (s.m != 0 && need_dx[k]) c.grad(in[k])[i] += gx;
      g = gprev;
    }
    if (need_dx[0]) c.grad(in[0])[i] += g;
  }
  zero_mask_grads(c, *this, n_in_);
}

MaskOrOp::MaskOrOp(const std::vector<int>& masks, int out_t, bool unmasked_input)
    : unmasked_input_(unmasked_input) {
  BC_CHECK(!masks.empty(), "a merged mask needs an input mask");
  in = masks;
  out = {out_t};
}

void MaskOrOp::forward(Ctx& c) {
  const size_t n = c.B * c.per_sample(out[0]);
  float* y = c.val(out[0]);
  for (size_t i = 0; i < n; ++i) {
    bool any = unmasked_input_;
    for (size_t k = 0; k < in.size() && !any; ++k) any = c.val(in[k])[i] != 0.0f;
    y[i] = any ? 1.0f : 0.0f;
  }
}

void MaskOrOp::backward(Ctx& c) { zero_mask_grads(c, *this, 0); }

}  // namespace bc

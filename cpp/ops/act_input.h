// The activation epilogue of an op whose output is act(z) (Dense, the convolutions): for the
// activations whose gradient needs z rather than y (act_needs_input), a training forward keeps z
// aside, and backward differentiates from it; for the others nothing is kept.
#pragma once
#include <cstring>
#include <vector>

#include "kernels/float/float.h"

namespace bc {

class ActInput {
 public:
  // Before a forward pass over n output values: z is kept when `act` needs it and the pass trains.
  void prepare(int act, bool training, size_t n) {
    keep_ = training && act_needs_input(act);
    kept_ = keep_ ? n : 0;
    if (keep_ && z_.size() < n) z_.resize(n);
  }
  // y (rows, N) <- act(y + b), b (N) may be null; `at`: where these rows start in the output.
  // Safe to call for disjoint row ranges from several threads.
  void forward(float* y, const float* b, int rows, int N, int act, size_t at) {
    const Kernels& k = kernels();
    if (!keep_) {
      k.bias_act_forward(y, b, rows, N, act);
      return;
    }
    const size_t n = static_cast<size_t>(rows) * N;
    k.bias_act_forward(y, b, rows, N, ACT_LINEAR);
    std::memcpy(z_.data() + at, y, n * sizeof(float));
    k.bias_act_forward(y, nullptr, rows, N, act);
  }
  // dy (rows, N) <- dL/dz in place; y: the same rows of the op's output.
  void backward(float* dy, const float* y, int rows, int N, int act, size_t at) const {
    if (!act_needs_input(act)) {
      kernels().act_backward(dy, y, rows, N, act);
      return;
    }
    BC_CHECK(at + static_cast<size_t>(rows) * N <= kept_, "an activation's backward without a training forward");
    kernels().act_backward_z(dy, z_.data() + at, rows, N, act);
  }

 private:
  std::vector<float> z_;
  size_t kept_ = 0;
  bool keep_ = false;
};

}  // namespace bc

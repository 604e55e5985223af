// Sparse Dense (inference): out = act(in @ W + b) through the sparse kernels of sparse.h, float32
// (SparseDenseOp) or int8 (QSparseDenseOp, the scheme of quant.h). The compressed weights are held
// by the op; the float bias lives in the parameter arena.
#pragma once
#include <memory>

#include "kernels/sparse/sparse.h"
#include "runtime/op.h"

namespace bc {

class SparseDenseOp : public Op {
 public:
  // W (K, N) float32 (its zeros are dropped); b: arena offset or < 0; act: an Act id.
  SparseDenseOp(int in_t, int out_t, const float* W, long b, int K, int N, int act);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::unique_ptr<SparseLinear> s_;
  long b_;
  int K_, act_;
};

class QSparseDenseOp : public Op {
 public:
  // wq (K, N) int8 in [-127, 127], scale (N); x_scale > 0: a calibrated activation scale, 0: dynamic.
  QSparseDenseOp(int in_t, int out_t, const int8_t* wq, const float* scale, long b, int K, int N, int act,
                 float x_scale);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::unique_ptr<QSparseLinear> s_;
  long b_;
  int K_, act_;
  float x_scale_;
};

}  // namespace bc

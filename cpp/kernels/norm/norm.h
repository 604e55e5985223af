// Layer normalization and RMS normalization over the last C values of each row, forward and
// backward, with an optional residual input added first (x + res feeding the norm, as a
// Transformer block's "x + sublayer(x)": one pass instead of two).
//
//   layer:  s = x (+ res), y = (s - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps)
//   rms:    s = x (+ res), y = s * rstd * gamma,                  rstd = 1 / sqrt(mean(s^2) + eps)
// gamma / beta may be null (scale=False / center=False); the backward reads mean and rstd (rows)
// saved by the forward and recomputes s.
//
// Determinism: rows are independent; the weight gradients are summed per fixed block of rows,
// then over the blocks in order, so the bits do not depend on the thread count; every row sum uses
// fixed lanes, so every ISA path gives the same bits.
#pragma once
#include "core/common.h"

namespace bc {

// x, res (rows, C) -> y (rows, C), mean and rstd (rows; mean unused when rms).
void norm_forward(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                  const float* beta, int rows, int C, float eps, bool rms);

// dy (rows, C) -> dx (and dres, the same values; either may be null), assigned or accumulated
// (acc_x, acc_res); dgamma, dbeta (C) accumulated when acc_w, else assigned (either may be null).
void norm_backward(float* dx, bool acc_x, float* dres, bool acc_res, float* dgamma, float* dbeta, bool acc_w,
                   const float* dy, const float* x, const float* res, const float* mean, const float* rstd,
                   const float* gamma, int rows, int C, bool rms);

// Per-ISA row kernels (body.h): R rows at a time; work (2 * C floats) is scratch.
struct NormKernels {
  const char* name;
  void (*rows_forward)(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                       const float* beta, int R, int C, float eps, bool rms);
  // dx, dres as norm_backward; gsum, bsum (C) += the rows' dy * xhat and dy (either may be null).
  void (*rows_backward)(float* dx, bool acc_x, float* dres, bool acc_res, float* gsum, float* bsum, const float* dy,
                        const float* x, const float* res, const float* mean, const float* rstd, const float* gamma,
                        int R, int C, bool rms, float* work);
};

void fill_norm_ref(NormKernels& k);
void fill_norm_avx2(NormKernels& k);
void fill_norm_avx512(NormKernels& k);

const NormKernels& norm_kernels();  // the path in use (cpp/isa/ picks it)

}  // namespace bc

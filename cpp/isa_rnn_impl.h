// Recurrent cell pointwise kernels, one row (sample) at a time; included by the per-ISA files
// after isa_impl.h (same anonymous namespace rules: see there).
#pragma once
#include "isa_impl.h"

namespace bc {
namespace {

inline float act_f(float x, int act) {
  switch (act) {
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_SIGMOID: return sigmoid_f(x);
    case ACT_TANH: return tanh_f(x);
    default: return x;
  }
}

// d act / dz from the activation's output y = act(z)
inline float act_grad_y(float y, int act) {
  switch (act) {
    case ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case ACT_SIGMOID: return y * (1.0f - y);
    case ACT_TANH: return 1.0f - y * y;
    default: return 1.0f;
  }
}

// LSTM, gates i, f, c, o (Keras order). z (4U): pre-activations in, gate activations out;
// c_prev, h_prev (U) -> c, h (U).
void lstm_row_forward(float* z, float* c, float* h, const float* c_prev, int U, int act, int ract) {
  float *zi = z, *zf = z + U, *zc = z + 2 * U, *zo = z + 3 * U;
  for (int j = 0; j < U; ++j) {
    zi[j] = act_f(zi[j], ract);
    zf[j] = act_f(zf[j], ract);
    zc[j] = act_f(zc[j], act);
    zo[j] = act_f(zo[j], ract);
  }
  for (int j = 0; j < U; ++j) {
    c[j] = zf[j] * c_prev[j] + zi[j] * zc[j];
    h[j] = zo[j] * act_f(c[j], act);
  }
}

// gates (4U) from the forward; c, c_prev (U); dh (U): dL/dh; dc (U): in dL/dc from the next
// step, out dL/dc_prev; dz (4U) out: dL/d(pre-activations).
void lstm_row_backward(float* dz, float* dc, const float* gates, const float* c, const float* c_prev,
                       const float* dh, int U, int act, int ract) {
  const float *gi = gates, *gf = gates + U, *gc = gates + 2 * U, *go = gates + 3 * U;
  float *di = dz, *df = dz + U, *dg = dz + 2 * U, *dout = dz + 3 * U;
  for (int j = 0; j < U; ++j) {
    float tc = act_f(c[j], act);
    float dct = dc[j] + dh[j] * go[j] * act_grad_y(tc, act);
    dout[j] = dh[j] * tc * act_grad_y(go[j], ract);
    di[j] = dct * gc[j] * act_grad_y(gi[j], ract);
    dg[j] = dct * gi[j] * act_grad_y(gc[j], act);
    df[j] = dct * c_prev[j] * act_grad_y(gf[j], ract);
    dc[j] = dct * gf[j];
  }
}

// GRU (reset_after=True), gates z, r, h. x (3U): input projection + input bias in, (z, r, hh)
// out; rec (3U): h_prev @ U (recurrent bias added here, in place); h_prev (U) -> h (U).
void gru_row_forward(float* x, float* rec, float* h, const float* h_prev, const float* brec, int U,
                     int act, int ract) {
  float *xz = x, *xr = x + U, *xh = x + 2 * U;
  if (brec)
    for (int j = 0; j < 3 * U; ++j) rec[j] += brec[j];
  const float *rz = rec, *rr = rec + U, *rh = rec + 2 * U;
  for (int j = 0; j < U; ++j) {
    xz[j] = act_f(xz[j] + rz[j], ract);
    xr[j] = act_f(xr[j] + rr[j], ract);
    xh[j] = act_f(xh[j] + xr[j] * rh[j], act);
    h[j] = xz[j] * h_prev[j] + (1.0f - xz[j]) * xh[j];
  }
}

// gates (z, r, hh), rec (3U, with bias), h_prev, dh (U) -> dx (3U), drec (3U),
// dh_prev (U) = the direct part dh * z (the recurrent GEMM adds the rest).
void gru_row_backward(float* dx, float* drec, float* dh_prev, const float* gates, const float* rec,
                      const float* h_prev, const float* dh, int U, int act, int ract) {
  const float *z = gates, *r = gates + U, *hh = gates + 2 * U, *rh = rec + 2 * U;
  for (int j = 0; j < U; ++j) {
    float dzp = dh[j] * (h_prev[j] - hh[j]) * act_grad_y(z[j], ract);
    float dah = dh[j] * (1.0f - z[j]) * act_grad_y(hh[j], act);
    float drp = dah * rh[j] * act_grad_y(r[j], ract);
    dx[j] = dzp;
    dx[U + j] = drp;
    dx[2 * U + j] = dah;
    drec[j] = dzp;
    drec[U + j] = drp;
    drec[2 * U + j] = dah * r[j];
    dh_prev[j] = dh[j] * z[j];
  }
}

void fill_rnn_from_impl(Kernels& k) {
  k.lstm_row_forward = lstm_row_forward;
  k.lstm_row_backward = lstm_row_backward;
  k.gru_row_forward = gru_row_forward;
  k.gru_row_backward = gru_row_backward;
}

}  // namespace
}  // namespace bc

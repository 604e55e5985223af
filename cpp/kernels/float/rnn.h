// Recurrent cell pointwise kernels, one row (sample) at a time; included by the per-ISA files
// after body.h (same anonymous namespace rules: see there).
#pragma once
#include "kernels/float/body.h"

namespace bc {
namespace {

// x (n) <- act(x), and d (n) <- d * act'(z) given y = act(z): the elementwise kernels every layer
// uses (body.h). A cell takes only the activations whose gradient its output gives (the ops check).
inline void act_inplace(float* x, int n, int act) { act_map(x, static_cast<size_t>(n), act); }
inline void mul_act_grad(float* d, const float* y, int n, int act) { act_grad_y(d, y, static_cast<size_t>(n), act); }

constexpr int kBlock = 256;  // units per pass through the stack buffers below

// The LSTM cell for Keras's default activations (tanh, sigmoid), with math.h's fused-multiply-add
// tanh and sigmoid on vectors (the backward below takes the same tanh). Three passes over the units,
// not one: an exponential is a chain of some twenty dependent operations, and one pass held two such
// chains back to back (a gate, then tanh(c)), so the core's reorder window covered little more than
// one unit vector at a time; short loops of one or two independent chains overlap many vectors.
// Element j takes the same operations either way (a last partial vector padded with zeros).
void lstm_row_forward_tanh_sigmoid(float* z, float* __restrict c, float* __restrict h,
                                   const float* __restrict c_prev, int U) {
  for (int j = 0; j < 2 * U; j += kPathW) {  // i, f
    const int n = std::min(kPathW, 2 * U - j);
    store_n(z + j, sigmoid_fma_v(load_n(z + j, n)), n);
  }
  float* zc = z + 2 * U;
  float* zo = z + 3 * U;
  for (int j = 0; j < U; j += kPathW) {
    const int n = std::min(kPathW, U - j);
    store_n(zc + j, tanh_fma_v(load_n(zc + j, n)), n);
    store_n(zo + j, sigmoid_fma_v(load_n(zo + j, n)), n);
  }
  const float* zf = z + U;
  for (int j = 0; j < U; j += kPathW) {
    const int n = std::min(kPathW, U - j);
    const path_vf cj = load_n(zf + j, n) * load_n(c_prev + j, n) + load_n(z + j, n) * load_n(zc + j, n);
    store_n(c + j, cj, n);
    store_n(h + j, tanh_fma_v(cj) * load_n(zo + j, n), n);
  }
}

// LSTM, gates i, f, c, o (Keras order). z (4U): pre-activations in, gate activations out;
// c_prev (U) -> c, h (U).
void lstm_row_forward(float* z, float* c, float* h, const float* c_prev, int U, int act, int ract) {
  if (act == ACT_TANH && ract == ACT_SIGMOID) return lstm_row_forward_tanh_sigmoid(z, c, h, c_prev, U);
  act_inplace(z, 2 * U, ract);  // i, f
  act_inplace(z + 2 * U, U, act);
  act_inplace(z + 3 * U, U, ract);
  const float *zi = z, *zf = z + U, *zc = z + 2 * U, *zo = z + 3 * U;
  for (int j = 0; j < U; ++j) c[j] = zf[j] * c_prev[j] + zi[j] * zc[j];
  for (int j = 0; j < U; ++j) h[j] = c[j];
  act_inplace(h, U, act);
  for (int j = 0; j < U; ++j) h[j] *= zo[j];
}

// lstm_row_backward for (tanh, sigmoid) in one pass: the general path's operations per element,
// in its order (so the same bits), on vectors with the forward's tanh_fma_v. The general path's
// middle loop stayed scalar (too many rows that might alias), a quarter of the seed LSTM's backward.
// Element j touches only index j of each row, and a vector's loads come before its stores.
void lstm_row_backward_tanh_sigmoid(float* dz, float* dc, const float* gates, const float* c, const float* c_prev,
                                    const float* dh, int U) {
  const float *gi = gates, *gf = gates + U, *gc = gates + 2 * U, *go = gates + 3 * U;
  float *di = dz, *df = dz + U, *dg = dz + 2 * U, *dout = dz + 3 * U;
  for (int j = 0; j < U; j += kPathW) {
    const int n = std::min(kPathW, U - j);
    const path_vf vi = load_n(gi + j, n), vf = load_n(gf + j, n), vc = load_n(gc + j, n), vo = load_n(go + j, n);
    const path_vf dhj = load_n(dh + j, n), tc = tanh_fma_v(load_n(c + j, n));
    path_vf dct = dhj * vo;
    dct *= 1.0f - tc * tc;
    dct += load_n(dc + j, n);
    const path_vf o = dhj * tc, i = dct * vc, g = dct * vi, f = dct * load_n(c_prev + j, n);
    store_n(dc + j, dct * vf, n);
    store_n(dout + j, o * (vo * (1.0f - vo)), n);
    store_n(di + j, i * (vi * (1.0f - vi)), n);
    store_n(dg + j, g * (1.0f - vc * vc), n);
    store_n(df + j, f * (vf * (1.0f - vf)), n);
  }
}

// gates (4U) from the forward; c, c_prev (U); dh (U): dL/dh; dc (U): in dL/dc from the next
// step, out dL/dc_prev; dz (4U) out: dL/d(pre-activations).
void lstm_row_backward(float* dz, float* dc, const float* gates, const float* c, const float* c_prev,
                       const float* dh, int U, int act, int ract) {
  if (act == ACT_TANH && ract == ACT_SIGMOID) return lstm_row_backward_tanh_sigmoid(dz, dc, gates, c, c_prev, dh, U);
  float tc[kBlock], dct[kBlock];
  for (int j0 = 0; j0 < U; j0 += kBlock) {
    const int n = U - j0 < kBlock ? U - j0 : kBlock;
    const float *gi = gates + j0, *gf = gates + U + j0, *gc = gates + 2 * U + j0, *go = gates + 3 * U + j0;
    float *di = dz + j0, *df = dz + U + j0, *dg = dz + 2 * U + j0, *dout = dz + 3 * U + j0;
    const float *cj = c + j0, *cp = c_prev + j0, *dhj = dh + j0;
    float* dcj = dc + j0;
    for (int j = 0; j < n; ++j) tc[j] = cj[j];
    act_inplace(tc, n, act);
    for (int j = 0; j < n; ++j) dct[j] = dhj[j] * go[j];
    mul_act_grad(dct, tc, n, act);
    for (int j = 0; j < n; ++j) {
      dct[j] += dcj[j];
      dout[j] = dhj[j] * tc[j];
      di[j] = dct[j] * gc[j];
      dg[j] = dct[j] * gi[j];
      df[j] = dct[j] * cp[j];
      dcj[j] = dct[j] * gf[j];
    }
    mul_act_grad(dout, go, n, ract);
    mul_act_grad(di, gi, n, ract);
    mul_act_grad(dg, gc, n, act);
    mul_act_grad(df, gf, n, ract);
  }
}

// GRU (reset_after=True), gates z, r, h. x (3U): input projection + input bias in, (z, r, hh)
// out; rec (3U): h_prev @ U (recurrent bias added here, in place); h_prev (U) -> h (U).
void gru_row_forward(float* x, float* rec, float* h, const float* h_prev, const float* brec, int U,
                     int act, int ract) {
  if (brec)
    for (int j = 0; j < 3 * U; ++j) rec[j] += brec[j];
  for (int j = 0; j < 2 * U; ++j) x[j] += rec[j];  // z, r pre-activations
  act_inplace(x, 2 * U, ract);
  float *xz = x, *xr = x + U, *xh = x + 2 * U;
  const float* rh = rec + 2 * U;
  for (int j = 0; j < U; ++j) xh[j] += xr[j] * rh[j];
  act_inplace(xh, U, act);
  for (int j = 0; j < U; ++j) h[j] = xz[j] * h_prev[j] + (1.0f - xz[j]) * xh[j];
}

// gates (z, r, hh), rec (3U, with bias), h_prev, dh (U) -> dx (3U), drec (3U),
// dh_prev (U) = the direct part dh * z (the recurrent GEMM adds the rest).
void gru_row_backward(float* dx, float* drec, float* dh_prev, const float* gates, const float* rec,
                      const float* h_prev, const float* dh, int U, int act, int ract) {
  const float *z = gates, *r = gates + U, *hh = gates + 2 * U, *rh = rec + 2 * U;
  float *dzp = dx, *drp = dx + U, *dah = dx + 2 * U;
  for (int j = 0; j < U; ++j) {
    dzp[j] = dh[j] * (h_prev[j] - hh[j]);
    dah[j] = dh[j] * (1.0f - z[j]);
    dh_prev[j] = dh[j] * z[j];
  }
  mul_act_grad(dzp, z, U, ract);
  mul_act_grad(dah, hh, U, act);
  for (int j = 0; j < U; ++j) drp[j] = dah[j] * rh[j];
  mul_act_grad(drp, r, U, ract);
  for (int j = 0; j < U; ++j) {
    drec[j] = dzp[j];
    drec[U + j] = drp[j];
    drec[2 * U + j] = dah[j] * r[j];
  }
}

// GRU (reset_after=False), gates z, r, h: the reset gate multiplies h_prev before the candidate's
// recurrent product, so a step runs in two halves around rh @ R[:, 2U:] (the op's GEMM).
// First half. x (3U): input projection + bias in, (z, r) out in its first 2U; rec (2U): h_prev @
// R[:, :2U]; hp (U): h_prev as multiplied by R (recurrent dropout applied) -> rh (U) = r * hp.
void gru_before_row_gates(float* x, const float* rec, float* rh, const float* hp, int U, int ract) {
  for (int j = 0; j < 2 * U; ++j) x[j] += rec[j];
  act_inplace(x, 2 * U, ract);
  const float* xr = x + U;
  for (int j = 0; j < U; ++j) rh[j] = xr[j] * hp[j];
}

// Second half. rech (U): rh @ R[:, 2U:]; x's last U <- hh = act(x_h + rech); h_prev (U) -> h (U).
void gru_before_row_out(float* x, const float* rech, float* h, const float* h_prev, int U, int act) {
  float *xz = x, *xh = x + 2 * U;
  for (int j = 0; j < U; ++j) xh[j] += rech[j];
  act_inplace(xh, U, act);
  for (int j = 0; j < U; ++j) h[j] = xz[j] * h_prev[j] + (1.0f - xz[j]) * xh[j];
}

// Backward, first half. gates (z, r, hh), h_prev, dh (U) -> dx's z and h thirds (dL/d pre-activations),
// dh_prev (U) = the direct part dh * z.
void gru_before_row_backward_out(float* dx, float* dh_prev, const float* gates, const float* h_prev,
                                 const float* dh, int U, int act, int ract) {
  const float *z = gates, *hh = gates + 2 * U;
  float *dzp = dx, *dah = dx + 2 * U;
  for (int j = 0; j < U; ++j) {
    dzp[j] = dh[j] * (h_prev[j] - hh[j]);
    dah[j] = dh[j] * (1.0f - z[j]);
    dh_prev[j] = dh[j] * z[j];
  }
  mul_act_grad(dzp, z, U, ract);
  mul_act_grad(dah, hh, U, act);
}

// Backward, second half. drh (U): dL/drh = dah @ R[:, 2U:]^T in, dL/dhp through rh (drh * r) out;
// dx's r third <- drh * hp * ract'(r).
void gru_before_row_backward_gates(float* dx, float* drh, const float* gates, const float* hp, int U, int ract) {
  const float* r = gates + U;
  float* drp = dx + U;
  for (int j = 0; j < U; ++j) {
    drp[j] = drh[j] * hp[j];
    drh[j] *= r[j];
  }
  mul_act_grad(drp, r, U, ract);
}

void fill_rnn_from_impl(Kernels& k) {
  k.gru_before_row_gates = gru_before_row_gates;
  k.gru_before_row_out = gru_before_row_out;
  k.gru_before_row_backward_out = gru_before_row_backward_out;
  k.gru_before_row_backward_gates = gru_before_row_backward_gates;
  k.lstm_row_forward = lstm_row_forward;
  k.lstm_row_backward = lstm_row_backward;
  k.gru_row_forward = gru_row_forward;
  k.gru_row_backward = gru_row_backward;
}

}  // namespace
}  // namespace bc

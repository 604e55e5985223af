// The float kernels: one table of pointers per ISA path (ref.cpp, avx2.cpp, avx512.cpp compile
// the bodies of body.h, rnn.h and small_gemm.h with their own flags), one of them in use.
#pragma once
#include <cstdint>
#include <string>

#include "core/common.h"

namespace bc {

// What the fused optimizer update reads for one step over one arena segment.
enum OptimKind : int {
  OPT_SGD = 0, OPT_ADAM = 1, OPT_RMSPROP = 2, OPT_ADAGRAD = 3,
  OPT_NADAM = 4, OPT_ADAMAX = 5, OPT_ADADELTA = 6, OPT_LION = 7,
  // Keras's Lamb and Adafactor read each weight tensor whole (norms, row and column means): the
  // optimizer pass runs them per segment (runtime/optim.cpp), not through optim_update.
  OPT_FTRL = 8, OPT_LAMB = 9, OPT_ADAFACTOR = 10
};
struct UpdateArgs {
  int kind = OPT_SGD;
  float lr = 0.01f;        // learning rate for this step
  float alpha = 0.01f;     // Adam: lr * sqrt(1 - b2^t) / (1 - b1^t)
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-7f;
  float momentum = 0.0f;   // SGD and RMSprop momentum
  float rho = 0.9f;        // RMSprop, Adadelta
  // Nadam: m_hat = m * nadam_m + g * nadam_g, where nadam_m = u_{t+1} / (1 - u_1..u_{t+1}) and
  // nadam_g = (1 - u_t) / (1 - u_1..u_t); bias = 1 - beta2^t (Nadam's v_hat = v / bias) or
  // 1 - beta1^t (Adamax). update_args derives them in double from the step.
  float nadam_m = 0.0f, nadam_g = 1.0f, bias = 1.0f;
  bool nesterov = false, amsgrad = false, centered = false;
  float weight_decay = 0.0f;  // decoupled (AdamW-style), applied as w -= w * wd * lr
  // Ftrl: the accumulator's power -learning_rate_power, l1, 2 * (l2 + beta / (2 lr)) and
  // 2 * l2_shrinkage, each as Keras computes it in float32.
  float ftrl_power = 0.5f, ftrl_l1 = 0.0f, ftrl_two_l2 = 0.0f, ftrl_two_shrink = 0.0f;
  // Lamb: 1 - beta_1 and 1 - beta_2 (from the double betas), 1 - beta_1^t and 1 - beta_2^t.
  float c1 = 0.1f, c2 = 0.001f, bias1 = 1.0f, bias2 = 1.0f;
  // Adafactor: rho_t = min(lr, 1 / sqrt(t)), beta_2_t = 1 - t^beta_2_decay, epsilon_1, epsilon_2,
  // clip_threshold.
  float rho_t = 0.0f, beta2_t = 0.0f, eps1 = 1e-30f, eps2 = 1e-3f, clip_threshold = 1.0f;
};

struct Kernels {
  const char* name;
  // y (B,N) <- act(y + b), b (N) may be null; softmax acts on each row.
  void (*bias_act_forward)(float* y, const float* b, int B, int N, int act);
  // dy (B,N) <- dL/dz given y = act(z) and dy = dL/dy, in place.
  void (*act_backward)(float* dy, const float* y, int B, int N, int act);
  // The same from the input z, for the activations act_needs_input() names (GELU, SiLU).
  void (*act_backward_z)(float* dy, const float* z, int B, int N, int act);
  // out (N) (+)= column sums of x (B rows of N, ld apart), rows summed in order 0..B-1 whatever the ISA.
  void (*col_sum)(float* out, const float* x, int B, int N, int ld, bool accumulate);
  // g (n) += d/dw (l1 * sum|w| + l2 * sum w^2), the regularizers' gradient.
  void (*reg_grad)(float* g, const float* w, size_t n, float l1, float l2);
  // One fused optimizer step on a segment: w (n), g (n), optimizer state s1, s2, s3 (n each).
  void (*optim_update)(float* w, float* g, float* s1, float* s2, float* s3, size_t n,
                       const UpdateArgs& a);
  // sum(|w|) and sum(w^2) in a fixed order (regularization loss).
  void (*abs_sq_sum)(const float* w, size_t n, double* abs_sum, double* sq_sum);
  // Recurrent cells, one sample row per call (rnn.h has the shapes).
  void (*lstm_row_forward)(float* z, float* c, float* h, const float* c_prev, int U, int act, int ract);
  void (*lstm_row_backward)(float* dz, float* dc, const float* gates, const float* c,
                            const float* c_prev, const float* dh, int U, int act, int ract);
  void (*gru_row_forward)(float* x, float* rec, float* h, const float* h_prev, const float* brec,
                          int U, int act, int ract);
  void (*gru_row_backward)(float* dx, float* drec, float* dh_prev, const float* gates,
                           const float* rec, const float* h_prev, const float* dh, int U, int act,
                           int ract);
  // GRU with reset_after=False, each step in two halves around the candidate's recurrent product.
  void (*gru_before_row_gates)(float* x, const float* rec, float* rh, const float* hp, int U, int ract);
  void (*gru_before_row_out)(float* x, const float* rech, float* h, const float* h_prev, int U, int act);
  void (*gru_before_row_backward_out)(float* dx, float* dh_prev, const float* gates, const float* h_prev,
                                      const float* dh, int U, int act, int ract);
  void (*gru_before_row_backward_gates)(float* dx, float* drh, const float* gates, const float* hp, int U,
                                        int ract);
  // y = x * keep / (1 - rate) with keep drawn from the counter-based RNG at (key, first + i).
  void (*dropout_forward)(float* y, unsigned char* keep, const float* x, size_t n, float rate,
                          uint64_t key, uint64_t first);
  // dx (+)= keep ? dy / (1 - rate) : 0.
  void (*dropout_backward)(float* dx, const unsigned char* keep, const float* dy, size_t n, float rate,
                           bool accumulate);
  // y (M,N) (+)= x (M,K) @ W (K,N), each output summed in k order with one FMA per product: the
  // same bits on every ISA and for any rows beside it (small_gemm.h). Single-threaded.
  void (*small_gemm)(float* y, int ldy, const float* x, int ldx, const float* W, int ldw, int M, int N,
                     int K, bool accumulate);
  // The same with op(x) = x (M,K) or, when trans_x, x stored (K,M) (the weight gradients x^T @ dy).
  void (*fma_gemm)(float* y, int ldy, const float* x, int ldx, bool trans_x, const float* W, int ldw, int M,
                   int N, int K, bool accumulate);
  // fma_gemm's panels of W (K,N) packed once for many products (small_gemm.h: pack_panels writes
  // K * (N / gemm_panel) * gemm_panel floats), and columns [n0, n1) of the product from them, with
  // fma_gemm's bits (n0 a multiple of gemm_panel). The layout is this path's: pack with the table
  // that multiplies.
  int gemm_panel;
  int gemm_packed_min_rows;  // products of fewer rows read W in place (packing would be wasted)
  void (*pack_panels)(float* pw, const float* W, int ldw, int K, int N);
  void (*packed_gemm)(float* y, int ldy, const float* x, int ldx, const float* pw, const float* W, int ldw, int M,
                      int N, int K, int n0, int n1, bool accumulate);
};

void fill_kernels_ref(Kernels& k);
void fill_kernels_avx2(Kernels& k);
void fill_kernels_avx512(Kernels& k);

const Kernels& kernels();  // the table of the path in use (cpp/isa/ picks it)

}  // namespace bc

#include "runtime/optim.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/gemm/gemm.h"

namespace bc {

namespace {
// Parallel over 8K-float chunks (enough of them to balance two threads on the seed MLP's 118K
// parameters), for arenas of 256K floats and up (~1 MB per array), or of 32K and up in a step whose
// GEMMs already woke the team (core/threads.h): the batch-256 MLP's update 90 -> 57 us; in a
// single-threaded step (batch 32) waking the team for it measured 25 -> 200 us.
constexpr size_t kUpdateChunk = 1 << 13;
constexpr size_t kParallelUpdate = 1 << 18;
constexpr size_t kParallelUpdateAwake = 1 << 15;
}  // namespace

void check_optim_args(const OptimArgs& o) {
  BC_CHECK((o.kind >= OPT_SGD && o.kind <= OPT_ADAFACTOR) || o.kind == OPT_MUON || o.kind == OPT_SCHEDULE_FREE,
           "unknown optimizer kind " + std::to_string(o.kind));
  if (o.kind == OPT_MUON) {
    BC_CHECK(o.ns_steps >= 0, "Muon: ns_steps must be >= 0, got " + std::to_string(o.ns_steps));
    BC_CHECK(std::is_sorted(o.muon_offsets.begin(), o.muon_offsets.end()), "Muon: muon_offsets must be sorted");
  }
  if (o.use_ema)
    BC_CHECK(o.ema_momentum >= 0.0 && o.ema_momentum <= 1.0,
             "ema_momentum must be in [0, 1], got " + std::to_string(o.ema_momentum));
}

double nadam_u_product(double beta1, uint64_t t, NadamProduct& cache) {
  FlushDenormals ftz;  // the same bits for every caller (a training step runs with it anyway)
  if (cache.beta1 != beta1 || cache.t > t) cache = {beta1, 0, 1.0};
  for (uint64_t k = cache.t + 1; k <= t; ++k) {
    const double next = cache.value * (beta1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(k))));
    // The factors grow with k (towards beta1 <= 1), so once one leaves the product unchanged (0,
    // or rounding) every later one does: the loop stops, and a resume at step 10^9 costs no 10^9.
    if (next == cache.value) break;
    cache.value = next;
  }
  cache.t = t;
  return cache.value;
}

namespace {
// 1 - beta^t, refused where it is 0 (a division by zero in the update).
double bias_correction(const char* name, const char* arg, double beta, double t) {
  const double c = 1.0 - std::pow(beta, t);
  BC_CHECK(c != 0.0, std::string(name) + "'s bias correction 1 - " + arg + "^t is 0 (" + arg + " = " +
                         std::to_string(beta) + "): " + arg + " must be < 1");
  return c;
}
}  // namespace

UpdateArgs update_args(const OptimArgs& o, double lr, uint64_t step, NadamProduct& nadam) {
  if (o.gradient_accumulation_steps > 1) step /= o.gradient_accumulation_steps;  // Keras's iterations
  UpdateArgs u;
  u.kind = o.kind;
  u.lr = static_cast<float>(lr);
  u.beta1 = static_cast<float>(o.beta1);
  u.beta2 = static_cast<float>(o.beta2);
  u.eps = o.eps;
  u.momentum = o.momentum;
  u.rho = o.rho;
  u.nesterov = o.nesterov;
  u.amsgrad = o.amsgrad;
  u.centered = o.centered;
  u.weight_decay = o.weight_decay;
  const double t = static_cast<double>(step) + 1.0;
  if (o.kind == OPT_ADAM) {
    const double correction = bias_correction("Adam", "beta_1", o.beta1, t);
    u.alpha = static_cast<float>(lr * std::sqrt(1.0 - std::pow(o.beta2, t)) / correction);
  } else if (o.kind == OPT_ADAMAX) {
    u.bias = static_cast<float>(bias_correction("Adamax", "beta_1", o.beta1, t));
  } else if (o.kind == OPT_NADAM) {
    // Keras: u_t = beta1 (1 - 0.5 * 0.96^t); m_hat = u_{t+1} m / (1 - prod u_1..u_{t+1})
    //                                              + (1 - u_t) g / (1 - prod u_1..u_t)
    const double u_t = o.beta1 * (1.0 - 0.5 * std::pow(0.96, t));
    const double u_next = o.beta1 * (1.0 - 0.5 * std::pow(0.96, t + 1.0));
    const double product = nadam_u_product(o.beta1, step + 1, nadam);
    u.nadam_m = static_cast<float>(u_next / (1.0 - product * u_next));
    u.nadam_g = static_cast<float>((1.0 - u_t) / (1.0 - product));
    u.bias = static_cast<float>(bias_correction("Nadam", "beta_2", o.beta2, t));
  } else if (o.kind == OPT_FTRL) {
    // Keras: l2_reg = l2 + beta / (2.0 * lr) and its double, in float32 (lr a float32 tensor)
    const float lr_f = u.lr;
    u.ftrl_power = static_cast<float>(-o.learning_rate_power);
    u.ftrl_l1 = static_cast<float>(o.l1);
    u.ftrl_two_l2 = 2.0f * (static_cast<float>(o.l2) + static_cast<float>(o.ftrl_beta) / (2.0f * lr_f));
    u.ftrl_two_shrink = static_cast<float>(2.0 * o.l2_shrinkage);
  } else if (o.kind == OPT_LAMB) {
    // Keras: 1 - beta (Python floats), beta^t in float32, 1.0 - that in float32
    const float tf = static_cast<float>(t);
    u.c1 = static_cast<float>(1.0 - o.beta1);
    u.c2 = static_cast<float>(1.0 - o.beta2);
    u.bias1 = 1.0f - std::pow(static_cast<float>(o.beta1), tf);
    u.bias2 = 1.0f - std::pow(static_cast<float>(o.beta2), tf);
  } else if (o.kind == OPT_MUON) {
    // The AdamW weights: Keras's Adam alpha at lr * adam_lr_ratio (u.lr stays the main rate, which
    // both weight decays and the Muon step read)
    const double correction = bias_correction("Muon", "adam_beta_1", o.beta1, t);
    u.alpha = static_cast<float>(static_cast<double>(static_cast<float>(lr * o.adam_lr_ratio)) *
                                 std::sqrt(1.0 - std::pow(o.beta2, t)) / correction);
  } else if (o.kind == OPT_SCHEDULE_FREE) {
    // Keras, in float32: lr * min(t / warmup_steps, 1), 1 - beta_2^t, 1 - beta_1, 1 - beta_2, 1 / t
    const float tf = static_cast<float>(t), b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
    u.alpha = o.warmup_steps > 0 ? u.lr * std::min(tf / static_cast<float>(o.warmup_steps), 1.0f) : u.lr;
    u.bias2 = 1.0f - std::pow(b2, tf);
    u.c1 = 1.0f - b1;
    u.c2 = 1.0f - b2;
    u.bias1 = 1.0f / tf;
  } else if (o.kind == OPT_ADAFACTOR) {
    // Keras: rho_t = min(lr, 1 / sqrt(t)) and beta_2_t = 1 - t^beta_2_decay, in float32
    const float tf = static_cast<float>(t);
    u.rho_t = std::min(u.lr, 1.0f / std::sqrt(tf));
    u.beta2_t = 1.0f - std::pow(tf, static_cast<float>(o.beta2_decay));
    u.eps1 = static_cast<float>(o.eps1);
    u.eps2 = static_cast<float>(o.eps2);
    u.clip_threshold = static_cast<float>(o.clip_threshold);
  }
  return u;
}

namespace {
// Keras's _update_model_variables_moving_average in float32, as torch computes it (one rounding per
// product and one per sum; the build keeps -ffp-contract=off): avg = m * avg + (1 - m) * w; then,
// on an overwrite step, w = avg (_overwrite_model_variables_with_average_value).
void ema_update(float* w, float* avg, size_t n, float m, bool overwrite) {
  const float rest = 1.0f - m;
  for (size_t i = 0; i < n; ++i) avg[i] = m * avg[i] + rest * w[i];
  if (overwrite) std::copy(avg, avg + n, w);
}
}  // namespace

namespace {
// sqrt(mean(x^2)) as Keras's Adafactor._rms: the mean (a double sum here) in float, then its root.
float rms(const float* x, size_t n) {
  double sq = 0.0;
  for (size_t i = 0; i < n; ++i) sq += static_cast<double>(x[i]) * x[i];
  return std::sqrt(static_cast<float>(sq / static_cast<double>(n)));
}

// Keras's Lamb on one weight tensor: Adam's moments, then the update scaled by the trust ratio
// |w| / |update| (1 where either norm is 0). s1 = m, s2 = v. The update is computed twice (for its
// norm, then to apply it), the same float operations both times.
void lamb_segment(float* w, const float* g, float* m, float* v, size_t n, const UpdateArgs& u) {
  const float c1 = u.c1, c2 = u.c2, bias1 = u.bias1, bias2 = u.bias2, eps = u.eps;
  auto update = [&](size_t i) { return (m[i] / bias1) / (std::sqrt(v[i] / bias2) + eps); };
  double wsq = 0.0, usq = 0.0;
  for (size_t i = 0; i < n; ++i) {
    m[i] += (g[i] - m[i]) * c1;
    v[i] += (g[i] * g[i] - v[i]) * c2;
    const float d = update(i);
    wsq += static_cast<double>(w[i]) * w[i];
    usq += static_cast<double>(d) * d;
  }
  const float w_norm = static_cast<float>(std::sqrt(wsq)), u_norm = static_cast<float>(std::sqrt(usq));
  const float ratio = w_norm > 0.0f && u_norm > 0.0f ? w_norm / u_norm : 1.0f;
  const float scale = ratio * u.lr;
  for (size_t i = 0; i < n; ++i) w[i] -= scale * update(i);
}

// Keras's Adafactor on one weight tensor. A weight of rank >= 2, seen as (batch, mid, last), keeps
// row means r (batch, mid) at s1 and column means c (batch, last) at s2 and sets v = r / mean(r) x c;
// one of rank < 2 keeps v (s3) as a moving average of g^2 + epsilon_1.
void adafactor_segment(float* w, const float* g, float* r, float* c, float* v, const Segment& s,
                       const UpdateArgs& u) {
  const size_t n = s.size;
  const float bt = u.beta2_t, rest = 1.0f - u.beta2_t, eps1 = u.eps1;
  const float alpha = std::max(u.eps2, rms(w, n)) * u.rho_t;
  if (s.mid > 0) {
    const size_t mid = s.mid, last = s.last, batch = n / (mid * last);
    std::vector<double> col(last);
    for (size_t b = 0; b < batch; ++b) {
      const float* gb = g + b * mid * last;
      float* rb = r + b * mid;
      float* cb = c + b * last;
      std::fill(col.begin(), col.end(), 0.0);
      for (size_t i = 0; i < mid; ++i) {
        double row = 0.0;
        for (size_t j = 0; j < last; ++j) {
          const float sq = gb[i * last + j] * gb[i * last + j] + eps1;
          row += sq;
          col[j] += sq;
        }
        rb[i] = bt * rb[i] + rest * static_cast<float>(row / static_cast<double>(last));
      }
      for (size_t j = 0; j < last; ++j) cb[j] = bt * cb[j] + rest * static_cast<float>(col[j] / static_cast<double>(mid));
      double r_sum = 0.0;
      for (size_t i = 0; i < mid; ++i) r_sum += rb[i];
      const float r_mean = static_cast<float>(r_sum / static_cast<double>(mid));
      float* vb = v + b * mid * last;
      for (size_t i = 0; i < mid; ++i) {
        const float ri = rb[i] / r_mean;
        for (size_t j = 0; j < last; ++j) vb[i * last + j] = ri * cb[j];
      }
    }
  } else {
    for (size_t i = 0; i < n; ++i) v[i] = bt * v[i] + rest * (g[i] * g[i] + eps1);
  }
  double usq = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const float ut = g[i] / std::sqrt(v[i]);
    usq += static_cast<double>(ut) * ut;
  }
  const float u_rms = std::sqrt(static_cast<float>(usq / static_cast<double>(n)));
  const float denom = std::max(1.0f, u_rms / u.clip_threshold);
  for (size_t i = 0; i < n; ++i) w[i] -= alpha * ((g[i] / std::sqrt(v[i])) / denom);
}

bool per_segment(int kind) { return kind == OPT_LAMB || kind == OPT_ADAFACTOR; }

// Keras's ScheduleFreeAdamW on a chunk, in its float32 order: v += (g^2 - v)(1 - beta_2);
// z -= lr g / (sqrt(v / (1 - beta_2^t)) + eps); x = (y - (1 - beta_1) z) / beta_1 with z already
// updated (Keras's momentum_old aliases the variable it then updates in place: the torch backend's
// result, kept); x <- (1 - 1/t) x + z / t; y = (1 - beta_1) z + beta_1 x.
void schedule_free_chunk(float* y, const float* g, float* z, float* v, size_t n, const UpdateArgs& u) {
  const float lr = u.alpha, bc2 = u.bias2, c1 = u.c1, c2 = u.c2, c = u.bias1, keep = 1.0f - u.bias1;
  const float b1 = u.beta1, eps = u.eps;
  for (size_t i = 0; i < n; ++i) {
    v[i] += (g[i] * g[i] - v[i]) * c2;
    z[i] -= (lr * g[i]) / (std::sqrt(v[i] / bc2) + eps);
    const float x = (y[i] - c1 * z[i]) / b1;
    const float x_new = keep * x + c * z[i];
    y[i] = c1 * z[i] + b1 * x_new;
  }
}

// Keras's zeropower_via_newtonschulz5 on x (rows, cols), in place: x seen with its shorter side
// first (p <= q), scaled to Frobenius norm <= 1, then steps of X <- a X + (b A + c A A) X with
// A = X X^T. The products go through gemm (its tiles, hence its bits, fixed by the shapes).
void newton_schulz(float* x, size_t rows, size_t cols, const OptimArgs& o) {
  const bool flip = rows > cols;
  const size_t p = flip ? cols : rows, q = flip ? rows : cols;
  std::vector<float> X(p * q), A(p * p), cA(p * p), cAA(p * p), BX(p * q);
  if (flip) {
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < cols; ++j) X[j * rows + i] = x[i * cols + j];
  } else {
    std::copy(x, x + p * q, X.begin());
  }
  double sq = 0.0;
  for (float v : X) sq += static_cast<double>(v) * v;
  const float denom = static_cast<float>(std::sqrt(sq)) + 1e-7f;
  for (float& v : X) v /= denom;
  const float a = static_cast<float>(o.muon_a), b = static_cast<float>(o.muon_b), c = static_cast<float>(o.muon_c);
  const int P = static_cast<int>(p), Q = static_cast<int>(q);
  for (int step = 0; step < o.ns_steps; ++step) {
    gemm(false, true, P, P, Q, 1.0f, X.data(), Q, X.data(), Q, 0.0f, A.data(), P);     // A = X X^T
    for (size_t i = 0; i < p * p; ++i) cA[i] = c * A[i];                               // (c A) A, as Keras
    gemm(false, false, P, P, P, 1.0f, cA.data(), P, A.data(), P, 0.0f, cAA.data(), P);
    for (size_t i = 0; i < p * p; ++i) A[i] = b * A[i] + cAA[i];                       // B
    gemm(false, false, P, Q, P, 1.0f, A.data(), P, X.data(), Q, 0.0f, BX.data(), Q);   // B X
    for (size_t i = 0; i < p * q; ++i) X[i] = a * X[i] + BX[i];
  }
  if (flip) {
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < cols; ++j) x[i * cols + j] = X[j * rows + i];
  } else {
    std::copy(X.begin(), X.end(), x);
  }
}

// Keras's Muon step on one 2-D weight (rows, cols): m <- m + (g + m (momentum - 1)); the update is
// Newton-Schulz of g + momentum m (nesterov) or of m, times lr, then sqrt(max(rows, cols)) * rms_rate.
void muon_segment(float* w, const float* g, float* m, size_t rows, size_t cols, const OptimArgs& o, float lr) {
  const size_t n = rows * cols;
  const float keep = static_cast<float>(o.muon_momentum - 1.0), mom = static_cast<float>(o.muon_momentum);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    m[i] = m[i] + (g[i] + m[i] * keep);
    x[i] = o.nesterov ? g[i] + mom * m[i] : m[i];
  }
  newton_schulz(x.data(), rows, cols, o);
  const float scale = std::sqrt(static_cast<float>(std::max(rows, cols)));
  const float rms = static_cast<float>(o.rms_rate);
  for (size_t i = 0; i < n; ++i) {
    const float d = lr * x[i];
    w[i] -= o.use_rms_rate ? (d * scale) * rms : d;
  }
}

// Muon's pass (after clipping): per trainable segment, Keras's weight decay (w -= w * wd * lr, the
// Muon weights' weight_decay or the others' adam_weight_decay, at the main rate), then its step;
// then the EMA. Serial over segments: the GEMMs thread themselves.
void muon_update(const std::vector<Segment>& segs, float* w, float* g, float* s1, float* s2, float* avg,
                 const OptimArgs& a, const UpdateArgs& u, float ema_m, bool overwrite) {
  const Kernels& k = kernels();
  UpdateArgs adam = u;  // the AdamW weights: the fused Adam update, its decay done here
  adam.kind = OPT_ADAM;
  adam.weight_decay = 0.0f;
  adam.amsgrad = false;
  FlushDenormals ftz;
  for (const auto& s : segs) {
    if (!s.trainable || s.size == 0) continue;
    float* ws = w + s.offset;
    const bool muon = std::binary_search(a.muon_offsets.begin(), a.muon_offsets.end(), s.offset);
    BC_CHECK(!muon || (s.mid > 0 && s.mid * s.last == s.size), "Muon: the segment at offset " +
                                                                   std::to_string(s.offset) + " is not a 2-D weight");
    const float wd = muon ? a.weight_decay : a.adam_weight_decay;
    if (wd != 0.0f) {
      const float f = wd * u.lr;
      for (size_t i = 0; i < s.size; ++i) ws[i] -= ws[i] * f;
    }
    if (muon)
      muon_segment(ws, g + s.offset, s1 + s.offset, s.mid, s.last, a, u.lr);
    else
      k.optim_update(ws, g + s.offset, s1 + s.offset, s2 + s.offset, nullptr, s.size, adam);
    if (avg) ema_update(ws, avg + s.offset, s.size, ema_m, overwrite);
  }
}
}  // namespace

// Regularizer gradients, clipping, then one fused update (and EMA step) per chunk of every
// trainable segment.
void optimizer_update(const std::vector<Segment>& segs, float* w, float* g, std::vector<AlignedBuf>& state,
                      size_t n_params, const OptimArgs& a, const UpdateArgs& u, uint64_t step, bool team_awake) {
  const Kernels& k = kernels();
  for (const auto& s : segs)
    if (s.trainable && (s.l1 != 0.0f || s.l2 != 0.0f))
      k.reg_grad(g + s.offset, w + s.offset, s.size, s.l1, s.l2);
  BC_CHECK(!a.use_ema || !state.empty(), "use_ema needs its state slot (set_optimizer)");
  const uint64_t n_acc = a.gradient_accumulation_steps;
  BC_CHECK(n_acc == 0 || state.size() > (a.use_ema ? 1u : 0u),
           "gradient_accumulation_steps needs its state slot (set_optimizer)");
  const size_t n_update = state.size() - (a.use_ema ? 1 : 0) - (n_acc ? 1 : 0);
  float* avg = a.use_ema ? state.back().data() : nullptr;
  // Keras counts its iterations in updates: step / n under gradient accumulation
  const uint64_t updates = n_acc ? step / n_acc : step;
  // Keras: momentum = ema_momentum * (iterations != 0), a float32; overwrite when (iterations + 1) % N == 0
  const float ema_m = updates == 0 ? 0.0f : static_cast<float>(a.ema_momentum);
  const bool overwrite = a.ema_overwrite_frequency != 0 && (updates + 1) % a.ema_overwrite_frequency == 0;
  if (n_acc) {
    float* acc = state[n_update].data();
    if ((step + 1) % n_acc != 0) {  // Keras: the gradients add to the sums, no update (the EMA moves still)
      for (const auto& s : segs) {
        if (!s.trainable) continue;
        for (size_t i = s.offset; i < s.offset + s.size; ++i) acc[i] = g[i] + acc[i];
        if (avg) ema_update(w + s.offset, avg + s.offset, s.size, ema_m, overwrite);
      }
      return;
    }
    const float steps = static_cast<float>(n_acc);  // Keras: (g + acc) / steps, then the sums restart
    for (const auto& s : segs)
      if (s.trainable)
        for (size_t i = s.offset; i < s.offset + s.size; ++i) {
          g[i] = (g[i] + acc[i]) / steps;
          acc[i] = 0.0f;
        }
  }
  if (a.clipvalue > 0.0f)
    for (const auto& s : segs)
      for (size_t i = s.offset; i < s.offset + s.size; ++i)
        g[i] = std::min(std::max(g[i], -a.clipvalue), a.clipvalue);
  if (a.clipnorm > 0.0f || a.global_clipnorm > 0.0f) {
    std::vector<double> sq(segs.size());
    double total = 0.0;
    for (size_t i = 0; i < segs.size(); ++i) {
      double unused;
      k.abs_sq_sum(g + segs[i].offset, segs[i].size, &unused, &sq[i]);
      if (segs[i].trainable) total += sq[i];
    }
    for (size_t i = 0; i < segs.size(); ++i) {
      double norm = a.global_clipnorm > 0.0f ? std::sqrt(total) : std::sqrt(sq[i]);
      double c = a.global_clipnorm > 0.0f ? a.global_clipnorm : a.clipnorm;
      if (norm <= c) continue;
      float f = static_cast<float>(c / norm);
      for (size_t j = segs[i].offset; j < segs[i].offset + segs[i].size; ++j) g[j] *= f;
    }
  }
  if (a.kind == OPT_MUON) {
    BC_CHECK(n_update >= 2, "Muon needs its 2 state slots (set_optimizer)");
    muon_update(segs, w, g, state[0].data(), state[1].data(), avg, a, u, ema_m, overwrite);
    return;
  }
  // A chunk: part of a segment for the element-wise updates, a whole one (seg) for Lamb and Adafactor
  struct Chunk { size_t off, n; const Segment* seg; };
  std::vector<Chunk> chunks;
  const bool whole = per_segment(a.kind);
  for (const auto& s : segs)
    if (s.trainable) {
      if (whole) {
        if (s.size > 0) chunks.push_back({s.offset, s.size, &s});
        continue;
      }
      for (size_t o = 0; o < s.size; o += kUpdateChunk)
        chunks.push_back({s.offset + o, std::min(kUpdateChunk, s.size - o), nullptr});
    }
  float* s1 = n_update > 0 ? state[0].data() : nullptr;
  float* s2 = n_update > 1 ? state[1].data() : nullptr;
  float* s3 = n_update > 2 ? state[2].data() : nullptr;
  auto run = [&](const Chunk& c) {
    FlushDenormals ftz;  // worker threads too
    if (c.seg != nullptr) {
      float* wc = w + c.off;
      if (u.weight_decay != 0.0f) {  // Keras's _apply_weight_decay, before the update as optim_update does
        const float wd = u.weight_decay * u.lr;
        for (size_t i = 0; i < c.n; ++i) wc[i] -= wc[i] * wd;
      }
      if (a.kind == OPT_LAMB)
        lamb_segment(wc, g + c.off, s1 + c.off, s2 + c.off, c.n, u);
      else
        adafactor_segment(wc, g + c.off, s1 + c.off, s2 + c.off, s3 + c.off, *c.seg, u);
    } else if (a.kind == OPT_SCHEDULE_FREE) {
      float* wc = w + c.off;
      if (u.weight_decay != 0.0f) {  // Keras's _apply_weight_decay, before the update, at the full rate
        const float wd = u.weight_decay * u.lr;
        for (size_t i = 0; i < c.n; ++i) wc[i] -= wc[i] * wd;
      }
      schedule_free_chunk(wc, g + c.off, s1 + c.off, s2 + c.off, c.n, u);
    } else {
      k.optim_update(w + c.off, g + c.off, s1 ? s1 + c.off : nullptr, s2 ? s2 + c.off : nullptr,
                     s3 ? s3 + c.off : nullptr, c.n, u);
    }
    if (avg) ema_update(w + c.off, avg + c.off, c.n, ema_m, overwrite);
  };
  const int n = static_cast<int>(chunks.size());
  const int threads = std::min(get_num_threads(), n);
  if (threads > 1 && (n_params >= kParallelUpdate || (team_awake && n_params >= kParallelUpdateAwake))) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < n; ++i) run(chunks[i]);
  } else {
    for (int i = 0; i < n; ++i) run(chunks[i]);
  }
}

void ema_exchange(const std::vector<Segment>& segs, float* w, float* avg, int how) {
  BC_CHECK(how >= EMA_TO_WEIGHTS && how <= EMA_SWAP, "unknown EMA exchange " + std::to_string(how));
  for (const auto& s : segs) {
    if (!s.trainable) continue;
    float* a = w + s.offset;
    float* b = avg + s.offset;
    if (how == EMA_TO_WEIGHTS)
      std::copy(b, b + s.size, a);
    else if (how == EMA_FROM_WEIGHTS)
      std::copy(a, a + s.size, b);
    else
      std::swap_ranges(a, a + s.size, b);
  }
}

void check_constraint(const ConstraintArgs& c) {
  BC_CHECK(c.kind >= CON_NONE && c.kind <= CON_NON_NEG, "unknown constraint kind " + std::to_string(c.kind));
  BC_CHECK(std::isfinite(c.min) && std::isfinite(c.max) && std::isfinite(c.rate),
           "constraint arguments must be finite");
  if (c.kind == CON_MAX_NORM) BC_CHECK(c.max > 0.0f, "MaxNorm: max_value must be > 0");
}

namespace {

// The column norms of w seen as (rows, cols): a double sum of squares, then float as Keras's are.
std::vector<float> column_norms(const float* w, size_t rows, size_t cols) {
  std::vector<double> sq(cols, 0.0);
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) sq[j] += static_cast<double>(w[i * cols + j]) * w[i * cols + j];
  std::vector<float> norm(cols);
  for (size_t j = 0; j < cols; ++j) norm[j] = static_cast<float>(std::sqrt(sq[j]));
  return norm;
}

}  // namespace

// Keras 3's formulas (keras/src/constraints/constraints.py), epsilon 1e-7 (backend.epsilon()).
void apply_constraints(const std::vector<Segment>& segs, float* arena) {
  constexpr float eps = 1e-7f;
  for (const auto& s : segs) {
    const ConstraintArgs& c = s.constraint;
    if (!s.trainable || c.kind == CON_NONE) continue;
    float* w = arena + s.offset;
    if (c.kind == CON_NON_NEG) {
      for (size_t i = 0; i < s.size; ++i) w[i] = std::max(w[i], 0.0f);
      continue;
    }
    const size_t rows = s.rows, cols = s.size / s.rows;
    const std::vector<float> norm = column_norms(w, rows, cols);
    if (c.kind == CON_UNIT_NORM) {  // w / (eps + n): a division, as Keras writes it
      for (size_t i = 0; i < rows; ++i)
        for (size_t j = 0; j < cols; ++j) w[i * cols + j] /= eps + norm[j];
      continue;
    }
    std::vector<float> scale(cols);
    for (size_t j = 0; j < cols; ++j) {
      const float n = norm[j];
      float desired;
      if (c.kind == CON_MAX_NORM) {
        desired = std::min(n, c.max);  // clip(n, 0, max), n >= 0
      } else {  // MinMaxNorm: clip as torch.clamp does (min above max gives max)
        desired = static_cast<float>(c.rate) * std::min(std::max(n, c.min), c.max) +
                  static_cast<float>(1.0 - c.rate) * n;
      }
      scale[j] = desired / (eps + n);
    }
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < cols; ++j) w[i * cols + j] *= scale[j];
  }
}

}  // namespace bc

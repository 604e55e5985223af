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
  BC_CHECK(o.kind >= OPT_SGD && o.kind <= OPT_LION, "unknown optimizer kind " + std::to_string(o.kind));
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

// Regularizer gradients, clipping, then one fused update (and EMA step) per chunk of every
// trainable segment.
void optimizer_update(const std::vector<Segment>& segs, float* w, float* g, std::vector<AlignedBuf>& state,
                      size_t n_params, const OptimArgs& a, const UpdateArgs& u, uint64_t step, bool team_awake) {
  const Kernels& k = kernels();
  for (const auto& s : segs)
    if (s.trainable && (s.l1 != 0.0f || s.l2 != 0.0f))
      k.reg_grad(g + s.offset, w + s.offset, s.size, s.l1, s.l2);
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
  struct Chunk { size_t off, n; };
  std::vector<Chunk> chunks;
  for (const auto& s : segs)
    if (s.trainable)
      for (size_t o = 0; o < s.size; o += kUpdateChunk)
        chunks.push_back({s.offset + o, std::min(kUpdateChunk, s.size - o)});
  BC_CHECK(!a.use_ema || !state.empty(), "use_ema needs its state slot (set_optimizer)");
  const size_t n_update = state.size() - (a.use_ema ? 1 : 0);
  float* s1 = n_update > 0 ? state[0].data() : nullptr;
  float* s2 = n_update > 1 ? state[1].data() : nullptr;
  float* s3 = n_update > 2 ? state[2].data() : nullptr;
  float* avg = a.use_ema ? state.back().data() : nullptr;
  // Keras: momentum = ema_momentum * (iterations != 0), a float32; overwrite when (iterations + 1) % N == 0
  const float ema_m = step == 0 ? 0.0f : static_cast<float>(a.ema_momentum);
  const bool overwrite = a.ema_overwrite_frequency != 0 && (step + 1) % a.ema_overwrite_frequency == 0;
  auto run = [&](const Chunk& c) {
    FlushDenormals ftz;  // worker threads too
    k.optim_update(w + c.off, g + c.off, s1 ? s1 + c.off : nullptr, s2 ? s2 + c.off : nullptr,
                   s3 ? s3 + c.off : nullptr, c.n, u);
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

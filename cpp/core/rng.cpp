#include "core/rng.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/threads.h"

namespace bc {

namespace {
// fn(lo, hi) over [0, n) in chunks of 64K elements, on the configured threads. Every element is a pure
// function of (key, index), so the values do not depend on the thread count (a 64M-parameter
// EfficientNetB7's initializers took 5 s on one thread).
template <class F>
void for_chunks(size_t n, F fn) {
  constexpr size_t kChunk = size_t(1) << 16;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  const int threads = omp_in_parallel() ? 1 : static_cast<int>(std::min<size_t>(get_num_threads(), chunks));
  if (threads <= 1) {
    fn(size_t(0), n);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t c = 0; c < chunks; ++c) fn(c * kChunk, std::min(n, (c + 1) * kChunk));
}
}  // namespace

void fill_uniform(float* out, size_t n, uint64_t key, float low, float high) {
  for_chunks(n, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) out[i] = low + (high - low) * rng_uniform(key, i);
  });
}

namespace {
// Standard normal draw j for element i (Box-Muller on two 53-bit uniforms).
double normal_draw(uint64_t key, uint64_t i, uint64_t j) {
  uint64_t c = i * 64 + j;  // up to 64 redraws per element for the truncated case
  double u1 = ((rng_u64(key, 2 * c) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (rng_u64(key, 2 * c + 1) >> 11) * (1.0 / 9007199254740992.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}
}  // namespace

void fill_normal(float* out, size_t n, uint64_t key, float mean, float stddev, bool truncated) {
  for_chunks(n, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      double z = normal_draw(key, i, 0);
      for (uint64_t j = 1; truncated && std::fabs(z) > 2.0 && j < 64; ++j) z = normal_draw(key, i, j);
      if (truncated && std::fabs(z) > 2.0) z = 0.0;  // 0.05^64: never in practice
      out[i] = static_cast<float>(mean + stddev * z);
    }
  });
}

namespace {
// x (rows i0..m-1, columns j0..n-1 of an m x n row-major matrix) <- (I - 2 h h^T / hn) x. Row by row,
// so the matrix streams (a column at a time read a line per element: 15 s for a 512-unit LSTM's
// 512 x 2048 kernel); each column's dot product still sums its rows in order, so the same bits.
void reflect(double* x, int n, const double* h, double hn, int i0, int m, int j0, double* d) {
  std::fill(d + j0, d + n, 0.0);
  for (int i = i0; i < m; ++i) {
    const double* row = x + static_cast<size_t>(i) * n;
    for (int j = j0; j < n; ++j) d[j] += h[i] * row[j];
  }
  for (int j = j0; j < n; ++j) d[j] = 2.0 * d[j] / hn;
  for (int i = i0; i < m; ++i) {
    double* row = x + static_cast<size_t>(i) * n;
    for (int j = j0; j < n; ++j) row[j] -= d[j] * h[i];
  }
}
}  // namespace

void fill_orthogonal(float* out, int rows, int cols, uint64_t key, float gain) {
  // QR of A (m, n) with m >= n: A is the transpose when rows < cols.
  const int m = rows >= cols ? rows : cols, n = rows >= cols ? cols : rows;
  std::vector<double> a(static_cast<size_t>(m) * n), q(static_cast<size_t>(m) * n, 0.0), d(n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = normal_draw(key, i, 0);
  std::vector<std::vector<double>> hs;  // Householder vectors
  std::vector<double> sign(n);
  for (int k = 0; k < n; ++k) {
    double norm = 0.0;
    for (int i = k; i < m; ++i) norm += a[i * n + k] * a[i * n + k];
    norm = std::sqrt(norm);
    double alpha = a[k * n + k] > 0 ? -norm : norm;  // R[k][k] = alpha
    sign[k] = alpha < 0 ? -1.0 : 1.0;
    std::vector<double> h(m, 0.0);
    for (int i = k; i < m; ++i) h[i] = a[i * n + k];
    h[k] -= alpha;
    double hn = 0.0;
    for (int i = k; i < m; ++i) hn += h[i] * h[i];
    if (hn > 0.0) reflect(a.data(), n, h.data(), hn, k, m, k, d.data());  // a <- (I - 2 h h^T / |h|^2) a
    hs.push_back(h);
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of I, then columns scaled by sign(R_kk)
  for (int j = 0; j < n; ++j) q[static_cast<size_t>(j) * n + j] = 1.0;
  for (int k = n - 1; k >= 0; --k) {
    const auto& h = hs[k];
    double hn = 0.0;
    for (int i = k; i < m; ++i) hn += h[i] * h[i];
    if (hn == 0.0) continue;
    reflect(q.data(), n, h.data(), hn, k, m, 0, d.data());
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double val = gain * q[static_cast<size_t>(i) * n + j] * sign[j];
      if (rows >= cols) out[static_cast<size_t>(i) * cols + j] = static_cast<float>(val);
      else out[static_cast<size_t>(j) * cols + i] = static_cast<float>(val);
    }
}

void permutation(int64_t* out, size_t n, uint64_t key) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(i);
  for (size_t i = n; i > 1; --i) {
    size_t j = static_cast<size_t>(rng_u64(key, i) % i);
    int64_t t = out[i - 1];
    out[i - 1] = out[j];
    out[j] = t;
  }
}

}  // namespace bc

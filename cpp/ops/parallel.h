// Parallel loops over work items whose partition depends on the problem only (never on the thread
// count): each item's result is the same whichever thread runs it, so the bits are too.
#pragma once
#include <omp.h>

#include <algorithm>

#include "core/common.h"
#include "kernels/gemm/gemm.h"

namespace bc {

// fn(i) for i in [0, n), on up to get_num_threads() threads; on the calling thread alone inside a
// parallel region or for a single item. fn must not throw.
template <class Fn>
void parallel_items(int n, Fn&& fn) {
  const int t = omp_in_parallel() ? 1 : std::min(get_num_threads(), n);
  if (t <= 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    FlushDenormals ftz;  // as the calling thread (program.cpp)
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < n; ++i) fn(i);
  }
}

// fn(a, m) over [0, n) in fixed spans [a, a + m) of `span` (the last shorter), on the team: for
// elementwise work whose bits do not depend on the cut.
template <class Fn>
void parallel_spans(size_t n, size_t span, Fn&& fn) {
  parallel_items(static_cast<int>((n + span - 1) / span), [&](int i) {
    const size_t a = static_cast<size_t>(i) * span;
    fn(a, std::min(span, n - a));
  });
}

// fn(r0, r1) over rows [0, rows) of `width` floats in fixed chunks of about 16K floats, on the team:
// row-wise elementwise work (bias and activation after a GEMM).
template <class Fn>
void parallel_rows(int rows, int width, Fn&& fn) {
  const size_t per = static_cast<size_t>(std::max(1, (1 << 14) / std::max(1, width)));
  parallel_spans(static_cast<size_t>(rows), per,
                 [&](size_t a, size_t m) { fn(static_cast<int>(a), static_cast<int>(a + m)); });
}

// Whole samples per work item so that one item's buffers hold about `target` floats
// (per_sample floats each): at least 1, at most B.
inline int samples_per_item(int B, double per_sample, double target) {
  const double s = per_sample > 0 ? target / per_sample : B;
  return std::max(1, std::min(B, static_cast<int>(s)));
}

// fn(b) for each sample b of B on the team, whole samples per work item (samples_per_item with
// `per_sample` and `target` floats): per-sample work whose bits do not depend on the cut.
template <class Fn>
void parallel_samples(int B, double per_sample, double target, Fn&& fn) {
  const int spi = samples_per_item(B, per_sample, target);
  parallel_items((B + spi - 1) / spi, [&](int it) {
    for (int b = it * spi; b < std::min(B, (it + 1) * spi); ++b) fn(b);
  });
}

// out (N) (+)= the column sums of x (B x N), each column's rows added in order (kernels' col_sum): a
// bias gradient. On the team in blocks of 16 columns (a cache line of each row) when there is enough
// to share: which thread sums a column changes none of its bits.
void col_sum_team(float* out, const float* x, int B, int N, bool accumulate);

// dst (n) (+)= the sum of parts[0..k) (each n floats, `stride` apart), added in part order.
void sum_parts(float* dst, const float* parts, int k, size_t stride, size_t n, bool accumulate);

}  // namespace bc

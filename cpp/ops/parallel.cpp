#include "ops/parallel.h"

#include <cstring>

#include "kernels/float/float.h"

namespace bc {

void sum_parts(float* dst, const float* parts, int k, size_t stride, size_t n, bool accumulate) {
  const int t = omp_in_parallel() || n < 4096 ? 1 : std::min(get_num_threads(), 2);
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
  for (long i0 = 0; i0 < static_cast<long>(n); i0 += 1024) {
    const size_t i1 = std::min(n, static_cast<size_t>(i0) + 1024);
    for (size_t i = i0; i < i1; ++i) {
      float s = accumulate ? dst[i] : 0.0f;
      for (int p = 0; p < k; ++p) s += parts[p * stride + i];
      dst[i] = s;
    }
  }
}

void col_sum_team(float* out, const float* x, int B, int N, bool accumulate) {
  constexpr int kCols = 16;
  const Kernels& k = kernels();
  const int blocks = (N + kCols - 1) / kCols;
  // under ~64K values one thread's pass (~10 us) costs little more than waking the team
  if (blocks < 2 || static_cast<long>(B) * N < (1L << 16)) return k.col_sum(out, x, B, N, N, accumulate);
  parallel_items(blocks, [&](int i) {
    const int j0 = i * kCols;
    k.col_sum(out + j0, x + j0, B, std::min(kCols, N - j0), N, accumulate);
  });
}

}  // namespace bc

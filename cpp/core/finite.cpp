#include "core/finite.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/threads.h"

namespace bc {

size_t first_nonfinite(const float* x, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    bad |= (u & 0x7f800000u) == 0x7f800000u;
  }
  if (!bad) return n;
  size_t i = 0;
  while (std::isfinite(x[i])) ++i;
  return i;
}

size_t first_nonfinite_parallel(const float* x, size_t n) {
  constexpr size_t kChunk = size_t(1) << 20;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  const int threads = omp_in_parallel() ? 1 : static_cast<int>(std::min<size_t>(get_num_threads(), chunks));
  if (threads <= 1) return first_nonfinite(x, n);
  std::vector<size_t> hit(chunks, n);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t c = 0; c < chunks; ++c) {
    const size_t lo = c * kChunk, len = std::min(kChunk, n - lo);
    const size_t j = first_nonfinite(x + lo, len);
    if (j < len) hit[c] = lo + j;
  }
  for (size_t h : hit)
    if (h < n) return h;
  return n;
}

}  // namespace bc

#include "ops/embedding.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "ops/parallel.h"

namespace bc {

namespace {
// Work split: at most kParts items, each of at least kMinPart floats (below that one thread does all).
constexpr size_t kParts = 8, kMinPart = size_t(1) << 15;
}  // namespace

EmbeddingOp::EmbeddingOp(int ids_t, int out_t, int mask_t, size_t table, int V, int E) : V_(V), E_(E) {
  BC_CHECK(V > 0 && E > 0, "Embedding sizes must be positive");
  in = {ids_t};
  out = {out_t};
  if (mask_t >= 0) out.push_back(mask_t);
  params = {table};
}

void EmbeddingOp::forward(Ctx& c) {
  // The ids' length may be symbolic: the output and mask follow it (checked per call, a compare).
  BC_CHECK(c.per_sample(out[0]) == c.per_sample(in[0]) * E_ && (out.size() < 2 || c.per_sample(out[1]) == c.per_sample(in[0])),
           "Embedding: the output tensors do not match the ids' length");
  const size_t n = c.B * c.per_sample(in[0]);
  const float* ids = c.val(in[0]);
  const float* table = c.params + params[0];
  float* y = c.val(out[0]);
  for (size_t i = 0; i < n; ++i) {  // checked first: nothing may throw on the team
    const float v = ids[i];
    if (!(v >= 0.0f && v < static_cast<float>(V_)) || v != std::floor(v))
      throw std::invalid_argument("Embedding expects integer ids in [0, " + std::to_string(V_) +
                                  "), got " + std::to_string(v));
  }
  const int parts = static_cast<int>(std::min<size_t>(kParts, (n * E_ + kMinPart - 1) / kMinPart));
  parallel_items(parts, [&](int p) {
    for (size_t i = n * p / parts; i < n * (p + 1) / parts; ++i)
      std::memcpy(y + i * E_, table + static_cast<size_t>(ids[i]) * E_, E_ * sizeof(float));
  });
  if (out.size() > 1) {
    float* m = c.val(out[1]);
    for (size_t i = 0; i < n; ++i) m[i] = ids[i] != 0.0f ? 1.0f : 0.0f;
  }
}

// dtable (V, E): rows scattered in order i = 0..n-1, so the sum order is fixed.
void EmbeddingOp::backward(Ctx& c) {
  const size_t n = c.B * c.per_sample(in[0]);
  const float* ids = c.val(in[0]);
  const float* dy = c.grad(out[0]);
  float* g = c.grads + params[0];
  // Each part owns a range of table rows and scans every id: a row's sum still runs i = 0..n-1,
  // whatever the parts and threads. Parts by the table or by the rows added, whichever is larger (a
  // position embedding: 200 rows, 6400 added).
  const size_t work = std::max(static_cast<size_t>(V_), n) * E_;
  const int parts = static_cast<int>(std::min<size_t>({kParts, static_cast<size_t>(V_), (work + kMinPart - 1) / kMinPart}));
  const bool acc = accum_dw[0];
  parallel_items(parts, [&](int p) {
    const size_t r0 = static_cast<size_t>(V_) * p / parts, r1 = static_cast<size_t>(V_) * (p + 1) / parts;
    if (!acc) std::memset(g + r0 * E_, 0, (r1 - r0) * E_ * sizeof(float));
    for (size_t i = 0; i < n; ++i) {
      const size_t r = static_cast<size_t>(ids[i]);
      if (r < r0 || r >= r1) continue;
      float* row = g + r * E_;
      const float* d = dy + i * E_;
      for (int j = 0; j < E_; ++j) row[j] += d[j];
    }
  });
}

}  // namespace bc

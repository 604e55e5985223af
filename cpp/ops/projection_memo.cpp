#include "ops/projection_memo.h"

#include <cmath>
#include <cstring>

namespace bc {

namespace {
// At most this many floats for the kept rows and their table copies (64 MB): beyond it the memo
// would hold more memory than the model, and the unfolded GEMM stays.
constexpr size_t kMaxFloats = size_t(16) << 20;
}  // namespace

bool ProjectionMemo::fits(size_t V, size_t D, size_t GU) { return V > 0 && V * (GU + D) <= kMaxFloats; }

void ProjectionMemo::reset(size_t V, size_t D, size_t GU) {
  if (V != V_ || D != D_ || GU != GU_) {
    // uninitialized: a row is read only once its state says it was written
    rows_.reset(new float[V * GU]);
    table_.reset(new float[V * D]);
    V_ = V, D_ = D, GU_ = GU;
  }
  state_.assign(V, 0);
}

bool ProjectionMemo::lookup(const float* ids, size_t n, const float* W, const float* b, const float* E, size_t V,
                            size_t D, size_t GU, const Project& project) {
  ids_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float v = ids[i];
    if (!(v >= 0.0f && v < static_cast<float>(V)) || v != std::floor(v)) return false;
    ids_[i] = static_cast<int>(v);
  }
  const bool same_wb = V == V_ && D == D_ && GU == GU_ && !state_.empty() && (b != nullptr) == has_b_ &&
                       std::memcmp(W, W_.data(), D * GU * sizeof(float)) == 0 &&
                       (!b || std::memcmp(b, b_.data(), GU * sizeof(float)) == 0);
  if (!same_wb) {
    reset(V, D, GU);
    W_.assign(W, W + D * GU);
    has_b_ = b != nullptr;
    if (b) b_.assign(b, b + GU);
  }
  missing_.clear();
  for (int v : ids_) {
    unsigned char& s = state_[v];
    if (s == 2) continue;
    if (s == 1 && std::memcmp(E + v * D, table_.get() + v * D, D * sizeof(float)) == 0) continue;
    s = 2;
    missing_.push_back(v);
  }
  if (!missing_.empty()) {
    const size_t m = missing_.size();
    try {
      xbuf_.resize(m * D);
      zbuf_.resize(m * GU);
      for (size_t i = 0; i < m; ++i) std::memcpy(xbuf_.data() + i * D, E + missing_[i] * D, D * sizeof(float));
      project(xbuf_.data(), static_cast<int>(m), zbuf_.data());
    } catch (...) {  // (out of memory) the missing rows stay missing
      for (int v : missing_) state_[v] = 0;
      throw;
    }
    for (size_t i = 0; i < m; ++i) {
      const size_t v = missing_[i];
      std::memcpy(rows_.get() + v * GU, zbuf_.data() + i * GU, GU * sizeof(float));
      std::memcpy(table_.get() + v * D, xbuf_.data() + i * D, D * sizeof(float));
      state_[v] = 1;
    }
  }
  return true;
}

void ProjectionMemo::gather(float* z) const {
  for (size_t i = 0; i < ids_.size(); ++i) std::memcpy(z + i * GU_, row(i), GU_ * sizeof(float));
}

}  // namespace bc

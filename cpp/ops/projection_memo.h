// An Embedding feeding a recurrent layer, at inference: the layer's input projection of a row is
// a function of the row's id, x W + b with x = table[id]. The memo keeps each id's projected row,
// computed once, and hands it out while the weights it came from are unchanged; a batch-1 predict
// then skips its input GEMM (a fifth of the seed LSTM's latency). Content-checked, not versioned:
// W and b are compared with the copies the rows were made from, each id's table row with its own
// copy, so any write to the weights (an optimizer step, set_weights, a load, another program
// sharing them) is seen. The miss path projects the missing rows with the layer's own GEMM, which
// sums each output in k order whatever the rows beside it (gemm_is_own), so a memo row has the
// bits the unfolded projection gives.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace bc {

class ProjectionMemo {
 public:
  // project(x, m, z): z (m, GU) = x (m, D, row stride D) W + b, the layer's own projection.
  using Project = std::function<void(const float* x, int m, float* z)>;
  // Whether a memo for V ids fits the memory the fold may take (table and row copies).
  static bool fits(size_t V, size_t D, size_t GU);
  // Makes the projected rows of ids[0..n) ready; W (D, GU), b (GU, or null), E (V, D) the embedding
  // table. False when an id is not an integer in [0, V): the caller projects x instead.
  bool lookup(const float* ids, size_t n, const float* W, const float* b, const float* E, size_t V, size_t D,
              size_t GU, const Project& project);
  // After a lookup: the projected row (GU floats) of its i-th id; all n rows into z (n, GU).
  const float* row(size_t i) const { return rows_.get() + static_cast<size_t>(ids_[i]) * GU_; }
  void gather(float* z) const;

 private:
  void reset(size_t V, size_t D, size_t GU);
  size_t V_ = 0, D_ = 0, GU_ = 0;
  bool has_b_ = false;
  std::unique_ptr<float[]> rows_, table_;  // (V, GU) projected rows; (V, D) the table rows they came from
  std::vector<float> W_, b_;               // the W and b every kept row came from
  std::vector<unsigned char> state_;       // per id: 0 none, 1 kept, 2 being projected this call
  std::vector<int> ids_, missing_;
  std::vector<float> xbuf_, zbuf_;
};

}  // namespace bc

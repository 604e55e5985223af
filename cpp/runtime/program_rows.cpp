// Predict by blocks of samples: where every op of an inference forward is row-local (Op::row_cost),
// each thread runs its block of the batch through all the ops, instead of the team cutting each op's
// product in turn. One fork per call instead of one per op, no op waits for the slowest thread of the
// op before it, and a thread's rows stay in its own caches from one layer to the next (the seed MLP's
// batch-256 predict: the 128 x 128 layer's product had run at 1.5x its one-thread speed on 2 threads,
// the Dense(10) head's on one). Each op gives a sample the bits its own forward gives it.
#include <omp.h>

#include <algorithm>

#include "kernels/gemm/gemm.h"
#include "runtime/program.h"

namespace bc {

namespace {
// Fewer samples than this per thread are not split (a block of a few rows runs the kernels' narrow
// row cases, and the whole call is a few microseconds).
constexpr int kMinSamplesPerThread = 4;
// Nor are weights above this many bytes: each thread would read all of them (and, with a few rows,
// in place, unpacked), where the op-by-op forward cuts each layer's columns between the threads.
// Medians of 5 runs on 2 threads (Zen 3), by blocks against op by op: 784-2048-2048-10 (20 MB)
// 1.23-1.28x at batch 16-256; 784-1024-1024-10 (7.3 MB) 1.2-1.4x at batch 8-32, 0.9-1.0x at 64-256;
// 784-512-512-10 (2.7 MB) 0.5x at batch 8, 1.0-1.05x at 32-256.
constexpr double kMaxWeightBytes = 4e6;
}  // namespace

bool Program::forward_by_rows(int B) {
  if (profile_ || !gemm_is_own() || omp_in_parallel()) return false;
  ctx_.tensors = &tensors_;  // (row_cost reads the tensors' sizes; begin_forward sets it again)
  double cost = 0.0, weights = 0.0;  // multiply-adds per sample, bytes of weights
  for (const auto& op : ops_) {
    if (!op_runs(*op, false, false)) continue;
    if (op->adds_to_loss()) return false;
    const double c = op->row_cost(ctx_);
    if (c < 0.0) return false;
    cost += c;
    weights += op->row_weight_bytes();
  }
  if (weights > kMaxWeightBytes) return false;
  const int threads = std::min(own_threads_for(2.0 * cost * B), B / kMinSamplesPerThread);
  if (threads < 2) return false;
  begin_forward();
  ctx_.training = false;
  note_team_used();
#pragma omp parallel num_threads(threads)
  {
    FlushDenormals ftz;  // as the calling thread
    const int n = omp_get_num_threads(), p = omp_get_thread_num();
    const int s0 = static_cast<int>(static_cast<long>(B) * p / n), s1 = static_cast<int>(static_cast<long>(B) * (p + 1) / n);
    for (auto& op : ops_)
      if (op_runs(*op, false, false)) op->forward_rows(ctx_, s0, s1);
  }
  return true;
}

}  // namespace bc

// Normalization: dispatch, row blocks and threads (norm.h has the formulas and the determinism rule).
#include "kernels/norm/norm.h"

#include <omp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "isa/isa.h"
#include "kernels/gemm/gemm.h"

namespace bc {
namespace {

// Rows per block: the unit of threading and of the weight gradients' partial sums (fixed, never
// the thread count).
constexpr int kRowBlock = 64;

NormKernels& table() {
  static NormKernels k = [] {
    NormKernels t{};
    fill_norm_ref(t);
    return t;
  }();
  return k;
}

void install(const char* path) {
  NormKernels k{};
  const std::string p = path;
  if (p == "avx512") fill_norm_avx512(k);
  else if (p == "avx2") fill_norm_avx2(k);
  else fill_norm_ref(k);
  table() = k;
}

[[maybe_unused]] const bool registered = isa::add_family(
    {"norm", {{"avx512", isa::AVX512 | isa::AVX2 | isa::FMA}, {"avx2", isa::AVX2 | isa::FMA}, {"ref", 0}}, install});

int threads_for(int items) { return omp_in_parallel() ? 1 : std::max(1, std::min(get_num_threads(), items)); }

}  // namespace

const NormKernels& norm_kernels() { return table(); }

void norm_forward(float* y, float* mean, float* rstd, const float* x, const float* res, const float* gamma,
                  const float* beta, int rows, int C, float eps, bool rms) {
  BC_CHECK(rows >= 0 && C > 0, "normalization needs a positive width");
  const NormKernels& nk = table();
  const int blocks = (rows + kRowBlock - 1) / kRowBlock;
  const int threads = threads_for(blocks);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    FlushDenormals ftz;  // as the calling thread, on worker threads too
#pragma omp for schedule(static)
    for (int blk = 0; blk < blocks; ++blk) {
      const size_t r0 = static_cast<size_t>(blk) * kRowBlock;
      const int R = std::min(kRowBlock, rows - static_cast<int>(r0));
      nk.rows_forward(y + r0 * C, mean + r0, rstd + r0, x + r0 * C, res ? res + r0 * C : nullptr, gamma, beta, R,
                      C, eps, rms);
    }
  }
}

void norm_backward(float* dx, bool acc_x, float* dres, bool acc_res, float* dgamma, float* dbeta, bool acc_w,
                   const float* dy, const float* x, const float* res, const float* mean, const float* rstd,
                   const float* gamma, int rows, int C, bool rms) {
  BC_CHECK(rows >= 0 && C > 0, "normalization needs a positive width");
  const NormKernels& nk = table();
  const int blocks = (rows + kRowBlock - 1) / kRowBlock;
  const int threads = threads_for(blocks);
  // Per block: the partial sums of dgamma and dbeta over its rows, in row order.
  const size_t width = static_cast<size_t>(C);
  std::vector<float> part((dgamma || dbeta) ? static_cast<size_t>(blocks) * 2 * width : 0, 0.0f);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    FlushDenormals ftz;
    std::vector<float> work(2 * width);
#pragma omp for schedule(static)
    for (int blk = 0; blk < blocks; ++blk) {
      const size_t r0 = static_cast<size_t>(blk) * kRowBlock;
      const int R = std::min(kRowBlock, rows - static_cast<int>(r0));
      float* gs = dgamma ? part.data() + static_cast<size_t>(blk) * 2 * width : nullptr;
      float* bs = dbeta ? part.data() + static_cast<size_t>(blk) * 2 * width + width : nullptr;
      nk.rows_backward(dx ? dx + r0 * C : nullptr, acc_x, dres ? dres + r0 * C : nullptr, acc_res, gs, bs, dy + r0 * C,
                       x + r0 * C, res ? res + r0 * C : nullptr, mean + r0, rstd + r0, gamma, R, C, rms, work.data());
    }
  }
  for (int w = 0; w < 2; ++w) {  // blocks summed in order
    float* out = w == 0 ? dgamma : dbeta;
    if (!out) continue;
    if (!acc_w) std::fill_n(out, C, 0.0f);
    for (int blk = 0; blk < blocks; ++blk) {
      const float* p = part.data() + static_cast<size_t>(blk) * 2 * width + w * width;
      for (int j = 0; j < C; ++j) out[j] += p[j];
    }
  }
}

}  // namespace bc

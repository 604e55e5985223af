// The float kernel table for the avx512 path (compiled with the AVX-512 flags: CMakeLists.txt sets them by file name).
#include "kernels/float/body.h"
#include "kernels/float/rnn.h"
#include "kernels/float/small_gemm.h"

namespace bc {
void fill_kernels_avx512(Kernels& k) {
  fill_from_impl(k, "avx512");
  fill_rnn_from_impl(k);
  fill_small_gemm_from_impl(k);
}
}  // namespace bc

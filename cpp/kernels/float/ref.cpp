// The float kernel table for the ref path (baseline x86-64 flags).
#include "kernels/float/body.h"
#include "kernels/float/rnn.h"
#include "kernels/float/small_gemm.h"

namespace bc {
void fill_kernels_ref(Kernels& k) {
  fill_from_impl(k, "ref");
  fill_rnn_from_impl(k);
  fill_small_gemm_from_impl(k);
}
}  // namespace bc

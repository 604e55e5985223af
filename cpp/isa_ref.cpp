// The kernel table for the ref path; compiler flags for this file are set in CMakeLists.txt.
#include "isa_impl.h"
#include "isa_rnn_impl.h"
#include "isa_small_gemm_impl.h"

namespace bc {
void fill_kernels_ref(Kernels& k) {
  fill_from_impl(k, "ref");
  fill_rnn_from_impl(k);
  fill_small_gemm_from_impl(k);
}
}  // namespace bc

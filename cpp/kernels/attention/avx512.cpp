// The attention tile kernels for the avx512 path (AVX-512 flags, set by file name in CMakeLists.txt).
#include "kernels/attention/body.h"

namespace bc {
void fill_attention_avx512(AttnKernels& k) { fill_attention_from_body(k, "avx512"); }
}  // namespace bc

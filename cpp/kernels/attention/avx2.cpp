// The attention tile kernels for the avx2 path (AVX2 + FMA flags, set by file name in CMakeLists.txt).
#include "kernels/attention/body.h"

namespace bc {
void fill_attention_avx2(AttnKernels& k) { fill_attention_from_body(k, "avx2"); }
}  // namespace bc

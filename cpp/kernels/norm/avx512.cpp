// The normalization row kernels for the avx512 path (AVX-512 flags, set by file name in CMakeLists.txt).
#include "kernels/norm/body.h"

namespace bc {
void fill_norm_avx512(NormKernels& k) { fill_norm_from_body(k, "avx512"); }
}  // namespace bc

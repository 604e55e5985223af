// The normalization row kernels for the avx2 path (AVX2 + FMA flags, set by file name in CMakeLists.txt).
#include "kernels/norm/body.h"

namespace bc {
void fill_norm_avx2(NormKernels& k) { fill_norm_from_body(k, "avx2"); }
}  // namespace bc

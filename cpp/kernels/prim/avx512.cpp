// The primitive kernel table for the avx512 path (CMakeLists.txt sets the ISA flags by file name).
#include "kernels/prim/body.h"

namespace bc {
void fill_prim_kernels_avx512(PrimKernels& k) { fill_prim_from_impl(k, "avx512"); }
}  // namespace bc

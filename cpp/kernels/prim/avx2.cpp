// The primitive kernel table for the avx2 path (CMakeLists.txt sets the ISA flags by file name).
#include "kernels/prim/body.h"

namespace bc {
void fill_prim_kernels_avx2(PrimKernels& k) { fill_prim_from_impl(k, "avx2"); }
}  // namespace bc

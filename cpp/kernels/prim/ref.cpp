// The primitive kernel table for the ref path (CMakeLists.txt sets the ISA flags by file name).
#include "kernels/prim/body.h"

namespace bc {
void fill_prim_kernels_ref(PrimKernels& k) { fill_prim_from_impl(k, "ref"); }
}  // namespace bc

// The normalization row kernels for the ref path (baseline x86-64 flags).
#include "kernels/norm/body.h"

namespace bc {
void fill_norm_ref(NormKernels& k) { fill_norm_from_body(k, "ref"); }
}  // namespace bc

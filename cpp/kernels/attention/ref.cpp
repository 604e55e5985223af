// The attention tile kernels for the ref path (baseline x86-64 flags).
#include "kernels/attention/body.h"

namespace bc {
void fill_attention_ref(AttnKernels& k) { fill_attention_from_body(k, "ref"); }
}  // namespace bc

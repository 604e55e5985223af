// The convolution kernel table for the ref path (baseline x86-64: the result every path gives).
#include "kernels/conv/body.h"

namespace bc {
void fill_conv_ref(ConvKernels& k) { fill_conv_from_impl(k, "ref"); }
}  // namespace bc

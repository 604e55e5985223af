// The convolution kernel table for the avx2 path (CMakeLists.txt sets its flags by file name).
#include "kernels/conv/body.h"

namespace bc {
void fill_conv_avx2(ConvKernels& k) { fill_conv_from_impl(k, "avx2"); }
}  // namespace bc

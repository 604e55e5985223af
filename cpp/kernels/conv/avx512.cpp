// The convolution kernel table for the avx512 path (CMakeLists.txt sets its flags by file name).
#include "kernels/conv/body.h"

namespace bc {
void fill_conv_avx512(ConvKernels& k) { fill_conv_from_impl(k, "avx512"); }
}  // namespace bc

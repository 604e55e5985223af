// CUDA device queries; the kernel families arrive with the CUDA backend issue.
#include <cuda_runtime.h>

#include "device.cuh"

namespace bc {
namespace cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;  // no driver or no GPU: CPU only
  return n;
}

std::string device_name(int i) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, i) != cudaSuccess) return "";
  return p.name;
}

}  // namespace cuda
}  // namespace bc

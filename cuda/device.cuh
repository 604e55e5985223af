#pragma once
#include <string>

namespace bc {
namespace cuda {
int device_count();          // 0 when there is no usable GPU or driver
std::string device_name(int i);
}  // namespace cuda
}  // namespace bc

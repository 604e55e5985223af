#include "isa/isa.h"

namespace bc {
namespace isa {

namespace {

unsigned detect() {
  __builtin_cpu_init();
  unsigned f = 0;
  if (__builtin_cpu_supports("fma")) f |= FMA;
  if (__builtin_cpu_supports("avx2")) f |= AVX2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    f |= AVX512;
  if (__builtin_cpu_supports("avxvnni")) f |= AVXVNNI;
  if (__builtin_cpu_supports("avx512vnni")) f |= AVX512VNNI;
  return f;
}

}  // namespace

unsigned cpu() {
  static const unsigned features = detect();
  return features;
}

std::string feature_names() {
  __builtin_cpu_init();
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (on) s += std::string(s.empty() ? "" : " ") + name;
  };
  add(__builtin_cpu_supports("sse4.2"), "sse4.2");
  add(__builtin_cpu_supports("avx"), "avx");
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("fma"), "fma");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  add(__builtin_cpu_supports("avx512bw"), "avx512bw");
  add(__builtin_cpu_supports("avx512dq"), "avx512dq");
  add(__builtin_cpu_supports("avx512vl"), "avx512vl");
  add(__builtin_cpu_supports("avx512vnni"), "avx512vnni");
  add(__builtin_cpu_supports("avxvnni"), "avxvnni");
  return s;
}

}  // namespace isa
}  // namespace bc

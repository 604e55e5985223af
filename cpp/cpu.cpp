#include "cpu.h"

namespace bc {
namespace {

bool has(const char* f) {
  __builtin_cpu_init();
  if (std::string(f) == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::string(f) == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (std::string(f) == "avx512vnni") return __builtin_cpu_supports("avx512vnni");
  return false;
}

Kernels make(const std::string& isa) {
  Kernels k{};
  if (isa == "avx512") fill_kernels_avx512(k);
  else if (isa == "avx2") fill_kernels_avx2(k);
  else fill_kernels_ref(k);
  return k;
}

Kernels& table() {
  static Kernels k = make(best_isa());
  return k;
}

}  // namespace

bool isa_supported(const std::string& isa) {
  if (isa == "ref") return true;
  if (isa == "avx2") return has("avx2");
  if (isa == "avx512") return has("avx512") && has("avx2");
  return false;
}

std::string best_isa() {
  if (isa_supported("avx512")) return "avx512";
  if (isa_supported("avx2")) return "avx2";
  return "ref";
}

std::string cpu_features() {
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

const Kernels& kernels() { return table(); }

void set_isa(const std::string& isa) {
  BC_CHECK(isa == "ref" || isa == "avx2" || isa == "avx512",
           "set_cpu_isa expects one of 'ref', 'avx2', 'avx512', got '" + isa + "'");
  BC_CHECK(isa_supported(isa), "this CPU cannot run the '" + isa + "' path (features: " +
                                   cpu_features() + ")");
  table() = make(isa);
}

}  // namespace bc

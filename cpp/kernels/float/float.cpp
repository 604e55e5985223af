// The float kernels' dispatch: the table of the best path the CPU runs, or the one set_isa forced.
#include "kernels/float/float.h"

#include "isa/isa.h"

namespace bc {
namespace {

Kernels make(const std::string& name) {
  Kernels k{};
  if (name == "avx512") fill_kernels_avx512(k);
  else if (name == "avx2") fill_kernels_avx2(k);
  else fill_kernels_ref(k);
  return k;
}

Kernels& table() {
  static Kernels k = make(best_isa());
  return k;
}

}  // namespace

bool isa_supported(const std::string& name) {
  if (name == "ref") return true;
  if (name == "avx2") return isa::has(isa::AVX2 | isa::FMA);
  if (name == "avx512") return isa::has(isa::AVX512 | isa::AVX2 | isa::FMA);
  return false;
}

std::string best_isa() {
  if (isa_supported("avx512")) return "avx512";
  if (isa_supported("avx2")) return "avx2";
  return "ref";
}

const Kernels& kernels() { return table(); }

void set_isa(const std::string& name) {
  BC_CHECK(name == "ref" || name == "avx2" || name == "avx512",
           "set_cpu_isa expects one of 'ref', 'avx2', 'avx512', got '" + name + "'");
  BC_CHECK(isa_supported(name), "this CPU cannot run the '" + name + "' path (features: " +
                                    isa::feature_names() + ")");
  table() = make(name);
}

}  // namespace bc

// The float kernels' dispatch: one table, filled with the path cpp/isa/ picks.
#include "kernels/float/float.h"

#include "isa/isa.h"

namespace bc {
namespace {

Kernels& table() {
  static Kernels k = [] {
    Kernels t{};
    fill_kernels_ref(t);
    return t;
  }();
  return k;
}

void install(const char* path) {
  Kernels k{};
  const std::string p = path;
  if (p == "avx512") fill_kernels_avx512(k);
  else if (p == "avx2") fill_kernels_avx2(k);
  else fill_kernels_ref(k);
  table() = k;
}

[[maybe_unused]] const bool registered = isa::add_family(
    {"float", {{"avx512", isa::AVX512 | isa::AVX2 | isa::FMA}, {"avx2", isa::AVX2 | isa::FMA}, {"ref", 0}}, install});

}  // namespace

const Kernels& kernels() { return table(); }

}  // namespace bc

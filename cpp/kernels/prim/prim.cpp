// The primitive kernels' dispatch: the table of the path the float family runs (the two families
// have the same paths, so one switch, bigcore.config.set_cpu_isa, moves both).
#include "kernels/prim/prim.h"

#include <cstring>

#include "kernels/float/float.h"

namespace bc {
namespace {

struct Tables {
  PrimKernels ref{}, avx2{}, avx512{};
  Tables() {
    fill_prim_kernels_ref(ref);
    fill_prim_kernels_avx2(avx2);
    fill_prim_kernels_avx512(avx512);
  }
};

}  // namespace

const PrimKernels& prim_kernels() {
  static const Tables t;
  const char* path = kernels().name;  // "avx512", "avx2" or "ref"
  if (std::strcmp(path, "avx512") == 0) return t.avx512;
  if (std::strcmp(path, "avx2") == 0) return t.avx2;
  return t.ref;
}

}  // namespace bc

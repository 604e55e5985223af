// CPU features, detected once, and the one switch that picks the path of every kernel family.
// Nothing else in cpp/ queries the CPU or chooses a path.
//
// Kernel families (kernels/float, kernels/quant, kernels/sparse, kernels/conv) register their paths here, best
// first, each with the features it needs; set_isa(name) gives every family the best of its paths
// that needs no feature beyond the name's set:
//   name         features                  float    int8        sparse   conv
//   ref          (baseline x86-64)         ref      ref         ref      ref
//   avx2         AVX2 FMA                  avx2     avx2        avx2     avx2
//   avxvnni      AVX2 FMA AVX-VNNI         avx2     avxvnni     avx2     avx2
//   avx512       AVX2 FMA AVX-512          avx512   avx2        avx512   avx512
//   avx512vnni   AVX2 FMA AVX-512 +VNNI    avx512   avx512vnni  avx512   avx512
// so every path of every family is reachable by the name of the path itself (attention and norm
// follow the float column). At load the last
// name of this list the CPU runs is in force (AVX-512 = F, BW, DQ and VL).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace bc {
namespace isa {

// Feature groups as the kernel paths use them (bit mask).
enum Feature : unsigned {
  FMA = 1u << 0,
  AVX2 = 1u << 1,
  AVX512 = 1u << 2,      // AVX-512 F, BW, DQ and VL together
  AVXVNNI = 1u << 3,     // AVX-VNNI (VEX-encoded vpdpbusd)
  AVX512VNNI = 1u << 4,  // AVX-512 VNNI
};

unsigned cpu();                                       // this CPU's Feature mask
inline bool has(unsigned f) { return (cpu() & f) == f; }
std::string feature_names();  // what was found, e.g. "sse4.2 avx avx2 fma avx512f ... avx512vnni"
// One core's level-1 data cache in bytes, as the C library reads it from the CPU (32 KiB where it
// cannot tell): a scheduling hint for the kernels' blocking, never a result.
long l1d_bytes();

// One path of a kernel family and the features it needs.
struct Path {
  const char* name;
  unsigned needs;
};

// A kernel family: its paths, best first (the last one needing nothing), and the function that
// makes a path the one in use.
struct Family {
  const char* name;
  std::vector<Path> paths;
  void (*install)(const char* path);
};

// Called once per family while the module loads; installs the path of the name in force.
bool add_family(const Family& family);

void set_isa(const std::string& name);  // throws std::invalid_argument for an unknown name or
                                        // one this CPU cannot run
std::string current();                  // the name in force
std::string best();                     // the last name of the table this CPU runs
std::vector<std::string> names();       // every name, in the table's order
bool supported(const std::string& name);
std::vector<std::pair<std::string, std::string>> paths();  // (family, path in use), in load order

}  // namespace isa
}  // namespace bc

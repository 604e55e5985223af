// CPU features, detected once. Every kernel family asks here which instructions it may use;
// nothing else in cpp/ queries the CPU.
#pragma once
#include <string>

namespace bc {
namespace isa {

// Feature groups as the kernel paths use them (bit mask).
enum Feature : unsigned {
  FMA = 1u << 0,
  AVX2 = 1u << 1,        // the avx2 paths also need FMA
  AVX512 = 1u << 2,      // AVX-512 F, BW, DQ and VL together
  AVXVNNI = 1u << 3,     // AVX-VNNI (VEX-encoded vpdpbusd)
  AVX512VNNI = 1u << 4,  // AVX-512 VNNI
};

unsigned cpu();                                       // this CPU's Feature mask
inline bool has(unsigned f) { return (cpu() & f) == f; }
std::string feature_names();  // what was found, e.g. "sse4.2 avx avx2 fma avx512f ... avx512vnni"

}  // namespace isa
}  // namespace bc

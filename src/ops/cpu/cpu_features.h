// Which SIMD instruction sets the CPU kernels may use. The library is built for plain x86-64; kernels
// carry per-function target attributes and are chosen at run time from what this CPU (and its OS)
// supports, capped by the environment variable TURBOLM_CPU_ISA=scalar|avx2|avx512f|avx512.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace turbolm::cpu {

// Ordered levels: each includes everything below it.
//   kAvx2       AVX2 + FMA + F16C
//   kAvx512     AVX-512 F/BW/VL/DQ (+ the AVX2 level)
//   kAvx512Bf16 kAvx512 + AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16)
enum class CpuIsa : uint8_t { kScalar, kAvx2, kAvx512, kAvx512Bf16 };

struct CpuFeatures {
    bool avx2_fma_f16c = false;
    bool avx512 = false;  // F, BW, VL, DQ, with the OS saving zmm and mask state
    bool avx512_bf16 = false;
};

// What the hardware and OS support (detected once).
const CpuFeatures& cpu_features();
// The best level the hardware supports.
CpuIsa detected_isa();
// The level kernels use: the detected one, capped by TURBOLM_CPU_ISA and by set_isa_cap.
CpuIsa active_isa();
// Caps the level used from now on (tests use it to run every path the machine supports); nullopt
// removes the cap set here (the environment cap still applies). Not for use while kernels run.
void set_isa_cap(std::optional<CpuIsa> cap);

const char* isa_name(CpuIsa isa);  // "scalar", "avx2", "avx512f", "avx512"
// Parses the names isa_name returns; "avx512bf16" is accepted as a synonym of "avx512".
std::optional<CpuIsa> parse_isa(std::string_view name);

}  // namespace turbolm::cpu

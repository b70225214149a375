#include "ops/cpu/cpu_features.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "core/logging.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace turbolm::cpu {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0 says which register states the OS saves on context switch; a CPU feature is only usable when
// the OS preserves its registers. xgetbv is emitted as bytes so that no -mxsave is needed.
uint64_t read_xcr0() {
    uint32_t eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return (uint64_t(edx) << 32) | eax;
}

CpuFeatures detect() {
    CpuFeatures f;
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
    const bool osxsave = ecx & (1u << 27), avx = ecx & (1u << 28), fma = ecx & (1u << 12), f16c = ecx & (1u << 29);
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = read_xcr0();
    const bool os_ymm = (xcr0 & 0x6) == 0x6;    // SSE and AVX state
    const bool os_zmm = (xcr0 & 0xe6) == 0xe6;  // + opmask, upper zmm0-15, zmm16-31
    if (!os_ymm || __get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const bool avx2 = ebx & (1u << 5);
    const bool avx512f = ebx & (1u << 16), avx512dq = ebx & (1u << 17), avx512bw = ebx & (1u << 30),
               avx512vl = ebx & (1u << 31);
    const unsigned max_sub = eax;
    f.avx2_fma_f16c = avx2 && fma && f16c;
    f.avx512 = f.avx2_fma_f16c && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
    if (f.avx512 && max_sub >= 1) {
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avx512_bf16 = eax & (1u << 5);
    }
    return f;
}
#else
CpuFeatures detect() {
    return {};
}
#endif

CpuIsa env_cap() {
    const char* env = std::getenv("TURBOLM_CPU_ISA");
    if (!env || !*env) return CpuIsa::kAvx512Bf16;
    auto isa = parse_isa(env);
    if (!isa) {
        log::warn("TURBOLM_CPU_ISA='", env, "' is not one of scalar, avx2, avx512f, avx512; ignored");
        return CpuIsa::kAvx512Bf16;
    }
    return *isa;
}

// kAvx512Bf16 + 1 means "no cap".
constexpr int kNoCap = int(CpuIsa::kAvx512Bf16) + 1;
std::atomic<int> g_cap{kNoCap};

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

CpuIsa detected_isa() {
    const CpuFeatures& f = cpu_features();
    if (f.avx512_bf16) return CpuIsa::kAvx512Bf16;
    if (f.avx512) return CpuIsa::kAvx512;
    if (f.avx2_fma_f16c) return CpuIsa::kAvx2;
    return CpuIsa::kScalar;
}

CpuIsa active_isa() {
    static const CpuIsa capped = std::min(detected_isa(), env_cap());
    const int cap = g_cap.load(std::memory_order_relaxed);
    return cap == kNoCap ? capped : std::min(capped, CpuIsa(cap));
}

void set_isa_cap(std::optional<CpuIsa> cap) {
    g_cap.store(cap ? int(*cap) : kNoCap, std::memory_order_relaxed);
}

const char* isa_name(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::kScalar:
            return "scalar";
        case CpuIsa::kAvx2:
            return "avx2";
        case CpuIsa::kAvx512:
            return "avx512f";
        case CpuIsa::kAvx512Bf16:
            return "avx512";
    }
    return "?";
}

std::optional<CpuIsa> parse_isa(std::string_view name) {
    if (name == "scalar") return CpuIsa::kScalar;
    if (name == "avx2") return CpuIsa::kAvx2;
    if (name == "avx512f") return CpuIsa::kAvx512;
    if (name == "avx512" || name == "avx512bf16") return CpuIsa::kAvx512Bf16;
    return std::nullopt;
}

}  // namespace turbolm::cpu

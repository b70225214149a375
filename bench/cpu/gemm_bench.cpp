// Times cpu::gemm on Llama-3.2-1B shapes and compares them with this machine's ceilings, measured here:
// read bandwidth for decode (m small: weights stream from memory once) and the f32 FMA / vdpbf16ps peaks
// for prefill (m = 64..512: compute-bound).
//
//   turbolm_gemm_bench [--threads N] [--suite decode|small|prefill|all] [--dtype bf16|f16|f32]
//                      [--seconds S] [--lm-head-prefill] [--no-ceilings]
//                      [--m 1,8,64 --shapes q_o,down [--cold]] [--path auto|dot|tiles]
//
// --m with --shapes replaces the suites with those sizes (weights cold with --cold); --path forces one of
// gemm's two paths, to find where one overtakes the other.
//
// Prints one JSON object per measurement, then a table. TURBOLM_CPU_ISA caps the instruction set.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

// GCC 12 reports the "undefined" operands inside its own intrinsic headers as uninitialized (PR 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <omp.h>

#include "core/half.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/gemm_kernels.h"

namespace {

using turbolm::DType;
using turbolm::cpu::MatmulPrecision;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Buffer {
    void* p = nullptr;
    explicit Buffer(size_t bytes) : p(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)) {}
    ~Buffer() { std::free(p); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
};

// Evicts [p, p + bytes) from every cache level, so that the next reader gets it from memory. (Cycling through
// copies larger than the last-level cache is not enough: its replacement policy keeps part of a cyclic
// working set.) All threads take part, which also keeps them awake: a thread left idle for milliseconds may
// have its (virtual) CPU halted, and waking it costs more than a whole small gemm.
void flush(const void* p, size_t bytes) {
    const char* c = static_cast<const char*>(p);
    turbolm::parallel_for(int64_t(bytes / 64), 1024, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) _mm_clflush(c + i * 64);
        _mm_mfence();
    });
}

// Makes the next read of [p, p + bytes) come from memory the way a decode step finds its weights: flushed
// from the caches, and with the TLB and page-walk caches taken over by other data (a 64 MiB sweep). A flush
// alone leaves the translations warm and reads ~30% faster than decode ever sees.
struct ColdPrep {
    Buffer sweep{size_t(64) << 20};
    ColdPrep() { std::memset(sweep.p, 1, size_t(64) << 20); }
    void operator()(const void* p, size_t bytes) {
        flush(p, bytes);
        const int64_t n = int64_t(64) << 20;
        const char* c = static_cast<const char*>(sweep.p);
        turbolm::parallel_for(n / 64, 1024, [&](int64_t b, int64_t e) {
            int sum = 0;
            for (int64_t i = b; i < e; ++i) sum += c[i * 64];
            g_isink = g_isink + sum;
        });
    }
    static inline volatile int g_isink = 0;
};

// ---- ceilings ------------------------------------------------------------------------------------------

// Reads n floats (n a multiple of 64) with four independent sums so the loop is bound by loads, not by add
// latency. kPrefetch > 0 also prefetches that many bytes ahead: hardware prefetchers stop at 4 KiB pages.
template <int kPrefetch>
__attribute__((target("avx2"))) float read_sum_avx2(const float* p, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < n; i += 64) {
        if (kPrefetch)
            for (int b = 0; b < 256; b += 64)
                _mm_prefetch(reinterpret_cast<const char*>(p + i) + kPrefetch + b, _MM_HINT_T0);
        s0 = _mm256_add_ps(s0, _mm256_add_ps(_mm256_load_ps(p + i), _mm256_load_ps(p + i + 8)));
        s1 = _mm256_add_ps(s1, _mm256_add_ps(_mm256_load_ps(p + i + 16), _mm256_load_ps(p + i + 24)));
        s2 = _mm256_add_ps(s2, _mm256_add_ps(_mm256_load_ps(p + i + 32), _mm256_load_ps(p + i + 40)));
        s3 = _mm256_add_ps(s3, _mm256_add_ps(_mm256_load_ps(p + i + 48), _mm256_load_ps(p + i + 56)));
    }
    alignas(32) float out[8];
    _mm256_store_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

float read_sum_scalar(const float* p, int64_t n) {
    float s[8] = {};
    for (int64_t i = 0; i < n; i += 8)
        for (int l = 0; l < 8; ++l) s[l] += p[i + l];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

volatile float g_sink;

// Seconds for num_threads() threads to read `bytes` bytes (whole 256-byte blocks), each its own contiguous
// part; variant 0 relies on hardware prefetch, variant 1 adds software prefetch.
double time_read(const void* p, size_t bytes, int variant) {
    const float* f = static_cast<const float*>(p);
    const int64_t n = int64_t(bytes / 256 * 64);
    const bool avx2 = turbolm::cpu::cpu_features().avx2_fma_f16c;
    const int threads = turbolm::num_threads();
    const auto t0 = Clock::now();
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t b = n * t / nt / 64 * 64, e = n * (t + 1) / nt / 64 * 64;
        total += !avx2     ? read_sum_scalar(f + b, e - b)
                 : variant ? read_sum_avx2<1024>(f + b, e - b)
                           : read_sum_avx2<0>(f + b, e - b);
    }
    const double s = seconds_since(t0);
    g_sink = g_sink + total;
    return s;
}

// Read bandwidth of num_threads() threads from memory: a 512 MiB buffer made cold (ColdPrep) before each
// timed pass; the better of the two read variants' medians over 8 passes each.
double measure_read_gbs() {
    const size_t bytes = size_t(512) << 20;
    Buffer buf{bytes};
    float* p = static_cast<float*>(buf.p);
    turbolm::parallel_for(int64_t(bytes / 4), 1 << 20, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) p[i] = 1.0f;
    });
    std::vector<double> gbs[2];
    ColdPrep cold;
    for (int rep = 0; rep < 16; ++rep) {
        cold(p, bytes);
        gbs[rep % 2].push_back(double(bytes) / time_read(p, bytes, rep % 2) / 1e9);
    }
    return std::max(median(gbs[0]), median(gbs[1]));
}

// Peak multiply-add rates: kChains independent accumulators (more than latency x throughput) seeded with
// distinct values read through a volatile, so the compiler can neither fold the chains into one nor
// precompute them; the sum is returned so nothing is dead.
volatile float g_seed[32] = {1.0f, 1.1f, 1.2f, 1.3f, 1.4f, 1.5f, 1.6f, 1.7f,      1.8f,
                             1.9f, 2.0f, 2.1f, 2.2f, 2.3f, 2.4f, 2.5f, 0.999999f, 1e-7f};
constexpr int kChains = 16;

__attribute__((target("avx512f,fma"))) float fma_loop_avx512(int64_t iters) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(g_seed[i]);
    const __m512 a = _mm512_set1_ps(g_seed[16]), b = _mm512_set1_ps(g_seed[17]);
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(a, acc[i], b);
    for (int i = 1; i < kChains; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iters) {
    __m256 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(g_seed[i]);
    const __m256 a = _mm256_set1_ps(g_seed[16]), b = _mm256_set1_ps(g_seed[17]);
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(a, acc[i], b);
    for (int i = 1; i < kChains; ++i) acc[0] = _mm256_add_ps(acc[0], acc[i]);
    alignas(32) float out[8];
    _mm256_store_ps(out, acc[0]);
    return out[0] + out[7];
}

__attribute__((target("avx512f,avx512bf16"))) float dpbf16_loop(int64_t iters) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(g_seed[i]);
    const __m512bh a = __m512bh(_mm512_set1_epi32(0x3f803f80 + int(g_seed[17] > 1.0f)));
    const __m512bh b = __m512bh(_mm512_set1_epi32(0x33d633d6 + int(g_seed[17] > 1.0f)));
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    for (int i = 1; i < kChains; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

// GFLOP/s of `threads` threads each running loop(iters); best of 5 (the ceiling, not a typical run).
template <typename Loop>
double peak_gflops(Loop loop, double flop_per_iter) {
    const int64_t iters = 20'000'000;
    const int threads = turbolm::num_threads();
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = Clock::now();
        float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        total += loop(iters);
        const double s = seconds_since(t0);
        sink = sink + total;
        best = std::max(best, flop_per_iter * double(iters) * threads / s / 1e9);
    }
    return best;
}

struct Ceilings {
    double read_gbs = 0, fma_gflops = 0, dpbf16_gflops = 0;
};

Ceilings measure_ceilings() {
    Ceilings c;
    const auto& f = turbolm::cpu::cpu_features();
    c.read_gbs = measure_read_gbs();
    if (f.avx512)
        c.fma_gflops = peak_gflops(fma_loop_avx512, kChains * 32.0);
    else if (f.avx2_fma_f16c)
        c.fma_gflops = peak_gflops(fma_loop_avx2, kChains * 16.0);
    if (f.avx512_bf16) c.dpbf16_gflops = peak_gflops(dpbf16_loop, kChains * 64.0);
    return c;
}

// ---- gemm timing ---------------------------------------------------------------------------------------

struct Case {
    const char* name;
    int64_t n, k;
};
// Llama-3.2-1B: q/o, k/v, gate/up, down, lm_head.
const Case kShapes[] = {
    {"q_o", 2048, 2048}, {"k_v", 512, 2048}, {"gate_up", 8192, 2048}, {"down", 2048, 8192}, {"lm_head", 128256, 2048}};

struct Result {
    std::string shape;
    int64_t m, n, k;
    DType dt;
    MatmulPrecision prec;
    double ms, min_ms, gbs, gflops, pct;
    double read_gbs = 0;  // cold runs: a plain read of the same buffer, timed alongside
    const char* pct_of;
};

size_t dsize(DType dt) {
    return dt == DType::kF32 ? 4 : 2;
}

// Times gemm(m, n, k) (median of repeated calls). cold: the weights are made cold (ColdPrep) before every
// call, as in decode where each step streams the whole model from memory; activations stay warm.
Result time_gemm(const Case& c, int64_t m, DType dt, MatmulPrecision prec, double budget_s, const Ceilings& ceil,
                 bool cold) {
    turbolm::Rng rng(42);
    const size_t wbytes = size_t(c.n * c.k) * dsize(dt);
    Buffer w{wbytes};
    uint16_t* w16 = static_cast<uint16_t*>(w.p);
    float* w32 = static_cast<float*>(w.p);
    // Random values in [-1/16, 1/16) so that outputs stay in f16 range whatever the shape.
    for (int64_t j = 0; j < c.n * c.k; ++j) {
        const float v = rng.uniform_pm1() * 0.0625f;
        if (dt == DType::kF32)
            w32[j] = v;
        else
            w16[j] = dt == DType::kBF16 ? turbolm::f32_to_bf16(v) : turbolm::f32_to_f16(v);
    }
    std::vector<float> x(size_t(m * c.k)), y(size_t(m * c.n)), bias(size_t(c.n));
    for (auto& v : x) v = rng.uniform_pm1();
    for (auto& v : bias) v = rng.uniform_pm1();

    auto call = [&] {
        turbolm::cpu::gemm(x.data(), c.k, w.p, dt, c.k, bias.data(), y.data(), c.n, m, c.n, c.k, false, prec);
    };
    for (int i = 0; i < 2; ++i) call();
    // Cold runs alternate with plain reads of the same flushed buffer: memory bandwidth on a shared machine
    // drifts, and the ratio of two medians taken together is steadier than one against a distant ceiling.
    std::vector<double> times, reads[2];
    static ColdPrep prep;
    const auto start = Clock::now();
    while (times.size() < 5 || (seconds_since(start) < budget_s && times.size() < 2000)) {
        if (cold) {
            const int variant = int(times.size() % 2);
            prep(w.p, wbytes);
            reads[variant].push_back(time_read(w.p, wbytes, variant));
            prep(w.p, wbytes);
        }
        const auto t0 = Clock::now();
        call();
        times.push_back(seconds_since(t0));
    }
    const double s = median(times);
    Result r{};
    r.shape = c.name;
    r.m = m, r.n = c.n, r.k = c.k, r.dt = dt, r.prec = prec;
    r.ms = s * 1e3;
    r.min_ms = *std::min_element(times.begin(), times.end()) * 1e3;
    r.gbs = double(wbytes) / s / 1e9;
    r.gflops = 2.0 * double(m) * double(c.n) * double(c.k) / s / 1e9;
    if (cold) r.read_gbs = double(wbytes) / std::min(median(reads[0]), median(reads[1])) / 1e9;
    const bool dp = prec == MatmulPrecision::kWeightType && dt == DType::kBF16 && ceil.dpbf16_gflops > 0 &&
                    turbolm::cpu::active_isa() == turbolm::cpu::CpuIsa::kAvx512Bf16;
    if (cold && m <= 16) {
        r.pct = 100.0 * r.gbs / std::max(r.read_gbs, ceil.read_gbs);
        r.pct_of = "read_bw";
    } else {
        r.pct = 100.0 * r.gflops / (dp ? ceil.dpbf16_gflops : ceil.fma_gflops);
        r.pct_of = dp ? "dpbf16_peak" : "fma_peak";
    }
    return r;
}

const char* prec_name(MatmulPrecision p) {
    return p == MatmulPrecision::kF32 ? "f32" : "weight_type";
}

void print_json(const Result& r) {
    std::printf(
        "{\"bench\":\"cpu_gemm\",\"shape\":\"%s\",\"m\":%lld,\"n\":%lld,\"k\":%lld,\"w_dtype\":\"%s\","
        "\"precision\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"ms\":%.4f,\"min_ms\":%.4f,\"weight_gbs\":%.2f,\"read_"
        "gbs\":%.2f,\"gflops\":%.1f,"
        "\"pct\":%.1f,\"pct_of\":\"%s\"}\n",
        r.shape.c_str(), (long long)r.m, (long long)r.n, (long long)r.k, turbolm::dtype_name(r.dt), prec_name(r.prec),
        turbolm::cpu::isa_name(turbolm::cpu::active_isa()), turbolm::num_threads(), r.ms, r.min_ms, r.gbs, r.read_gbs,
        r.gflops, r.pct, r.pct_of);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    std::string suite = "all";
    DType dt = DType::kBF16;
    double budget = 0.4;
    bool ceilings = true, lm_head_prefill = false, custom_cold = false;
    std::vector<int64_t> custom_m;
    std::vector<std::string> custom_shapes;
    auto split = [](const std::string& list) {
        std::vector<std::string> out;
        size_t start = 0;
        while (start <= list.size()) {
            const size_t end = std::min(list.find(',', start), list.size());
            if (end > start) out.push_back(list.substr(start, end - start));
            start = end + 1;
        }
        return out;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--threads") {
            turbolm::set_num_threads(std::atoi(next().c_str()));
        } else if (a == "--suite") {
            suite = next();
        } else if (a == "--dtype") {
            const std::string d = next();
            dt = d == "f32" ? DType::kF32 : d == "f16" ? DType::kF16 : DType::kBF16;
        } else if (a == "--seconds") {
            budget = std::atof(next().c_str());
        } else if (a == "--no-ceilings") {
            ceilings = false;
        } else if (a == "--lm-head-prefill") {
            lm_head_prefill = true;
        } else if (a == "--m") {
            for (const std::string& v : split(next())) custom_m.push_back(std::atoll(v.c_str()));
        } else if (a == "--shapes") {
            custom_shapes = split(next());
        } else if (a == "--cold") {
            custom_cold = true;
        } else if (a == "--path") {
            const std::string v = next();
            turbolm::cpu::gemm_detail::set_path_override(v == "dot"     ? turbolm::cpu::gemm_detail::GemmPath::kDot
                                                         : v == "tiles" ? turbolm::cpu::gemm_detail::GemmPath::kTiles
                                                                        : turbolm::cpu::gemm_detail::GemmPath::kAuto);
        } else {
            std::fprintf(stderr,
                         "usage: %s [--threads N] [--suite decode|small|prefill|all] [--dtype bf16|f16|f32] "
                         "[--seconds S] [--lm-head-prefill] [--no-ceilings] [--m LIST --shapes LIST [--cold]] "
                         "[--path auto|dot|tiles]\n",
                         argv[0]);
            return 2;
        }
    }

    Ceilings ceil;
    if (ceilings) {
        ceil = measure_ceilings();
    } else {
        ceil = {28.0, 231.0, 462.0};  // this project's 2-core Zen 4 reference machine
    }
    std::printf(
        "{\"bench\":\"cpu_ceilings\",\"threads\":%d,\"isa\":\"%s\",\"read_gbs\":%.2f,\"fma_gflops\":%.1f,"
        "\"dpbf16_gflops\":%.1f,\"measured\":%s}\n",
        turbolm::num_threads(), turbolm::cpu::isa_name(turbolm::cpu::active_isa()), ceil.read_gbs, ceil.fma_gflops,
        ceil.dpbf16_gflops, ceilings ? "true" : "false");

    std::vector<Result> results;
    const MatmulPrecision precs[] = {MatmulPrecision::kF32, MatmulPrecision::kWeightType};
    if (!custom_m.empty() || !custom_shapes.empty()) suite = "custom";
    if (suite == "custom")
        for (const Case& c : kShapes)
            if (custom_shapes.empty() ||
                std::find(custom_shapes.begin(), custom_shapes.end(), c.name) != custom_shapes.end())
                for (int64_t m : custom_m.empty() ? std::vector<int64_t>{1} : custom_m)
                    for (MatmulPrecision p : precs) {
                        results.push_back(time_gemm(c, m, dt, p, budget, ceil, custom_cold));
                        print_json(results.back());
                    }
    if (suite == "decode" || suite == "all")
        for (const Case& c : kShapes)
            for (MatmulPrecision p : precs) {
                results.push_back(time_gemm(c, 1, dt, p, budget, ceil, true));
                print_json(results.back());
            }
    if (suite == "small" || suite == "all")
        for (const Case& c : {kShapes[0], kShapes[2]})
            for (int64_t m : {2, 4, 8, 16})
                for (MatmulPrecision p : precs) {
                    results.push_back(time_gemm(c, m, dt, p, budget, ceil, true));
                    print_json(results.back());
                }
    if (suite == "prefill" || suite == "all")
        for (const Case& c : kShapes) {
            if (c.n > 100000 && !lm_head_prefill) continue;
            for (int64_t m : {64, 128, 256, 512})
                for (MatmulPrecision p : precs) {
                    results.push_back(time_gemm(c, m, dt, p, budget, ceil, false));
                    print_json(results.back());
                }
        }

    std::printf("\nceilings (%d threads): read %.1f GB/s, f32 FMA %.0f GFLOP/s, vdpbf16ps %.0f GFLOP/s%s\n",
                turbolm::num_threads(), ceil.read_gbs, ceil.fma_gflops, ceil.dpbf16_gflops,
                ceilings ? "" : " (not measured: reference values)");
    std::printf("%-8s %5s %7s %6s %-5s %-11s %9s %9s %8s %8s %9s %7s\n", "shape", "m", "n", "k", "w", "precision", "ms",
                "min ms", "GB/s", "read", "GFLOP/s", "%ceil");
    for (const Result& r : results)
        std::printf("%-8s %5lld %7lld %6lld %-5s %-11s %9.3f %9.3f %8.1f %8.1f %9.1f %6.1f%% %s\n", r.shape.c_str(),
                    (long long)r.m, (long long)r.n, (long long)r.k, turbolm::dtype_name(r.dt), prec_name(r.prec), r.ms,
                    r.min_ms, r.gbs, r.read_gbs, r.gflops, r.pct, r.pct_of);
    return 0;
}

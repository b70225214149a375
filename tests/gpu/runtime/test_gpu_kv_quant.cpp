// The 8-bit KV cache on the GPU against the CPU reference: the CPU's FP8 codes against cuda_fp8.h's
// conversion (runs without a GPU), qkv_to_cache writing the CPU's codes and scales,
// attention over int8 / FP8 pools (decode, prefill and simple paths, shuffled block tables, GQA,
// sliding windows) given the same cache contents, the demo model's logits with an int8 cache, and
// engine decode steps replayed from CUDA graphs over an int8 cache against eager ones.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include <cuda_fp8.h>
#include <gtest/gtest.h>

#include "core/half.h"
#include "engine/engine_core.h"
#include "models/model.h"
#include "ops/cpu/cpu_kv_quant.h"
#include "ops/cuda/attention/attention_paths.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/ops.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

const char* code_name(DType dt) { return dt == DType::kI8 ? "int8" : "fp8"; }

// Host-only: the CPU's FP8 cache codes are cuda_fp8.h's conversion of x / scale (what the GPU's
// qkv_to_cache computes), and its decoding table gives cuda_fp8.h's values.
TEST(GpuKvQuant, CpuFp8CodesAreCudaFp8Conversions) {
    for (int c = 0; c < 256; ++c) {
        const __half_raw h = __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(c), __NV_E4M3);
        uint16_t bits;
        std::memcpy(&bits, &h.x, 2);
        const float want = f16_to_f32(bits), got = cpu::e4m3_to_f32(uint8_t(c));
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << c;
        } else {
            EXPECT_EQ(got, want) << "code " << c;
        }
    }
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> exponent(-14.0f, 4.0f);
    std::vector<float> x(128);
    std::vector<uint8_t> codes(128);
    for (int trial = 0; trial < 2000; ++trial) {
        for (size_t i = 0; i < x.size(); ++i) x[i] = std::exp2(exponent(rng)) * (rng() % 2 ? -1.0f : 1.0f);
        float scale = 0.0f;
        cpu::quantize_kv_rows(x.data(), 128, 1, 128, DType::kF8E4M3, codes.data(), 128, &scale);
        for (size_t i = 0; i < x.size(); ++i)
            ASSERT_EQ(codes[i], __nv_cvt_float_to_fp8(x[i] / scale, __NV_SATFINITE, __NV_E4M3))
                << "x " << x[i] << " scale " << scale << " seed " << seed;
    }
}

class GpuKvQuantDevice : public ::testing::Test {
protected:
    void SetUp() override {
        if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
        ops::init_device(Device::kCuda);
        // TURBOLM_TEST_SEED replays the seed a failure printed.
        const char* env = std::getenv("TURBOLM_TEST_SEED");
        seed_ = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
        rng_.seed(seed_);
    }
    uint64_t seed_ = 0;
    std::mt19937_64 rng_;
};

Tensor i32_tensor(const std::vector<int32_t>& v) {
    Tensor t = Tensor::empty({int64_t(v.size())}, DType::kI32);
    std::copy(v.begin(), v.end(), t.data<int32_t>());
    return t;
}

ops::KvLayer host_layer(int64_t n_slots, int64_t n_head_kv, int64_t head_dim, DType codes) {
    ops::KvLayer c;
    c.k = Tensor::empty({n_slots, n_head_kv, head_dim}, codes);
    c.v = Tensor::empty({n_slots, n_head_kv, head_dim}, codes);
    c.k_scale = Tensor::empty({n_slots, n_head_kv}, DType::kF32);
    c.v_scale = Tensor::empty({n_slots, n_head_kv}, DType::kF32);
    return c;
}

ops::KvLayer to_device(const ops::KvLayer& c) {
    return {c.k.to_device(Device::kCuda), c.v.to_device(Device::kCuda), c.k_scale.to_device(Device::kCuda),
            c.v_scale.to_device(Device::kCuda)};
}

ops::KvLayer to_host(const ops::KvLayer& c) {
    return {c.k.to_device(Device::kCpu), c.v.to_device(Device::kCpu), c.k_scale.to_device(Device::kCpu),
            c.v_scale.to_device(Device::kCpu)};
}

// Codes as integers ordered like their values (sign-magnitude to two's complement for E4M3), so
// that neighbouring codes differ by 1.
int ordered_code(DType dt, uint8_t raw) {
    if (dt == DType::kI8) return int(int8_t(raw));
    return raw & 0x80 ? -int(raw & 0x7f) : int(raw);
}

// The same 16-bit qkv through qkv_to_cache on the CPU (widened to f32) and on the GPU. The GPU's
// f32 arithmetic (fused multiply-adds) differs from the CPU's in the last bits, so a code may land
// on the neighbouring one where its value is near a rounding boundary: codes differ by at most one
// step, rarely, and the scales agree to a few f32 ulps. Slots no token names keep their poison.
TEST_F(GpuKvQuantDevice, QkvToCacheWritesTheCpuCodes) {
    const int64_t T = 37, H = 8, Hkv = 2, hd = 128, n_slots = 64;
    for (DType act : {DType::kBF16, DType::kF16}) {
        for (DType dt : {DType::kI8, DType::kF8E4M3}) {
            SCOPED_TRACE(testing::Message() << dtype_name(act) << " " << code_name(dt) << " seed " << seed_);
            Tensor qkv = Tensor::empty({T, (H + 2 * Hkv) * hd}, DType::kF32);
            std::normal_distribution<float> normal(0.0f, 2.0f);
            for (int64_t i = 0; i < qkv.numel(); ++i) qkv.data<float>()[i] = normal(rng_);
            const Tensor qkv16 = qkv.to(act);
            qkv = qkv16.to(DType::kF32);  // the values both sides see
            std::vector<int32_t> pos(T);
            std::vector<int64_t> slots(T);
            std::vector<int64_t> perm(n_slots);
            std::iota(perm.begin(), perm.end(), 0);
            std::shuffle(perm.begin(), perm.end(), rng_);
            for (int64_t t = 0; t < T; ++t) {
                pos[size_t(t)] = int32_t(100 + 3 * t);
                slots[size_t(t)] = t % 9 == 4 ? -1 : perm[size_t(t)];
            }
            ops::QkvToCacheArgs a;
            a.n_head = H;
            a.n_head_kv = Hkv;
            a.pos = i32_tensor(pos);
            a.rot_dim = hd;
            a.inv_freq = Tensor::empty({hd / 2}, DType::kF32);
            for (int64_t i = 0; i < hd / 2; ++i)
                a.inv_freq.data<float>()[i] = std::pow(10000.0f, -float(2 * i) / float(hd));
            a.k_norm = Tensor::empty({hd}, DType::kF32);
            a.q_norm = Tensor::empty({hd}, DType::kF32);
            for (int64_t i = 0; i < hd; ++i)
                a.k_norm.data<float>()[i] = a.q_norm.data<float>()[i] = 0.7f + 0.01f * float(i);
            a.slots = Tensor::empty({T}, DType::kI64);
            std::copy(slots.begin(), slots.end(), a.slots.data<int64_t>());

            ops::KvLayer cpu = host_layer(n_slots, Hkv, hd, dt);
            std::memset(cpu.k.raw_data(), 0x7f, size_t(cpu.k.nbytes()));
            std::memset(cpu.v.raw_data(), 0x7f, size_t(cpu.v.nbytes()));
            std::fill_n(cpu.k_scale.data<float>(), cpu.k_scale.numel(), kNaN);
            std::fill_n(cpu.v_scale.data<float>(), cpu.v_scale.numel(), kNaN);
            ops::KvLayer gpu = to_device(cpu);  // the same poison
            Tensor q_cpu = Tensor::empty({T, H, hd}, DType::kF32);
            ops::qkv_to_cache(qkv, a, cpu, q_cpu);

            ops::QkvToCacheArgs ad = a;
            ad.pos = a.pos.to_device(Device::kCuda);
            ad.inv_freq = a.inv_freq.to_device(Device::kCuda);
            ad.k_norm = a.k_norm.to_device(Device::kCuda);
            ad.q_norm = a.q_norm.to_device(Device::kCuda);
            ad.slots = a.slots.to_device(Device::kCuda);
            Tensor q_gpu = Tensor::empty({T, H, hd}, act, Device::kCuda);
            ops::qkv_to_cache(qkv16.to_device(Device::kCuda), ad, gpu, q_gpu);
            const ops::KvLayer back = to_host(gpu);
            const Tensor q_back = q_gpu.to_device(Device::kCpu).to(DType::kF32);
            for (int64_t i = 0; i < q_cpu.numel(); ++i)
                ASSERT_NEAR(q_back.data<float>()[i], q_cpu.data<float>()[i],
                            1e-2 * (1.0 + std::fabs(q_cpu.data<float>()[i])));

            int64_t differ = 0, total = 0;
            for (int kv = 0; kv < 2; ++kv) {
                const Tensor& pc = kv ? cpu.v : cpu.k;
                const Tensor& pg = kv ? back.v : back.k;
                const Tensor& sc = kv ? cpu.v_scale : cpu.k_scale;
                const Tensor& sg = kv ? back.v_scale : back.k_scale;
                for (int64_t s = 0; s < n_slots * Hkv; ++s) {
                    const float a_s = sc.data<float>()[s], b_s = sg.data<float>()[s];
                    if (std::isnan(a_s)) {  // never written
                        ASSERT_TRUE(std::isnan(b_s)) << "slot " << s / Hkv << " written";
                        ASSERT_EQ(static_cast<const uint8_t*>(pg.raw_data())[s * hd], 0x7f);
                        continue;
                    }
                    ASSERT_NEAR(b_s, a_s, 1e-5f * a_s) << (kv ? "v" : "k") << " scale of slot " << s / Hkv;
                    for (int64_t d = 0; d < hd; ++d) {
                        const int ca = ordered_code(dt, static_cast<const uint8_t*>(pc.raw_data())[s * hd + d]);
                        const int cb = ordered_code(dt, static_cast<const uint8_t*>(pg.raw_data())[s * hd + d]);
                        ASSERT_LE(std::abs(ca - cb), 1) << (kv ? "v" : "k") << " slot " << s / Hkv << " dim " << d;
                        differ += ca != cb;
                        ++total;
                    }
                }
            }
            EXPECT_LE(double(differ), 0.01 * double(total)) << differ << " of " << total << " codes differ";
        }
    }
}

struct SeqCase {
    int kv_len, q_len;
};
struct AttnCase {
    DType dtype;
    int n_head, n_head_kv, head_dim, block_size, window;
    std::vector<SeqCase> seqs;
};

// One attention problem over a paged 8-bit pool, on both devices.
class CodesProblem {
public:
    CodesProblem(const AttnCase& c, DType codes, std::mt19937_64& rng) : c_(c), codes_(codes) {
        const int64_t n_seqs = int64_t(c.seqs.size()), hd = c.head_dim, Hkv = c.n_head_kv, H = c.n_head;
        int64_t used = 0;
        for (const SeqCase& s : c.seqs) {
            max_blocks_ = std::max<int64_t>(max_blocks_, (s.kv_len + c.block_size - 1) / c.block_size);
            used += (s.kv_len + c.block_size - 1) / c.block_size;
        }
        const int64_t n_blocks = used + 3;
        std::vector<int32_t> perm(static_cast<size_t>(n_blocks));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        Tensor table = Tensor::empty({n_seqs, max_blocks_}, DType::kI32);
        std::fill_n(table.data<int32_t>(), table.numel(), 0);
        int64_t next = 0;
        for (int64_t s = 0; s < n_seqs; ++s)
            for (int64_t b = 0; b * c.block_size < c.seqs[size_t(s)].kv_len; ++b)
                table.data<int32_t>()[s * max_blocks_ + b] = perm[size_t(next++)];

        // Visible keys hold quantized random vectors; the rest random codes (NaN ones for FP8) with
        // NaN scales, which any read would carry into the output.
        cache_ = host_layer(n_blocks * c.block_size, Hkv, hd, codes);
        for (const Tensor* pool : {&cache_.k, &cache_.v}) {
            auto* p = static_cast<uint8_t*>(pool->raw_data());
            for (int64_t i = 0; i < pool->numel(); ++i) p[i] = uint8_t(rng());
        }
        std::fill_n(cache_.k_scale.data<float>(), cache_.k_scale.numel(), kNaN);
        std::fill_n(cache_.v_scale.data<float>(), cache_.v_scale.numel(), kNaN);
        std::vector<int32_t> q_start = {0}, kv_len, q_pos;
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(Hkv * hd));
        for (int64_t s = 0; s < n_seqs; ++s) {
            const SeqCase& sc = c.seqs[size_t(s)];
            const int first_q = sc.kv_len - sc.q_len;
            const int lo = c.window > 0 ? std::max(0, first_q - c.window + 1) : 0;
            for (int p = lo; p < sc.kv_len; ++p) {
                const int64_t block = table.data<int32_t>()[s * max_blocks_ + p / c.block_size];
                const int64_t slot = block * c.block_size + p % c.block_size;
                for (int kv = 0; kv < 2; ++kv) {
                    for (auto& e : x) e = normal(rng) * (kv ? 2.0f : 1.0f);
                    const Tensor& pool = kv ? cache_.v : cache_.k;
                    cpu::quantize_kv_rows(x.data(), hd, Hkv, hd, codes,
                                          static_cast<uint8_t*>(pool.raw_data()) + slot * Hkv * hd, hd,
                                          (kv ? cache_.v_scale : cache_.k_scale).data<float>() + slot * Hkv);
                }
            }
            for (int i = 0; i < sc.q_len; ++i) q_pos.push_back(first_q + i);
            q_start.push_back(q_start.back() + sc.q_len);
            kv_len.push_back(sc.kv_len);
            batch_.max_q_len = std::max<int64_t>(batch_.max_q_len, sc.q_len);
            batch_.max_kv_len = std::max<int64_t>(batch_.max_kv_len, sc.kv_len);
        }
        batch_.q_start = i32_tensor(q_start);
        batch_.kv_len = i32_tensor(kv_len);
        batch_.q_pos = i32_tensor(q_pos);
        batch_.block_table = table;
        batch_.block_size = c.block_size;
        tokens_ = q_start.back();
        Tensor q = Tensor::empty({tokens_, H, hd}, DType::kF32);
        for (int64_t i = 0; i < q.numel(); ++i) q.data<float>()[i] = normal(rng) * 2.0f;
        q16_ = q.to(c.dtype);
        params_.scale = 1.0f / std::sqrt(float(hd));
        params_.window = c.window;

        // The reference: the CPU op on the same codes and the same (16-bit) queries.
        ref_ = Tensor::empty({tokens_, H, hd}, DType::kF32);
        ops::attention(q16_.to(DType::kF32), cache_, batch_, params_, ref_);

        dcache_ = to_device(cache_);
        dbatch_ = batch_;
        for (Tensor* t : {&dbatch_.q_start, &dbatch_.kv_len, &dbatch_.q_pos, &dbatch_.block_table})
            *t = t->to_device(Device::kCuda);
        dq_ = q16_.to_device(Device::kCuda);
    }

    // Runs `path` (kAuto through ops::attention) into an output poisoned with NaN.
    Tensor run(cuda::AttentionPath path) const {
        Tensor out = Tensor::empty({tokens_, c_.n_head, c_.head_dim}, c_.dtype, Device::kCuda);
        ops::fill_constant(out, kNaN);
        if (path == cuda::AttentionPath::kAuto) {
            ops::attention(dq_, dcache_, dbatch_, params_, out);
        } else {
            cuda::AttentionArgs a;
            a.q = dq_.raw_data();
            a.ldq = c_.n_head * c_.head_dim;
            a.kv.k = dcache_.k.raw_data();
            a.kv.v = dcache_.v.raw_data();
            a.kv.k_scale = dcache_.k_scale.data<float>();
            a.kv.v_scale = dcache_.v_scale.data<float>();
            a.kv.code_dtype = codes_;
            a.kv.block_table = dbatch_.block_table.data<int32_t>();
            a.kv.max_blocks = max_blocks_;
            a.kv.block_size = c_.block_size;
            a.batch.n_seqs = dbatch_.n_seqs();
            a.batch.n_tokens = tokens_;
            a.batch.q_start = dbatch_.q_start.data<int32_t>();
            a.batch.kv_len = dbatch_.kv_len.data<int32_t>();
            a.batch.q_pos = dbatch_.q_pos.data<int32_t>();
            a.batch.max_q_len = batch_.max_q_len;
            a.batch.max_kv_len = batch_.max_kv_len;
            a.shape.n_head = c_.n_head;
            a.shape.n_head_kv = c_.n_head_kv;
            a.shape.head_dim = c_.head_dim;
            a.shape.scale = params_.scale;
            a.shape.window = c_.window;
            a.dtype = c_.dtype;
            a.out = out.raw_data();
            a.ldo = a.ldq;
            const size_t ws = cuda::attention_workspace_bytes(a.batch, a.shape);
            Tensor workspace = Tensor::empty({int64_t(std::max<size_t>(ws, 16))}, DType::kU8, Device::kCuda);
            a.workspace = workspace.raw_data();
            a.workspace_bytes = ws;
            cuda::launch_attention_path(path, a, cuda::stream());
            ops::synchronize(Device::kCuda);
        }
        return out.to_device(Device::kCpu).to(DType::kF32);
    }

    // The tolerances of the 16-bit attention test: outputs are rounded to the 16-bit type, and the
    // prefill kernel rounds P (times the V scales with bf16) and, with f16, the dequantized values to
    // it. Keys reach its tensor cores as exact codes, their scales applied to the f32 scores.
    void check(const Tensor& got, const std::string& what) const {
        const float tol = c_.dtype == DType::kBF16 ? 2e-2f : 5e-3f;
        double err2 = 0.0, ref2 = 0.0;
        for (int64_t i = 0; i < got.numel(); ++i) {
            const float g = got.data<float>()[i], r = ref_.data<float>()[i];
            ASSERT_TRUE(std::isfinite(g)) << "non-finite output at " << i << ": " << what;
            ASSERT_LE(std::fabs(g - r), tol + tol * std::fabs(r)) << "element " << i << " got " << g << " want " << r
                                                                 << ": " << what;
            err2 += double(g - r) * (g - r);
            ref2 += double(r) * r;
        }
        EXPECT_LT(std::sqrt(err2 / std::max(ref2, 1e-30)), c_.dtype == DType::kBF16 ? 1e-2 : 2e-3) << what;
    }

    int64_t max_q_len() const { return batch_.max_q_len; }

private:
    AttnCase c_;
    DType codes_;
    ops::KvLayer cache_, dcache_;
    ops::AttentionBatch batch_, dbatch_;
    ops::AttentionParams params_;
    Tensor q16_, dq_, ref_;
    int64_t tokens_ = 0, max_blocks_ = 1;
};

TEST_F(GpuKvQuantDevice, AttentionOverCodesMatchesTheCpu) {
    using P = cuda::AttentionPath;
    // A decode batch whose (sequence, KV head) pairs fill the GPU unsplit: the tensor-core kernel's
    // form without the second tile in flight.
    AttnCase full{DType::kBF16, 32, 8, 128, 16, 0, {}};
    for (int i = 0; i < 130; ++i) full.seqs.push_back({1 + (i * 37) % 200, 1});
    std::vector<AttnCase> cases = {
        {DType::kBF16, 8, 2, 128, 16, 0, {{300, 1}, {17, 1}, {1, 1}, {129, 1}}},    // decode, GQA, split-K
        {DType::kF16, 32, 8, 64, 16, 0, {{1000, 1}, {64, 1}}},                     // decode, long
        {DType::kBF16, 4, 4, 256, 8, 0, {{70, 1}, {33, 1}}},                       // decode, head_dim 256
        {DType::kF16, 12, 4, 80, 16, 0, {{90, 90}, {150, 37}, {3, 1}}},            // mixed prefill, head_dim 80
        {DType::kBF16, 8, 1, 96, 32, 0, {{200, 130}, {64, 64}}},                   // prefill, MQA, head_dim 96
        {DType::kBF16, 16, 4, 128, 16, 50, {{300, 1}, {260, 70}, {40, 40}}},       // sliding window
        {DType::kF16, 8, 8, 256, 4, 33, {{150, 150}}},                              // window, head_dim 256
        {DType::kBF16, 6, 2, 40, 5, 0, {{37, 11}, {9, 1}}},                         // head_dim 40: simple only
        {DType::kBF16, 32, 4, 64, 7, 0, {{500, 1}, {1, 1}, {0, 1}, {77, 1}}},      // decode, group 8, head_dim 64
        {DType::kBF16, 24, 2, 128, 16, 0, {{2000, 1}, {31, 1}}},                   // decode, group 12: two chunks
        {DType::kF16, 8, 8, 128, 16, 100, {{400, 1}, {99, 1}}},                    // decode, MHA, window
    };
    cases.push_back(full);
    for (DType codes : {DType::kI8, DType::kF8E4M3}) {
        for (const AttnCase& c : cases) {
            const std::string what = std::string(code_name(codes)) + " " + dtype_name(c.dtype) + " heads " +
                                     std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " head_dim " +
                                     std::to_string(c.head_dim) + " window " + std::to_string(c.window) + " seed " +
                                     std::to_string(seed_);
            SCOPED_TRACE(what);
            const CodesProblem pb(c, codes, rng_);
            const bool fast = cuda::fast_head_dim(c.head_dim);
            std::vector<P> paths = {P::kAuto, P::kSimple};
            if (fast) paths.push_back(P::kPrefill);
            if (fast && pb.max_q_len() == 1) paths.push_back(P::kDecode);
            // The tensor-core decode kernel covers head_dim 64 and 128.
            if ((c.head_dim == 64 || c.head_dim == 128) && pb.max_q_len() == 1) paths.push_back(P::kDecodeMma);
            for (P path : paths) {
                pb.check(pb.run(path), what + " path " + std::to_string(int(path)));
                if (HasFatalFailure()) return;
            }
        }
    }
}

double max_abs(const Tensor& t) {
    double m = 0.0;
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(double(t.data<float>()[i])));
    return m;
}

// The demo model with an int8 cache on the GPU (bf16 activations) against the CPU with an int8
// cache: the tolerance of the bf16 goldens plus room for codes that round the other way.
TEST_F(GpuKvQuantDevice, DemoModelWithAnInt8CacheGivesTheCpuLogits) {
    const auto dir = test::source_dir() / "models" / "demo";
    std::vector<int32_t> tokens;
    for (int i = 0; i < 80; ++i) tokens.push_back(int32_t((i * 7919 + 13) % 4000 + 50));
    for (KvCacheDtype kv : {KvCacheDtype::kInt8, KvCacheDtype::kFp8}) {
        SCOPED_TRACE(kv_cache_dtype_name(kv));
        ModelOptions mo;
        mo.kv_cache_dtype = kv;
        auto cpu = Model::load(dir, mo);
        mo.device = Device::kCuda;
        auto gpu = Model::load(dir, mo);
        KvCache kc = cpu->new_kv_cache(int64_t(tokens.size())), kg = gpu->new_kv_cache(int64_t(tokens.size()));
        EXPECT_EQ(kg.dtype(), kc.dtype());
        // A prefill in two chunks, then decodes: every kernel that reads or writes the cache.
        const std::span<const int32_t> all(tokens);
        std::vector<Tensor> a, b;
        for (auto [start, n] : {std::pair<size_t, size_t>{0, 50}, {50, 20}, {70, 1}, {71, 1}, {72, 8}}) {
            a.push_back(cpu->forward(all.subspan(start, n), kc, /*all_logits=*/true));
            b.push_back(gpu->forward(all.subspan(start, n), kg, /*all_logits=*/true));
        }
        for (size_t i = 0; i < a.size(); ++i) {
            const double scale = max_abs(a[i]);
            double worst = 0.0;
            for (int64_t e = 0; e < a[i].numel(); ++e)
                worst = std::max(worst, std::fabs(double(a[i].data<float>()[e]) - double(b[i].data<float>()[e])));
            EXPECT_LE(worst, 0.05 * scale) << "chunk " << i << ": worst " << worst << " of " << scale;
        }
    }
}

struct EngineRun {
    std::map<uint64_t, std::vector<TokenEvent>> by_request;
    int64_t graphs = 0;
};

// Greedy requests of several lengths arriving over time: batches of 1 to 10 decodes.
EngineRun run_workload(const Model& model, bool graphs, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> token(0, int32_t(model.config().n_vocab - 1));
    std::vector<CoreRequest> requests;
    for (uint64_t id = 1; id <= 10; ++id) {
        CoreRequest r;
        r.id = id;
        r.prompt.resize(size_t(1 + rng() % 40));
        for (auto& t : r.prompt) t = token(rng);
        r.max_tokens = 6 + int64_t(id % 4) * 4;
        r.sampling.temperature = 0.0f;
        r.ignore_eos = true;
        r.logprobs = 2;
        requests.push_back(std::move(r));
    }
    EngineCoreOptions o;
    o.scheduler.max_batched_tokens = 48;
    o.scheduler.max_running = 10;
    o.scheduler.max_model_len = 128;
    o.scheduler.chunked_prefill = true;
    o.kv.n_blocks = 256;
    o.kv.block_size = 4;
    o.kv.prefix_caching = true;
    o.decode_graphs = graphs;
    EngineCore core(model, o);
    EngineRun r;
    size_t next = 0;
    for (; next < 4; ++next) core.add(requests[next]);
    for (int64_t step = 0; core.has_unfinished() || next < requests.size(); ++step) {
        if (step % 3 == 2 && next < requests.size()) core.add(requests[next++]);
        for (TokenEvent& e : core.step()) r.by_request[e.id].push_back(std::move(e));
    }
    r.graphs = core.decode_graphs_captured();
    return r;
}

TEST_F(GpuKvQuantDevice, DecodeGraphsOverAnInt8CacheMatchEagerSteps) {
    for (const char* name : {"llama-gqa", "mistral-sliding-window", "qwen3-qk-norm"}) {
        SCOPED_TRACE(testing::Message() << name << " seed " << seed_);
        const auto dir = test::fixtures_dir() / "hf-tiny" / name;
        TURBOLM_SKIP_IF_MISSING(dir);
        ModelOptions mo;
        mo.device = Device::kCuda;
        mo.kv_cache_dtype = KvCacheDtype::kInt8;
        auto model = Model::load(dir, mo);
        ASSERT_EQ(model->kv_dtype(), DType::kI8);
        const EngineRun eager = run_workload(*model, false, seed_);
        const EngineRun graphs = run_workload(*model, true, seed_);
        EXPECT_EQ(eager.graphs, 0);
        EXPECT_GE(graphs.graphs, 3);
        ASSERT_EQ(eager.by_request.size(), graphs.by_request.size());
        for (const auto& [id, a] : eager.by_request) {
            const auto& b = graphs.by_request.at(id);
            ASSERT_EQ(a.size(), b.size());
            for (size_t i = 0; i < a.size(); ++i) {
                ASSERT_EQ(a[i].top_logprobs.size(), 2u);
                EXPECT_NEAR(a[i].logprob, b[i].logprob, 2e-2) << "request " << id << " token " << i;
                if (a[i].token != b[i].token) {
                    EXPECT_LT(a[i].top_logprobs[0].second - a[i].top_logprobs[1].second, 4e-2)
                        << "request " << id << " token " << i;
                    break;
                }
            }
        }
    }
}

}  // namespace
}  // namespace turbolm

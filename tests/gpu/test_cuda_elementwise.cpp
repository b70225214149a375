// The elementwise CUDA kernels against the CPU kernels (or a plain reference where there is none) on
// fresh random input. Outputs are poisoned with 0xff bytes (NaN in every float type) before each launch,
// so an element the kernel forgot to write shows up as non-finite, and memory it must not touch (row
// padding, cache slots < 0) is checked to still hold the poison. The seed is printed on any failure.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_device.h"
#include "gpu/cuda_kernel_test.h"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm {
namespace {

using cpu::Activation;

constexpr DType kFloatTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
constexpr DType k16BitTypes[] = {DType::kBF16, DType::kF16};
constexpr Activation kActivations[] = {Activation::kSilu, Activation::kGeluErf, Activation::kGeluTanh,
                                       Activation::kRelu};

const char* act_name(Activation a) {
    switch (a) {
        case Activation::kSilu:
            return "silu";
        case Activation::kGeluErf:
            return "gelu_erf";
        case Activation::kGeluTanh:
            return "gelu_tanh";
        case Activation::kRelu:
            return "relu";
    }
    return "?";
}

// ---- host values in a device dtype -------------------------------------------------------------

float round_to(float v, DType dt) {
    switch (dt) {
        case DType::kBF16:
            return bf16_to_f32(f32_to_bf16(v));
        case DType::kF16:
            return f16_to_f32(f32_to_f16(v));
        default:
            return v;
    }
}

// One unit in the last place of a 16-bit value near v (0 for f32): the most a correctly computed result
// may differ from the exact one after its single rounding, with margin for a binade crossing.
float ulp16(float v, DType dt) {
    if (dt == DType::kF32) return 0.0f;
    const int mant_bits = dt == DType::kBF16 ? 7 : 10;
    const float min_ulp = dt == DType::kBF16 ? std::ldexp(1.0f, -133) : std::ldexp(1.0f, -24);
    if (v == 0.0f || !std::isfinite(v)) return min_ulp;
    int e;
    std::frexp(std::fabs(v), &e);  // |v| = m * 2^e, m in [0.5, 1)
    return std::max(std::ldexp(1.0f, e - 1 - mant_bits), min_ulp);
}

// Tolerance of a result whose f32 computation may differ from the reference by a few f32 roundings
// (relative to `scale`, the magnitude of the terms that produced it) and is then rounded to dt.
float tolerance(float ref, DType dt, float scale) {
    return ulp16(ref, dt) + 1e-5f * (std::fabs(ref) + scale);
}

// A host array of n elements stored exactly as the device stores them.
struct HostArray {
    DType dtype;
    size_t n;
    std::vector<uint8_t> bytes;

    HostArray(DType dt, size_t count, uint8_t fill = 0) : dtype(dt), n(count), bytes(count * dtype_size(dt), fill) {}
    size_t esize() const { return dtype_size(dtype); }
    float get(size_t i) const {
        if (dtype == DType::kF32) {
            float f;
            std::memcpy(&f, &bytes[i * 4], 4);
            return f;
        }
        uint16_t h;
        std::memcpy(&h, &bytes[i * 2], 2);
        return dtype == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
    // Stores v rounded to the dtype (to nearest even, as the device does).
    void set(size_t i, float v) {
        if (dtype == DType::kF32) {
            std::memcpy(&bytes[i * 4], &v, 4);
            return;
        }
        const uint16_t h = dtype == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
        std::memcpy(&bytes[i * 2], &h, 2);
    }
    bool poisoned(size_t i) const {
        for (size_t k = 0; k < esize(); ++k)
            if (bytes[i * esize() + k] != 0xff) return false;
        return true;
    }
    bool same_bits(size_t i, const HostArray& other, size_t j) const {
        return std::memcmp(&bytes[i * esize()], &other.bytes[j * other.esize()], esize()) == 0;
    }
};

// ---- device memory -----------------------------------------------------------------------------

class DeviceBuffer {
  public:
    explicit DeviceBuffer(size_t bytes) : bytes_(bytes) { TURBOLM_CUDA_CHECK(cudaMalloc(&ptr_, bytes ? bytes : 1)); }
    explicit DeviceBuffer(const HostArray& a) : DeviceBuffer(a.bytes.size()) { upload(a.bytes.data(), a.bytes.size()); }
    template <typename T>
    explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size() * sizeof(T)) {
        upload(v.data(), v.size() * sizeof(T));
    }
    ~DeviceBuffer() { cudaFree(ptr_); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    template <typename T = void>
    T* as() const {
        return static_cast<T*>(ptr_);
    }
    // Pointer `elements` elements of `dt` into the buffer (to make unaligned starts).
    void* at(size_t elements, DType dt) const { return static_cast<uint8_t*>(ptr_) + elements * dtype_size(dt); }
    void upload(const void* src, size_t bytes) {
        TURBOLM_CUDA_CHECK(cudaMemcpy(ptr_, src, bytes, cudaMemcpyHostToDevice));
    }
    void poison() { TURBOLM_CUDA_CHECK(cudaMemset(ptr_, 0xff, bytes_)); }
    HostArray download(DType dt) const {
        HostArray a(dt, bytes_ / dtype_size(dt));
        TURBOLM_CUDA_CHECK(cudaMemcpy(a.bytes.data(), ptr_, a.bytes.size(), cudaMemcpyDeviceToHost));
        return a;
    }

  private:
    void* ptr_ = nullptr;
    size_t bytes_;
};

// Collects mismatches and reports the first few with their position.
struct Mismatches {
    int64_t count = 0;
    std::string first;
    void add(const std::string& what) {
        if (count++ < 5) first += what + "\n";
    }
};

std::string describe(const char* what, size_t i, float got, float ref) {
    std::ostringstream s;
    s.precision(9);
    s << what << " at " << i << ": got " << got << ", want " << ref;
    return s.str();
}

// Checks an element that must be finite and within tol of ref.
void check_value(Mismatches& m, const char* what, size_t i, float got, float ref, float tol) {
    if (!std::isfinite(got) || !(std::fabs(got - ref) <= tol)) m.add(describe(what, i, got, ref));
}

class CudaElementwise : public test::CudaKernelTest {};

// ---- embedding -----------------------------------------------------------------------------------

TEST_F(CudaElementwise, EmbeddingMatchesCpu) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t tokens, vocab, cols, ldo;
    };
    // Aligned rows (vector path), odd widths and strides whose rows alternate in alignment (scalar path).
    for (const Case c : {Case{1, 10, 64, 64}, Case{7, 50, 4096, 4096}, Case{5, 33, 131, 140}, Case{6, 20, 256, 258}}) {
        for (DType dt : kFloatTypes) {
            for (bool accumulate : {false, true}) {
                SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " tokens " << c.tokens << " cols " << c.cols
                                                  << " ldo " << c.ldo << " accumulate " << accumulate);
                HostArray table(dt, size_t(c.vocab * c.cols));
                for (size_t i = 0; i < table.n; ++i) table.set(i, normal(0.0f, 2.0f));
                std::vector<int32_t> ids(size_t(c.tokens));
                for (auto& id : ids) id = int32_t(uniform_int(0, c.vocab - 1));
                ids[0] = int32_t(c.vocab - 1);  // the last row
                std::vector<float> prev(size_t(c.tokens * c.ldo));
                for (auto& v : prev) v = normal();

                DeviceBuffer d_ids(ids), d_table(table), d_out(prev.size() * 4);
                if (accumulate)
                    d_out.upload(prev.data(), prev.size() * 4);
                else
                    d_out.poison();
                cuda::launch_embedding(d_ids.as<int32_t>(), c.tokens, d_table.as(), dt, c.cols, d_out.as<float>(),
                                       c.ldo, accumulate, stream_);
                sync();
                const HostArray got = d_out.download(DType::kF32);

                std::vector<float> ref(size_t(c.tokens * c.ldo));
                cpu::embedding(ids.data(), c.tokens, table.bytes.data(), dt, c.cols, ref.data(), c.ldo);
                Mismatches m;
                for (int64_t t = 0; t < c.tokens; ++t) {
                    for (int64_t i = 0; i < c.ldo; ++i) {
                        const size_t k = size_t(t * c.ldo + i);
                        if (i >= c.cols) {  // padding: untouched
                            const bool kept = accumulate ? got.get(k) == prev[k] : got.poisoned(k);
                            if (!kept) m.add(describe("padding written", k, got.get(k), prev[k]));
                            continue;
                        }
                        const float want = accumulate ? prev[k] + ref[k] : ref[k];  // one f32 add: exact
                        check_value(m, "out", k, got.get(k), want, 0.0f);
                    }
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

// ---- norms -----------------------------------------------------------------------------------

struct NormCase {
    int64_t rows, cols, ldx, ldy;
};
// Vector path (cols % 8 == 0, aligned rows), padded strides, odd widths, strides whose rows alternate in
// alignment.
constexpr NormCase kNormCases[] = {{1, 64, 64, 64},    {7, 2048, 2048, 2048}, {33, 4096, 4100, 4104},
                                   {5, 131, 140, 133}, {3, 1000, 1003, 1001}, {4, 768, 770, 772}};

// Runs rms_norm (layer == false) or layer_norm (with or without bias) once and compares it with the CPU.
// null_w: the GPU gets no weight (scale 1), the CPU a weight of ones.
void check_norm(std::mt19937_64& rng, bool layer, bool with_bias, bool null_w, const NormCase& c, DType dt,
                cudaStream_t stream) {
    SCOPED_TRACE(::testing::Message() << (layer ? "layer_norm" : "rms_norm") << " " << dtype_name(dt) << " rows "
                                      << c.rows << " cols " << c.cols << " ldx " << c.ldx << " ldy " << c.ldy
                                      << " bias " << with_bias << " null w " << null_w);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const float eps = 1e-5f;
    // Layer norm gets a large mean so that a one-pass variance would visibly lose precision.
    const float offset = layer ? 5.0f : 0.0f;
    std::vector<float> x(size_t(c.rows * c.ldx)), w(size_t(c.cols)), b(size_t(c.cols));
    for (auto& v : x) v = offset + 2.0f * normal(rng);
    for (auto& v : w) v = null_w ? 1.0f : 1.0f + 0.1f * normal(rng);
    for (auto& v : b) v = 0.5f * normal(rng);

    std::vector<float> ref(size_t(c.rows * c.cols));
    if (layer)
        cpu::layer_norm(x.data(), c.ldx, w.data(), with_bias ? b.data() : nullptr, eps, ref.data(), c.cols, c.rows,
                        c.cols);
    else
        cpu::rms_norm(x.data(), c.ldx, w.data(), eps, ref.data(), c.cols, c.rows, c.cols);

    DeviceBuffer d_x(x), d_w(w), d_b(b), d_y(size_t(c.rows * c.ldy) * dtype_size(dt));
    d_y.poison();
    const float* gpu_w = null_w ? nullptr : d_w.as<float>();
    if (layer)
        cuda::launch_layer_norm(d_x.as<float>(), c.ldx, gpu_w, with_bias ? d_b.as<float>() : nullptr, eps, d_y.as(), dt,
                                c.ldy, c.rows, c.cols, stream);
    else
        cuda::launch_rms_norm(d_x.as<float>(), c.ldx, gpu_w, eps, d_y.as(), dt, c.ldy, c.rows, c.cols, stream);
    TURBOLM_CUDA_CHECK(cudaStreamSynchronize(stream));
    const HostArray got = d_y.download(dt);

    Mismatches m;
    for (int64_t r = 0; r < c.rows; ++r) {
        for (int64_t i = 0; i < c.ldy; ++i) {
            const size_t k = size_t(r * c.ldy + i);
            if (i >= c.cols) {
                if (!got.poisoned(k)) m.add(describe("padding written", k, got.get(k), 0.0f));
                continue;
            }
            const float want = ref[size_t(r * c.cols + i)];
            check_value(m, "y", k, got.get(k), want, tolerance(want, dt, 1.0f));
        }
    }
    EXPECT_EQ(m.count, 0) << m.first;
}

TEST_F(CudaElementwise, RmsNormMatchesCpu) {
    SCOPED_TRACE(seed_text());
    for (const NormCase& c : kNormCases)
        for (DType dt : kFloatTypes)
            for (bool null_w : {false, true}) check_norm(rng_, false, false, null_w, c, dt, stream_);
}

TEST_F(CudaElementwise, LayerNormMatchesCpu) {
    SCOPED_TRACE(seed_text());
    for (const NormCase& c : kNormCases)
        for (DType dt : kFloatTypes)
            for (bool with_bias : {false, true})
                for (bool null_w : {false, true}) check_norm(rng_, true, with_bias, null_w, c, dt, stream_);
}

// ---- qkv split + norm + rope -----------------------------------------------------------------------

struct QkvCase {
    int64_t tokens, n_head, n_head_kv, head_dim, rot_dim, ld_pad;
    bool bias, q_norm, k_norm;
    float rope_scale;
};

TEST_F(CudaElementwise, QkvRopeMatchesCpu) {
    SCOPED_TRACE(seed_text());
    const QkvCase cases[] = {
        {5, 8, 2, 128, 128, 0, false, true, true, 1.0f},     // Qwen3: GQA, q/k norm, full rotation
        {4, 6, 6, 64, 64, 0, true, false, false, 1.0f},      // Qwen2-style bias, MHA
        {3, 4, 1, 128, 64, 0, false, false, false, 1.0f},    // partial rotary
        {6, 4, 2, 80, 32, 3, true, true, true, 1.25f},       // odd ldqkv: scalar path; yarn-style scale
        {2, 3, 1, 96, 0, 0, true, false, false, 1.0f},       // no rotation (learned positions)
        {3, 5, 1, 36, 20, 0, false, true, false, 1.0f},      // head_dim not a multiple of 8, q norm only
        {1, 32, 8, 128, 128, 8, false, false, false, 1.0f},  // one decode token, padded ldqkv (aligned)
        {2, 2, 1, 256, 128, 0, true, true, true, 1.0f},      // wide heads, partial rotary
        {2, 14, 4, 64, 64, 0, true, true, true, 1.0f},       // a block's run of heads starts inside the k heads
        {2, 2, 1, 2048, 2048, 0, true, true, true, 1.0f},    // the widest head: one head per block
    };
    for (const QkvCase& c : cases) {
        for (DType dt : k16BitTypes) {
            SCOPED_TRACE(::testing::Message()
                         << dtype_name(dt) << " tokens " << c.tokens << " heads " << c.n_head << "/" << c.n_head_kv
                         << " head_dim " << c.head_dim << " rot_dim " << c.rot_dim << " ld_pad " << c.ld_pad << " bias "
                         << c.bias << " q_norm " << c.q_norm << " k_norm " << c.k_norm << " scale " << c.rope_scale);
            const int64_t T = c.tokens, hd = c.head_dim;
            const int64_t n_total = c.n_head + 2 * c.n_head_kv;
            const int64_t width = n_total * hd;  // of the fused row
            const int64_t ld = width + c.ld_pad;
            const int64_t n_slots = T + 3;

            HostArray qkv(dt, size_t(T * ld));
            for (size_t i = 0; i < qkv.n; ++i) qkv.set(i, normal(0.0f, 2.0f));
            std::vector<float> bias(static_cast<size_t>(width)), q_norm(static_cast<size_t>(hd)),
                k_norm(static_cast<size_t>(hd));
            for (auto& v : bias) v = normal(0.0f, 0.5f);
            for (auto& v : q_norm) v = 1.0f + 0.2f * normal();
            for (auto& v : k_norm) v = 1.0f + 0.2f * normal();
            std::vector<int32_t> pos(static_cast<size_t>(T));
            for (auto& p : pos) p = int32_t(uniform_int(0, 100000));
            pos[0] = 100000;
            if (T > 2) pos[size_t(T - 1)] = 0;
            std::vector<float> inv_freq(size_t(std::max<int64_t>(c.rot_dim / 2, 1)));
            for (int64_t i = 0; i < c.rot_dim / 2; ++i)
                inv_freq[size_t(i)] = float(1.0 / std::pow(1e6, double(2 * i) / double(c.rot_dim)));
            // Distinct slots in a larger pool, in shuffled order; token 1 (when there is one) writes nothing.
            std::vector<int64_t> slots(static_cast<size_t>(n_slots));
            std::iota(slots.begin(), slots.end(), 0);
            std::shuffle(slots.begin(), slots.end(), rng_);
            slots.resize(static_cast<size_t>(T));
            if (T >= 2) slots[1] = -1;

            DeviceBuffer d_qkv(qkv), d_bias(bias), d_qn(q_norm), d_kn(k_norm), d_pos(pos), d_inv(inv_freq),
                d_slots(slots);
            DeviceBuffer d_q(size_t(T * c.n_head * hd) * 2), d_k(size_t(n_slots * c.n_head_kv * hd) * 2),
                d_v(size_t(n_slots * c.n_head_kv * hd) * 2);
            d_q.poison();
            d_k.poison();
            d_v.poison();
            cuda::QkvRopeParams p;
            p.n_tokens = T;
            p.n_head = c.n_head;
            p.n_head_kv = c.n_head_kv;
            p.head_dim = hd;
            p.rot_dim = c.rot_dim;
            p.pos = d_pos.as<int32_t>();
            p.inv_freq = d_inv.as<float>();
            p.rope_scale = c.rope_scale;
            p.bias = c.bias ? d_bias.as<float>() : nullptr;
            p.q_norm = c.q_norm ? d_qn.as<float>() : nullptr;
            p.k_norm = c.k_norm ? d_kn.as<float>() : nullptr;
            p.norm_eps = 1e-6f;
            p.slots = d_slots.as<int64_t>();
            cuda::launch_qkv_rope(d_qkv.as(), ld, p, dt, d_q.as(), d_k.as(), d_v.as(), stream_);
            sync();
            const HostArray got_q = d_q.download(dt), got_k = d_k.download(dt), got_v = d_v.download(dt);

            // Reference in f32 with the CPU kernels: widen + bias, per-head RMSNorm, rotate-half RoPE.
            std::vector<float> x(size_t(T * width));  // [T, n_total * head_dim]
            for (int64_t t = 0; t < T; ++t)
                for (int64_t j = 0; j < width; ++j)
                    x[size_t(t * width + j)] = qkv.get(size_t(t * ld + j)) + (c.bias ? bias[size_t(j)] : 0.0f);
            for (int64_t t = 0; t < T; ++t) {
                float* q = &x[size_t(t * width)];
                float* k = q + c.n_head * hd;
                if (c.q_norm) cpu::rms_norm(q, hd, q_norm.data(), p.norm_eps, q, hd, c.n_head, hd);
                if (c.k_norm) cpu::rms_norm(k, hd, k_norm.data(), p.norm_eps, k, hd, c.n_head_kv, hd);
            }
            if (c.rot_dim > 0) {
                cpu::rope_neox(x.data(), width, T, c.n_head, hd, c.rot_dim, pos.data(), inv_freq.data(), c.rope_scale);
                cpu::rope_neox(x.data() + c.n_head * hd, width, T, c.n_head_kv, hd, c.rot_dim, pos.data(),
                               inv_freq.data(), c.rope_scale);
            }
            // Compares head h of token t (h in the fused order) with `got` at element offset `at`.
            Mismatches m;
            auto check_head = [&](const char* what, const HostArray& got, int64_t at, int64_t t, int64_t h) {
                const float* want = &x[size_t(t * width + h * hd)];
                float scale = 0.0f;  // the head's magnitude: the rotation's sums cancel relative to it
                for (int64_t i = 0; i < hd; ++i) scale = std::max(scale, std::fabs(want[i]));
                for (int64_t i = 0; i < hd; ++i) {
                    const size_t k = size_t(at + i);
                    check_value(m, what, k, got.get(k), want[i], tolerance(want[i], dt, scale));
                }
            };
            for (int64_t t = 0; t < T; ++t)
                for (int64_t h = 0; h < c.n_head; ++h) check_head("q", got_q, (t * c.n_head + h) * hd, t, h);
            for (int64_t s = 0; s < n_slots; ++s) {
                const auto it = std::find(slots.begin(), slots.end(), s);
                for (int64_t kh = 0; kh < c.n_head_kv; ++kh) {
                    const int64_t at = (s * c.n_head_kv + kh) * hd;
                    if (it == slots.end()) {  // no token writes this slot: the poison must remain
                        for (size_t k = size_t(at); k < size_t(at + hd); ++k) {
                            if (!got_k.poisoned(k)) m.add(describe("unused k slot written", k, got_k.get(k), 0.0f));
                            if (!got_v.poisoned(k)) m.add(describe("unused v slot written", k, got_v.get(k), 0.0f));
                        }
                        continue;
                    }
                    const int64_t t = it - slots.begin();
                    check_head("k", got_k, at, t, c.n_head + kh);
                    check_head("v", got_v, at, t, c.n_head + c.n_head_kv + kh);
                }
            }
            EXPECT_EQ(m.count, 0) << m.first;
        }
    }
}

// ---- activations ---------------------------------------------------------------------------------

// The f32 error of act(g) * u, beyond the final rounding: gelu's 1 + erf(.) / 1 + tanh(.) cancel for
// negative g, so libm differences of one f32 ulp of erf/tanh show up absolutely, scaled by |g * u|.
float act_tolerance(float ref, DType dt, float g, float u) {
    return ulp16(ref, dt) + 2e-6f * (1.0f + std::fabs(g)) * (1.0f + std::fabs(u));
}

TEST_F(CudaElementwise, ActMulMatchesCpu) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t rows, cols, ldg, ldu, ldo;
        bool alias;  // out is gate (ldo == ldg)
    };
    const Case cases[] = {
        {4, 2048, 2048, 2048, 2048, false},  // vector path
        {3, 1000, 1003, 1001, 1005, false},  // rows alternate in alignment: scalar path
        {5, 131, 131, 140, 136, false},      // odd width
        {70000, 8, 8, 16, 8, false},         // more rows than grid.y holds: the row loop
        {6, 512, 520, 512, 520, true},       // in place into gate
    };
    for (const Case& c : cases) {
        for (DType dt : k16BitTypes) {
            for (Activation act : kActivations) {
                SCOPED_TRACE(::testing::Message()
                             << act_name(act) << " " << dtype_name(dt) << " rows " << c.rows << " cols " << c.cols
                             << " ld " << c.ldg << "/" << c.ldu << "/" << c.ldo << " alias " << c.alias);
                HostArray gate(dt, size_t(c.rows * c.ldg)), up(dt, size_t(c.rows * c.ldu));
                for (size_t i = 0; i < gate.n; ++i) gate.set(i, normal(0.0f, 3.0f));
                for (size_t i = 0; i < up.n; ++i) up.set(i, normal());
                DeviceBuffer d_gate(gate), d_up(up), d_out(size_t(c.rows * c.ldo) * 2);
                d_out.poison();
                void* out = c.alias ? d_gate.as() : d_out.as();
                cuda::launch_act_mul(act, d_gate.as(), c.ldg, d_up.as(), c.ldu, out, c.ldo, c.rows, c.cols, dt,
                                     stream_);
                sync();
                const HostArray got = c.alias ? d_gate.download(dt) : d_out.download(dt);

                // The CPU kernel on the widened inputs.
                std::vector<float> g(size_t(c.rows * c.cols)), u(g.size()), ref(g.size());
                for (int64_t r = 0; r < c.rows; ++r)
                    for (int64_t i = 0; i < c.cols; ++i) {
                        g[size_t(r * c.cols + i)] = gate.get(size_t(r * c.ldg + i));
                        u[size_t(r * c.cols + i)] = up.get(size_t(r * c.ldu + i));
                    }
                cpu::act_mul(act, g.data(), c.cols, u.data(), c.cols, ref.data(), c.cols, c.rows, c.cols);

                Mismatches m;
                for (int64_t r = 0; r < c.rows; ++r) {
                    for (int64_t i = 0; i < c.ldo; ++i) {
                        const size_t k = size_t(r * c.ldo + i);
                        if (i >= c.cols) {  // padding: poison, or gate's own values when in place
                            const bool kept = c.alias ? got.same_bits(k, gate, k) : got.poisoned(k);
                            if (!kept) m.add(describe("padding written", k, got.get(k), 0.0f));
                            continue;
                        }
                        const size_t j = size_t(r * c.cols + i);
                        check_value(m, "out", k, got.get(k), ref[j], act_tolerance(ref[j], dt, g[j], u[j]));
                    }
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

TEST_F(CudaElementwise, ActInplaceMatchesCpu) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t rows, cols, ldx;
    };
    for (const Case c : {Case{3, 4096, 4096}, Case{5, 131, 135}, Case{2, 1000, 1003}, Case{70000, 16, 24}}) {
        for (DType dt : k16BitTypes) {
            for (Activation act : kActivations) {
                SCOPED_TRACE(::testing::Message() << act_name(act) << " " << dtype_name(dt) << " rows " << c.rows
                                                  << " cols " << c.cols << " ldx " << c.ldx);
                HostArray x(dt, size_t(c.rows * c.ldx));
                for (size_t i = 0; i < x.n; ++i) x.set(i, normal(0.0f, 3.0f));
                DeviceBuffer d_x(x);
                cuda::launch_act_inplace(act, d_x.as(), c.ldx, c.rows, c.cols, dt, stream_);
                sync();
                const HostArray got = d_x.download(dt);

                std::vector<float> v(size_t(c.rows * c.cols));
                for (int64_t r = 0; r < c.rows; ++r)
                    for (int64_t i = 0; i < c.cols; ++i) v[size_t(r * c.cols + i)] = x.get(size_t(r * c.ldx + i));
                const std::vector<float> in = v;
                cpu::act_inplace(act, v.data(), c.cols, c.rows, c.cols);

                Mismatches m;
                for (int64_t r = 0; r < c.rows; ++r) {
                    for (int64_t i = 0; i < c.ldx; ++i) {
                        const size_t k = size_t(r * c.ldx + i);
                        if (i >= c.cols) {  // padding: unchanged
                            if (!got.same_bits(k, x, k)) m.add(describe("padding written", k, got.get(k), x.get(k)));
                            continue;
                        }
                        const size_t j = size_t(r * c.cols + i);
                        check_value(m, "x", k, got.get(k), v[j], act_tolerance(v[j], dt, in[j], 1.0f));
                    }
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

// ---- bias, add, convert ------------------------------------------------------------------------------

TEST_F(CudaElementwise, AddBiasMatchesReference) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t rows, cols, ldy;
    };
    for (const Case c :
         {Case{1, 64, 64}, Case{9, 1024, 1032}, Case{5, 131, 140}, Case{4, 1000, 1003}, Case{70000, 8, 8}}) {
        for (DType dt : kFloatTypes) {
            SCOPED_TRACE(::testing::Message()
                         << dtype_name(dt) << " rows " << c.rows << " cols " << c.cols << " ldy " << c.ldy);
            HostArray y(dt, size_t(c.rows * c.ldy));
            for (size_t i = 0; i < y.n; ++i) y.set(i, normal(0.0f, 2.0f));
            std::vector<float> b(size_t(c.cols));
            for (auto& v : b) v = normal();
            DeviceBuffer d_y(y), d_b(b);
            cuda::launch_add_bias(d_y.as(), dt, c.ldy, d_b.as<float>(), c.rows, c.cols, stream_);
            sync();
            const HostArray got = d_y.download(dt);
            Mismatches m;
            for (int64_t r = 0; r < c.rows; ++r) {
                for (int64_t i = 0; i < c.ldy; ++i) {
                    const size_t k = size_t(r * c.ldy + i);
                    if (i >= c.cols) {
                        if (!got.same_bits(k, y, k)) m.add(describe("padding written", k, got.get(k), y.get(k)));
                        continue;
                    }
                    // One f32 add, then one rounding to the dtype: exact.
                    check_value(m, "y", k, got.get(k), round_to(y.get(k) + b[size_t(i)], dt), 0.0f);
                }
            }
            EXPECT_EQ(m.count, 0) << m.first;
        }
    }
}

TEST_F(CudaElementwise, AddMatchesCpu) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t n, off_a, off_b, off_y;
        bool alias;  // y is a
    };
    for (const Case c :
         {Case{1, 0, 0, 0, false}, Case{7, 0, 0, 0, false}, Case{8, 0, 0, 0, false}, Case{100003, 0, 0, 0, false},
          Case{1000, 1, 0, 0, false}, Case{1000, 0, 3, 2, false}, Case{4099, 0, 0, 0, true}}) {
        SCOPED_TRACE(::testing::Message() << "n " << c.n << " offsets " << c.off_a << "/" << c.off_b << "/" << c.off_y
                                          << " alias " << c.alias);
        const size_t len = size_t(c.n + 8);  // room for the offsets
        std::vector<float> a(len), b(len);
        for (auto& v : a) v = normal();
        for (auto& v : b) v = normal();
        DeviceBuffer d_a(a), d_b(b), d_y(len * 4);
        d_y.poison();
        const float* pa = static_cast<const float*>(d_a.at(size_t(c.off_a), DType::kF32));
        const float* pb = static_cast<const float*>(d_b.at(size_t(c.off_b), DType::kF32));
        float* py = c.alias ? d_a.as<float>() + c.off_a : static_cast<float*>(d_y.at(size_t(c.off_y), DType::kF32));
        cuda::launch_add(pa, pb, py, c.n, stream_);
        sync();
        const HostArray got = c.alias ? d_a.download(DType::kF32) : d_y.download(DType::kF32);
        std::vector<float> ref(size_t(c.n));
        cpu::add(a.data() + c.off_a, b.data() + c.off_b, ref.data(), c.n);
        const int64_t off = c.alias ? c.off_a : c.off_y;
        Mismatches m;
        for (size_t k = 0; k < len; ++k) {
            const int64_t i = int64_t(k) - off;
            if (i < 0 || i >= c.n) {  // outside the range: untouched
                const bool kept = c.alias ? got.get(k) == a[k] : got.poisoned(k);
                if (!kept) m.add(describe("outside written", k, got.get(k), 0.0f));
                continue;
            }
            check_value(m, "y", k, got.get(k), ref[size_t(i)], 0.0f);
        }
        EXPECT_EQ(m.count, 0) << m.first;
    }
}

TEST_F(CudaElementwise, ConvertRoundsToNearestEven) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t n, off_src, off_dst;
    };
    for (const Case c : {Case{1, 0, 0}, Case{7, 0, 0}, Case{8, 0, 0}, Case{(1 << 16) + 3, 0, 0}, Case{1000, 1, 0},
                         Case{1000, 0, 1}, Case{1001, 3, 5}}) {
        for (DType src_dt : kFloatTypes) {
            for (DType dst_dt : kFloatTypes) {
                SCOPED_TRACE(::testing::Message() << dtype_name(src_dt) << " -> " << dtype_name(dst_dt) << " n " << c.n
                                                  << " offsets " << c.off_src << "/" << c.off_dst);
                const size_t len = size_t(c.n + 8);
                HostArray src(src_dt, len);
                for (size_t i = 0; i < len; ++i) {
                    // Ordinary values, values below f16's normal range (subnormal rounding), within f16's range.
                    const float v = i % 5 == 4 ? normal(0.0f, 1e-6f) : normal(0.0f, 100.0f);
                    src.set(i, std::clamp(v, -60000.0f, 60000.0f));
                }
                DeviceBuffer d_src(src), d_dst(len * dtype_size(dst_dt));
                d_dst.poison();
                cuda::launch_convert(d_src.at(size_t(c.off_src), src_dt), src_dt, d_dst.at(size_t(c.off_dst), dst_dt),
                                     dst_dt, c.n, stream_);
                sync();
                const HostArray got = d_dst.download(dst_dt);
                HostArray want(dst_dt, len);
                Mismatches m;
                for (size_t k = 0; k < len; ++k) {
                    const int64_t i = int64_t(k) - c.off_dst;
                    if (i < 0 || i >= c.n) {
                        if (!got.poisoned(k)) m.add(describe("outside written", k, got.get(k), 0.0f));
                        continue;
                    }
                    want.set(k, src.get(size_t(i + c.off_src)));  // the host's round-to-nearest-even
                    if (!got.same_bits(k, want, k)) m.add(describe("dst", k, got.get(k), want.get(k)));
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

// ---- fills -----------------------------------------------------------------------------------

TEST_F(CudaElementwise, FillUniformIsUniformAndDeterministic) {
    SCOPED_TRACE(seed_text());
    const int64_t n = (1 << 20) + 5;  // not a multiple of 8: a partial last chunk
    struct Range {
        float lo, hi;
    };
    for (const Range range : {Range{-1.0f, 1.0f}, Range{0.5f, 2.0f}, Range{-0.02f, 0.03f}}) {
        for (DType dt : kFloatTypes) {
            SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " [" << range.lo << ", " << range.hi << ")");
            const uint64_t fill_seed = rng_();
            DeviceBuffer d_a(size_t(n) * dtype_size(dt)), d_b(size_t(n) * dtype_size(dt)),
                d_c(size_t(n) * dtype_size(dt)), d_u(size_t(n) * dtype_size(dt));
            d_u.poison();
            cuda::launch_fill_uniform(d_a.as(), dt, n, range.lo, range.hi, fill_seed, stream_);
            cuda::launch_fill_uniform(d_b.as(), dt, n, range.lo, range.hi, fill_seed, stream_);
            cuda::launch_fill_uniform(d_c.as(), dt, n, range.lo, range.hi, fill_seed + 1, stream_);
            // Starting one element in (unaligned: scalar path): element i of the fill is element i of d_a.
            cuda::launch_fill_uniform(d_u.at(1, dt), dt, n - 1, range.lo, range.hi, fill_seed, stream_);
            sync();
            const HostArray a = d_a.download(dt), b = d_b.download(dt), cc = d_c.download(dt), u = d_u.download(dt);

            // Rounding is monotonic, so lo <= v < hi in f32 becomes round(lo) <= v <= round(hi).
            const float lo = round_to(range.lo, dt), hi = round_to(range.hi, dt);
            constexpr int kBins = 16;
            std::vector<int64_t> bins(kBins, 0);
            double sum = 0.0, sum_sq = 0.0;
            int64_t out_of_range = 0, differ = 0, same_as_other_seed = 0, unaligned_differ = 0;
            for (int64_t i = 0; i < n; ++i) {
                const float v = a.get(size_t(i));
                const bool in_range = dt == DType::kF32 ? (v >= lo && v < hi) : (v >= lo && v <= hi);
                if (!std::isfinite(v) || !in_range) ++out_of_range;
                sum += v;
                sum_sq += double(v) * v;
                const int bin = int((double(v) - range.lo) / (double(range.hi) - range.lo) * kBins);
                ++bins[size_t(std::clamp(bin, 0, kBins - 1))];
                if (!a.same_bits(size_t(i), b, size_t(i))) ++differ;
                if (a.same_bits(size_t(i), cc, size_t(i))) ++same_as_other_seed;
                if (i + 1 < n && !u.same_bits(size_t(i + 1), a, size_t(i))) ++unaligned_differ;
            }
            EXPECT_TRUE(u.poisoned(0)) << "wrote before dst";
            EXPECT_EQ(out_of_range, 0);
            EXPECT_EQ(differ, 0) << "same seed, different values";
            EXPECT_EQ(unaligned_differ, 0) << "values depend on the alignment of dst";
            EXPECT_LT(same_as_other_seed, n / 20) << "seed and seed + 1 give nearly the same values";

            const double width = double(range.hi) - range.lo;
            const double mean = sum / double(n), var = sum_sq / double(n) - mean * mean;
            // 6 standard errors of the mean, plus a little for the 16-bit rounding of the values.
            const double mean_tol = 6.0 * width / std::sqrt(12.0 * double(n)) + 2e-3 * width;
            EXPECT_NEAR(mean, 0.5 * (double(range.lo) + range.hi), mean_tol);
            EXPECT_NEAR(var, width * width / 12.0, 0.02 * width * width / 12.0);
            // Each bin gets 1/16 of the values (16-bit rounding moves the bin edges by up to ~3%).
            for (int k = 0; k < kBins; ++k)
                EXPECT_NEAR(double(bins[size_t(k)]), double(n) / kBins, 0.08 * double(n) / kBins) << "bin " << k;
        }
    }
}

TEST_F(CudaElementwise, FillConstant) {
    SCOPED_TRACE(seed_text());
    for (const int64_t n : {int64_t(1), int64_t(13), int64_t(100003)}) {
        for (const int64_t off : {int64_t(0), int64_t(1)}) {
            for (DType dt : kFloatTypes) {
                SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " n " << n << " offset " << off);
                const float value = normal();
                const size_t len = size_t(n + 8);
                DeviceBuffer d(len * dtype_size(dt));
                d.poison();
                cuda::launch_fill_constant(d.at(size_t(off), dt), dt, n, value, stream_);
                sync();
                const HostArray got = d.download(dt);
                HostArray want(dt, 1);
                want.set(0, value);
                Mismatches m;
                for (size_t k = 0; k < len; ++k) {
                    const int64_t i = int64_t(k) - off;
                    if (i < 0 || i >= n) {
                        if (!got.poisoned(k)) m.add(describe("outside written", k, got.get(k), 0.0f));
                    } else if (!got.same_bits(k, want, 0)) {
                        m.add(describe("dst", k, got.get(k), want.get(0)));
                    }
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

// ---- argument checks (no GPU needed: they fail before any CUDA call) ------------------------------

template <typename Fn>
void expect_invalid_argument(const char* op, Fn&& fn) {
    try {
        fn();
        ADD_FAILURE() << op << " accepted a bad argument";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::kInvalidArgument) << e.what();
        EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
    }
}

TEST(CudaElementwiseArgs, BadDtypesAndShapesAreRejected) {
    expect_invalid_argument("launch_embedding", [] {
        cuda::launch_embedding(nullptr, 1, nullptr, DType::kI32, 8, nullptr, 8, false, nullptr);
    });
    expect_invalid_argument("launch_rms_norm", [] {
        cuda::launch_rms_norm(nullptr, 8, nullptr, 1e-5f, nullptr, DType::kF64, 8, 1, 8, nullptr);
    });
    expect_invalid_argument("launch_layer_norm", [] {
        cuda::launch_layer_norm(nullptr, 8, nullptr, nullptr, 1e-5f, nullptr, DType::kI8, 8, 1, 8, nullptr);
    });
    expect_invalid_argument("launch_act_mul", [] {
        cuda::launch_act_mul(Activation::kSilu, nullptr, 8, nullptr, 8, nullptr, 8, 1, 8, DType::kF32, nullptr);
    });
    expect_invalid_argument("launch_act_inplace", [] {
        cuda::launch_act_inplace(Activation::kRelu, nullptr, 8, 1, 8, DType::kF32, nullptr);
    });
    expect_invalid_argument("launch_add_bias",
                            [] { cuda::launch_add_bias(nullptr, DType::kI32, 8, nullptr, 1, 8, nullptr); });
    expect_invalid_argument("launch_convert",
                            [] { cuda::launch_convert(nullptr, DType::kF8E4M3, nullptr, DType::kF32, 8, nullptr); });
    expect_invalid_argument("launch_fill_uniform",
                            [] { cuda::launch_fill_uniform(nullptr, DType::kI64, 8, 0.0f, 1.0f, 1, nullptr); });
    expect_invalid_argument("launch_fill_uniform", [] {
        cuda::launch_fill_uniform(nullptr, DType::kF32, 8, 1.0f, 0.0f, 1, nullptr);  // lo > hi
    });
    expect_invalid_argument("launch_fill_constant",
                            [] { cuda::launch_fill_constant(nullptr, DType::kU8, 8, 0.0f, nullptr); });
    cuda::QkvRopeParams p;
    p.n_tokens = 1;
    p.n_head = 2;
    p.n_head_kv = 1;
    p.head_dim = 64;
    expect_invalid_argument("launch_qkv_rope", [&] {
        cuda::launch_qkv_rope(nullptr, 256, p, DType::kF32, nullptr, nullptr, nullptr, nullptr);
    });
    p.rot_dim = 63;  // odd
    expect_invalid_argument("launch_qkv_rope", [&] {
        cuda::launch_qkv_rope(nullptr, 256, p, DType::kBF16, nullptr, nullptr, nullptr, nullptr);
    });
    p.rot_dim = 0;
    expect_invalid_argument("launch_qkv_rope", [&] {  // ldqkv shorter than the fused row
        cuda::launch_qkv_rope(nullptr, 255, p, DType::kBF16, nullptr, nullptr, nullptr, nullptr);
    });
}

TEST(CudaElementwiseArgs, EmptyLaunchesDoNothing) {
    // Nothing is enqueued, so null pointers and no GPU are fine.
    cuda::launch_embedding(nullptr, 0, nullptr, DType::kBF16, 8, nullptr, 8, true, nullptr);
    cuda::launch_rms_norm(nullptr, 8, nullptr, 1e-5f, nullptr, DType::kF32, 8, 0, 8, nullptr);
    cuda::launch_layer_norm(nullptr, 8, nullptr, nullptr, 1e-5f, nullptr, DType::kBF16, 8, 0, 8, nullptr);
    cuda::launch_act_mul(Activation::kGeluTanh, nullptr, 8, nullptr, 8, nullptr, 8, 0, 8, DType::kF16, nullptr);
    cuda::launch_act_inplace(Activation::kSilu, nullptr, 8, 0, 8, DType::kBF16, nullptr);
    cuda::launch_add_bias(nullptr, DType::kF16, 8, nullptr, 0, 8, nullptr);
    cuda::launch_convert(nullptr, DType::kF32, nullptr, DType::kBF16, 0, nullptr);
    cuda::launch_fill_uniform(nullptr, DType::kBF16, 0, -1.0f, 1.0f, 7, nullptr);
    cuda::launch_fill_constant(nullptr, DType::kF32, 0, 1.0f, nullptr);
    cuda::launch_add(nullptr, nullptr, nullptr, 0, nullptr);
    cuda::QkvRopeParams p;
    p.head_dim = 64;
    p.n_head = 2;
    cuda::launch_qkv_rope(nullptr, 128, p, DType::kBF16, nullptr, nullptr, nullptr, nullptr);
}

}  // namespace
}  // namespace turbolm

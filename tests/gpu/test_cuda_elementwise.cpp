// The elementwise CUDA kernels against the CPU kernels (or a plain reference where there is none) on
// fresh random input. Outputs are poisoned with 0xff bytes (NaN in every float type) before each launch,
// so an element the kernel forgot to write shows up as non-finite, and memory it must not touch (row
// padding, cache slots < 0) is checked to still hold the poison. The seed is printed on any failure.
#include "gpu/elementwise_test_util.h"

namespace turbolm {
namespace {

using namespace elementwise_test;


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
                cuda::launch_embedding(d_ids.as<int32_t>(), c.tokens, d_table.as(), dt, 0, c.vocab, c.cols,
                                       d_out.as<float>(), c.ldo, accumulate, stream_);
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
        // Steps of 256+ tokens: long runs (a whole Llama-3-8B token per block; three widest heads).
        {300, 32, 8, 128, 128, 0, false, false, false, 1.0f},
        {256, 2, 1, 2048, 2048, 0, true, true, true, 1.0f},
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

}  // namespace
}  // namespace turbolm

// The mixture-of-experts CUDA kernels against CPU references on fresh random input: routing against
// cpu::softmax_rows + cpu::top_k_rows, the grouping against a counting sort, the expert products against double
// sums of the same 16-bit inputs, the combine against the same ordered f32 sums, and a whole tiny layer run from a
// CUDA graph. Outputs are poisoned with 0xff bytes (NaN in every float type, -1 in i32) before each launch, so an
// element the kernel forgot to write shows up, and memory it must not touch is checked to still hold the poison.
// The seed is printed on any failure.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
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
#include "ops/cuda/moe/moe_kernels.h"

namespace turbolm {
namespace {

constexpr DType k16BitTypes[] = {DType::kBF16, DType::kF16};

// ---- host values in a device dtype -------------------------------------------------------------

uint16_t to_bits16(float v, DType dt) {
    return dt == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
}
float from_bits16(uint16_t h, DType dt) {
    return dt == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

// One unit in the last place of a 16-bit value near v: covers the result's single rounding to the dtype, with
// margin for a binade crossing.
float ulp16(float v, DType dt) {
    const int mant_bits = dt == DType::kBF16 ? 7 : 10;
    const float min_ulp = dt == DType::kBF16 ? std::ldexp(1.0f, -133) : std::ldexp(1.0f, -24);
    if (v == 0.0f || !std::isfinite(v)) return min_ulp;
    int e;
    std::frexp(std::fabs(v), &e);  // |v| = m * 2^e, m in [0.5, 1)
    return std::max(std::ldexp(1.0f, e - 1 - mant_bits), min_ulp);
}

// How far an f32 dot product of K terms, summed as moe_gemv does (each lane K / 32 terms in a chain, then five
// rounds of shuffles), may be from the exact one: twice the textbook bound n * 2^-24 * sum |terms|. The products
// of two 16-bit values are exact in f32, so only the additions round.
double dot_tolerance(int64_t K, double abs_sum) {
    return double(K / 32 + 8) * std::ldexp(1.0, -23) * abs_sum;
}

// ---- device memory -----------------------------------------------------------------------------

class DeviceBuffer {
  public:
    explicit DeviceBuffer(size_t bytes) : bytes_(bytes) { TURBOLM_CUDA_CHECK(cudaMalloc(&ptr_, bytes ? bytes : 1)); }
    template <typename T>
    explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size() * sizeof(T)) {
        upload(v);
    }
    ~DeviceBuffer() { cudaFree(ptr_); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    template <typename T = void>
    T* as() const {
        return static_cast<T*>(ptr_);
    }
    template <typename T>
    void upload(const std::vector<T>& v) {
        if (v.empty()) return;
        TURBOLM_CUDA_CHECK(cudaMemcpy(ptr_, v.data(), std::min(bytes_, v.size() * sizeof(T)), cudaMemcpyHostToDevice));
        settle();
    }
    void poison() {
        TURBOLM_CUDA_CHECK(cudaMemset(ptr_, 0xff, bytes_));
        settle();
    }
    template <typename T>
    std::vector<T> download() const {
        std::vector<T> v(bytes_ / sizeof(T));
        TURBOLM_CUDA_CHECK(cudaMemcpy(v.data(), ptr_, v.size() * sizeof(T), cudaMemcpyDeviceToHost));
        return v;
    }

  private:
    // cudaMemset and a copy from pageable memory may still be running on the legacy stream when they return, and
    // the test's stream does not wait for that stream: wait here, so a kernel never races with its setup.
    static void settle() { TURBOLM_CUDA_CHECK(cudaDeviceSynchronize()); }

    void* ptr_ = nullptr;
    size_t bytes_;
};

bool poisoned(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return bits == 0xffffffffu;
}

// Collects mismatches and reports the first few.
struct Mismatches {
    int64_t count = 0;
    std::string first;
    template <typename... Args>
    void add(Args&&... args) {
        if (count++ < 8) first += str_cat(std::forward<Args>(args)...) + "\n";
    }
};

class CudaMoe : public test::CudaKernelTest {};

// ---- routing -------------------------------------------------------------------------------------

// Checks a routing from the GPU (ids, weights: [T, k]) against the CPU's for the same logits [T, E].
// Where the CPU's j-th expert is within 1e-6 in probability of its neighbour in the CPU order (and their logits
// differ, so f32 rounding may order them either way) the GPU may take either: its expert must then be as probable
// as the CPU's j-th. Equal logits tie exactly on both sides, and then the lower expert must come first.
void check_route(const std::vector<float>& logits, int64_t T, int64_t E, int64_t k, bool renormalize,
                 const std::vector<int32_t>& ids, const std::vector<float>& weights, Mismatches& m) {
    std::vector<float> probs = logits;
    cpu::softmax_rows(probs.data(), T, E);
    std::vector<int32_t> all_ids(size_t(T * E)), ref_ids(size_t(T * k));
    std::vector<float> all_probs(size_t(T * E)), ref_weights(size_t(T * k));
    cpu::top_k_rows(probs.data(), T, E, E, false, all_ids.data(), all_probs.data());  // every expert, in order
    cpu::top_k_rows(probs.data(), T, E, k, renormalize, ref_ids.data(), ref_weights.data());
    for (int64_t t = 0; t < T; ++t) {
        const float* logit = &logits[size_t(t * E)];
        const float* prob = &probs[size_t(t * E)];
        const int32_t* order = &all_ids[size_t(t * E)];
        const float* sorted = &all_probs[size_t(t * E)];
        auto near_tie = [&](int64_t a, int64_t b) {
            return b >= 0 && b < E && std::fabs(sorted[a] - sorted[b]) <= 1e-6f && logit[order[a]] != logit[order[b]];
        };
        std::vector<bool> taken(size_t(E), false);
        for (int64_t j = 0; j < k; ++j) {
            const size_t i = size_t(t * k + j);
            const int32_t id = ids[i];
            if (id < 0 || id >= E) {
                m.add("token ", t, " slot ", j, ": id ", id, " out of range");
                continue;
            }
            if (taken[size_t(id)]) m.add("token ", t, " slot ", j, ": expert ", id, " chosen twice");
            taken[size_t(id)] = true;
            if (!std::isfinite(weights[i]) || !(std::fabs(weights[i] - ref_weights[i]) <= 1e-6f))
                m.add("token ", t, " slot ", j, ": weight ", weights[i], ", want ", ref_weights[i]);
            if (near_tie(j, j - 1) || near_tie(j, j + 1)) {
                if (!(std::fabs(prob[id] - sorted[j]) <= 2e-6f))
                    m.add("token ", t, " slot ", j, ": expert ", id, " (p ", prob[id], ") where p ", sorted[j],
                          " is due");
            } else if (id != ref_ids[i]) {
                m.add("token ", t, " slot ", j, ": expert ", id, ", want ", ref_ids[i]);
            }
        }
    }
}

TEST_F(CudaMoe, RouteMatchesCpu) {
    SCOPED_TRACE(seed_text());
    enum class Logits { kNormal, kIntegers, kMasked };  // random; small integers (exact ties); some -inf
    struct Case {
        int64_t T, E, k;
        bool renormalize;
        Logits logits;
    };
    // Mixtral's shape, wider layers, E not a multiple of 32, all 256 experts, k == E, and ties.
    const Case cases[] = {{1, 8, 2, true, Logits::kNormal},     {300, 8, 2, true, Logits::kNormal},
                          {1, 64, 6, false, Logits::kNormal},   {300, 64, 6, true, Logits::kNormal},
                          {300, 64, 6, false, Logits::kNormal}, {37, 33, 4, true, Logits::kNormal},
                          {19, 256, 8, true, Logits::kNormal},  {5, 3, 3, true, Logits::kNormal},
                          {200, 8, 2, true, Logits::kIntegers}, {50, 64, 6, false, Logits::kIntegers},
                          {100, 16, 4, true, Logits::kMasked}};
    for (const Case& c : cases) {
        SCOPED_TRACE(::testing::Message() << "T " << c.T << " E " << c.E << " k " << c.k << " renormalize "
                                          << c.renormalize << " logits " << int(c.logits));
        std::vector<float> logits(size_t(c.T * c.E));
        for (auto& v : logits) v = c.logits == Logits::kIntegers ? float(uniform_int(-2, 2)) : normal(0.0f, 2.0f);
        if (c.logits == Logits::kMasked) {
            // Mask a random number of experts of each row, keeping at least one.
            for (int64_t t = 0; t < c.T; ++t) {
                const int64_t masked = uniform_int(0, c.E - 1);
                for (int64_t n = 0; n < masked; ++n) logits[size_t(t * c.E + uniform_int(0, c.E - 1))] = -INFINITY;
                if (std::all_of(&logits[size_t(t * c.E)], &logits[size_t((t + 1) * c.E)],
                                [](float v) { return std::isinf(v); }))
                    logits[size_t(t * c.E)] = 0.5f;
            }
        }
        DeviceBuffer d_logits(logits), d_ids(size_t(c.T * c.k) * 4), d_weights(size_t(c.T * c.k) * 4);
        d_ids.poison();
        d_weights.poison();
        cuda::launch_moe_route(d_logits.as<float>(), c.T, c.E, c.k, c.renormalize, d_ids.as<int32_t>(),
                               d_weights.as<float>(), stream_);
        sync();
        Mismatches m;
        check_route(logits, c.T, c.E, c.k, c.renormalize, d_ids.download<int32_t>(), d_weights.download<float>(), m);
        EXPECT_EQ(m.count, 0) << m.first;
    }
}

// ---- grouping by expert -------------------------------------------------------------------------

// The stable counting sort launch_moe_sort must reproduce. ids outside [0, E) are left out.
void counting_sort(const std::vector<int32_t>& ids, int64_t E, std::vector<int32_t>& order,
                   std::vector<int32_t>& offsets) {
    offsets.assign(size_t(E + 1), 0);
    for (int32_t e : ids)
        if (e >= 0 && e < E) ++offsets[size_t(e + 1)];
    for (int64_t e = 0; e < E; ++e) offsets[size_t(e + 1)] += offsets[size_t(e)];
    order.clear();
    for (int64_t e = 0; e < E; ++e)
        for (size_t p = 0; p < ids.size(); ++p)
            if (ids[p] == e) order.push_back(int32_t(p));
}

// Pair experts for a test: `counts[e]` pairs of expert e and `left_out` pairs of expert -1, shuffled.
std::vector<int32_t> shuffled_ids(const std::vector<int64_t>& counts, int64_t left_out, std::mt19937_64& rng) {
    std::vector<int32_t> ids;
    for (size_t e = 0; e < counts.size(); ++e) ids.insert(ids.end(), size_t(counts[e]), int32_t(e));
    ids.insert(ids.end(), size_t(left_out), -1);
    std::shuffle(ids.begin(), ids.end(), rng);
    return ids;
}

// P pairs over E experts, skewed towards the low experts (the high ones are mostly empty).
std::vector<int64_t> skewed_counts(int64_t P, int64_t E, std::mt19937_64& rng) {
    std::vector<int64_t> counts(size_t(E), 0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int64_t p = 0; p < P; ++p) {
        const double r = u(rng);
        ++counts[size_t(std::min<int64_t>(E - 1, int64_t(double(E) * r * r * r)))];
    }
    return counts;
}

TEST_F(CudaMoe, SortMatchesCountingSort) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t P, E, left_out;  // left_out of the P pairs get an id outside [0, E)
    };
    const Case cases[] = {{0, 8, 0},    {1, 8, 0},     {2, 8, 0},      {7, 3, 0},    {64, 8, 0},
                          {300, 64, 0}, {1000, 8, 10}, {4096, 256, 0}, {4096, 8, 0}, {100, 64, 100}};
    for (const Case& c : cases) {
        SCOPED_TRACE(::testing::Message() << "P " << c.P << " E " << c.E << " left out " << c.left_out);
        std::vector<int32_t> ids = shuffled_ids(skewed_counts(c.P - c.left_out, c.E, rng_), c.left_out, rng_);
        for (auto& id : ids)
            if (id < 0) id = uniform_int(0, 1) ? -1 : int32_t(c.E + uniform_int(0, 5));  // below and above
        std::vector<int32_t> ref_order, ref_offsets;
        counting_sort(ids, c.E, ref_order, ref_offsets);

        DeviceBuffer d_ids(ids), d_order(size_t(c.P) * 4), d_offsets(size_t(c.E + 1) * 4);
        d_order.poison();
        d_offsets.poison();
        cuda::launch_moe_sort(d_ids.as<int32_t>(), c.P, c.E, d_order.as<int32_t>(), d_offsets.as<int32_t>(), stream_);
        sync();
        EXPECT_EQ(d_offsets.download<int32_t>(), ref_offsets);
        std::vector<int32_t> order = d_order.download<int32_t>();
        order.resize(size_t(c.P));
        std::vector<int32_t> want = ref_order;
        want.resize(size_t(c.P), -1);  // the places of left-out pairs stay poisoned
        EXPECT_EQ(order, want);
    }
}

// ---- expert products ----------------------------------------------------------------------------

struct GemvCase {
    int64_t T, k, E;
    std::vector<int64_t> counts;  // pairs per expert, summing to T * k - left_out; empty: random and skewed
    int64_t left_out;             // pairs routed to no expert (id -1): their rows of y must stay untouched
    int64_t N, K;
    int64_t ldx_pad, ldw_pad, stride_pad, ldy_pad;  // extra elements beyond the row (or expert) length
    int64_t extra_pairs;                            // max_pairs - P
};

// Runs moe_gemv for every 16-bit type, output type and form (up: x_rows_per_pair_div = k; down: 1) of one case,
// with order/offsets from the CPU's counting sort, and compares every written element with a double sum of the
// same rounded inputs. Everything it must not write (left-out pairs, rows past P, columns past N) must keep the
// poison.
void check_gemv(const GemvCase& c, std::mt19937_64& rng, cudaStream_t stream) {
    const int64_t P = c.T * c.k, max_pairs = P + c.extra_pairs;
    const int64_t ldx = c.K + c.ldx_pad, ldw = c.K + c.ldw_pad, ldy = c.N + c.ldy_pad;
    const int64_t stride = c.N * ldw + c.stride_pad;
    std::vector<int64_t> counts = c.counts.empty() ? skewed_counts(P - c.left_out, c.E, rng) : c.counts;
    ASSERT_EQ(std::accumulate(counts.begin(), counts.end(), int64_t(0)) + c.left_out, P);
    const std::vector<int32_t> ids = shuffled_ids(counts, c.left_out, rng);
    std::vector<int32_t> order, offsets;
    counting_sort(ids, c.E, order, offsets);
    order.resize(size_t(P), -1);
    DeviceBuffer d_ids(ids), d_order(order), d_offsets(offsets);

    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> w_values(size_t(c.E * stride)), x_values(size_t(P * ldx));
    const float w_scale = 1.0f / std::sqrt(float(c.K));  // outputs of about unit size
    for (auto& v : w_values) v = normal(rng) * w_scale;
    for (auto& v : x_values) v = normal(rng);

    for (DType dt : k16BitTypes) {
        std::vector<uint16_t> w_bits(w_values.size()), x_bits(x_values.size());
        std::vector<float> w(w_values.size()), x(x_values.size());  // the rounded values, for the reference
        for (size_t i = 0; i < w.size(); ++i) w[i] = from_bits16(w_bits[i] = to_bits16(w_values[i], dt), dt);
        for (size_t i = 0; i < x.size(); ++i) x[i] = from_bits16(x_bits[i] = to_bits16(x_values[i], dt), dt);
        DeviceBuffer d_w(w_bits), d_x(x_bits);
        for (DType out : {DType::kF32, dt}) {
            for (bool up : {true, false}) {
                SCOPED_TRACE(::testing::Message()
                             << dtype_name(dt) << " -> " << dtype_name(out) << (up ? " up" : " down") << " P " << P
                             << " max_pairs " << max_pairs << " E " << c.E << " N " << c.N << " K " << c.K);
                const int64_t div = up ? c.k : 1;
                DeviceBuffer d_y(size_t(max_pairs * ldy) * dtype_size(out));
                d_y.poison();
                cuda::launch_moe_gemv(d_x.as(), ldx, div, d_w.as(), stride, ldw, dt, d_order.as<int32_t>(),
                                      d_offsets.as<int32_t>(), d_ids.as<int32_t>(), P, c.E, max_pairs, d_y.as(), ldy,
                                      out, c.N, c.K, stream);
                TURBOLM_CUDA_CHECK(cudaStreamSynchronize(stream));
                std::vector<float> y(size_t(max_pairs * ldy));
                if (out == DType::kF32) {
                    y = d_y.download<float>();
                } else {
                    const std::vector<uint16_t> bits = d_y.download<uint16_t>();
                    for (size_t i = 0; i < y.size(); ++i)
                        y[i] = bits[i] == 0xffffu ? std::bit_cast<float>(0xffffffffu) : from_bits16(bits[i], dt);
                }
                Mismatches m;
                for (int64_t p = 0; p < max_pairs; ++p) {
                    const int32_t e = p < P ? ids[size_t(p)] : -1;
                    for (int64_t n = 0; n < ldy; ++n) {
                        const float got = y[size_t(p * ldy + n)];
                        if (e < 0 || n >= c.N) {
                            if (!poisoned(got)) m.add("pair ", p, " column ", n, ": written (", got, ")");
                            continue;
                        }
                        const float* xr = &x[size_t((p / div) * ldx)];
                        const float* wr = &w[size_t(e * stride + n * ldw)];
                        double ref = 0.0, abs_sum = 0.0;
                        for (int64_t i = 0; i < c.K; ++i) {
                            ref += double(xr[i]) * double(wr[i]);
                            abs_sum += std::fabs(double(xr[i]) * double(wr[i]));
                        }
                        double tol = dot_tolerance(c.K, abs_sum);
                        if (out != DType::kF32) tol += ulp16(float(ref), dt);
                        if (!std::isfinite(got) || !(std::fabs(double(got) - ref) <= tol))
                            m.add("pair ", p, " (expert ", e, ") column ", n, ": got ", got, ", want ", ref);
                    }
                }
                EXPECT_EQ(m.count, 0) << m.first;
            }
        }
    }
}

TEST_F(CudaMoe, GemvMatchesCpu) {
    SCOPED_TRACE(seed_text());
    const GemvCase cases[] = {
        // One pair; K shorter than one warp span (most lanes idle).
        {1, 1, 8, {}, 0, 72, 64, 0, 0, 0, 0, 0},
        // Mixtral decode at batch 1; N not a multiple of 8; K a multiple of 1024 (full unrolled steps only).
        {1, 2, 8, {}, 0, 100, 4096, 0, 0, 0, 0, 0},
        // A few tokens; K with both unrolled steps and a tail; padded strides; max_pairs well above P.
        {3, 2, 8, {}, 0, 37, 1344, 8, 16, 24, 3, 34},
        // One expert with 13 pairs (groups of 4, 4, 4, 1), one with 3, the rest empty.
        {8, 2, 8, {13, 0, 0, 3, 0, 0, 0, 0}, 0, 50, 1000, 0, 8, 0, 1, 0},
        // 64 pairs: one expert with 30 (more groups than slices, so blocks take several), empty experts.
        {32, 2, 8, {30, 13, 0, 9, 7, 5, 0, 0}, 0, 24, 512, 8, 0, 8, 5, 0},
        // A wide layer (64 experts, k = 6): mostly empty experts; pairs routed to no expert.
        {10, 6, 64, {}, 5, 40, 520, 0, 8, 0, 2, 4},
        // Every count from 1 to 4 in one launch (sizes 1, 2, 3, 4, 5, 6, 7, 8 over 8 experts: 36 pairs).
        {18, 2, 8, {1, 2, 3, 4, 5, 6, 7, 8}, 0, 16, 256, 0, 0, 0, 0, 0},
    };
    for (const GemvCase& c : cases) check_gemv(c, rng_, stream_);
}

// ---- combine ------------------------------------------------------------------------------------

// residual[t, :] + sum_j weights[t, j] * y[t*k + j, :], summed as the kernel does (one fma per term, j ascending).
float combine_ref(const std::vector<float>& y, int64_t ldy, const std::vector<float>& weights, int64_t t, int64_t k,
                  int64_t col, float residual) {
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum = std::fma(weights[size_t(t * k + j)], y[size_t((t * k + j) * ldy + col)], sum);
    return residual + sum;
}

TEST_F(CudaMoe, CombineMatchesCpu) {
    SCOPED_TRACE(seed_text());
    struct Case {
        int64_t T, k, D, ldy, ldr;
    };
    // Decode shapes, padded strides, odd widths, and more tokens than grid.y holds (the stride loop).
    const Case cases[] = {{1, 2, 4096, 4096, 4096}, {300, 6, 200, 203, 210}, {7, 1, 33, 40, 33}, {70000, 1, 8, 8, 8}};
    for (const Case& c : cases) {
        SCOPED_TRACE(::testing::Message()
                     << "T " << c.T << " k " << c.k << " D " << c.D << " ldy " << c.ldy << " ldr " << c.ldr);
        std::vector<float> y(size_t(c.T * c.k * c.ldy)), weights(size_t(c.T * c.k)), residual(size_t(c.T * c.ldr));
        for (auto& v : y) v = normal();
        for (auto& v : weights) v = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng_);
        for (auto& v : residual) v = normal(0.0f, 4.0f);
        DeviceBuffer d_y(y), d_weights(weights), d_residual(residual);
        cuda::launch_moe_combine(d_y.as<float>(), c.ldy, d_weights.as<float>(), c.T, c.k, c.D, d_residual.as<float>(),
                                 c.ldr, stream_);
        sync();
        const std::vector<float> got = d_residual.download<float>();
        Mismatches m;
        for (int64_t t = 0; t < c.T; ++t) {
            for (int64_t col = 0; col < c.ldr; ++col) {
                const size_t i = size_t(t * c.ldr + col);
                if (col >= c.D) {  // padding: untouched
                    if (got[i] != residual[i]) m.add("token ", t, " padding column ", col, " written");
                    continue;
                }
                const float want = combine_ref(y, c.ldy, weights, t, c.k, col, residual[i]);
                if (!std::isfinite(got[i]) || !(std::fabs(got[i] - want) <= 1e-6f * (std::fabs(want) + 1.0f)))
                    m.add("token ", t, " column ", col, ": got ", got[i], ", want ", want);
            }
        }
        EXPECT_EQ(m.count, 0) << m.first;
    }
}

// ---- a whole layer in a CUDA graph --------------------------------------------------------------

// A tiny layer with the identity as activation: route -> sort -> up (x -> h, 16-bit) -> down (h -> f32) -> combine,
// captured once in a CUDA graph and replayed with two different batches, the second routing every token to the
// same two experts. The graph's shape does not depend on the routing, so one capture serves both. Each stage is
// compared with the CPU on the GPU's own input to it (downloaded), so that rounding differences do not compound.
TEST_F(CudaMoe, LayerInCudaGraph) {
    SCOPED_TRACE(seed_text());
    constexpr int64_t T = 5, E = 8, k = 2, D = 256, F = 136, P = T * k;
    constexpr DType dt = DType::kBF16;
    std::vector<uint16_t> w1(size_t(E * F * D)), w2(size_t(E * D * F));  // up [E, F, D], down [E, D, F]
    for (auto& v : w1) v = to_bits16(normal(0.0f, 1.0f / std::sqrt(float(D))), dt);
    for (auto& v : w2) v = to_bits16(normal(0.0f, 1.0f / std::sqrt(float(F))), dt);
    DeviceBuffer d_w1(w1), d_w2(w2);
    DeviceBuffer d_logits(size_t(T * E) * 4), d_x(size_t(T * D) * 2), d_residual(size_t(T * D) * 4);
    DeviceBuffer d_ids(size_t(P) * 4), d_weights(size_t(P) * 4), d_order(size_t(P) * 4), d_offsets(size_t(E + 1) * 4);
    DeviceBuffer d_h(size_t(P * F) * 2), d_down(size_t(P * D) * 4);

    // While recording, launchers must not wait for the device (TURBOLM_CUDA_SYNC=1 would); the guard clears the
    // flag however the capture ends.
    struct CaptureFlag {
        CaptureFlag() { cuda::g_capturing = true; }
        ~CaptureFlag() { cuda::g_capturing = false; }
    };
    cudaGraph_t graph = nullptr;
    std::optional<CaptureFlag> capturing(std::in_place);
    TURBOLM_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    cuda::launch_moe_route(d_logits.as<float>(), T, E, k, true, d_ids.as<int32_t>(), d_weights.as<float>(), stream_);
    cuda::launch_moe_sort(d_ids.as<int32_t>(), P, E, d_order.as<int32_t>(), d_offsets.as<int32_t>(), stream_);
    cuda::launch_moe_gemv(d_x.as(), D, k, d_w1.as(), F * D, D, dt, d_order.as<int32_t>(), d_offsets.as<int32_t>(),
                          d_ids.as<int32_t>(), P, E, P, d_h.as(), F, dt, F, D, stream_);
    cuda::launch_moe_gemv(d_h.as(), F, 1, d_w2.as(), D * F, F, dt, d_order.as<int32_t>(), d_offsets.as<int32_t>(),
                          d_ids.as<int32_t>(), P, E, P, d_down.as(), D, DType::kF32, D, F, stream_);
    cuda::launch_moe_combine(d_down.as<float>(), D, d_weights.as<float>(), T, k, D, d_residual.as<float>(), D, stream_);
    TURBOLM_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    capturing.reset();
    cudaGraphExec_t exec = nullptr;
    TURBOLM_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(::testing::Message() << "round " << round);
        std::vector<float> logits(size_t(T * E)), residual(size_t(T * D));
        std::vector<uint16_t> x(size_t(T * D));
        for (auto& v : logits) v = normal();
        if (round == 1)
            for (int64_t t = 0; t < T; ++t) logits[size_t(t * E + 3)] += 30.0f, logits[size_t(t * E + 6)] += 22.0f;
        for (auto& v : x) v = to_bits16(normal(), dt);
        for (auto& v : residual) v = normal();
        d_logits.upload(logits);
        d_x.upload(x);
        d_residual.upload(residual);
        d_ids.poison();
        d_weights.poison();
        d_order.poison();
        d_offsets.poison();
        d_h.poison();
        d_down.poison();
        TURBOLM_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
        sync();

        const auto ids = d_ids.download<int32_t>();
        const auto weights = d_weights.download<float>();
        const auto order = d_order.download<int32_t>();
        const auto offsets = d_offsets.download<int32_t>();
        const auto h = d_h.download<uint16_t>();
        const auto down = d_down.download<float>();
        const auto got = d_residual.download<float>();

        Mismatches m;
        check_route(logits, T, E, k, true, ids, weights, m);
        if (round == 1)
            for (int64_t t = 0; t < T; ++t)
                if (ids[size_t(t * k)] != 3 || ids[size_t(t * k + 1)] != 6) m.add("token ", t, ": not routed to 3, 6");
        std::vector<int32_t> ref_order, ref_offsets;
        counting_sort(ids, E, ref_order, ref_offsets);
        if (order != ref_order || offsets != ref_offsets) m.add("order/offsets differ from the counting sort");
        for (int64_t p = 0; p < P; ++p) {
            const int64_t e = std::clamp<int64_t>(ids[size_t(p)], 0, E - 1), t = p / k;
            for (int64_t f = 0; f < F; ++f) {  // h[p, f] = x[t, :] . w1[e, f, :]
                double ref = 0.0, abs_sum = 0.0;
                for (int64_t d = 0; d < D; ++d) {
                    const double term = double(from_bits16(x[size_t(t * D + d)], dt)) *
                                        from_bits16(w1[size_t((e * F + f) * D + d)], dt);
                    ref += term, abs_sum += std::fabs(term);
                }
                const float g = from_bits16(h[size_t(p * F + f)], dt);
                if (!std::isfinite(g) || !(std::fabs(g - ref) <= dot_tolerance(D, abs_sum) + ulp16(float(ref), dt)))
                    m.add("h pair ", p, " column ", f, ": got ", g, ", want ", ref);
            }
            for (int64_t d = 0; d < D; ++d) {  // down[p, d] = h[p, :] . w2[e, d, :]
                double ref = 0.0, abs_sum = 0.0;
                for (int64_t f = 0; f < F; ++f) {
                    const double term = double(from_bits16(h[size_t(p * F + f)], dt)) *
                                        from_bits16(w2[size_t((e * D + d) * F + f)], dt);
                    ref += term, abs_sum += std::fabs(term);
                }
                const float g = down[size_t(p * D + d)];
                if (!std::isfinite(g) || !(std::fabs(g - ref) <= dot_tolerance(F, abs_sum)))
                    m.add("down pair ", p, " column ", d, ": got ", g, ", want ", ref);
            }
        }
        for (int64_t t = 0; t < T; ++t) {
            for (int64_t d = 0; d < D; ++d) {
                const size_t i = size_t(t * D + d);
                const float want = combine_ref(down, D, weights, t, k, d, residual[i]);
                if (!std::isfinite(got[i]) || !(std::fabs(got[i] - want) <= 1e-6f * (std::fabs(want) + 1.0f)))
                    m.add("residual token ", t, " column ", d, ": got ", got[i], ", want ", want);
            }
        }
        EXPECT_EQ(m.count, 0) << m.first;
    }
    TURBOLM_CUDA_CHECK(cudaGraphExecDestroy(exec));
    TURBOLM_CUDA_CHECK(cudaGraphDestroy(graph));
}

// ---- argument checks (no device needed: they fail before any launch) -----------------------------

template <typename Fn>
void expect_invalid(Fn&& fn, const char* what) {
    try {
        fn();
        ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::kInvalidArgument) << what << ": " << e.what();
    }
}

TEST(CudaMoeArguments, BadArgumentsFail) {
    alignas(16) static uint16_t buf[64];
    int32_t* i32 = reinterpret_cast<int32_t*>(buf);
    float* f32 = reinterpret_cast<float*>(buf);
    const cudaStream_t s = nullptr;
    expect_invalid([&] { cuda::launch_moe_route(f32, 1, 0, 1, true, i32, f32, s); }, "route E = 0");
    expect_invalid([&] { cuda::launch_moe_route(f32, 1, 257, 2, true, i32, f32, s); }, "route E = 257");
    expect_invalid([&] { cuda::launch_moe_route(f32, 1, 8, 9, true, i32, f32, s); }, "route k > E");
    expect_invalid([&] { cuda::launch_moe_route(f32, 1, 8, 0, true, i32, f32, s); }, "route k = 0");
    expect_invalid([&] { cuda::launch_moe_sort(i32, -1, 8, i32, i32, s); }, "sort P < 0");
    expect_invalid([&] { cuda::launch_moe_sort(i32, 4, 300, i32, i32, s); }, "sort E = 300");
    auto gemv = [&](const void* x, int64_t ldx, int64_t div, int64_t stride, int64_t ldw, DType dt, int64_t P,
                    int64_t max_pairs, DType out, int64_t K) {
        cuda::launch_moe_gemv(x, ldx, div, buf, stride, ldw, dt, i32, i32, i32, P, 8, max_pairs, f32, 16, out, 16, K,
                              s);
    };
    expect_invalid([&] { gemv(buf, 64, 1, 1024, 64, DType::kBF16, 2, 2, DType::kF32, 60); }, "gemv K % 8");
    expect_invalid([&] { gemv(buf, 68, 1, 1024, 64, DType::kBF16, 2, 2, DType::kF32, 64); }, "gemv ldx % 8");
    expect_invalid([&] { gemv(buf, 64, 1, 1020, 64, DType::kBF16, 2, 2, DType::kF32, 64); }, "gemv stride % 8");
    expect_invalid([&] { gemv(buf, 64, 1, 1024, 32, DType::kBF16, 2, 2, DType::kF32, 64); }, "gemv ldw < K");
    expect_invalid([&] { gemv(buf + 1, 64, 1, 1024, 64, DType::kBF16, 2, 2, DType::kF32, 64); }, "gemv unaligned x");
    expect_invalid([&] { gemv(buf, 64, 0, 1024, 64, DType::kBF16, 2, 2, DType::kF32, 64); }, "gemv div = 0");
    expect_invalid([&] { gemv(buf, 64, 1, 1024, 64, DType::kBF16, 3, 2, DType::kF32, 64); }, "gemv P > max_pairs");
    expect_invalid([&] { gemv(buf, 64, 1, 1024, 64, DType::kF32, 2, 2, DType::kF32, 64); }, "gemv f32 weights");
    expect_invalid([&] { gemv(buf, 64, 1, 1024, 64, DType::kBF16, 2, 2, DType::kF16, 64); }, "gemv bf16 -> f16");
    expect_invalid([&] { cuda::launch_moe_combine(f32, 4, f32, 1, 0, 4, f32, 4, s); }, "combine k = 0");
    expect_invalid([&] { cuda::launch_moe_combine(f32, 2, f32, 1, 2, 4, f32, 4, s); }, "combine ldy < D");
}

}  // namespace
}  // namespace turbolm

// CUDA attention (decode, prefill and simple paths) against the CPU reference cpu::attention on fresh
// random inputs. Each case builds a paged K/V pool with randomly permuted blocks, rounds every input
// to bf16/f16 before the reference sees it, poisons unused pool slots, padding and the output with
// NaN, and checks that every output is finite, close to the reference, and that nothing outside the
// output rows was written.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cuda/attention/attention_kernels.h"
#include "ops/cuda/attention/attention_paths.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_device.h"

namespace turbolm {
namespace {

using cuda::AttentionPath;

constexpr uint16_t kPoison = 0xffff;  // NaN in both bf16 and f16

template <typename T>
class DeviceBuffer {
  public:
    explicit DeviceBuffer(size_t n) : n_(n) {
        if (n_) TURBOLM_CUDA_CHECK(cudaMalloc(&ptr_, n_ * sizeof(T)));
    }
    explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
    ~DeviceBuffer() {
        if (ptr_) cudaFree(ptr_);
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    T* get() const { return ptr_; }
    void upload(const std::vector<T>& host) {
        if (n_) TURBOLM_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
    }
    std::vector<T> download() const {
        std::vector<T> host(n_);
        if (n_) TURBOLM_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
        return host;
    }

  private:
    T* ptr_ = nullptr;
    size_t n_ = 0;
};

uint16_t to_16(DType dt, float x) {
    return dt == DType::kBF16 ? f32_to_bf16(x) : f32_to_f16(x);
}
float from_16(DType dt, uint16_t x) {
    return dt == DType::kBF16 ? bf16_to_f32(x) : f16_to_f32(x);
}

struct Seq {
    int kv_len = 0;  // keys in the cache, this step's included
    int q_len = 0;   // query tokens; their positions are kv_len - q_len .. kv_len - 1
};

struct Problem {
    DType dtype = DType::kBF16;
    int n_head = 8, n_head_kv = 2, head_dim = 128;
    int block_size = 16;
    int window = 0;
    std::vector<Seq> seqs;
    int q_pad = 8, o_pad = 16;  // extra elements per token row of q and out (poisoned, must stay untouched)
    int max_kv_len = -1;        // host bound passed to the launch; -1 = the largest kv_len
    int spare_blocks = 3;       // pool blocks no sequence owns (poisoned)
    int n_decode_seqs = 0;      // AttentionBatch::n_decode_seqs: leading sequences of one query token
};

const char* path_name(AttentionPath p) {
    switch (p) {
        case AttentionPath::kSimple:
            return "simple";
        case AttentionPath::kDecode:
            return "decode";
        case AttentionPath::kDecodeMma:
            return "decode-mma";
        case AttentionPath::kDecodeBulk:
            return "decode-bulk";
        case AttentionPath::kPrefill:
            return "prefill";
        default:
            return "auto";
    }
}

std::string describe(const Problem& pb, AttentionPath path, uint64_t seed) {
    std::string s = std::string(dtype_name(pb.dtype)) + " path " + path_name(path) + " heads " +
                    std::to_string(pb.n_head) + "/" + std::to_string(pb.n_head_kv) + " head_dim " +
                    std::to_string(pb.head_dim) + " block " + std::to_string(pb.block_size) + " window " +
                    std::to_string(pb.window) + " leading decodes " + std::to_string(pb.n_decode_seqs) +
                    " seqs (kv,q):";
    for (const Seq& q : pb.seqs) s += " (" + std::to_string(q.kv_len) + "," + std::to_string(q.q_len) + ")";
    return s + " seed " + std::to_string(seed);
}

// Host and device copies of one problem's inputs; the reference is computed from the host side.
class Instance {
  public:
    Instance(const Problem& pb, std::mt19937_64& rng) : pb_(pb) {
        const int D = pb.head_dim;
        n_seqs_ = int(pb.seqs.size());
        q_start_.assign(1, 0);
        for (const Seq& s : pb.seqs) {
            q_start_.push_back(q_start_.back() + s.q_len);
            max_q_len_ = std::max(max_q_len_, s.q_len);
            max_kv_len_ = std::max(max_kv_len_, s.kv_len);
        }
        if (pb.max_kv_len >= 0) max_kv_len_ = pb.max_kv_len;
        tokens_ = q_start_.back();
        max_blocks_ = std::max(1, (max_kv_len_ + pb.block_size - 1) / pb.block_size);

        // Blocks: each sequence owns ceil(kv_len / block_size), drawn from a random permutation of
        // the pool so that neighbouring positions rarely share neighbouring memory.
        int used = 0;
        for (const Seq& s : pb.seqs) used += (s.kv_len + pb.block_size - 1) / pb.block_size;
        n_blocks_ = used + pb.spare_blocks;
        std::vector<int32_t> perm(static_cast<size_t>(n_blocks_));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        block_table_.assign(size_t(n_seqs_) * max_blocks_, -1);
        int next = 0;
        for (int s = 0; s < n_seqs_; ++s)
            for (int b = 0; b * pb.block_size < pb.seqs[s].kv_len; ++b)
                block_table_[size_t(s) * max_blocks_ + b] = perm[size_t(next++)];

        // Pool: valid positions random, every other slot NaN (a kernel that reads past kv_len shows it).
        const size_t row = size_t(pb.n_head_kv) * D;
        const size_t n_slots = size_t(n_blocks_) * pb.block_size;
        k_.assign(n_slots * row, kPoison);
        v_.assign(n_slots * row, kPoison);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (int s = 0; s < n_seqs_; ++s)
            for (int p = 0; p < pb.seqs[s].kv_len; ++p) {
                const size_t slot = size_t(slot_of(s, p));
                for (size_t i = 0; i < row; ++i) {
                    k_[slot * row + i] = to_16(pb.dtype, normal(rng));
                    v_[slot * row + i] = to_16(pb.dtype, normal(rng));
                }
            }

        // Queries: positions kv_len - q_len .. kv_len - 1 (this step's keys are in the cache).
        ldq_ = int64_t(pb.n_head) * D + pb.q_pad;
        ldo_ = int64_t(pb.n_head) * D + pb.o_pad;
        q_.assign(size_t(tokens_) * ldq_, kPoison);
        q_pos_.assign(size_t(tokens_), 0);
        std::normal_distribution<float> qdist(0.0f, 1.5f);  // a little peakier than the keys
        for (int s = 0; s < n_seqs_; ++s)
            for (int i = 0; i < pb.seqs[s].q_len; ++i) {
                const int t = q_start_[s] + i;
                q_pos_[size_t(t)] = pb.seqs[s].kv_len - pb.seqs[s].q_len + i;
                for (int64_t e = 0; e < int64_t(pb.n_head) * D; ++e)
                    q_[size_t(t * ldq_ + e)] = to_16(pb.dtype, qdist(rng));
            }
        kv_len_.resize(size_t(n_seqs_));
        for (int s = 0; s < n_seqs_; ++s) kv_len_[size_t(s)] = pb.seqs[s].kv_len;
        scale_ = 1.0f / std::sqrt(float(D));

        d_k_ = std::make_unique<DeviceBuffer<uint16_t>>(k_);
        d_v_ = std::make_unique<DeviceBuffer<uint16_t>>(v_);
        d_q_ = std::make_unique<DeviceBuffer<uint16_t>>(q_);
        d_out_ = std::make_unique<DeviceBuffer<uint16_t>>(std::max<size_t>(1, size_t(tokens_) * ldo_));
        d_block_table_ = std::make_unique<DeviceBuffer<int32_t>>(block_table_);
        d_q_start_ = std::make_unique<DeviceBuffer<int32_t>>(q_start_);
        d_kv_len_ = std::make_unique<DeviceBuffer<int32_t>>(kv_len_);
        d_q_pos_ = std::make_unique<DeviceBuffer<int32_t>>(std::max<size_t>(1, q_pos_.size()));
        if (!q_pos_.empty()) d_q_pos_->upload(q_pos_);
        const size_t ws = cuda::attention_workspace_bytes(batch(), shape());
        d_ws_ = std::make_unique<DeviceBuffer<uint8_t>>(std::max<size_t>(ws, 1));
        ws_bytes_ = ws;
    }

    int slot_of(int s, int p) const {
        return block_table_[size_t(s) * max_blocks_ + p / pb_.block_size] * pb_.block_size + p % pb_.block_size;
    }

    cuda::PagedKvView kv() const {
        cuda::PagedKvView v;
        v.k = d_k_->get();
        v.v = d_v_->get();
        v.block_table = d_block_table_->get();
        v.max_blocks = max_blocks_;
        v.block_size = pb_.block_size;
        return v;
    }
    cuda::AttentionBatch batch() const {
        cuda::AttentionBatch b;
        b.n_seqs = n_seqs_;
        b.n_tokens = tokens_;
        b.q_start = d_q_start_->get();
        b.kv_len = d_kv_len_->get();
        b.q_pos = d_q_pos_->get();
        b.max_q_len = max_q_len_;
        b.max_kv_len = max_kv_len_;
        b.n_decode_seqs = pb_.n_decode_seqs;
        return b;
    }
    cuda::AttentionShape shape() const {
        cuda::AttentionShape sh;
        sh.n_head = pb_.n_head;
        sh.n_head_kv = pb_.n_head_kv;
        sh.head_dim = pb_.head_dim;
        sh.scale = scale_;
        sh.window = pb_.window;
        return sh;
    }
    cuda::AttentionArgs args() const {
        cuda::AttentionArgs a;
        a.q = d_q_->get();
        a.ldq = ldq_;
        a.kv = kv();
        a.batch = batch();
        a.shape = shape();
        a.dtype = pb_.dtype;
        a.out = d_out_->get();
        a.ldo = ldo_;
        a.workspace = d_ws_->get();
        a.workspace_bytes = ws_bytes_;
        return a;
    }

    void poison_output() const {
        TURBOLM_CUDA_CHECK(cudaMemset(d_out_->get(), 0xff, size_t(tokens_) * ldo_ * sizeof(uint16_t)));
    }
    // Runs one path (kAuto = launch_attention) on `stream` and waits for it.
    void run(AttentionPath path, cudaStream_t stream = nullptr) const {
        poison_output();
        if (path == AttentionPath::kAuto) {
            cuda::launch_attention(d_q_->get(), ldq_, kv(), batch(), shape(), pb_.dtype, d_out_->get(), ldo_,
                                   d_ws_->get(), ws_bytes_, stream);
        } else {
            cuda::launch_attention_path(path, args(), stream);
        }
        TURBOLM_CUDA_CHECK(cudaStreamSynchronize(stream));
    }

    // Reference output [T, n_head * head_dim] from cpu::attention, one sequence at a time on
    // contiguous f32 copies of its keys and values.
    std::vector<float> reference() const {
        const int D = pb_.head_dim;
        const int64_t qrow = int64_t(pb_.n_head) * D, kvrow = int64_t(pb_.n_head_kv) * D;
        std::vector<float> ref(size_t(tokens_) * qrow, 0.0f);
        for (int s = 0; s < n_seqs_; ++s) {
            const int nq = q_start_[s + 1] - q_start_[s], nkv = kv_len_[size_t(s)];
            if (nq == 0) continue;
            std::vector<float> q(size_t(nq) * qrow), k(size_t(std::max(nkv, 1)) * kvrow), v(k.size());
            for (int i = 0; i < nq; ++i)
                for (int64_t e = 0; e < qrow; ++e)
                    q[size_t(i * qrow + e)] = from_16(pb_.dtype, q_[size_t((q_start_[s] + i) * ldq_ + e)]);
            for (int p = 0; p < nkv; ++p) {
                const size_t slot = size_t(slot_of(s, p));
                for (int64_t e = 0; e < kvrow; ++e) {
                    k[size_t(p * kvrow + e)] = from_16(pb_.dtype, k_[slot * kvrow + size_t(e)]);
                    v[size_t(p * kvrow + e)] = from_16(pb_.dtype, v_[slot * kvrow + size_t(e)]);
                }
            }
            cpu::attention(q.data(), qrow, k.data(), kvrow, v.data(), kvrow, q_pos_.data() + q_start_[s], nq, nkv,
                           pb_.n_head, pb_.n_head_kv, D, scale_, pb_.window, ref.data() + size_t(q_start_[s]) * qrow,
                           qrow);
        }
        return ref;
    }

    // Compares the device output with `ref`; reports the first mismatch and the relative L2 error.
    void check(const std::vector<float>& ref, const std::string& what) const {
        const std::vector<uint16_t> got = d_out_->download();
        const int64_t qrow = int64_t(pb_.n_head) * pb_.head_dim;
        const float tol = pb_.dtype == DType::kBF16 ? 2e-2f : 5e-3f;
        double err2 = 0.0, ref2 = 0.0;
        for (int t = 0; t < tokens_; ++t) {
            for (int64_t e = 0; e < qrow; ++e) {
                const float g = from_16(pb_.dtype, got[size_t(t * ldo_ + e)]);
                const float r = ref[size_t(t * qrow + e)];
                ASSERT_TRUE(std::isfinite(g)) << "non-finite output at token " << t << " element " << e << ": " << what;
                ASSERT_LE(std::fabs(g - r), tol + tol * std::fabs(r))
                    << "token " << t << " head " << e / pb_.head_dim << " dim " << e % pb_.head_dim << " got " << g
                    << " want " << r << ": " << what;
                err2 += double(g - r) * (g - r);
                ref2 += double(r) * r;
            }
            for (int64_t e = qrow; e < ldo_; ++e)
                ASSERT_EQ(got[size_t(t * ldo_ + e)], kPoison) << "padding of output row " << t << " written: " << what;
        }
        const double rel = ref2 > 0.0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
        EXPECT_LT(rel, pb_.dtype == DType::kBF16 ? 1e-2 : 2e-3) << "relative L2 error: " << what;
    }

    const Problem& problem() const { return pb_; }
    int tokens() const { return tokens_; }
    size_t workspace_bytes() const { return ws_bytes_; }
    // Replaces kv_len and q_pos on the device (graph replay with new contents).
    void set_lengths(const std::vector<int32_t>& kv_len, const std::vector<int32_t>& q_pos) {
        kv_len_ = kv_len;
        q_pos_ = q_pos;
        d_kv_len_->upload(kv_len_);
        d_q_pos_->upload(q_pos_);
    }

  private:
    Problem pb_;
    int n_seqs_ = 0, tokens_ = 0, max_q_len_ = 0, max_kv_len_ = 0, max_blocks_ = 1, n_blocks_ = 0;
    int64_t ldq_ = 0, ldo_ = 0;
    float scale_ = 1.0f;
    std::vector<int32_t> q_start_, kv_len_, q_pos_, block_table_;
    std::vector<uint16_t> k_, v_, q_;
    std::unique_ptr<DeviceBuffer<uint16_t>> d_k_, d_v_, d_q_, d_out_;
    std::unique_ptr<DeviceBuffer<int32_t>> d_block_table_, d_q_start_, d_kv_len_, d_q_pos_;
    std::unique_ptr<DeviceBuffer<uint8_t>> d_ws_;
    size_t ws_bytes_ = 0;
};

class CudaAttention : public ::testing::Test {
  protected:
    void SetUp() override {
        if (cuda::list_devices().empty()) GTEST_SKIP() << "no CUDA device";
        seed_ = std::random_device{}();
        rng_.seed(seed_);
    }
    // Builds the problem, runs each path in `paths`, and compares every result with the reference.
    void check(const Problem& pb, std::initializer_list<AttentionPath> paths) {
        Instance inst(pb, rng_);
        const std::vector<float> ref = inst.reference();
        for (AttentionPath path : paths) {
            SCOPED_TRACE(describe(pb, path, seed_));
            inst.run(path);
            inst.check(ref, describe(pb, path, seed_));
            if (HasFatalFailure()) return;
        }
    }
    std::vector<Seq> decodes(int n, int min_kv, int max_kv) {
        std::uniform_int_distribution<int> len(min_kv, max_kv);
        std::vector<Seq> s(static_cast<size_t>(n));
        for (Seq& q : s) q = {len(rng_), 1};
        return s;
    }

    uint64_t seed_ = 0;
    std::mt19937_64 rng_;
};

TEST_F(CudaAttention, DecodeLongSequenceSplitsKeys) {
    for (DType dt : {DType::kBF16, DType::kF16})
        for (int block : {16, 4096}) {  // a paged pool, and a single-sequence cache of one block
            Problem pb;
            pb.dtype = dt;
            pb.n_head = 32;
            pb.n_head_kv = 8;
            pb.head_dim = 128;
            pb.block_size = block;
            pb.spare_blocks = block == 16 ? 3 : 0;
            pb.seqs = {{3000, 1}};
            Instance probe(pb, rng_);
            EXPECT_GT(cuda::plan_decode(probe.batch(), probe.shape(), false).n_splits, 1) << "expected split-K";
            EXPECT_GT(cuda::plan_decode(probe.batch(), probe.shape(), true).n_splits, 1) << "expected split-K";
            check(pb, {AttentionPath::kAuto, AttentionPath::kDecode, AttentionPath::kDecodeMma});
        }
}

// Which decode kernel launch_attention picks (the measurements behind it: dev/kernels/decode_attention).
TEST_F(CudaAttention, DecodeKernelChoice) {
    struct Case {
        int n_seqs, n_head, n_head_kv, head_dim;
        AttentionPath want;
    };
    const Case cases[] = {
        {1, 32, 8, 128, AttentionPath::kDecode},      // 16-bit pool, group 4, batch 1
        {64, 32, 8, 128, AttentionPath::kDecode},     // 512 (sequence, KV head) pairs
        {128, 32, 8, 128, AttentionPath::kDecodeBulk}, // 1024 pairs fill the GPU unsplit: bulk-fed
        {1, 64, 8, 128, AttentionPath::kDecodeMma},   // group 8
        {1, 32, 4, 64, AttentionPath::kDecodeMma},    // group 8, head_dim 64
        {16, 32, 32, 128, AttentionPath::kDecode},    // MHA
        {16, 32, 8, 96, AttentionPath::kDecode},      // head_dim the tensor-core kernel lacks
    };
    for (const Case& c : cases) {
        Problem pb;
        pb.n_head = c.n_head;
        pb.n_head_kv = c.n_head_kv;
        pb.head_dim = c.head_dim;
        pb.seqs = decodes(c.n_seqs, 1, 40);
        Instance probe(pb, rng_);
        EXPECT_EQ(int(cuda::choose_attention_path(probe.args())), int(c.want))
            << c.n_seqs << " sequences, heads " << c.n_head << "/" << c.n_head_kv << ", head_dim " << c.head_dim;
    }
}

// The bulk-fed kernel, on batches whose (sequence, KV head) pairs fill the GPU without splitting the
// keys: KV heads per CTA from 1 to 4 (also 3, of 6), groups of 1 to 8, both head sizes, paged blocks
// that tiles of 16 keys do and do not align with, sequences without keys or with a single one.
TEST_F(CudaAttention, BulkFedDecodeBatches) {
    struct Case {
        int n_seqs, n_head, n_head_kv, head_dim, block, max_kv;
    };
    const Case cases[] = {
        {140, 32, 8, 128, 16, 700}, {140, 32, 8, 128, 7, 300}, {300, 32, 4, 64, 16, 200},
        {600, 4, 2, 128, 16, 150},  {200, 12, 6, 128, 32, 100}, {1100, 8, 1, 64, 16, 60},
    };
    for (DType dt : {DType::kBF16, DType::kF16})
        for (const Case& c : cases) {
            Problem pb;
            pb.dtype = dt;
            pb.n_head = c.n_head;
            pb.n_head_kv = c.n_head_kv;
            pb.head_dim = c.head_dim;
            pb.block_size = c.block;
            pb.seqs = decodes(c.n_seqs, 1, c.max_kv);
            pb.seqs[3].kv_len = 1;
            pb.seqs[7].kv_len = 0;  // no key at all (q_pos = -1): zeros
            Instance probe(pb, rng_);
            ASSERT_TRUE(cuda::bulk_decode_ok(probe.args())) << describe(pb, AttentionPath::kDecodeBulk, seed_);
            check(pb, {AttentionPath::kAuto, AttentionPath::kDecodeBulk});
            if (HasFatalFailure()) return;
        }
}

TEST_F(CudaAttention, DecodeBatchOfVaryingLengths) {
    for (DType dt : {DType::kBF16, DType::kF16})
        for (int block : {16, 7}) {
            Problem pb;
            pb.dtype = dt;
            pb.n_head = 32;
            pb.n_head_kv = 8;
            pb.block_size = block;
            pb.seqs = decodes(13, 1, 700);
            pb.seqs[3].kv_len = 1;
            pb.seqs[7].kv_len = 0;  // no key at all (q_pos = -1): zeros
            check(pb, {AttentionPath::kAuto, AttentionPath::kDecode, AttentionPath::kDecodeMma, AttentionPath::kSimple});
        }
}

TEST_F(CudaAttention, PrefillOneSequence) {
    for (DType dt : {DType::kBF16, DType::kF16}) {
        Problem a;
        a.dtype = dt;
        a.n_head = 32;
        a.n_head_kv = 8;
        a.seqs = {{200, 200}};
        check(a, {AttentionPath::kAuto});
        Problem b;
        b.dtype = dt;
        b.n_head = 8;
        b.n_head_kv = 2;
        b.block_size = 7;
        b.seqs = {{1000, 1000}};
        check(b, {AttentionPath::kAuto});
    }
}

TEST_F(CudaAttention, MixedBatchOfChunksAndDecodes) {
    for (DType dt : {DType::kBF16, DType::kF16})
        for (int block : {16, 7}) {
            Problem pb;
            pb.dtype = dt;
            pb.n_head = 16;
            pb.n_head_kv = 4;
            pb.block_size = block;
            // A cached prefix plus a new chunk, fresh prompts, decodes, a short verify-style chunk and
            // an idle sequence, all in one launch.
            pb.seqs = {{300, 40}, {1, 1}, {77, 1}, {150, 150}, {0, 0}, {517, 3}, {64, 64}, {900, 1}, {129, 65}};
            check(pb, {AttentionPath::kAuto, AttentionPath::kSimple});
        }
}

// A mixed batch that says how many of its sequences lead with a single token runs those through a
// decode kernel (the CUDA-core one with split keys, or the tensor-core one when there are enough)
// and the rest through the prefill kernel; the results must not change.
TEST_F(CudaAttention, MixedBatchWithLeadingDecodesSplitsTheLaunch) {
    for (DType dt : {DType::kBF16, DType::kF16})
        for (int case_ = 0; case_ < 3; ++case_) {
            Problem pb;
            pb.dtype = dt;
            pb.n_head = 16;
            pb.n_head_kv = 4;
            if (case_ == 0) {  // few decodes, one long enough to split its keys (the workspace of a mixed batch)
                pb.seqs = {{1, 1}, {77, 1}, {3000, 1}, {300, 1}, {300, 40}, {0, 0}, {150, 150}, {64, 64}, {900, 1}};
                pb.n_decode_seqs = 4;
            } else if (case_ == 1) {  // enough decodes for the tensor-core kernel, then chunks
                pb.seqs = decodes(300, 1, 400);
                for (Seq s : {Seq{129, 65}, Seq{40, 40}, Seq{517, 3}}) pb.seqs.push_back(s);
                pb.n_decode_seqs = 300;
            } else {  // fewer leading decodes declared than there are: still exact
                pb.seqs = {{50, 1}, {60, 1}, {70, 1}, {33, 33}, {80, 1}};
                pb.n_decode_seqs = 1;
            }
            check(pb, {AttentionPath::kAuto});
            if (HasFatalFailure()) return;
        }
}

TEST_F(CudaAttention, EveryHeadSizeAndHeadLayout) {
    for (int head_dim : {64, 80, 96, 128, 256})
        for (auto [n_head, n_head_kv] : {std::pair{4, 4}, {8, 2}, {12, 1}, {6, 2}, {16, 2}})  // MHA, GQA, MQA, group 3, 8
            for (DType dt : {DType::kBF16, DType::kF16}) {
                Problem decode;
                decode.dtype = dt;
                decode.n_head = n_head;
                decode.n_head_kv = n_head_kv;
                decode.head_dim = head_dim;
                decode.block_size = 16;
                decode.seqs = decodes(3, 100, 400);
                // The prefill kernel must also handle a batch of single tokens.
                check(decode, {AttentionPath::kDecode, AttentionPath::kPrefill});
                if (head_dim == 64 || head_dim == 128) check(decode, {AttentionPath::kDecodeMma});
                if (HasFatalFailure()) return;
                Problem prefill = decode;
                prefill.block_size = 7;
                prefill.seqs = {{100, 37}, {70, 70}, {5, 1}};
                check(prefill, {AttentionPath::kPrefill});
                if (HasFatalFailure()) return;
                // A host bound past kPrefillShortKeysMax: the same keys in the 64-key tiles.
                prefill.max_kv_len = int(cuda::kPrefillShortKeysMax) + 1;
                check(prefill, {AttentionPath::kPrefill});
                if (HasFatalFailure()) return;
            }
}

TEST_F(CudaAttention, SlidingWindow) {
    for (DType dt : {DType::kBF16, DType::kF16})
        for (int window : {1, 32, 100}) {
            Problem decode;
            decode.dtype = dt;
            decode.n_head = 8;
            decode.n_head_kv = 2;
            decode.window = window;
            decode.seqs = decodes(4, 20, 900);
            check(decode, {AttentionPath::kAuto, AttentionPath::kDecode, AttentionPath::kDecodeMma, AttentionPath::kSimple});
            Problem prefill = decode;
            prefill.block_size = 7;
            prefill.seqs = {{300, 300}, {250, 50}, {40, 1}};
            check(prefill, {AttentionPath::kAuto, AttentionPath::kSimple});
            if (HasFatalFailure()) return;
        }
}

TEST_F(CudaAttention, SimplePathForShapesTheFastKernelsSkip) {
    for (DType dt : {DType::kBF16, DType::kF16}) {
        Problem odd_dim;  // head_dim 40 and 72 are not compiled into the fast kernels
        odd_dim.dtype = dt;
        odd_dim.n_head = 6;
        odd_dim.n_head_kv = 3;
        odd_dim.head_dim = 40;
        odd_dim.seqs = {{120, 20}, {33, 1}};
        {
            Instance probe(odd_dim, rng_);
            EXPECT_EQ(cuda::choose_attention_path(probe.args()), AttentionPath::kSimple);
        }
        check(odd_dim, {AttentionPath::kAuto});
        odd_dim.head_dim = 72;
        odd_dim.seqs = decodes(5, 1, 300);
        check(odd_dim, {AttentionPath::kAuto});
        Problem misaligned;  // a q row stride that is not a multiple of 8 elements
        misaligned.dtype = dt;
        misaligned.q_pad = 4;
        misaligned.seqs = {{90, 30}};
        {
            Instance probe(misaligned, rng_);
            EXPECT_EQ(cuda::choose_attention_path(probe.args()), AttentionPath::kSimple);
        }
        check(misaligned, {AttentionPath::kAuto});
    }
}

// The same captured launch replayed with new device contents: kv_len grows up to the bound.
TEST_F(CudaAttention, GraphReplayWithNewLengths) {
    for (bool decode : {true, false}) {
        Problem pb;
        pb.n_head = 16;
        pb.n_head_kv = 4;
        pb.block_size = 16;
        // Fill the pool up to the bound; each replay uses a prefix of it.
        pb.seqs = decode ? std::vector<Seq>{{600, 1}, {600, 1}, {600, 1}, {600, 1}, {600, 1}}
                         : std::vector<Seq>{{600, 24}, {600, 1}, {600, 24}};
        Instance inst(pb, rng_);
        cudaStream_t stream;
        TURBOLM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        const cuda::AttentionArgs a = inst.args();
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        TURBOLM_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        cuda::launch_attention(a.q, a.ldq, a.kv, a.batch, a.shape, a.dtype, a.out, a.ldo, a.workspace,
                               a.workspace_bytes, stream);
        TURBOLM_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
        TURBOLM_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        std::uniform_int_distribution<int> len(1, 600);
        for (int replay = 0; replay < 3; ++replay) {
            std::vector<int32_t> kv_len, q_pos;
            for (const Seq& s : pb.seqs) {
                const int n = std::max(len(rng_), s.q_len);
                kv_len.push_back(n);
                for (int i = 0; i < s.q_len; ++i) q_pos.push_back(n - s.q_len + i);
            }
            inst.set_lengths(kv_len, q_pos);
            inst.poison_output();
            TURBOLM_CUDA_CHECK(cudaGraphLaunch(exec, stream));
            TURBOLM_CUDA_CHECK(cudaStreamSynchronize(stream));
            std::string what = std::string(decode ? "decode" : "mixed") + " replay " + std::to_string(replay) +
                               " seed " + std::to_string(seed_) + " kv_len";
            for (int n : kv_len) what += " " + std::to_string(n);
            inst.check(inst.reference(), what);
            if (HasFatalFailure()) break;
        }
        TURBOLM_CUDA_CHECK(cudaGraphExecDestroy(exec));
        TURBOLM_CUDA_CHECK(cudaGraphDestroy(graph));
        TURBOLM_CUDA_CHECK(cudaStreamDestroy(stream));
        if (HasFatalFailure()) return;
    }
}

void expect_invalid(const cuda::AttentionArgs& a, const std::string& needle) {
    try {
        cuda::launch_attention(a.q, a.ldq, a.kv, a.batch, a.shape, a.dtype, a.out, a.ldo, a.workspace,
                               a.workspace_bytes, nullptr);
        ADD_FAILURE() << "no error; expected one naming " << needle;
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::kInvalidArgument) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST_F(CudaAttention, InvalidArgumentsAreRejected) {
    Problem pb;
    pb.n_head = 32;
    pb.n_head_kv = 8;
    pb.seqs = {{3000, 1}};
    Instance inst(pb, rng_);
    const cuda::AttentionArgs good = inst.args();
    ASSERT_GT(good.workspace_bytes, 0u);
    cuda::AttentionArgs a = good;
    a.dtype = DType::kF32;
    expect_invalid(a, "dtype");
    a = good;
    a.shape.head_dim = 100;
    expect_invalid(a, "head_dim");
    a = good;
    a.shape.n_head = 30;
    expect_invalid(a, "n_head");
    a = good;
    a.workspace_bytes = good.workspace_bytes - 1;
    expect_invalid(a, "workspace");
    a = good;
    a.workspace = nullptr;
    expect_invalid(a, "workspace");
    a = good;
    a.batch.n_decode_seqs = 2;  // more than the one sequence
    expect_invalid(a, "n_decode_seqs");
    TURBOLM_CUDA_CHECK(cudaDeviceSynchronize());
}

// Timings of the target shapes (printed, not asserted): Llama-3-8B attention (32 heads, 8 KV heads,
// head_dim 128, bf16, block 16), per launch inside a replayed CUDA graph. Decode launches rotate over
// several K/V pools so that the keys come from memory, not L2.
TEST_F(CudaAttention, TimingTargetShapes) {
    struct Shape {
        const char* name;
        int batch, kv_len, q_len, pools;
    };
    const Shape shapes[] = {{"decode B=1 kv=4096", 1, 4096, 1, 8},
                            {"decode B=64 kv=256", 64, 256, 1, 4},
                            {"prefill T=2048", 1, 2048, 2048, 1},
                            {"prefill 64 x 128", 64, 128, 128, 1}};
    const int n_head = 32, n_head_kv = 8, D = 128, block = 16;
    std::printf("\n%-22s %10s %12s %12s\n", "attention", "median us", "GB/s (K+V)", "TFLOP/s");
    for (const Shape& sh : shapes) {
        const int blocks_per_seq = (sh.kv_len + block - 1) / block;
        const int n_blocks = sh.batch * blocks_per_seq;
        const size_t pool_elems = size_t(n_blocks) * block * n_head_kv * D;
        // One random host pattern copied into every pool: different addresses are what defeats L2.
        std::vector<uint16_t> pattern(pool_elems);
        uint32_t x = uint32_t(seed_) | 1u;
        for (auto& e : pattern) {
            x = x * 1664525u + 1013904223u;
            e = f32_to_bf16(float(int32_t(x >> 9) - (1 << 22)) / float(1 << 22));
        }
        std::vector<std::unique_ptr<DeviceBuffer<uint16_t>>> k_pools, v_pools;
        for (int i = 0; i < sh.pools; ++i) {
            k_pools.push_back(std::make_unique<DeviceBuffer<uint16_t>>(pattern));
            v_pools.push_back(std::make_unique<DeviceBuffer<uint16_t>>(pattern));
        }
        std::vector<int32_t> table(static_cast<size_t>(n_blocks)), q_start, kv_len, q_pos;
        std::iota(table.begin(), table.end(), 0);
        std::shuffle(table.begin(), table.end(), rng_);
        for (int s = 0; s <= sh.batch; ++s) q_start.push_back(s * sh.q_len);
        for (int s = 0; s < sh.batch; ++s) {
            kv_len.push_back(sh.kv_len);
            for (int i = 0; i < sh.q_len; ++i) q_pos.push_back(sh.kv_len - sh.q_len + i);
        }
        const int T = sh.batch * sh.q_len;
        std::vector<uint16_t> qh(size_t(T) * n_head * D);
        for (size_t i = 0; i < qh.size(); ++i) qh[i] = pattern[i % pattern.size()];
        DeviceBuffer<uint16_t> q(qh), out(qh.size());
        DeviceBuffer<int32_t> d_table(table), d_q_start(q_start), d_kv_len(kv_len), d_q_pos(q_pos);
        cuda::AttentionBatch b;
        b.n_seqs = sh.batch;
        b.n_tokens = T;
        b.q_start = d_q_start.get();
        b.kv_len = d_kv_len.get();
        b.q_pos = d_q_pos.get();
        b.max_q_len = sh.q_len;
        b.max_kv_len = sh.kv_len;
        cuda::AttentionShape shape;
        shape.n_head = n_head;
        shape.n_head_kv = n_head_kv;
        shape.head_dim = D;
        shape.scale = 1.0f / std::sqrt(float(D));
        const size_t ws_bytes = cuda::attention_workspace_bytes(b, shape);
        DeviceBuffer<uint8_t> ws(std::max<size_t>(ws_bytes, 1));
        // One graph holds one launch per pool, as a decode step's graph would; the host's launch cost
        // stays out of the figures.
        cudaStream_t stream;
        TURBOLM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        TURBOLM_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        for (int i = 0; i < sh.pools; ++i) {
            cuda::PagedKvView kv;
            kv.k = k_pools[size_t(i)]->get();
            kv.v = v_pools[size_t(i)]->get();
            kv.block_table = d_table.get();
            kv.max_blocks = blocks_per_seq;
            kv.block_size = block;
            cuda::launch_attention(q.get(), int64_t(n_head) * D, kv, b, shape, DType::kBF16, out.get(),
                                   int64_t(n_head) * D, ws.get(), ws_bytes, stream);
        }
        TURBOLM_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
        TURBOLM_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        for (int i = 0; i < 3; ++i) TURBOLM_CUDA_CHECK(cudaGraphLaunch(exec, stream));
        cudaEvent_t start, stop;
        TURBOLM_CUDA_CHECK(cudaEventCreate(&start));
        TURBOLM_CUDA_CHECK(cudaEventCreate(&stop));
        std::vector<float> us;
        for (int i = 0; i < 20; ++i) {
            TURBOLM_CUDA_CHECK(cudaEventRecord(start, stream));
            TURBOLM_CUDA_CHECK(cudaGraphLaunch(exec, stream));
            TURBOLM_CUDA_CHECK(cudaEventRecord(stop, stream));
            TURBOLM_CUDA_CHECK(cudaEventSynchronize(stop));
            float ms = 0.0f;
            TURBOLM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
            us.push_back(ms * 1000.0f / float(sh.pools));
        }
        TURBOLM_CUDA_CHECK(cudaEventDestroy(start));
        TURBOLM_CUDA_CHECK(cudaEventDestroy(stop));
        TURBOLM_CUDA_CHECK(cudaGraphExecDestroy(exec));
        TURBOLM_CUDA_CHECK(cudaGraphDestroy(graph));
        TURBOLM_CUDA_CHECK(cudaStreamDestroy(stream));
        std::sort(us.begin(), us.end());
        const double med = us[us.size() / 2];
        const double kv_bytes = 2.0 * sh.batch * sh.kv_len * n_head_kv * D * 2;
        double visible = 0.0;  // (query, key) pairs summed over tokens
        for (int s = 0; s < sh.batch; ++s)
            for (int i = 0; i < sh.q_len; ++i) visible += sh.kv_len - sh.q_len + i + 1;
        const double flops = 4.0 * n_head * D * visible;
        std::printf("%-22s %10.1f %12.0f %12.1f", sh.name, med, kv_bytes / (med * 1e3), flops / (med * 1e6));
        if (sh.q_len == 1) {
            cuda::AttentionArgs probe;
            probe.ldq = probe.ldo = int64_t(n_head) * D;
            probe.batch = b;
            probe.shape = shape;
            const bool mma = cuda::choose_attention_path(probe) == AttentionPath::kDecodeMma;
            std::printf("   %s, %d splits", mma ? "tensor cores" : "CUDA cores", cuda::plan_decode(b, shape, mma).n_splits);
        }
        std::printf("\n");
        if (sh.q_len > 1) std::printf("%-22s %10.2f ms for 32 layers\n", "", med * 32 / 1000.0);
        std::vector<uint16_t> o = out.download();
        for (size_t i = 0; i < o.size(); i += 997) ASSERT_TRUE(std::isfinite(bf16_to_f32(o[i]))) << sh.name;
    }
}

}  // namespace
}  // namespace turbolm

// Decode attention: the CUDA-core split-K kernel (AttentionPath::kDecode) against the tensor-core one
// (kDecodeMma), linked from a CUDA build, on decode batches of the shapes the engine runs: bf16,
// int8 and FP8 pools, GQA groups 1 to 8, paged blocks of 16 in a shuffled pool. Each shape is timed
// in a CUDA graph that rotates over enough copies of the pool (>= 256 MB) that L2 cannot hold them,
// and the two kernels' outputs are compared (the tests compare both against the CPU).
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/cuda/attention/attention_paths.h"

namespace {

using namespace turbolm;
using cuda::AttentionPath;

#define CK(call)                                                                                       \
    do {                                                                                               \
        cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess) {                                                                       \
            std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

struct Shape {
    const char* name;
    int batch, kv_len, n_head, n_head_kv, head_dim;
    DType codes;  // kBF16: a 16-bit pool
};

uint16_t bf16_bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float bf16_value(uint16_t b) {
    const uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <typename T>
T* upload(const std::vector<T>& h) {
    T* d = nullptr;
    CK(cudaMalloc(&d, h.size() * sizeof(T)));
    CK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

void run_shape(const Shape& sh, std::mt19937& rng) {
    const int block = 16, D = sh.head_dim;
    const bool codes = sh.codes != DType::kBF16;
    const size_t elem = codes ? 1 : 2;
    const int blocks_per_seq = (sh.kv_len + block - 1) / block;
    const int n_blocks = sh.batch * blocks_per_seq;
    const size_t n_slots = size_t(n_blocks) * block;
    const size_t pool_bytes = n_slots * sh.n_head_kv * D * elem;
    const int pools = int(std::max<size_t>(1, (size_t(256) << 20) / (2 * pool_bytes) + 1));

    // One random pattern copied into every pool; E4M3 codes avoid the NaN encodings 0x7f / 0xff.
    std::vector<uint8_t> pattern(pool_bytes);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    if (codes) {
        for (auto& b : pattern) {
            b = uint8_t(rng());
            if (sh.codes == DType::kF8E4M3 && (b & 0x7f) == 0x7f) b ^= 0x01;
        }
    } else {
        auto* p = reinterpret_cast<uint16_t*>(pattern.data());
        for (size_t i = 0; i < pool_bytes / 2; ++i) p[i] = bf16_bits(unit(rng));
    }
    std::vector<float> scales(n_slots * sh.n_head_kv);
    for (auto& s : scales) s = sh.codes == DType::kI8 ? 0.01f * (1.0f + 0.5f * unit(rng)) : 0.003f * (1.0f + 0.5f * unit(rng));
    std::vector<void*> k_pools, v_pools;
    for (int i = 0; i < pools; ++i) {
        k_pools.push_back(upload(pattern));
        v_pools.push_back(upload(pattern));
    }
    float* k_scale = codes ? upload(scales) : nullptr;
    float* v_scale = codes ? upload(scales) : nullptr;

    std::vector<int32_t> table(static_cast<size_t>(n_blocks)), q_start, kv_len, q_pos;
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), rng);
    for (int s = 0; s <= sh.batch; ++s) q_start.push_back(s);
    for (int s = 0; s < sh.batch; ++s) {
        kv_len.push_back(sh.kv_len);
        q_pos.push_back(sh.kv_len - 1);
    }
    std::vector<uint16_t> qh(size_t(sh.batch) * sh.n_head * D);
    for (auto& e : qh) e = bf16_bits(unit(rng) * 2.0f);
    uint16_t* q = upload(qh);
    uint16_t *out_a = nullptr, *out_b = nullptr;
    CK(cudaMalloc(&out_a, qh.size() * 2));
    CK(cudaMalloc(&out_b, qh.size() * 2));
    int32_t* d_table = upload(table);
    int32_t* d_q_start = upload(q_start);
    int32_t* d_kv_len = upload(kv_len);
    int32_t* d_q_pos = upload(q_pos);

    cuda::AttentionArgs a;
    a.q = q;
    a.ldq = int64_t(sh.n_head) * D;
    a.kv.k_scale = k_scale;
    a.kv.v_scale = v_scale;
    a.kv.code_dtype = codes ? sh.codes : DType::kI8;
    a.kv.block_table = d_table;
    a.kv.max_blocks = blocks_per_seq;
    a.kv.block_size = block;
    a.batch.n_seqs = sh.batch;
    a.batch.n_tokens = sh.batch;
    a.batch.q_start = d_q_start;
    a.batch.kv_len = d_kv_len;
    a.batch.q_pos = d_q_pos;
    a.batch.max_q_len = 1;
    a.batch.max_kv_len = sh.kv_len;
    a.shape.n_head = sh.n_head;
    a.shape.n_head_kv = sh.n_head_kv;
    a.shape.head_dim = D;
    a.shape.scale = 1.0f / std::sqrt(float(D));
    a.dtype = DType::kBF16;
    a.ldo = a.ldq;
    a.workspace_bytes = cuda::attention_workspace_bytes(a.batch, a.shape);
    CK(cudaMalloc(&a.workspace, std::max<size_t>(a.workspace_bytes, 16)));

    cudaStream_t stream;
    CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    auto time_path = [&](AttentionPath path, uint16_t* out) -> double {
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        a.out = out;
        CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        for (int i = 0; i < pools; ++i) {
            a.kv.k = k_pools[size_t(i)];
            a.kv.v = v_pools[size_t(i)];
            cuda::launch_attention_path(path, a, stream);
        }
        CK(cudaStreamEndCapture(stream, &graph));
        CK(cudaGraphInstantiate(&exec, graph, 0));
        for (int i = 0; i < 3; ++i) CK(cudaGraphLaunch(exec, stream));
        cudaEvent_t start, stop;
        CK(cudaEventCreate(&start));
        CK(cudaEventCreate(&stop));
        std::vector<float> us;
        for (int i = 0; i < 15; ++i) {
            CK(cudaEventRecord(start, stream));
            CK(cudaGraphLaunch(exec, stream));
            CK(cudaEventRecord(stop, stream));
            CK(cudaEventSynchronize(stop));
            float ms = 0.0f;
            CK(cudaEventElapsedTime(&ms, start, stop));
            us.push_back(ms * 1000.0f / float(pools));
        }
        CK(cudaEventDestroy(start));
        CK(cudaEventDestroy(stop));
        CK(cudaGraphExecDestroy(exec));
        CK(cudaGraphDestroy(graph));
        std::sort(us.begin(), us.end());
        return us[us.size() / 2];
    };
    const double t_old = time_path(AttentionPath::kDecode, out_a);
    // TURBOLM_LAB_BULK set: the bulk-fed kernel in the second column, where it applies.
    const bool bulk = std::getenv("TURBOLM_LAB_BULK") != nullptr && cuda::bulk_decode_ok(a);
    const double t_new = time_path(bulk ? AttentionPath::kDecodeBulk : AttentionPath::kDecodeMma, out_b);
    CK(cudaStreamSynchronize(stream));
    std::vector<uint16_t> ha(qh.size()), hb(qh.size());
    CK(cudaMemcpy(ha.data(), out_a, ha.size() * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hb.data(), out_b, hb.size() * 2, cudaMemcpyDeviceToHost));
    double diff = 0.0, peak = 0.0;
    for (size_t i = 0; i < ha.size(); ++i) {
        diff = std::max(diff, double(std::fabs(bf16_value(ha[i]) - bf16_value(hb[i]))));
        peak = std::max(peak, double(std::fabs(bf16_value(ha[i]))));
    }
    const double bytes = 2.0 * double(sh.batch) * sh.kv_len * sh.n_head_kv * D * elem;
    const int old_splits = cuda::plan_decode(a.batch, a.shape, false).n_splits;
    const int new_splits = cuda::plan_decode(a.batch, a.shape, true).n_splits;
    std::printf("%-28s %5s | splits %3d/%3d | decode %8.1f us %6.0f GB/s | %s %8.1f us %6.0f GB/s | x%.2f | "
                "max diff %.2e of %.2e\n",
                sh.name, codes ? dtype_name(sh.codes) : "bf16", old_splits, new_splits, t_old, bytes / (t_old * 1e3),
                bulk ? "bulk" : "mma ", t_new,
                bytes / (t_new * 1e3), t_old / t_new, diff, peak);
    for (void* p : k_pools) CK(cudaFree(p));
    for (void* p : v_pools) CK(cudaFree(p));
    cudaFree(k_scale), cudaFree(v_scale), cudaFree(q), cudaFree(out_a), cudaFree(out_b), cudaFree(d_table);
    cudaFree(d_q_start), cudaFree(d_kv_len), cudaFree(d_q_pos), cudaFree(a.workspace);
    CK(cudaStreamDestroy(stream));
}

}  // namespace

int main(int argc, char** argv) {
    std::mt19937 rng(1234);
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    std::printf("# %s, %d SMs; us per launch in graph replays, K+V bytes over time\n", prop.name,
                prop.multiProcessorCount);
    // An argument picks one kind of pool: bf16, f8e4m3 or i8 (default: all three).
    const std::string only = argc > 1 ? argv[1] : "";
    const DType kinds[] = {DType::kBF16, DType::kF8E4M3, DType::kI8};
    const Shape shapes[] = {
        {"8B  B=1024 kv=192", 1024, 192, 32, 8, 128, DType::kBF16},
        {"8B  B=256 kv=192", 256, 192, 32, 8, 128, DType::kBF16},
        {"8B  B=256 kv=1024", 256, 1024, 32, 8, 128, DType::kBF16},
        {"8B  B=64 kv=1024", 64, 1024, 32, 8, 128, DType::kBF16},
        {"8B  B=64 kv=256", 64, 256, 32, 8, 128, DType::kBF16},
        {"8B  B=8 kv=2048", 8, 2048, 32, 8, 128, DType::kBF16},
        {"8B  B=1 kv=4096", 1, 4096, 32, 8, 128, DType::kBF16},
        {"8B  B=1 kv=256", 1, 256, 32, 8, 128, DType::kBF16},
        {"70B B=64 kv=1024 (g8)", 64, 1024, 64, 8, 128, DType::kBF16},
        {"MHA B=64 kv=512 (g1)", 64, 512, 32, 32, 128, DType::kBF16},
        {"D64 B=64 kv=512 (g8)", 64, 512, 32, 4, 64, DType::kBF16},
    };
    for (const Shape& base : shapes)
        for (DType k : kinds) {
            if (!only.empty() && only != dtype_name(k)) continue;
            Shape s = base;
            s.codes = k;
            run_shape(s, rng);
        }
    return 0;
}

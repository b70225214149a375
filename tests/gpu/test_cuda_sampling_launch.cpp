// GPU sampling: argument checks, graph capture and timing; see test_cuda_sampling.cpp.
#include "gpu/sampling_test_util.h"

namespace turbolm {
namespace {

using namespace sampling_test;

// ---- arguments and timing ------------------------------------------------------------------------

TEST_F(CudaSampling, RejectsBadArguments) {
    const int64_t vocab = 100;
    DeviceArray<float> logits(static_cast<size_t>(vocab));
    DeviceArray<SamplingRow> params(std::vector<SamplingRow>{make_row(1.0f)});
    DeviceArray<int32_t> ids(1), top_ids(100);
    DeviceArray<float> top_lps(100);
    DeviceArray<uint8_t> ws(cuda::sample_workspace_bytes(1, vocab));
    auto code = [&](int32_t n_top, size_t ws_bytes) {
        try {
            cuda::launch_sample(logits.get(), vocab, 1, vocab, params.get(), ids.get(), nullptr, n_top, top_ids.get(),
                                top_lps.get(), ws.get(), ws_bytes, stream_);
        } catch (const Error& e) {
            return e.code();
        }
        return StatusCode::kOk;
    };
    EXPECT_EQ(code(65, ws.size()), StatusCode::kInvalidArgument);
    EXPECT_EQ(code(64, ws.size() - 1), StatusCode::kInvalidArgument);
    EXPECT_EQ(code(64, ws.size()), StatusCode::kOk);
    sync();
    // rows == 0 enqueues nothing, whatever the pointers.
    cuda::launch_sample(nullptr, vocab, 0, vocab, nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr, 0, stream_);
    cuda::launch_apply_penalties(nullptr, vocab, 0, vocab, nullptr, nullptr, nullptr, stream_);
    cuda::launch_penalty_state_record(nullptr, nullptr, 0, vocab, nullptr, stream_);
    cuda::launch_penalty_state_init(nullptr, nullptr, 0, vocab, nullptr, nullptr, stream_);
    sync();
}

// A launch captured in a CUDA graph gives what a direct launch gives.
TEST_F(CudaSampling, LaunchesAreCapturable) {
    SCOPED_TRACE(seed_text());
    const int64_t vocab = 128256, rows = 8;
    std::vector<float> logits(static_cast<size_t>(rows * vocab));
    for (float& x : logits) x = normal(0.0f, 2.5f);
    std::vector<SamplingRow> params(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        params[static_cast<size_t>(r)] = r % 2 ? make_row(0.8f, 40, 0.9f) : make_row(1.0f);
        params[static_cast<size_t>(r)].seed = rng_();
    }
    const SampleOut direct = sample(logits, vocab, rows, vocab, params, true, 8);

    DeviceArray<float> d_logits(logits);
    DeviceArray<SamplingRow> d_params(params);
    DeviceArray<int32_t> ids(static_cast<size_t>(rows)), top_ids(static_cast<size_t>(rows * 8));
    DeviceArray<float> lp(static_cast<size_t>(rows)), top_lps(static_cast<size_t>(rows * 8));
    DeviceArray<uint8_t> ws(cuda::sample_workspace_bytes(rows, vocab));
    ids.poison(), lp.poison(), top_ids.poison(), top_lps.poison();
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    TURBOLM_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeGlobal));
    cuda::launch_sample(d_logits.get(), vocab, rows, vocab, d_params.get(), ids.get(), lp.get(), 8, top_ids.get(),
                        top_lps.get(), ws.get(), ws.size(), stream_);
    TURBOLM_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    TURBOLM_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    TURBOLM_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
    sync();
    EXPECT_EQ(ids.download(), direct.ids);
    EXPECT_EQ(lp.download(), direct.logprob);
    EXPECT_EQ(top_ids.download(), direct.top_ids);
    EXPECT_EQ(top_lps.download(), direct.top_logprobs);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
}

// Prints the GPU time of one launch (replayed from a CUDA graph, so host overhead is left out) for common
// shapes, and fails only when one is far slower than expected.
TEST_F(CudaSampling, Timing) {
    const int64_t vocab = 128256;
    struct Case {
        const char* name;
        SamplingRow p;
        bool logprobs;
    };
    const Case cases[] = {{"greedy", make_row(0.0f), false},
                          {"temperature", make_row(0.8f), false},
                          {"min_p 0.05", make_row(0.8f, 0, 1.0f, 0.05f), false},
                          {"top_k 50", make_row(0.8f, 50), false},
                          {"top_p 0.9", make_row(0.8f, 0, 0.9f), false},
                          {"top_k 50 + top_p 0.9 + min_p", make_row(0.8f, 50, 0.9f, 0.05f), false},
                          {"top_p 0.95, T 1.5 (whole-row search)", make_row(1.5f, 0, 0.95f), false},
                          {"top_p 0.9 + logprobs top 20", make_row(0.8f, 0, 0.9f), true}};
    for (int64_t rows : {int64_t(1), int64_t(64), int64_t(256)}) {
        std::vector<float> logits(static_cast<size_t>(rows * vocab));
        for (float& x : logits) x = normal(0.0f, 2.5f);
        DeviceArray<float> d_logits(logits);
        DeviceArray<int32_t> ids(static_cast<size_t>(rows)), top_ids(static_cast<size_t>(rows * 20));
        DeviceArray<float> lp(static_cast<size_t>(rows)), top_lps(static_cast<size_t>(rows * 20));
        DeviceArray<uint8_t> ws(cuda::sample_workspace_bytes(rows, vocab));
        cudaEvent_t start, stop;
        TURBOLM_CUDA_CHECK(cudaEventCreate(&start));
        TURBOLM_CUDA_CHECK(cudaEventCreate(&stop));
        for (const Case& c : cases) {
            std::vector<SamplingRow> params(static_cast<size_t>(rows), c.p);
            for (int64_t r = 0; r < rows; ++r) params[static_cast<size_t>(r)].seed = uint64_t(r);
            DeviceArray<SamplingRow> d_params(params);
            const int per_graph = 20;
            cudaGraph_t graph = nullptr;
            cudaGraphExec_t exec = nullptr;
            TURBOLM_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeGlobal));
            for (int i = 0; i < per_graph; ++i)
                cuda::launch_sample(d_logits.get(), vocab, rows, vocab, d_params.get(), ids.get(),
                                    c.logprobs ? lp.get() : nullptr, c.logprobs ? 20 : 0, top_ids.get(),
                                    top_lps.get(), ws.get(), ws.size(), stream_);
            TURBOLM_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
            TURBOLM_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
            TURBOLM_CUDA_CHECK(cudaGraphLaunch(exec, stream_));  // warm-up
            const int replays = 5;
            TURBOLM_CUDA_CHECK(cudaEventRecord(start, stream_));
            for (int i = 0; i < replays; ++i) TURBOLM_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
            TURBOLM_CUDA_CHECK(cudaEventRecord(stop, stream_));
            sync();
            float ms = 0.0f;
            TURBOLM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
            const double us = 1000.0 * ms / (replays * per_graph);
            std::printf("[ timing ] vocab %lld rows %3lld %-38s %8.1f us\n", (long long)vocab, (long long)rows, c.name,
                        us);
            EXPECT_LT(us, 5000.0) << c.name << " rows " << rows;
            cudaGraphExecDestroy(exec);
            cudaGraphDestroy(graph);
        }
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
    }
}

}  // namespace
}  // namespace turbolm

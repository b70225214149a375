#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "core/error.h"
#include "engine/batch_decoder.h"
#include "sampling/sampler.h"

namespace turbolm {

GenerateResult generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token) {
    if (prompt.empty()) fail(StatusCode::kInvalidArgument, "the prompt is empty");
    if (options.max_new_tokens < 0) fail(StatusCode::kInvalidArgument, "max_new_tokens must be >= 0");
    const int64_t n_vocab = model.config().n_vocab;
    for (int32_t id : prompt)
        if (id < 0 || id >= n_vocab)
            fail(StatusCode::kOutOfRange, "prompt token ", id, " is outside the vocabulary [0, ", n_vocab, ")");
    Sampler sampler(options.sampling);
    GenerateResult result;
    result.seed = sampler.seed();
    result.prompt_tokens = int64_t(prompt.size());
    result.finish_reason = "length";
    if (options.max_new_tokens == 0) return result;

    using Clock = std::chrono::steady_clock;
    auto t0 = Clock::now(), t1 = t0;
    // The CPU runs one forward per token here; other devices go through the batch decoder, which
    // samples on the device and replays each decode step from a captured graph.
    std::unique_ptr<BatchDecoder> device_decoder;
    KvCache kv;
    Tensor logits;
    if (model.device() == Device::kCpu) {
        kv = model.new_kv_cache(int64_t(prompt.size()) + options.max_new_tokens);
        logits = model.forward(prompt, kv);
    } else {
        BatchDecoderOptions bo;
        bo.capacity = int64_t(prompt.size()) + options.max_new_tokens;
        bo.sampling = options.sampling;
        bo.sampling.seed = result.seed;
        device_decoder = std::make_unique<BatchDecoder>(model, bo);
        device_decoder->prefill({std::vector<int32_t>(prompt.begin(), prompt.end())});
    }
    t1 = Clock::now();
    result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

    for (int step = 0; step < options.max_new_tokens; ++step) {
        int32_t next;
        if (device_decoder) {
            if (step > 0) device_decoder->step();
            next = device_decoder->last_tokens()[0];
        } else {
            if (step > 0) logits = model.forward(std::span<const int32_t>(&result.tokens.back(), 1), kv);
            std::span<float> row(logits.data<float>(), size_t(n_vocab));
            next = sampler.sample(row, prompt, result.tokens);
        }
        result.tokens.push_back(next);
        const bool stop = !options.ignore_eos && std::find(options.stop_token_ids.begin(),
                                                           options.stop_token_ids.end(),
                                                           next) != options.stop_token_ids.end();
        if (on_token && !on_token(next)) {
            result.finish_reason = "stop";
            break;
        }
        if (stop) {
            result.finish_reason = "stop";
            break;
        }
    }
    result.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
    return result;
}

}  // namespace turbolm

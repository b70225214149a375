#include "engine/batch_decoder.h"

#include <random>

#include "core/error.h"
#include "models/split_steps.h"

namespace turbolm {

BatchDecoder::BatchDecoder(const Model& model, const BatchDecoderOptions& options)
    : model_(model), options_(options), device_(model.device()) {
    TURBOLM_REQUIRE(options.n_seqs > 0 && options.capacity > 0, "batch decoder needs sequences and capacity");
    const std::string err = options.sampling.validate();
    if (!err.empty()) fail(StatusCode::kInvalidArgument, err);
    kv_ = model.new_kv_cache(options.capacity, options.n_seqs);
    seed_ = options.sampling.seed ? *options.sampling.seed
                                  : (uint64_t(std::random_device{}()) << 32 | std::random_device{}());
    const SamplingParams& sp = options.sampling;
    penalties_ = sp.repetition_penalty != 1.0f || sp.presence_penalty != 0.0f || sp.frequency_penalty != 0.0f;
    if (device_ == Device::kCpu) {
        for (int64_t s = 0; s < options.n_seqs; ++s) {
            SamplingParams p = sp;
            p.seed = seed_ + uint64_t(s);
            cpu_samplers_.emplace_back(p);
        }
        return;
    }
    const int64_t n = options.n_seqs, vocab = model.config().n_vocab;
    params_host_.resize(size_t(n));
    params_ = Tensor::empty({n * int64_t(sizeof(ops::SamplingRowParams))}, DType::kU8, device_);
    ids_ = Tensor::empty({n}, DType::kI32, device_);
    if (penalties_) {
        counts_ = Tensor::zeros({n, vocab}, DType::kI32, device_);
        seen_ = Tensor::zeros({n, vocab}, DType::kU8, device_);
    }
    if (options.use_graph && model.graph_capturable(options.n_seqs)) graph_ = std::make_unique<ops::DeviceGraph>(device_);
}

BatchDecoder::~BatchDecoder() = default;

void BatchDecoder::upload_params() {
    const SamplingParams& sp = options_.sampling;
    for (size_t s = 0; s < params_host_.size(); ++s) {
        ops::SamplingRowParams& p = params_host_[s];
        p.temperature = sp.temperature;
        p.top_k = sp.top_k;
        p.top_p = sp.top_p;
        p.min_p = sp.min_p;
        p.repetition_penalty = sp.repetition_penalty;
        p.presence_penalty = sp.presence_penalty;
        p.frequency_penalty = sp.frequency_penalty;
        p.seed = seed_ + s;
        p.step = uint64_t(kv_.size(int64_t(s)));  // a new draw at every position
    }
    params_.copy_from(Tensor::wrap(params_host_.data(), {params_.numel()}, DType::kU8, nullptr));
}

void BatchDecoder::sample_on_device(Tensor& logits) {
    ops::sample(logits, params_, counts_, seen_, ids_, no_logprobs_);
    if (penalties_) ops::record_tokens(ids_, counts_, seen_);
}

const std::vector<int32_t>& BatchDecoder::prefill(const std::vector<std::vector<int32_t>>& prompts) {
    TURBOLM_REQUIRE(int64_t(prompts.size()) == options_.n_seqs, "prefill needs one prompt per sequence");
    std::vector<SequenceChunk> chunks;
    for (size_t s = 0; s < prompts.size(); ++s) chunks.push_back({prompts[s], int64_t(s), false});
    prompts_ = prompts;
    generated_.assign(prompts.size(), {});
    if (device_ == Device::kCpu) {
        Tensor logits = model_.forward_batch(chunks, kv_);
        last_.resize(prompts.size());
        for (size_t s = 0; s < prompts.size(); ++s) {
            std::span<float> row(logits.row<float>(int64_t(s)), size_t(logits.size(1)));
            last_[s] = cpu_samplers_[s].sample(row, prompts_[s], generated_[s]);
            generated_[s].push_back(last_[s]);
        }
        return last_;
    }
    if (penalties_) {
        std::vector<int32_t> ids, offsets{0};
        for (const auto& p : prompts) {
            ids.insert(ids.end(), p.begin(), p.end());
            offsets.push_back(int32_t(ids.size()));
        }
        Tensor ids_dev = Tensor::wrap(ids.data(), {int64_t(ids.size())}, DType::kI32, nullptr).to_device(device_);
        Tensor off_dev = Tensor::wrap(offsets.data(), {int64_t(offsets.size())}, DType::kI32, nullptr).to_device(device_);
        ops::mark_prompts(ids_dev, off_dev, counts_, seen_);
    }
    // Parameters use the positions before the prompt is committed; the step index only seeds draws.
    upload_params();
    Tensor logits = model_.forward_batch(chunks, kv_);
    sample_on_device(logits);
    last_.resize(prompts.size());
    Tensor host = ids_.to_device(Device::kCpu);
    std::copy_n(host.data<int32_t>(), last_.size(), last_.begin());
    return last_;
}

void BatchDecoder::step_on_device() {
    std::vector<SequenceChunk> chunks;
    for (size_t s = 0; s < last_.size(); ++s) chunks.push_back({std::span<const int32_t>(&last_[s], 1), int64_t(s), false});
    inputs_.build(chunks, kv_, /*capacity_bounds=*/graph_ != nullptr);
    inputs_.upload(device_);
    if (!options_.sampling.greedy() || !warmed_up_) upload_params();
    auto work = [&] {
        Tensor logits = model_.run(inputs_, kv_);
        sample_on_device(logits);
    };
    if (!graph_) {
        announce_step(model_, SplitStep::kRun, kv_, inputs_);
        work();
    } else if (!warmed_up_) {
        // The first step runs eagerly (it also settles every lazily created plan and buffer), then
        // the same work is recorded, not executed, for the steps after it.
        announce_step(model_, SplitStep::kRun, kv_, inputs_);
        work();
        announce_step(model_, SplitStep::kCapture, kv_, inputs_);
        graph_->capture(work);
    } else {
        announce_step(model_, SplitStep::kReplay, kv_, inputs_);
        graph_->replay();
    }
    warmed_up_ = true;
    Tensor host = ids_.to_device(Device::kCpu);
    std::copy_n(host.data<int32_t>(), last_.size(), last_.begin());
}

const std::vector<int32_t>& BatchDecoder::step() {
    TURBOLM_REQUIRE(!last_.empty(), "step before prefill");
    if (device_ != Device::kCpu) {
        step_on_device();
        for (size_t s = 0; s < last_.size(); ++s) kv_.commit(1, int64_t(s));
        return last_;
    }
    std::vector<SequenceChunk> chunks;
    for (size_t s = 0; s < last_.size(); ++s) chunks.push_back({std::span<const int32_t>(&last_[s], 1), int64_t(s), false});
    Tensor logits = model_.forward_batch(chunks, kv_);
    for (size_t s = 0; s < last_.size(); ++s) {
        std::span<float> row(logits.row<float>(int64_t(s)), size_t(logits.size(1)));
        last_[s] = cpu_samplers_[s].sample(row, prompts_[s], generated_[s]);
        generated_[s].push_back(last_[s]);
    }
    return last_;
}

}  // namespace turbolm

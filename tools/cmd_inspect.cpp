// turbolm inspect: what a model directory holds and what running it costs.
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "io/checkpoint.h"
#include "models/model.h"

namespace turbolm::cli {
namespace {

class InspectCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("inspect", "Describe a model: architecture, size, dtypes, memory");
        sub->add_option("model", model_dir_, "Hugging Face model directory")->required();
        sub->add_flag("--json", json_, "Print as JSON");
        return sub;
    }

    int run() override {
        return run_guarded([&] { inspect(); });
    }

private:
    void inspect() {
        // Loading validates every tensor against the config; weights are mapped, not read.
        auto model = Model::load(model_dir_);
        const ModelConfig& c = model->config();
        std::map<std::string, int64_t> dtypes;  // stored dtype -> tensors
        Checkpoint ckpt = Checkpoint::open(model_dir_);
        for (const auto& name : ckpt.names()) ++dtypes[dtype_name(ckpt.get(name).dtype())];
        const int64_t kv_f32 = c.kv_bytes_per_token();
        nlohmann::json j = {{"architecture", c.architecture},
                            {"model_type", c.model_type},
                            {"parameters", model->parameter_count()},
                            {"weight_bytes", model->weight_bytes()},
                            {"checkpoint_files", ckpt.files().size()},
                            {"dtypes", dtypes},
                            {"config_dtype", dtype_name(c.dtype)},
                            {"layers", c.n_layer},
                            {"hidden_size", c.n_embd},
                            {"heads", c.n_head},
                            {"kv_heads", c.n_head_kv},
                            {"head_dim", c.head_dim},
                            {"intermediate_size", c.n_ff},
                            {"vocab_size", c.n_vocab},
                            {"context_length", c.n_ctx_train},
                            {"experts", c.n_expert},
                            {"experts_per_token", c.n_expert_used},
                            {"rope_type", c.use_rope ? c.rope.type : "none"},
                            {"tied_embeddings", c.tie_embeddings},
                            {"kv_cache_bytes_per_token_f32", kv_f32},
                            {"kv_cache_bytes_per_token_bf16", kv_f32 / 2}};
        if (json_) {
            std::printf("%s\n", j.dump(2).c_str());
            return;
        }
        std::string dt;
        for (const auto& [name, n] : dtypes) dt += (dt.empty() ? "" : ", ") + name + " (" + std::to_string(n) + ")";
        std::printf("architecture      %s (%s)\n", c.architecture.c_str(), c.model_type.c_str());
        std::printf("parameters        %s (%lld)\n", human_count(double(model->parameter_count())).c_str(),
                    (long long)model->parameter_count());
        std::printf("weights           %s in memory, stored as %s\n", human_bytes(double(model->weight_bytes())).c_str(),
                    dt.c_str());
        std::printf("layers            %lld, hidden %lld, heads %lld (kv %lld, head_dim %lld), ffn %lld\n",
                    (long long)c.n_layer, (long long)c.n_embd, (long long)c.n_head, (long long)c.n_head_kv,
                    (long long)c.head_dim, (long long)c.n_ff);
        if (c.n_expert) std::printf("experts           %lld, %lld per token\n", (long long)c.n_expert, (long long)c.n_expert_used);
        std::printf("vocabulary        %lld, context %lld, rope %s%s\n", (long long)c.n_vocab, (long long)c.n_ctx_train,
                    c.use_rope ? c.rope.type.c_str() : "none", c.tie_embeddings ? ", tied embeddings" : "");
        std::printf("KV cache / token  %s (f32, CPU), %s (bf16)\n", human_bytes(double(kv_f32)).c_str(),
                    human_bytes(double(kv_f32) / 2).c_str());
    }

    std::string model_dir_;
    bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_inspect_command() { return std::make_unique<InspectCommand>(); }

}  // namespace turbolm::cli

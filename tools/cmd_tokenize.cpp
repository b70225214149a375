// turbolm tokenize: text to ids (and back) with a model's tokenizer, exactly as HF would.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"

namespace turbolm::cli {
namespace {

class TokenizeCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("tokenize", "Encode text to token ids, or decode ids to text");
        sub->add_option("--model,-m", model_dir_, "Model directory (or a tokenizer / GGUF file)")->required();
        auto* text = sub->add_option("text", text_, "Text to encode");
        auto* ids = sub->add_option("--decode", decode_, "Comma-separated ids to decode instead");
        text->excludes(ids);
        sub->add_flag("--no-special", no_special_, "Do not add BOS/EOS (add_special_tokens=False)");
        sub->add_flag("--tokens", show_tokens_, "Also print each token's string");
        sub->add_flag("--json", json_, "Print as JSON");
        return sub;
    }

    int run() override {
        return run_guarded([&] { tokenize(); });
    }

private:
    void tokenize() {
        std::filesystem::path p(model_dir_);
        auto tok = std::filesystem::is_directory(p) ? Tokenizer::load(p) : Tokenizer::load_file(p);
        if (!decode_.empty()) {
            const std::string text = tok->decode(parse_id_list(decode_));
            if (json_) {
                std::printf("%s\n", nlohmann::json({{"text", text}}).dump().c_str());
            } else {
                std::printf("%s\n", text.c_str());
            }
            return;
        }
        const std::vector<int32_t> ids = tok->encode(text_, !no_special_);
        if (json_) {
            nlohmann::json out = {{"ids", ids}, {"count", ids.size()}};
            if (show_tokens_) {
                std::vector<std::string> pieces;
                for (int32_t id : ids) pieces.push_back(tok->id_to_token(id));
                out["tokens"] = pieces;
            }
            std::printf("%s\n", out.dump().c_str());
            return;
        }
        std::printf("%s\n", join_ids(ids).c_str());
        if (show_tokens_)
            for (int32_t id : ids) std::printf("%8d  %s\n", id, tok->id_to_token(id).c_str());
    }

    std::string model_dir_;
    std::string text_;
    std::string decode_;
    bool no_special_ = false;
    bool show_tokens_ = false;
    bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_tokenize_command() { return std::make_unique<TokenizeCommand>(); }

}  // namespace turbolm::cli

// Post-processors: the special tokens HF adds around an encoded sequence when add_special_tokens
// is set (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel (adds nothing), Sequence).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace turbolm {

class PostProcessor {
  public:
    // What wraps a single sequence: ids before it and ids after it.
    struct Wrap {
        std::vector<int32_t> prefix, suffix;
    };

    PostProcessor() = default;
    explicit PostProcessor(Wrap wrap) : wrap_(std::move(wrap)) {}

    void apply(std::vector<int32_t>& ids) const;
    const Wrap& wrap() const { return wrap_; }
    bool adds_anything() const { return !wrap_.prefix.empty() || !wrap_.suffix.empty(); }

  private:
    Wrap wrap_;
};

// Reads a tokenizer.json post_processor. token_id resolves token strings named by id in the spec.
PostProcessor make_post_processor(const nlohmann::json& spec, const std::string& where,
                                  const std::function<std::optional<int32_t>(std::string_view)>& token_id);

}  // namespace turbolm

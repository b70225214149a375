#include "support/golden.h"

#include <algorithm>

#include "io/safetensors.h"
#include "support/test_paths.h"

namespace turbolm::test {
namespace {

template <typename T>
std::vector<T> to_vector(const Tensor& t) {
    const T* p = t.data<T>();
    return std::vector<T>(p, p + t.numel());
}

}  // namespace

std::vector<GoldenPrompt> load_goldens(const std::filesystem::path& dir) {
    auto file = SafetensorsFile::open(dir / "golden.safetensors");
    std::vector<GoldenPrompt> out;
    for (int i = 0; file->has("ids_" + std::to_string(i)); ++i) {
        const std::string s = std::to_string(i);
        GoldenPrompt g;
        g.ids = to_vector<int32_t>(file->tensor("ids_" + s));
        g.logits = file->tensor("logits_" + s);
        g.greedy = to_vector<int32_t>(file->tensor("greedy_" + s));
        g.greedy_margin = to_vector<float>(file->tensor("greedy_margin_" + s));
        out.push_back(std::move(g));
    }
    return out;
}

std::vector<GoldenCase> golden_cases() {
    std::vector<GoldenCase> out;
    for (const char* name : {"llama-gqa", "llama3-rope-scaled-tied", "mistral-sliding-window", "qwen2-qkv-bias",
                             "qwen3-qk-norm", "gpt2", "falcon-mqa", "mixtral-moe", "llama-rope-linear-bias",
                             "llama-rope-dynamic", "llama-rope-yarn", "falcon-new-arch", "falcon-mha-sequential"})
        out.push_back({name, fixtures_dir() / "hf-tiny" / name});
    // The demo model trained by the project (tools/train_demo_model.py), with goldens from HF.
    out.push_back({"demo", source_dir() / "models" / "demo"});
    // A real trained model; third-party weights, read in place and never copied.
    out.push_back({"stories260K", shared_dir() / "fixtures" / "llama2c-hf" / "stories260K"});
    return out;
}

std::string golden_case_test_name(const GoldenCase& c) {
    std::string n = c.name;
    std::replace(n.begin(), n.end(), '-', '_');
    return n;
}

}  // namespace turbolm::test

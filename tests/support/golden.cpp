#include "support/golden.h"

#include "io/safetensors.h"

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

}  // namespace turbolm::test

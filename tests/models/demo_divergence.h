// The demo model's held-out text and how far a changed model's next-token distributions are from
// the unchanged one's on it: the accuracy checks of quantized modes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace turbolm {

class Model;

namespace test {

std::filesystem::path demo_model_dir();
// The first n tokens of models/demo/heldout.txt (BOS first), tokenized with the demo tokenizer.
std::vector<int32_t> demo_heldout_ids(size_t n);
// The text of models/demo/calibration.txt, tokenized without special tokens, cut to n tokens.
std::vector<int32_t> demo_calibration_ids(size_t n);

struct Divergence {
    double kl_mean = 0.0;       // mean over positions of KL(base || candidate), in double
    double top1_agreement = 0.0;
};
// Both models score `ids` in windows of `window` tokens, each window a fresh cache filled in
// `chunks` forward passes (so that later chunks read what earlier ones wrote to the cache).
Divergence divergence(const Model& base, const Model& candidate, const std::vector<int32_t>& ids, int64_t window,
                      int64_t chunks = 1);

}  // namespace test
}  // namespace turbolm

// Shared by the quantized-checkpoint tests: a writable copy of an hf-tiny model with tokenizer files
// beside it, projections quantized in memory with the ops' own quantizers, and comparisons of every
// tensor of two models byte for byte.
#pragma once

#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "models/layers.h"
#include "models/model.h"
#include "support/temp_dir.h"

namespace turbolm::test {

// Copies tests/fixtures/hf-tiny/<name> (config, generation config, weights) into dir, with made-up
// tokenizer.json, tokenizer_config.json and special_tokens_map.json that a writer must copy.
void make_source_dir(const std::string& name, const std::filesystem::path& dir);
extern const char* const kTokenizerFiles[3];

// Every projection the layers hold (attention q/k/v/o, the dense MLP) replaced by one in `format`,
// quantized from its weights with the ops (quantize_groups_int4 in groups of `group`, or the
// largest multiple of 32 below it that divides the input; quantize_rows_fp8; quantize_rows_int8).
// int4 with act_order: columns permuted by a random act-order g_idx first, kept as in_perm (in the
// canonical order a GPTQ checkpoint loads to). kW8A8Int8: a random smoothing s, weights w * s,
// inv_smooth 1 / s.
// With experts, MoE experts are quantized too (as Mixtral AWQ/GPTQ/FP8 checkpoints store them).
void quantize_projections(ModelWeights& w, WeightFormat format, std::mt19937_64& rng, int64_t group = 128,
                          bool act_order = false, bool experts = false);

// Every tensor of a Llama-family model under a name ("<checkpoint name>.<field>" for projections),
// and a summary of each projection's format and group.
std::map<std::string, Tensor> all_tensors(const ModelConfig& cfg, const ModelWeights& w);
// Fails the current test for every tensor of a that b lacks or holds with other bytes, dtype or shape.
void expect_same_tensors(const ModelConfig& cfg, const ModelWeights& a, const ModelWeights& b);

// All tensors of a safetensors file, copied into memory (so that the file can be rewritten).
std::map<std::string, Tensor> read_tensors(const std::filesystem::path& file);

}  // namespace turbolm::test

// Writing a model as a Hugging Face checkpoint directory, its projections in the packed layout of
// their in-memory format, so that it loads back to the same bytes without recomputing anything:
//   int4 (no input permutation)  quant_method "awq", AutoAWQ GEMM layout (vLLM, TGI, transformers read it)
//   int4 with act-order          quant_method "gptq", desc_act, g_idx (v1 zeros when they fit, else gptq_v2)
//   fp8                          quant_method "fp8", activation_scheme dynamic, per-channel weight_scale [out, 1]
//   int8 / w8a8-int8             quant_method "turbolm" (ours; docs/quantization.md)
// Everything else (embeddings, norms, the LM head, biases, projections left in 16 bits) is written
// from the weights in memory in their in-memory dtype, since searches that fold scales into norms
// and neighbouring projections leave the source files out of date.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "models/layers.h"
#include "models/model_config.h"
#include "quant/quantization_config.h"

namespace turbolm {

class Model;

struct CheckpointWriteOptions {
    // The largest shard: a larger model is split into model-0000i-of-0000n.safetensors listed by
    // model.safetensors.index.json (4 GB, as transformers' save_pretrained counts them).
    size_t max_shard_bytes = 4'000'000'000;
};

struct CheckpointWriteResult {
    quant::QuantizationConfig quant;  // what config.json's quantization_config says (method kNone: none)
    std::vector<std::string> files;   // file names written in the output directory
    size_t tensor_bytes = 0;          // bytes of tensor data
};

// The quantization_config that stores w: its quantizable projections' one format (throws
// kUnimplemented for several formats in one model), the group size most of them use (others listed in
// turbolm_group_sizes), and the projections left dense as modules_to_not_convert.
quant::QuantizationConfig quantization_config_for(const ModelConfig& cfg, const ModelWeights& w);

// Writes out_dir/config.json (source_dir's config.json with quantization_config set, or removed for
// a model without quantized projections), the weights (model.safetensors, or shards of at most
// options.max_shard_bytes with an index; stale weight files of out_dir are removed first), and copies
// the tokenizer and generation files that source_dir has (tokenizer.json, tokenizer_config.json,
// tokenizer.model, special_tokens_map.json, added_tokens.json, chat_template.jinja, vocab.json,
// merges.txt, generation_config.json).
// The weights must be on the CPU and unfused (a model loaded for the CPU; GPU placement fuses q/k/v
// and gate/up): kInvalidArgument otherwise, as for out_dir == source_dir (the source may be mapped).
// Architectures: the Llama family (llama, mistral, qwen2, qwen3, mixtral with 16-bit experts);
// kUnimplemented for the others.
CheckpointWriteResult write_quantized_checkpoint(const ModelConfig& cfg, const ModelWeights& w,
                                                 const std::filesystem::path& source_dir,
                                                 const std::filesystem::path& out_dir,
                                                 const CheckpointWriteOptions& options = {});
CheckpointWriteResult write_quantized_checkpoint(const Model& model, const std::filesystem::path& source_dir,
                                                 const std::filesystem::path& out_dir,
                                                 const CheckpointWriteOptions& options = {});

}  // namespace turbolm

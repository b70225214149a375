// Writing a checkpoint directory's weights the way transformers' save_pretrained lays them out:
// one model.safetensors, or shards model-0000i-of-0000n.safetensors with model.safetensors.index.json
// ({"metadata": {"total_size": bytes}, "weight_map": {tensor: shard}}), which Checkpoint::open reads.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace turbolm {

// Writes `tensors` (CPU) into dir (created if needed), shards of at most max_shard_bytes each (a
// single larger tensor gets a shard of its own), after removing the weight files an earlier write
// may have left there (model.safetensors, the index, model-*-of-*.safetensors). Each file carries
// the metadata {"format": "pt"} that transformers expects. Returns the file names written.
std::vector<std::string> write_checkpoint_weights(const std::filesystem::path& dir,
                                                  const std::map<std::string, Tensor>& tensors, size_t max_shard_bytes);

}  // namespace turbolm

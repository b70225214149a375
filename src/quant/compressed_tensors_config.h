// quant_method "compressed-tensors", the config of llm-compressor's checkpoints (the FP8, INT8 and
// W4A16 models RedHat / Neural Magic publish on the Hub): its config_groups must apply one scheme,
// which is mapped onto a format turbolm computes (CompressedScheme); anything else is refused with
// the group, key and value named.
#pragma once

#include <nlohmann/json.hpp>

#include "quant/config_reader.h"

namespace turbolm::quant {

// Reads quantization_config `j` (quant_method already "compressed-tensors") into q through r.
void parse_compressed_tensors(Reader& r, QuantizationConfig& q, const nlohmann::json& j);

// The config that parses back to q's scheme: one group targeting Linear, q's format and ignore list.
nlohmann::json compressed_tensors_json(const QuantizationConfig& q);

}  // namespace turbolm::quant

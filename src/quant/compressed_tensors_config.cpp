#include "quant/compressed_tensors_config.h"

#include <regex>

namespace turbolm::quant {

const char* compressed_scheme_name(CompressedScheme s) {
    switch (s) {
        case CompressedScheme::kFp8:
            return "fp8";
        case CompressedScheme::kW8A8Int8:
            return "w8a8-int8";
        case CompressedScheme::kW4A16:
            return "w4a16";
        case CompressedScheme::kW8A16:
            return "w8a16";
    }
    return "?";
}

namespace {

// One QuantizationArgs object (the "weights" or "input_activations" of a config group).
struct Args {
    bool present = false;
    int64_t bits = 0;
    std::string type;      // "int" or "float"
    std::string strategy;  // "tensor", "channel", "group", "block", "token", ...
    int64_t group_size = -1;
    bool symmetric = true;
    bool dynamic = false;
    nlohmann::json args;  // the object itself, for the keys only one scheme reads
};

Args read_args(Reader& r, const nlohmann::json& j, const std::string& what) {
    Args a;
    if (j.is_null()) return a;
    if (!j.is_object()) {
        r.refuse("compressed-tensors ", what, " is not an object: ", j.dump());
        return a;
    }
    a.present = true;
    a.args = j;
    Reader args(j, r.config(), r.source());
    a.bits = args.integer("num_bits", 8);
    a.type = lower(args.text("type", "int"));
    a.group_size = args.integer("group_size", -1);
    // QuantizationArgs infers the strategy when it is left out: per group with a group size, else per tensor.
    a.strategy = lower(args.text("strategy", a.group_size > 0 ? "group" : "tensor"));
    a.symmetric = args.boolean("symmetric", true);
    if (args.has("dynamic") && j["dynamic"].is_string()) {
        r.refuse("compressed-tensors ", what, " with dynamic '", j["dynamic"].get<std::string>(),
                 "' is not supported (true or false)");
    } else {
        a.dynamic = args.boolean("dynamic", false);
    }
    return a;
}

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
        if (v == a) return true;
    return false;
}

// FP8 weights per tensor or per channel; activations FP8 per token (dynamic) or per tensor (static,
// whose input_scale is ignored: turbolm quantizes per token), or none (then per token all the same).
void fp8_scheme(Reader& r, QuantizationConfig& q, const Args& w, const Args& in) {
    q.compressed_scheme = CompressedScheme::kFp8;
    if (!one_of(q.compressed_format, {"float-quantized", "naive-quantized"}))
        return r.refuse("compressed-tensors FP8 weights in format '", q.compressed_format,
                        "' are not supported (float-quantized or naive-quantized)");
    if (w.strategy == "block") {
        // Block-wise scales load dequantized, so the activations' (per-group) scheme does not matter.
        if (!w.args.contains("block_structure") || w.args["block_structure"].is_null())
            return r.refuse("compressed-tensors FP8 weights with strategy 'block' and no block_structure");
        Reader(w.args, q, r.source()).fp8_block("block_structure");
        return;
    }
    if (!one_of(w.strategy, {"tensor", "channel"}))
        return r.refuse("compressed-tensors FP8 weights with strategy '", w.strategy,
                        "' are not supported (tensor, channel or block)");
    if (!in.present) return;
    if (in.type != "float" || in.bits != 8)
        return r.refuse("compressed-tensors FP8 weights with ", in.bits, "-bit ", in.type,
                        " input activations are not supported (8-bit float, or none)");
    if (in.dynamic && in.strategy == "token") return;
    if (!in.dynamic && in.strategy == "tensor") {
        q.static_activations = true;
        return;
    }
    r.refuse("compressed-tensors FP8 input activations with strategy '", in.strategy, "' and dynamic ",
             in.dynamic ? "true" : "false", " are not supported (dynamic per token, or static per tensor)");
}

// INT8 weights per channel with INT8 activations: SmoothQuant's product, the smoothing folded into
// the weights by the quantizer.
void w8a8_int8_scheme(Reader& r, QuantizationConfig& q, const Args& w, const Args& in) {
    q.compressed_scheme = CompressedScheme::kW8A8Int8;
    if (!one_of(q.compressed_format, {"int-quantized", "naive-quantized"}))
        return r.refuse("compressed-tensors INT8 weights and activations in format '", q.compressed_format,
                        "' are not supported (int-quantized or naive-quantized)");
    if (w.bits != 8 || !w.symmetric || !one_of(w.strategy, {"tensor", "channel"}))
        return r.refuse("compressed-tensors INT8 activations need symmetric 8-bit weights per tensor or channel; "
                        "the weights are ",
                        w.bits, "-bit, ", w.symmetric ? "symmetric" : "asymmetric", ", strategy '", w.strategy, "'");
    if (in.type != "int" || in.bits != 8 || !in.symmetric)
        return r.refuse("compressed-tensors input activations of ", in.bits, "-bit ", in.type, ", ",
                        in.symmetric ? "symmetric" : "asymmetric",
                        ", are not supported with INT8 weights (symmetric 8-bit int)");
    if (in.dynamic && in.strategy == "token") return;
    if (!in.dynamic && in.strategy == "tensor") {
        q.static_activations = true;
        return;
    }
    r.refuse("compressed-tensors INT8 input activations with strategy '", in.strategy, "' and dynamic ",
             in.dynamic ? "true" : "false", " are not supported (dynamic per token, or static per tensor)");
}

// Integer weights alone: 4 bits in groups (or whole rows), or 8 bits per channel.
void weight_only_scheme(Reader& r, QuantizationConfig& q, const Args& w) {
    if (w.bits == 4) {
        q.compressed_scheme = CompressedScheme::kW4A16;
        if (q.compressed_format != "pack-quantized")
            return r.refuse("compressed-tensors 4-bit weights in format '", q.compressed_format,
                            "' are not supported (pack-quantized)");
        if (w.strategy == "channel") {
            q.group_size = -1;
        } else if (w.strategy == "group") {
            q.group_size = w.group_size;
            if (q.group_size <= 0 || q.group_size % 32 != 0)
                return r.refuse("compressed-tensors 4-bit weights with group_size ", w.group_size,
                                " are not supported (a multiple of 32)");
        } else {
            return r.refuse("compressed-tensors 4-bit weights with strategy '", w.strategy,
                            "' are not supported (group or channel)");
        }
        q.sym = w.symmetric;
        return;
    }
    if (w.bits == 8) {
        q.compressed_scheme = CompressedScheme::kW8A16;
        if (!one_of(q.compressed_format, {"pack-quantized", "int-quantized", "naive-quantized"}))
            return r.refuse("compressed-tensors 8-bit weights in format '", q.compressed_format,
                            "' are not supported (pack-quantized, int-quantized or naive-quantized)");
        if (!w.symmetric || !one_of(w.strategy, {"tensor", "channel"}))
            return r.refuse("compressed-tensors 8-bit weights alone need symmetric scales per tensor or channel; ",
                            "these are ", w.symmetric ? "symmetric" : "asymmetric", ", strategy '", w.strategy, "'");
        return;
    }
    r.refuse("compressed-tensors ", w.bits, "-bit integer weights are not supported (4 or 8)");
}

}  // namespace

void parse_compressed_tensors(Reader& r, QuantizationConfig& q, const nlohmann::json& j) {
    q.method = QuantMethod::kCompressedTensors;
    q.compressed_format = lower(r.text("format", ""));
    if (r.has("sparsity_config")) {
        // An empty object, or format "dense", is what the quantizer writes for no sparsity.
        const auto& s = j["sparsity_config"];
        const std::string f = s.is_object() && s.empty() ? "dense"
                              : s.is_object() && s.contains("format") && s["format"].is_string()
                                  ? lower(s["format"].get<std::string>())
                                  : s.dump();
        if (f != "dense") return r.refuse("compressed-tensors sparsity (format '", f, "') is not supported");
    }
    if (r.has("transform_config"))
        return r.refuse("compressed-tensors transforms (transform_config) are not supported");
    r.names("ignore", q.ignore);
    for (const auto& m : q.ignore) {
        if (m.rfind("re:", 0) != 0) continue;
        try {
            std::regex check(m.substr(3));
        } catch (const std::regex_error&) {
            return r.refuse("compressed-tensors ignore pattern '", m, "' is not a regular expression we can read");
        }
    }
    if (!r.has("config_groups") || !j["config_groups"].is_object() || j["config_groups"].empty())
        return r.refuse("compressed-tensors without config_groups");
    // Every group must apply the same scheme (they may target different modules): which projection
    // is quantized is read from its tensors.
    nlohmann::json scheme;
    std::string first;
    for (auto it = j["config_groups"].begin(); it != j["config_groups"].end(); ++it) {
        if (!it->is_object()) return r.refuse("compressed-tensors config group '", it.key(), "' is not an object");
        const nlohmann::json mine = {{"weights", it->value("weights", nlohmann::json())},
                                     {"input_activations", it->value("input_activations", nlohmann::json())},
                                     {"output_activations", it->value("output_activations", nlohmann::json())}};
        if (first.empty()) {
            first = it.key();
            scheme = mine;
        } else if (mine != scheme) {
            return r.refuse("compressed-tensors config groups '", first, "' and '", it.key(),
                            "' quantize differently, which is not supported (one scheme for every projection)");
        }
    }
    if (!scheme["output_activations"].is_null())
        return r.refuse("compressed-tensors output activation quantization (group '", first, "') is not supported");
    const Args w = read_args(r, scheme["weights"], "config group '" + first + "' weights");
    const Args in = read_args(r, scheme["input_activations"], "config group '" + first + "' input_activations");
    if (!w.present) return r.refuse("compressed-tensors config group '", first, "' without weights");
    q.bits = w.bits;
    if (w.type == "float" && w.bits == 8) return fp8_scheme(r, q, w, in);
    if (w.type == "int" && in.present) return w8a8_int8_scheme(r, q, w, in);
    if (w.type == "int") return weight_only_scheme(r, q, w);
    r.refuse("compressed-tensors ", w.bits, "-bit ", w.type, " weights are not supported");
}

nlohmann::json compressed_tensors_json(const QuantizationConfig& q) {
    nlohmann::json weights = {{"num_bits", q.bits}, {"symmetric", true}, {"dynamic", false}};
    nlohmann::json in = nullptr;
    const auto activations = [&](const char* type) {
        in = {{"num_bits", 8},
              {"type", type},
              {"symmetric", true},
              {"dynamic", !q.static_activations},
              {"strategy", q.static_activations ? "tensor" : "token"}};
    };
    switch (q.compressed_scheme) {
        case CompressedScheme::kFp8:
            weights["type"] = "float";
            weights["strategy"] = q.fp8_block_rows > 0 ? "block" : "channel";
            if (q.fp8_block_rows > 0) weights["block_structure"] = {q.fp8_block_rows, q.fp8_block_cols};
            activations("float");
            break;
        case CompressedScheme::kW8A8Int8:
            weights["type"] = "int";
            weights["strategy"] = "channel";
            activations("int");
            break;
        case CompressedScheme::kW4A16:
            weights["type"] = "int";
            weights["symmetric"] = q.sym;
            weights["strategy"] = q.group_size > 0 ? "group" : "channel";
            weights["group_size"] = q.group_size > 0 ? nlohmann::json(q.group_size) : nlohmann::json();
            break;
        case CompressedScheme::kW8A16:
            weights["type"] = "int";
            weights["strategy"] = "channel";
            break;
    }
    nlohmann::json j = {{"quant_method", "compressed-tensors"},
                        {"format", q.compressed_format},
                        {"config_groups",
                         {{"group_0", {{"targets", {"Linear"}}, {"weights", weights}, {"input_activations", in}}}}}};
    if (!q.ignore.empty()) j["ignore"] = q.ignore;
    return j;
}

}  // namespace turbolm::quant

#include "io/safetensors.h"

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace turbolm {
namespace {

// A header larger than this is certainly corrupt (real ones are a few MB at most).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const nlohmann::json& j,
                             size_t data_size) {
    auto bad = [&](const std::string& what) { fail(StatusCode::kDataLoss, file, ": tensor '", name, "': ", what); };
    if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
        bad("header entry needs dtype, shape and data_offsets");
    const auto& jd = j["dtype"];
    const auto& js = j["shape"];
    const auto& jo = j["data_offsets"];
    if (!jd.is_string() || !js.is_array() || !jo.is_array() || jo.size() != 2) bad("malformed header entry");
    SafetensorsEntry e{};
    std::string dtype = jd.get<std::string>();
    if (!dtype_from_safetensors(dtype, &e.dtype))
        fail(StatusCode::kUnimplemented, file, ": tensor '", name, "': unsupported dtype ", dtype);
    if (js.size() > size_t(Shape::kMaxDims)) bad("too many dimensions");
    for (const auto& d : js) {
        if (!d.is_number_unsigned()) bad("shape holds a non-integer or negative dimension");
        e.shape.push_back(d.get<int64_t>());
    }
    if (!jo[0].is_number_unsigned() || !jo[1].is_number_unsigned()) bad("data_offsets are not unsigned integers");
    e.begin = jo[0].get<size_t>();
    e.end = jo[1].get<size_t>();
    if (e.begin > e.end) bad("data_offsets are reversed");
    size_t expected = size_t(e.shape.numel()) * dtype_size(e.dtype);
    if (e.end - e.begin != expected)
        bad(str_cat("holds ", e.end - e.begin, " bytes but ", dtype, e.shape.to_string(), " needs ", expected));
    if (e.end > data_size)
        fail(StatusCode::kDataLoss, file, ": file is truncated: tensor '", name, "' ends at byte ", e.end,
             " of the data section but the file holds only ", data_size, " data bytes");
    return e;
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
    auto st = std::make_shared<SafetensorsFile>();
    st->map_ = FileMap::open(path);
    const std::string file = path.string();
    const size_t size = st->map_->size();
    if (size < 8) fail(StatusCode::kDataLoss, file, ": file is truncated (", size, " bytes, no safetensors header)");
    uint64_t header_len = 0;
    std::memcpy(&header_len, st->map_->data(), 8);  // little-endian, as is every machine we run on
    if (header_len > kMaxHeaderBytes || header_len > size - 8)
        fail(StatusCode::kDataLoss, file, ": file is truncated or not safetensors (header of ", header_len,
             " bytes, file of ", size, ")");
    const char* header = reinterpret_cast<const char*>(st->map_->data() + 8);
    nlohmann::json j = nlohmann::json::parse(header, header + header_len, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) fail(StatusCode::kDataLoss, file, ": header is not a JSON object");
    st->data_start_ = 8 + header_len;
    const size_t data_size = size - st->data_start_;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (!it->is_object()) fail(StatusCode::kDataLoss, file, ": __metadata__ is not an object");
            for (auto m = it->begin(); m != it->end(); ++m)
                if (m->is_string()) st->metadata_[m.key()] = m->get<std::string>();
            continue;
        }
        st->entries_[it.key()] = parse_entry(file, it.key(), *it, data_size);
    }
    return st;
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail(StatusCode::kNotFound, path().string(), ": tensor '", name, "' is missing");
    const SafetensorsEntry& e = it->second;
    void* p = const_cast<unsigned char*>(map_->data() + data_start_ + e.begin);
    return Tensor::wrap(p, e.shape, e.dtype, map_);
}

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    static const char* kNames[] = {"F64", "F32", "F16", "BF16", "F8_E4M3", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    size_t offset = 0;
    for (const auto& [name, t] : tensors) {
        std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
        header[name] = {{"dtype", kNames[int(t.dtype())]}, {"shape", shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
        offset += t.nbytes();
    }
    std::string text = header.dump();
    while ((8 + text.size()) % 8) text.push_back(' ');  // keep the data section 8-byte aligned
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) fail(StatusCode::kInvalidArgument, path.string(), ": cannot open for writing");
    uint64_t len = text.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(text.data(), std::streamsize(text.size()));
    for (const auto& [name, t] : tensors) {
        Tensor c = t.contiguous();
        out.write(static_cast<const char*>(c.raw_data()), std::streamsize(c.nbytes()));
    }
    if (!out) fail(StatusCode::kDataLoss, path.string(), ": write failed");
}

}  // namespace turbolm

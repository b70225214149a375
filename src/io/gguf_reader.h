// GGUF (llama.cpp's file format) header reader: the metadata key/values of every GGUF value type,
// arrays included, and the tensor-info table. Tensor data is not read; data_offset() says where it
// starts so that a loader can map it. Versions 1 to 3 are accepted.
//
// Malformed or truncated files throw turbolm::Error(kDataLoss) naming the file, the byte offset and
// what was expected; a missing file throws kNotFound.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace turbolm {

enum class GgufType : uint32_t {
    kUint8 = 0,
    kInt8 = 1,
    kUint16 = 2,
    kInt16 = 3,
    kUint32 = 4,
    kInt32 = 5,
    kFloat32 = 6,
    kBool = 7,
    kString = 8,
    kArray = 9,
    kUint64 = 10,
    kInt64 = 11,
    kFloat64 = 12,
};

const char* gguf_type_name(GgufType type);

// One metadata value. Scalars keep their declared type; numeric arrays keep their elements'
// little-endian bytes so that a 150k-entry score table costs one allocation.
class GgufValue {
  public:
    struct Array {
        GgufType element_type = GgufType::kUint8;
        uint64_t size = 0;
        std::vector<uint8_t> numbers;      // numeric and bool elements, packed
        std::vector<std::string> strings;  // string elements
        std::vector<GgufValue> arrays;     // nested arrays
    };

    GgufValue() = default;
    GgufValue(GgufType type, std::variant<uint64_t, int64_t, double, bool, std::string, Array> data)
        : type_(type), data_(std::move(data)) {}

    GgufType type() const { return type_; }
    bool is_array() const { return type_ == GgufType::kArray; }
    bool is_integer() const;
    bool is_number() const;

    // Scalar access; each throws kInvalidArgument when the value has another type.
    int64_t as_int() const;    // any integer type (and bool)
    double as_double() const;  // any numeric type
    bool as_bool() const;      // bool or integer
    const std::string& as_string() const;

    // Array access.
    const Array& as_array() const;
    GgufType array_type() const { return as_array().element_type; }
    size_t array_size() const { return static_cast<size_t>(as_array().size); }
    const std::vector<std::string>& as_strings() const;  // array of strings
    std::vector<int64_t> to_ints() const;                // array of integers (or bools)
    std::vector<float> to_floats() const;                // array of numbers

  private:
    GgufType type_ = GgufType::kUint8;
    std::variant<uint64_t, int64_t, double, bool, std::string, Array> data_;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<uint64_t> dims;  // GGUF order: dims[0] is the fastest-varying
    uint32_t ggml_type = 0;
    uint64_t offset = 0;  // from data_offset()
    uint64_t nbytes = 0;  // size of the data for the ggml types the reader knows; 0 for others
};

// Bytes of a tensor of `elements` values of ggml type `type`; 0 when the type is unknown here.
uint64_t ggml_type_nbytes(uint32_t type, uint64_t elements);

class GgufReader {
  public:
    // Reads the header, all metadata and the tensor infos of `path`.
    static GgufReader open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t file_size() const { return file_size_; }
    uint64_t data_offset() const { return data_offset_; }
    uint32_t alignment() const { return alignment_; }

    // Keys in file order.
    const std::vector<std::string>& keys() const { return keys_; }
    bool contains(std::string_view key) const { return find(key) != nullptr; }
    const GgufValue* find(std::string_view key) const;
    // Throws kNotFound naming the file and the key.
    const GgufValue& get(std::string_view key) const;

    std::optional<std::string> get_string(std::string_view key) const;
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  private:
    std::filesystem::path path_;
    uint32_t version_ = 0;
    uint64_t file_size_ = 0;
    uint64_t data_offset_ = 0;
    uint32_t alignment_ = 32;
    std::vector<std::string> keys_;
    std::unordered_map<std::string, GgufValue> values_;
    std::vector<GgufTensorInfo> tensors_;
};

}  // namespace turbolm

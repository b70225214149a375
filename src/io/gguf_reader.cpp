#include "io/gguf_reader.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace turbolm {

namespace {

constexpr uint32_t kMaxNesting = 8;
constexpr uint32_t kMaxDims = 8;

size_t scalar_size(GgufType type) {
    switch (type) {
        case GgufType::kUint8:
        case GgufType::kInt8:
        case GgufType::kBool:
            return 1;
        case GgufType::kUint16:
        case GgufType::kInt16:
            return 2;
        case GgufType::kUint32:
        case GgufType::kInt32:
        case GgufType::kFloat32:
            return 4;
        case GgufType::kUint64:
        case GgufType::kInt64:
        case GgufType::kFloat64:
            return 8;
        default:
            return 0;
    }
}

bool is_known_type(uint32_t t) {
    return t <= static_cast<uint32_t>(GgufType::kFloat64);
}

// Buffered little-endian reader that knows the file size, so that every length read from the file
// is checked against what is left before anything is allocated for it.
class Reader {
  public:
    explicit Reader(const std::filesystem::path& path) : path_(path) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec))
            fail(StatusCode::kNotFound, path.string(), ": no such GGUF file");
        size_ = std::filesystem::file_size(path, ec);
        if (ec) fail(StatusCode::kNotFound, path.string(), ": cannot stat: ", ec.message());
        file_.reset(std::fopen(path.c_str(), "rb"));
        if (!file_) fail(StatusCode::kNotFound, path.string(), ": cannot open: ", std::strerror(errno));
    }

    uint64_t offset() const { return offset_; }
    uint64_t size() const { return size_; }
    uint64_t remaining() const { return size_ - offset_; }

    [[noreturn]] void corrupt(const std::string& what) const {
        fail(StatusCode::kDataLoss, path_.string(), ": malformed GGUF at byte ", offset_, ": ", what);
    }

    void read(void* dst, size_t n, const char* what) {
        if (n > remaining()) {
            fail(StatusCode::kDataLoss, path_.string(), ": truncated GGUF: ", what, " needs ", n, " bytes at byte ",
                 offset_, " but the file has ", size_, " bytes");
        }
        if (n != 0 && std::fread(dst, 1, n, file_.get()) != n) {
            fail(StatusCode::kDataLoss, path_.string(), ": read error at byte ", offset_);
        }
        offset_ += n;
    }

    template <typename T>
    T pod(const char* what) {
        T v;
        read(&v, sizeof(T), what);  // GGUF is little-endian, as are the hosts we build for
        return v;
    }

    uint64_t length(bool wide, const char* what) { return wide ? pod<uint64_t>(what) : pod<uint32_t>(what); }

    std::string string(bool wide, const char* what) {
        uint64_t n = length(wide, what);
        if (n > remaining()) {
            corrupt(str_cat(what, " claims ", n, " bytes but only ", remaining(), " remain"));
        }
        std::string s(n, '\0');
        read(s.data(), n, what);
        return s;
    }

  private:
    struct Closer {
        void operator()(FILE* f) const { std::fclose(f); }
    };
    std::filesystem::path path_;
    std::unique_ptr<FILE, Closer> file_;
    uint64_t size_ = 0;
    uint64_t offset_ = 0;
};

GgufValue read_value(Reader& in, GgufType type, bool wide, uint32_t depth);

GgufValue read_array(Reader& in, bool wide, uint32_t depth) {
    if (depth > kMaxNesting) in.corrupt("arrays nested too deeply");
    uint32_t raw_type = in.pod<uint32_t>("array element type");
    if (!is_known_type(raw_type)) in.corrupt(str_cat("unknown array element type ", raw_type));
    GgufValue::Array array;
    array.element_type = static_cast<GgufType>(raw_type);
    array.size = in.length(wide, "array length");
    if (size_t width = scalar_size(array.element_type)) {
        if (array.size > in.remaining() / width) {
            in.corrupt(str_cat("array of ", array.size, " ", gguf_type_name(array.element_type), " exceeds the file"));
        }
        array.numbers.resize(array.size * width);
        in.read(array.numbers.data(), array.numbers.size(), "array data");
    } else if (array.element_type == GgufType::kString) {
        // Each string takes at least its length field.
        if (array.size > in.remaining() / (wide ? 8 : 4))
            in.corrupt(str_cat("array of ", array.size, " strings exceeds the file"));
        array.strings.reserve(array.size);
        for (uint64_t i = 0; i < array.size; ++i) array.strings.push_back(in.string(wide, "array string"));
    } else {
        if (array.size > in.remaining() / 12) in.corrupt(str_cat("array of ", array.size, " arrays exceeds the file"));
        array.arrays.reserve(array.size);
        for (uint64_t i = 0; i < array.size; ++i)
            array.arrays.push_back(read_value(in, array.element_type, wide, depth + 1));
    }
    return GgufValue(GgufType::kArray, std::move(array));
}

GgufValue read_value(Reader& in, GgufType type, bool wide, uint32_t depth) {
    switch (type) {
        case GgufType::kUint8:
            return {type, uint64_t{in.pod<uint8_t>("uint8 value")}};
        case GgufType::kUint16:
            return {type, uint64_t{in.pod<uint16_t>("uint16 value")}};
        case GgufType::kUint32:
            return {type, uint64_t{in.pod<uint32_t>("uint32 value")}};
        case GgufType::kUint64:
            return {type, in.pod<uint64_t>("uint64 value")};
        case GgufType::kInt8:
            return {type, int64_t{in.pod<int8_t>("int8 value")}};
        case GgufType::kInt16:
            return {type, int64_t{in.pod<int16_t>("int16 value")}};
        case GgufType::kInt32:
            return {type, int64_t{in.pod<int32_t>("int32 value")}};
        case GgufType::kInt64:
            return {type, in.pod<int64_t>("int64 value")};
        case GgufType::kFloat32:
            return {type, double{in.pod<float>("float32 value")}};
        case GgufType::kFloat64:
            return {type, in.pod<double>("float64 value")};
        case GgufType::kBool: {
            uint8_t b = in.pod<uint8_t>("bool value");
            if (b > 1) in.corrupt(str_cat("bool value ", int{b}, " is neither 0 nor 1"));
            return {type, b != 0};
        }
        case GgufType::kString:
            return {type, in.string(wide, "string value")};
        case GgufType::kArray:
            return read_array(in, wide, depth);
    }
    in.corrupt(str_cat("unknown value type ", static_cast<uint32_t>(type)));
}

template <typename T>
T load_le(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

[[noreturn]] void wrong_type(const char* wanted, GgufType got) {
    fail(StatusCode::kInvalidArgument, "GGUF value is ", gguf_type_name(got), ", not ", wanted);
}

}  // namespace

uint64_t ggml_type_nbytes(uint32_t type, uint64_t elements) {
    struct Layout {
        uint32_t type, block, bytes;
    };
    // ggml's block layouts (elements per block, bytes per block) for the common types.
    static const Layout kLayouts[] = {
        {0, 1, 4},   {1, 1, 2},     {2, 32, 18},    {3, 32, 20},    {6, 32, 22},    {7, 32, 24},    {8, 32, 34},
        {9, 32, 36}, {10, 256, 84}, {11, 256, 110}, {12, 256, 144}, {13, 256, 176}, {14, 256, 210}, {15, 256, 292},
        {24, 1, 1},  {25, 1, 2},    {26, 1, 4},     {27, 1, 8},     {28, 1, 8},     {30, 1, 2},
    };
    for (const Layout& l : kLayouts) {
        if (l.type == type) return elements % l.block == 0 ? elements / l.block * l.bytes : 0;
    }
    return 0;
}

const char* gguf_type_name(GgufType type) {
    switch (type) {
        case GgufType::kUint8:
            return "uint8";
        case GgufType::kInt8:
            return "int8";
        case GgufType::kUint16:
            return "uint16";
        case GgufType::kInt16:
            return "int16";
        case GgufType::kUint32:
            return "uint32";
        case GgufType::kInt32:
            return "int32";
        case GgufType::kFloat32:
            return "float32";
        case GgufType::kBool:
            return "bool";
        case GgufType::kString:
            return "string";
        case GgufType::kArray:
            return "array";
        case GgufType::kUint64:
            return "uint64";
        case GgufType::kInt64:
            return "int64";
        case GgufType::kFloat64:
            return "float64";
    }
    return "unknown";
}

bool GgufValue::is_integer() const {
    return std::holds_alternative<uint64_t>(data_) || std::holds_alternative<int64_t>(data_);
}

bool GgufValue::is_number() const {
    return is_integer() || std::holds_alternative<double>(data_);
}

int64_t GgufValue::as_int() const {
    if (auto* u = std::get_if<uint64_t>(&data_)) return static_cast<int64_t>(*u);
    if (auto* i = std::get_if<int64_t>(&data_)) return *i;
    if (auto* b = std::get_if<bool>(&data_)) return *b ? 1 : 0;
    wrong_type("an integer", type_);
}

double GgufValue::as_double() const {
    if (auto* d = std::get_if<double>(&data_)) return *d;
    if (is_integer()) return static_cast<double>(as_int());
    wrong_type("a number", type_);
}

bool GgufValue::as_bool() const {
    if (auto* b = std::get_if<bool>(&data_)) return *b;
    if (is_integer()) return as_int() != 0;
    wrong_type("a bool", type_);
}

const std::string& GgufValue::as_string() const {
    if (auto* s = std::get_if<std::string>(&data_)) return *s;
    wrong_type("a string", type_);
}

const GgufValue::Array& GgufValue::as_array() const {
    if (auto* a = std::get_if<Array>(&data_)) return *a;
    wrong_type("an array", type_);
}

const std::vector<std::string>& GgufValue::as_strings() const {
    const Array& a = as_array();
    if (a.element_type != GgufType::kString) wrong_type("an array of strings", a.element_type);
    return a.strings;
}

std::vector<int64_t> GgufValue::to_ints() const {
    const Array& a = as_array();
    std::vector<int64_t> out(a.size);
    const uint8_t* p = a.numbers.data();
    for (uint64_t i = 0; i < a.size; ++i) {
        switch (a.element_type) {
            case GgufType::kUint8:
            case GgufType::kBool:
                out[i] = p[i];
                break;
            case GgufType::kInt8:
                out[i] = load_le<int8_t>(p + i);
                break;
            case GgufType::kUint16:
                out[i] = load_le<uint16_t>(p + 2 * i);
                break;
            case GgufType::kInt16:
                out[i] = load_le<int16_t>(p + 2 * i);
                break;
            case GgufType::kUint32:
                out[i] = load_le<uint32_t>(p + 4 * i);
                break;
            case GgufType::kInt32:
                out[i] = load_le<int32_t>(p + 4 * i);
                break;
            case GgufType::kUint64:
                out[i] = static_cast<int64_t>(load_le<uint64_t>(p + 8 * i));
                break;
            case GgufType::kInt64:
                out[i] = load_le<int64_t>(p + 8 * i);
                break;
            default:
                wrong_type("an array of integers", a.element_type);
        }
    }
    return out;
}

std::vector<float> GgufValue::to_floats() const {
    const Array& a = as_array();
    std::vector<float> out(a.size);
    const uint8_t* p = a.numbers.data();
    if (a.element_type == GgufType::kFloat32) {
        if (a.size) std::memcpy(out.data(), p, a.size * 4);
        return out;
    }
    if (a.element_type == GgufType::kFloat64) {
        for (uint64_t i = 0; i < a.size; ++i) out[i] = static_cast<float>(load_le<double>(p + 8 * i));
        return out;
    }
    std::vector<int64_t> ints = to_ints();
    for (uint64_t i = 0; i < a.size; ++i) out[i] = static_cast<float>(ints[i]);
    return out;
}

GgufReader GgufReader::open(const std::filesystem::path& path) {
    Reader in(path);
    GgufReader r;
    r.path_ = path;
    r.file_size_ = in.size();

    char magic[4];
    in.read(magic, 4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) in.corrupt("not a GGUF file (magic is not \"GGUF\")");
    r.version_ = in.pod<uint32_t>("version");
    if (r.version_ < 1 || r.version_ > 3) in.corrupt(str_cat("unsupported GGUF version ", r.version_));
    const bool wide = r.version_ >= 2;  // version 1 used 32-bit counts and lengths
    uint64_t n_tensors = in.length(wide, "tensor count");
    uint64_t n_kv = in.length(wide, "metadata count");
    // A key/value takes at least 12 bytes and a tensor info at least 24: reject absurd counts early.
    if (n_kv > in.remaining() / 12) in.corrupt(str_cat("metadata count ", n_kv, " exceeds the file"));
    if (n_tensors > in.remaining() / 24) in.corrupt(str_cat("tensor count ", n_tensors, " exceeds the file"));

    r.keys_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
        std::string key = in.string(wide, "metadata key");
        uint32_t raw_type = in.pod<uint32_t>("value type");
        if (!is_known_type(raw_type)) in.corrupt(str_cat("key '", key, "' has unknown value type ", raw_type));
        GgufValue value = read_value(in, static_cast<GgufType>(raw_type), wide, 0);
        if (r.values_.count(key)) in.corrupt(str_cat("duplicate key '", key, "'"));
        r.keys_.push_back(key);
        r.values_.emplace(std::move(key), std::move(value));
    }

    if (const GgufValue* a = r.find("general.alignment")) {
        int64_t alignment = a->is_integer() ? a->as_int() : 0;
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
            in.corrupt(str_cat("general.alignment must be a power of two"));
        }
        r.alignment_ = static_cast<uint32_t>(alignment);
    }

    r.tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t;
        t.name = in.string(wide, "tensor name");
        uint32_t n_dims = in.pod<uint32_t>("tensor dimension count");
        if (n_dims > kMaxDims) in.corrupt(str_cat("tensor '", t.name, "' has ", n_dims, " dimensions"));
        for (uint32_t d = 0; d < n_dims; ++d) t.dims.push_back(in.length(wide, "tensor dimension"));
        t.ggml_type = in.pod<uint32_t>("tensor type");
        t.offset = in.pod<uint64_t>("tensor offset");
        uint64_t elements = 1;
        for (uint64_t d : t.dims) elements = d != 0 && elements > UINT64_MAX / d ? 0 : elements * d;
        t.nbytes = ggml_type_nbytes(t.ggml_type, elements);
        if (t.offset % r.alignment_ != 0) {
            in.corrupt(str_cat("tensor '", t.name, "' offset ", t.offset, " is not aligned to ", r.alignment_));
        }
        r.tensors_.push_back(std::move(t));
    }
    uint64_t a = r.alignment_;
    r.data_offset_ = (in.offset() + a - 1) / a * a;
    for (const GgufTensorInfo& t : r.tensors_) {
        uint64_t end = r.data_offset_ + t.offset + t.nbytes;
        if (end > r.file_size_ || end < r.data_offset_) {
            fail(StatusCode::kDataLoss, path.string(), ": truncated GGUF: tensor '", t.name, "' needs bytes up to ",
                 end, " but the file has ", r.file_size_);
        }
    }
    return r;
}

const GgufValue* GgufReader::find(std::string_view key) const {
    auto it = values_.find(std::string(key));
    return it == values_.end() ? nullptr : &it->second;
}

const GgufValue& GgufReader::get(std::string_view key) const {
    if (const GgufValue* v = find(key)) return *v;
    fail(StatusCode::kNotFound, path_.string(), ": GGUF key '", key, "' is missing");
}

std::optional<std::string> GgufReader::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type() != GgufType::kString) {
        fail(StatusCode::kDataLoss, path_.string(), ": GGUF key '", key, "' is ", gguf_type_name(v->type()),
             ", expected string");
    }
    return v->as_string();
}

std::optional<int64_t> GgufReader::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_integer()) {
        fail(StatusCode::kDataLoss, path_.string(), ": GGUF key '", key, "' is ", gguf_type_name(v->type()),
             ", expected an integer");
    }
    return v->as_int();
}

std::optional<bool> GgufReader::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type() != GgufType::kBool && !v->is_integer()) {
        fail(StatusCode::kDataLoss, path_.string(), ": GGUF key '", key, "' is ", gguf_type_name(v->type()),
             ", expected bool");
    }
    return v->as_bool();
}

}  // namespace turbolm

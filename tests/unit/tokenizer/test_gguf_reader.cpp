// GgufReader: every value type, arrays, tensor infos; clear errors on truncated or malformed files.
#include <gtest/gtest.h>

#include "core/error.h"
#include "gguf_writer.h"
#include "io/gguf_reader.h"
#include "support/test_paths.h"

namespace turbolm::test {
namespace {

namespace fs = std::filesystem;

fs::path temp_file(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("turbolm_gguf_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir / name;
}

GgufWriter sample() {
    GgufWriter w;
    w.kv_scalar<uint8_t>("u8", 0, 200);
    w.kv_scalar<int8_t>("i8", 1, -5);
    w.kv_scalar<uint16_t>("u16", 2, 60000);
    w.kv_scalar<int16_t>("i16", 3, -300);
    w.kv_scalar<uint32_t>("u32", 4, 4000000000u);
    w.kv_scalar<int32_t>("i32", 5, -70000);
    w.kv_scalar<float>("f32", 6, 1.5f);
    w.kv_scalar<uint8_t>("flag", 7, 1);
    w.kv_string("name", "llama \xF0\x9F\xA6\x99");
    w.kv_scalar<uint64_t>("u64", 10, 1ull << 40);
    w.kv_scalar<int64_t>("i64", 11, -(1ll << 40));
    w.kv_scalar<double>("f64", 12, 0.25);
    w.kv_strings("tokens", {"a", "", "b c"});
    w.kv_array<float>("scores", 6, {0.5f, -1.0f});
    w.kv_array<int32_t>("types", 5, {1, 3, 6});
    // An array of arrays of uint8.
    w.key("nested", 9);
    w.pod<uint32_t>(9);
    w.pod<uint64_t>(2);
    for (int i = 0; i < 2; ++i) {
        w.pod<uint32_t>(0);
        w.pod<uint64_t>(1);
        w.pod<uint8_t>(static_cast<uint8_t>(7 + i));
    }
    w.tensor("tok_embd.weight", {4, 2}, 0, 0);   // f32: 32 bytes
    w.tensor("output_norm.weight", {4}, 1, 32);  // f16: 8 bytes
    w.data(std::string(40, '\x01'));
    return w;
}

TEST(GgufReader, ReadsEveryValueType) {
    fs::path p = temp_file("sample.gguf");
    sample().write(p);
    GgufReader r = GgufReader::open(p);
    EXPECT_EQ(r.version(), 3u);
    EXPECT_EQ(r.get("u8").as_int(), 200);
    EXPECT_EQ(r.get("i8").as_int(), -5);
    EXPECT_EQ(r.get("u16").as_int(), 60000);
    EXPECT_EQ(r.get("i16").as_int(), -300);
    EXPECT_EQ(r.get("u32").as_int(), 4000000000ll);
    EXPECT_EQ(r.get("i32").as_int(), -70000);
    EXPECT_EQ(r.get("f32").as_double(), 1.5);
    EXPECT_TRUE(r.get("flag").as_bool());
    EXPECT_EQ(r.get_string("name"), "llama \xF0\x9F\xA6\x99");
    EXPECT_EQ(r.get("u64").as_int(), 1ll << 40);
    EXPECT_EQ(r.get("i64").as_int(), -(1ll << 40));
    EXPECT_EQ(r.get("f64").as_double(), 0.25);
    EXPECT_EQ(r.get("tokens").as_strings(), (std::vector<std::string>{"a", "", "b c"}));
    EXPECT_EQ(r.get("scores").to_floats(), (std::vector<float>{0.5f, -1.0f}));
    EXPECT_EQ(r.get("types").to_ints(), (std::vector<int64_t>{1, 3, 6}));
    const auto& nested = r.get("nested").as_array();
    ASSERT_EQ(nested.arrays.size(), 2u);
    EXPECT_EQ(nested.arrays[1].to_ints(), std::vector<int64_t>{8});
    EXPECT_EQ(r.keys().front(), "u8");
    ASSERT_EQ(r.tensors().size(), 2u);
    EXPECT_EQ(r.tensors()[0].name, "tok_embd.weight");
    EXPECT_EQ(r.tensors()[0].dims, (std::vector<uint64_t>{4, 2}));
    EXPECT_EQ(r.tensors()[0].nbytes, 32u);
    EXPECT_EQ(r.tensors()[1].offset, 32u);
    EXPECT_EQ(r.tensors()[1].nbytes, 8u);
    EXPECT_EQ(r.data_offset() % 32, 0u);
    EXPECT_FALSE(r.get_int("missing"));
    EXPECT_THROW(r.get("missing"), Error);
    EXPECT_THROW(r.get("name").as_int(), Error);
}

TEST(GgufReader, EveryTruncationIsDataLossNamingTheFile) {
    fs::path p = temp_file("truncated.gguf");
    const size_t size = sample().bytes().size();
    for (size_t n = 0; n < size; ++n) {
        sample().write(p, n);
        try {
            GgufReader::open(p);
            ADD_FAILURE() << "truncated to " << n << " of " << size << " bytes was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), StatusCode::kDataLoss) << e.what();
            EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
        }
    }
}

TEST(GgufReader, RejectsMalformedFiles) {
    fs::path p = temp_file("bad.gguf");
    std::string good = sample().bytes();
    auto expect_data_loss = [&](std::string bytes, const std::string& what) {
        std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        try {
            GgufReader::open(p);
            ADD_FAILURE() << what << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), StatusCode::kDataLoss) << what << ": " << e.what();
        }
    };
    std::string bad = good;
    bad[0] = 'X';
    expect_data_loss(bad, "bad magic");
    bad = good;
    bad[4] = 9;
    expect_data_loss(bad, "unknown version");
    bad = good;
    bad[8 + 8 + 8 + 8 + 2] = 99;  // first key's value type (key "u8": 8-byte length + 2 bytes)
    expect_data_loss(bad, "unknown value type");
    GgufWriter huge;
    huge.key("s", 8);
    huge.pod<uint64_t>(1ull << 60);
    expect_data_loss(huge.bytes(), "absurd string length");
    EXPECT_THROW(GgufReader::open(temp_file("does-not-exist.gguf")), Error);
}

TEST(GgufReader, ReadsTheLlamaCppVocabFiles) {
    fs::path p = shared_dir() / "assets" / "llamacpp-vocab-tests" / "ggml-vocab-gpt-2.gguf";
    TURBOLM_SKIP_IF_MISSING(p);
    GgufReader r = GgufReader::open(p);
    EXPECT_EQ(r.get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(r.get("tokenizer.ggml.tokens").array_size(), 50257u);
    EXPECT_EQ(r.get("tokenizer.ggml.merges").array_size(), 50000u);
    EXPECT_TRUE(r.tensors().empty());
}

}  // namespace
}  // namespace turbolm::test

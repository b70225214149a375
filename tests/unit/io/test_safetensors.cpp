// safetensors round trips and header validation.
#include <cstring>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "support/temp_dir.h"

namespace turbolm {
namespace {

void write_raw(const std::filesystem::path& p, const std::string& header, size_t data_bytes) {
    std::ofstream out(p, std::ios::binary);
    uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    out << std::string(data_bytes, '\0');
}

TEST(Safetensors, RoundTripsEveryDtypeZeroCopy) {
    test::TempDir dir;
    std::mt19937 rng(std::random_device{}());
    Tensor f = Tensor::empty({3, 5}, DType::kF32);
    for (int i = 0; i < 15; ++i) f.data<float>()[i] = std::uniform_real_distribution<float>(-1, 1)(rng);
    Tensor b = f.to(DType::kBF16), h = f.to(DType::kF16);
    Tensor ids = Tensor::empty({4}, DType::kI32);
    for (int i = 0; i < 4; ++i) ids.data<int32_t>()[i] = int32_t(rng());
    write_safetensors(dir.path() / "t.safetensors", {{"f", f}, {"b", b}, {"h", h}, {"ids", ids}}, {{"format", "pt"}});
    auto st = SafetensorsFile::open(dir.path() / "t.safetensors");
    EXPECT_EQ(st->metadata().at("format"), "pt");
    EXPECT_EQ(st->tensor("f").shape(), Shape({3, 5}));
    EXPECT_EQ(std::memcmp(st->tensor("f").raw_data(), f.raw_data(), f.nbytes()), 0);
    EXPECT_EQ(std::memcmp(st->tensor("b").raw_data(), b.raw_data(), b.nbytes()), 0);
    EXPECT_EQ(st->tensor("h").dtype(), DType::kF16);
    EXPECT_EQ(std::memcmp(st->tensor("ids").raw_data(), ids.raw_data(), ids.nbytes()), 0);
    EXPECT_THROW(st->tensor("absent"), Error);
}

TEST(Safetensors, RejectsInconsistentHeaders) {
    test::TempDir dir;
    auto p = dir.path() / "bad.safetensors";
    auto code_of = [&](const std::string& header, size_t data) {
        write_raw(p, header, data);
        return catch_status([&] { SafetensorsFile::open(p); }).code();
    };
    EXPECT_EQ(code_of(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8), StatusCode::kOk);
    // Byte range and shape disagree.
    EXPECT_EQ(code_of(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 12), StatusCode::kDataLoss);
    // Range beyond the file.
    EXPECT_EQ(code_of(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8), StatusCode::kDataLoss);
    // Reversed range, negative dimension, missing field, unknown dtype.
    EXPECT_EQ(code_of(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", 8), StatusCode::kDataLoss);
    EXPECT_EQ(code_of(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8), StatusCode::kDataLoss);
    EXPECT_EQ(code_of(R"({"a": {"dtype": "F32", "shape": [2]}})", 8), StatusCode::kDataLoss);
    EXPECT_EQ(code_of(R"({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 1]}})", 8), StatusCode::kUnimplemented);
    EXPECT_EQ(code_of(R"([1, 2])", 0), StatusCode::kDataLoss);
    // A header length larger than the file.
    std::ofstream(p, std::ios::binary) << std::string("\xff\xff\x00\x00\x00\x00\x00\x00{}", 10);
    EXPECT_EQ(catch_status([&] { SafetensorsFile::open(p); }).code(), StatusCode::kDataLoss);
    EXPECT_EQ(catch_status([&] { SafetensorsFile::open(dir.path() / "none.safetensors"); }).code(),
              StatusCode::kNotFound);
}

TEST(Checkpoint, ShardedIndexMapsTensorsToFiles) {
    test::TempDir dir;
    Tensor a = Tensor::zeros({2, 2}, DType::kF32), b = Tensor::zeros({3}, DType::kBF16);
    write_safetensors(dir.path() / "model-00001-of-00002.safetensors", {{"a", a}});
    write_safetensors(dir.path() / "model-00002-of-00002.safetensors", {{"b", b}});
    std::ofstream(dir.path() / "model.safetensors.index.json")
        << R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})";
    Checkpoint ck = Checkpoint::open(dir.path());
    EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(ck.get("b").dtype(), DType::kBF16);
    EXPECT_NE(ck.file_of("b").find("model-00002-of-00002.safetensors"), std::string::npos);
    // An index that escapes the directory is refused.
    std::ofstream(dir.path() / "model.safetensors.index.json") << R"({"weight_map": {"a": "../x.safetensors"}})";
    EXPECT_EQ(catch_status([&] { Checkpoint::open(dir.path()); }).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace turbolm

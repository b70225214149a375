// StepInputs: the batch description a forward step uploads, in particular the count of leading
// single-token sequences that lets a backend run a mixed batch's decodes apart from its chunks.
#include <gtest/gtest.h>

#include <vector>

#include "models/step_inputs.h"

namespace turbolm {
namespace {

struct Chunks {
    std::vector<std::vector<int32_t>> tokens;
    std::vector<int32_t> blocks = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};  // room for 160 positions
    std::vector<PagedChunk> paged;
    // Chunk i: `lengths[i]` tokens placed after 5 cached positions.
    explicit Chunks(const std::vector<int>& lengths) {
        for (int n : lengths) tokens.emplace_back(size_t(n), 7);
        for (const auto& t : tokens) paged.push_back({t, 5, blocks, false});
    }
};

int64_t leading_decodes(const std::vector<int>& lengths) {
    Chunks c(lengths);
    StepInputs in;
    in.build_paged(c.paged, 16, 0);
    in.upload(Device::kCpu);
    // The count survives the round trip a split model sends its other ranks.
    StepInputs copy;
    copy.load(in.save());
    copy.upload(Device::kCpu);
    EXPECT_EQ(copy.attention.n_decode_seqs, in.attention.n_decode_seqs);
    EXPECT_EQ(copy.attention.max_q_len, in.attention.max_q_len);
    return in.attention.n_decode_seqs;
}

TEST(StepInputs, CountsTheLeadingSingleTokenSequences) {
    EXPECT_EQ(leading_decodes({1, 1, 1}), 3);
    EXPECT_EQ(leading_decodes({1, 1, 40, 1, 3}), 2);
    EXPECT_EQ(leading_decodes({128, 1, 1}), 0);
    EXPECT_EQ(leading_decodes({2}), 0);
    EXPECT_EQ(leading_decodes({1}), 1);
}

}  // namespace
}  // namespace turbolm

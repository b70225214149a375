// launch_attention: validates the arguments, sizes the decode split-K workspace and picks a kernel.
// Everything here reads host values only, so a launch captured in a CUDA graph replays the same
// grid with whatever the device arrays hold at replay time.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "ops/cuda/attention/attention_kernels.h"
#include "ops/cuda/attention/attention_paths.h"
#include "ops/cuda/cuda_check.h"

namespace turbolm::cuda {
namespace {

// Decode split-K: CTAs to aim for per multiprocessor (one CTA of 4 warps keeps too few loads in
// flight to use an SM's share of bandwidth; more than 2 made H200 slower at batch 64 because of the
// extra combine pass), and the fewest keys worth a split (a split's fixed cost is a few dependent
// memory round trips).
constexpr int64_t kDecodeCtasPerSm = 2;
constexpr int64_t kDecodeMinSplitKeys = 128;
// The tensor-core decode kernel splits per warp: warps to aim for per multiprocessor, and the fewest
// keys per split.
constexpr int64_t kMmaDecodeWarpsPerSm = 8;
constexpr int64_t kMmaDecodeMinSplitKeys = 64;
// Positions and lengths are int32 on the device; keep index arithmetic (key + lane, pos - window)
// far from overflow.
constexpr int64_t kMaxPositions = int64_t(1) << 30;
// The simple kernel keeps two f32 vectors of head_dim per warp in shared memory.
constexpr int64_t kMaxHeadDim = 4096;
constexpr int64_t kMaxGridYZ = 65535;

int multiprocessor_count() {
    constexpr int kMaxDevices = 64;
    static std::atomic<int> cached[kMaxDevices] = {};
    int device = 0;
    TURBOLM_CUDA_CHECK(cudaGetDevice(&device));
    if (device < kMaxDevices) {
        if (const int n = cached[device].load(std::memory_order_relaxed)) return n;
    }
    int n = 0;
    TURBOLM_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    n = std::max(n, 1);
    if (device < kMaxDevices) cached[device].store(n, std::memory_order_relaxed);
    return n;
}

bool simple_forced() {
    static const bool forced = [] {
        const char* env = std::getenv("TURBOLM_ATTENTION");
        return env != nullptr && std::string_view(env) == "simple";
    }();
    return forced;
}

// TURBOLM_PREFILL_SHORT_KEYS: -1 unset (the length rule), 0 never, 1 always.
int prefill_short_keys_forced() {
    static const int forced = [] {
        const char* env = std::getenv("TURBOLM_PREFILL_SHORT_KEYS");
        if (env == nullptr) return -1;
        return std::string_view(env) == "0" ? 0 : 1;
    }();
    return forced;
}

bool aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// The fast kernels read 16-byte vectors of q, k and v rows (8- or 16-byte vectors of 8-bit codes,
// whose rows of head_dim bytes stay 16-byte aligned for the fast head sizes) and store pairs of
// output elements.
bool fast_path_ok(const AttentionArgs& a) {
    return fast_head_dim(a.shape.head_dim) && aligned16(a.q) && aligned16(a.out) && aligned16(a.kv.k) &&
           aligned16(a.kv.v) && a.ldq % 8 == 0 && a.ldo % 8 == 0;
}

void validate(const AttentionArgs& a) {
    const AttentionShape& s = a.shape;
    const AttentionBatch& b = a.batch;
    TURBOLM_REQUIRE(a.dtype == DType::kBF16 || a.dtype == DType::kF16,
                    "launch_attention: dtype must be bf16 or f16, got ", dtype_name(a.dtype));
    TURBOLM_REQUIRE(s.head_dim > 0 && s.head_dim % 8 == 0 && s.head_dim <= kMaxHeadDim,
                    "launch_attention: head_dim must be a positive multiple of 8 up to ", kMaxHeadDim, ", got ",
                    s.head_dim);
    TURBOLM_REQUIRE(s.n_head_kv > 0 && s.n_head > 0 && s.n_head % s.n_head_kv == 0, "launch_attention: n_head (",
                    s.n_head, ") must be a positive multiple of n_head_kv (", s.n_head_kv, ")");
    TURBOLM_REQUIRE(s.n_head <= kMaxGridYZ, "launch_attention: n_head ", s.n_head, " exceeds ", kMaxGridYZ);
    TURBOLM_REQUIRE(s.window >= 0, "launch_attention: window must be >= 0, got ", s.window);
    TURBOLM_REQUIRE(b.n_seqs >= 0 && b.n_seqs <= kMaxGridYZ, "launch_attention: n_seqs must be in [0, ", kMaxGridYZ,
                    "], got ", b.n_seqs);
    TURBOLM_REQUIRE(b.n_tokens >= 0 && b.n_tokens < kMaxPositions, "launch_attention: n_tokens must be in [0, ",
                    kMaxPositions, "), got ", b.n_tokens);
    TURBOLM_REQUIRE(b.n_decode_seqs >= 0 && b.n_decode_seqs <= b.n_seqs && b.n_decode_seqs <= b.n_tokens,
                    "launch_attention: n_decode_seqs must be in [0, min(n_seqs, n_tokens)], got ", b.n_decode_seqs);
    if (b.n_seqs == 0 || b.n_tokens == 0) return;
    TURBOLM_REQUIRE(b.max_q_len >= 1 && b.max_q_len * s.n_head < kMaxPositions,
                    "launch_attention: max_q_len must be >= 1 (and max_q_len * n_head < 2^30), got ", b.max_q_len);
    TURBOLM_REQUIRE(b.max_kv_len >= 0 && b.max_kv_len < kMaxPositions,
                    "launch_attention: max_kv_len must be in [0, 2^30), got ", b.max_kv_len);
    TURBOLM_REQUIRE(b.q_start && b.kv_len && b.q_pos, "launch_attention: batch.q_start, kv_len and q_pos must be set");
    TURBOLM_REQUIRE(a.q && a.out, "launch_attention: q and out must be set");
    TURBOLM_REQUIRE(a.kv.k && a.kv.v && a.kv.block_table,
                    "launch_attention: kv.k, kv.v and kv.block_table must be set");
    TURBOLM_REQUIRE((a.kv.k_scale == nullptr) == (a.kv.v_scale == nullptr),
                    "launch_attention: kv.k_scale and kv.v_scale must be set together");
    TURBOLM_REQUIRE(!a.kv.k_scale || a.kv.code_dtype == DType::kI8 || a.kv.code_dtype == DType::kF8E4M3,
                    "launch_attention: 8-bit KV codes must be i8 or f8e4m3, got ", dtype_name(a.kv.code_dtype));
    TURBOLM_REQUIRE(a.kv.block_size >= 1 && a.kv.block_size < kMaxPositions,
                    "launch_attention: kv.block_size must be in [1, 2^30), got ", a.kv.block_size);
    TURBOLM_REQUIRE(a.kv.max_blocks >= 1 && a.kv.max_blocks * a.kv.block_size >= b.max_kv_len,
                    "launch_attention: kv.max_blocks (", a.kv.max_blocks, ") * kv.block_size (", a.kv.block_size,
                    ") must cover max_kv_len (", b.max_kv_len, ")");
    const int64_t row = s.n_head * s.head_dim;
    TURBOLM_REQUIRE(a.ldq >= row, "launch_attention: ldq (", a.ldq, ") is less than n_head * head_dim (", row, ")");
    TURBOLM_REQUIRE(a.ldo >= row, "launch_attention: ldo (", a.ldo, ") is less than n_head * head_dim (", row, ")");
}

// The leading single-token sequences of a mixed batch (batch.n_decode_seqs of them) as a decode batch
// of their own, and the rest. Both keep the pointers' absolute token indices (q_start, q_pos); the
// sequence-indexed arrays start at the first sequence of each part.
AttentionBatch leading_decodes(const AttentionBatch& b) {
    AttentionBatch d = b;
    d.n_seqs = d.n_tokens = b.n_decode_seqs;
    d.max_q_len = 1;
    d.n_decode_seqs = 0;
    return d;
}
AttentionArgs after_leading_decodes(const AttentionArgs& a) {
    AttentionArgs r = a;
    const int64_t n = a.batch.n_decode_seqs;
    r.batch.n_seqs -= n;
    r.batch.n_tokens -= n;
    r.batch.q_start += n;
    r.batch.kv_len += n;
    r.batch.n_decode_seqs = 0;
    r.kv.block_table += n * a.kv.max_blocks;
    return r;
}

// A window at least as long as any position difference hides nothing; treating it as unlimited
// keeps pos - window far from int32 overflow in the kernels.
AttentionArgs normalized(const AttentionArgs& a) {
    AttentionArgs n = a;
    if (n.shape.window >= kMaxPositions) n.shape.window = 0;
    return n;
}

}  // namespace

bool prefill_short_keys(int64_t max_kv_len) {
    const int forced = prefill_short_keys_forced();
    return forced >= 0 ? forced == 1 : max_kv_len <= kPrefillShortKeysMax;
}

// Splits of the keys so that `units` (CTAs or warps) times the splits reach `want_units`, with at
// least min_keys keys per split.
int decode_splits(const AttentionBatch& batch, int64_t units, int64_t want_units, int64_t min_keys) {
    const int64_t want = (want_units + units - 1) / units;
    const int64_t by_keys = std::max<int64_t>(1, (batch.max_kv_len + min_keys - 1) / min_keys);
    return int(std::clamp<int64_t>(std::min(want, by_keys), 1, kDecodeMaxSplits));
}

DecodePlan plan_decode(const AttentionBatch& batch, const AttentionShape& shape, bool mma) {
    DecodePlan plan;
    if (batch.n_seqs <= 0 || shape.n_head_kv <= 0 || shape.n_head <= 0) return plan;
    const int64_t group = shape.n_head / shape.n_head_kv;
    plan.head_chunk = mma ? 8 : group == 1 ? 1 : group == 2 ? 2 : group <= 4 ? 4 : 8;
    plan.head_chunks = int((group + plan.head_chunk - 1) / plan.head_chunk);
    const int64_t units = batch.n_seqs * shape.n_head_kv * plan.head_chunks;
    plan.n_splits =
        mma ? decode_splits(batch, units, kMmaDecodeWarpsPerSm * multiprocessor_count(), kMmaDecodeMinSplitKeys)
            : decode_splits(batch, units, kDecodeCtasPerSm * multiprocessor_count(), kDecodeMinSplitKeys);
    if (plan.n_splits > 1) {
        // part_acc [n_seqs, n_head, n_splits, head_dim] f32, then part_ml [n_seqs, n_head, n_splits] float2
        // at the next 256-byte boundary (launch_attention_decode reads the same layout).
        const size_t n_parts = size_t(batch.n_seqs) * size_t(shape.n_head) * size_t(plan.n_splits);
        const size_t acc_bytes = (n_parts * size_t(shape.head_dim) * sizeof(float) + 255) / 256 * 256;
        plan.workspace_bytes = acc_bytes + n_parts * 2 * sizeof(float);
    }
    return plan;
}

size_t attention_workspace_bytes(const AttentionBatch& batch, const AttentionShape& shape) {
    // Only the decode path uses scratch; size it whenever decode could be chosen (for a mixed batch,
    // on its leading decodes).
    if (batch.max_q_len != 1 && batch.n_decode_seqs > 0) return attention_workspace_bytes(leading_decodes(batch), shape);
    if (batch.max_q_len != 1 || batch.n_tokens <= 0) return 0;
    return std::max(plan_decode(batch, shape, false).workspace_bytes, plan_decode(batch, shape, true).workspace_bytes);
}

bool mma_decode_ok(const AttentionArgs& args) {
    const int64_t d = args.shape.head_dim;
    return d == 64 || d == 128;
}

// Where the tensor-core kernel wins (H200, dev/kernels/decode_attention): it pads the query heads of
// a KV head to 8, so without grouped heads (MHA) it does 8 times the arithmetic it needs and loses.
// Over 8-bit codes it wins from batch 1 up (1.1-1.5x for groups of 4, 3x for 8). Over 16-bit pools,
// where the CUDA-core kernel needs no conversions, it wins for groups of 8 (1.5-2.4x) and, for smaller
// groups, only when the (sequence, KV head) pairs fill the GPU unsplit (8B shape at batch 256: 63 us
// against 67); at batch 64 and 256 keys it loses (31 us against 25), at batch 1 too (12 against 9).
bool mma_decode_preferred(const AttentionArgs& args) {
    const int64_t group = args.shape.n_head / args.shape.n_head_kv;
    if (!mma_decode_ok(args) || group < 2) return false;
    return args.kv.k_scale != nullptr || group >= 8 || args.batch.n_seqs * args.shape.n_head_kv >= kMmaDecodeFullUnits;
}

bool bulk_decode_ok(const AttentionArgs& args) {
    const AttentionShape& s = args.shape;
    return args.kv.k_scale == nullptr && mma_decode_ok(args) && s.n_head / s.n_head_kv <= 8 &&
           plan_decode(args.batch, s, true).n_splits == 1;
}

// The bulk-fed kernel where the (sequence, KV head) pairs of a grouped-head model fill the GPU
// unsplit (H200, 8B shape: batch 1024 and 192 keys 216 us against the register-fed kernel's 228,
// batch 256 and 1,024 keys 259 against 282). TURBOLM_DECODE_BULK=0 turns it off.
bool bulk_decode_preferred(const AttentionArgs& args) {
    static const bool off = [] {
        const char* env = std::getenv("TURBOLM_DECODE_BULK");
        return env != nullptr && std::string_view(env) == "0";
    }();
    const int64_t group = args.shape.n_head / args.shape.n_head_kv;
    return !off && group >= 2 && bulk_decode_ok(args) && args.batch.n_seqs * args.shape.n_head_kv >= kMmaDecodeFullUnits;
}

AttentionPath choose_attention_path(const AttentionArgs& args) {
    if (simple_forced() || !fast_path_ok(args)) return AttentionPath::kSimple;
    if (args.batch.max_q_len != 1) return AttentionPath::kPrefill;
    if (bulk_decode_preferred(args)) return AttentionPath::kDecodeBulk;
    return mma_decode_preferred(args) ? AttentionPath::kDecodeMma : AttentionPath::kDecode;
}

void launch_attention_prefill(const AttentionArgs& args, cudaStream_t stream) {
    if (args.kv.k_scale && args.kv.code_dtype == DType::kI8)
        launch_attention_prefill_int8(args, stream);
    else if (args.kv.k_scale)
        launch_attention_prefill_fp8(args, stream);
    else if (args.dtype == DType::kBF16)
        launch_attention_prefill_bf16(args, stream);
    else
        launch_attention_prefill_f16(args, stream);
}

void launch_attention_path(AttentionPath path, const AttentionArgs& raw, cudaStream_t stream) {
    validate(raw);
    if (raw.batch.n_seqs == 0 || raw.batch.n_tokens == 0) return;
    const AttentionArgs args = normalized(raw);
    // The workspace contract does not depend on the path taken (nor on TURBOLM_ATTENTION).
    const size_t need = attention_workspace_bytes(args.batch, args.shape);
    TURBOLM_REQUIRE(args.workspace_bytes >= need, "launch_attention: workspace_bytes (", args.workspace_bytes,
                    ") is less than the ", need, " bytes this launch needs (attention_workspace_bytes)");
    TURBOLM_REQUIRE(need == 0 || (args.workspace != nullptr && aligned16(args.workspace)),
                    "launch_attention: workspace must be a 16-byte aligned device buffer");
    if (path == AttentionPath::kAuto) {
        path = choose_attention_path(args);
        if (path == AttentionPath::kPrefill && args.batch.n_decode_seqs > 0) {
            AttentionArgs decodes = args;
            decodes.batch = leading_decodes(args.batch);
            launch_attention_path(AttentionPath::kAuto, decodes, stream);
            const AttentionArgs rest = after_leading_decodes(args);
            if (rest.batch.n_seqs > 0) launch_attention_path(AttentionPath::kAuto, rest, stream);
            return;
        }
    }
    if (path != AttentionPath::kSimple)
        TURBOLM_REQUIRE(fast_path_ok(args), "launch_attention: head_dim ", args.shape.head_dim,
                        " or the alignment of q/k/v/out (16 bytes, ldq and ldo multiples of 8) rules out the fast "
                        "kernels");
    switch (path) {
        case AttentionPath::kDecode:
        case AttentionPath::kDecodeMma:
        case AttentionPath::kDecodeBulk: {
            TURBOLM_REQUIRE(args.batch.max_q_len == 1, "launch_attention: the decode kernel needs max_q_len == 1, got ",
                            args.batch.max_q_len);
            if (path == AttentionPath::kDecode) {
                launch_attention_decode(args, plan_decode(args.batch, args.shape, false), stream);
                return;
            }
            if (path == AttentionPath::kDecodeBulk) {
                TURBOLM_REQUIRE(bulk_decode_ok(args),
                                "launch_attention: the bulk-fed decode kernel needs a 16-bit pool, head_dim 64 or 128, "
                                "at most 8 query heads per KV head and no split of the keys");
                launch_attention_decode_bulk(args, plan_decode(args.batch, args.shape, true), stream);
                return;
            }
            TURBOLM_REQUIRE(mma_decode_ok(args),
                            "launch_attention: the tensor-core decode kernel needs head_dim 64 or 128, got head_dim ",
                            args.shape.head_dim);
            launch_attention_decode_mma(args, plan_decode(args.batch, args.shape, true), stream);
            return;
        }
        case AttentionPath::kPrefill:
            launch_attention_prefill(args, stream);
            return;
        default:
            launch_attention_simple(args, stream);
            return;
    }
}

void launch_attention(const void* q, int64_t ldq, const PagedKvView& kv, const AttentionBatch& batch,
                      const AttentionShape& shape, DType dtype, void* out, int64_t ldo, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream) {
    AttentionArgs args;
    args.q = q;
    args.ldq = ldq;
    args.kv = kv;
    args.batch = batch;
    args.shape = shape;
    args.dtype = dtype;
    args.out = out;
    args.ldo = ldo;
    args.workspace = workspace;
    args.workspace_bytes = workspace_bytes;
    launch_attention_path(AttentionPath::kAuto, args, stream);
}

}  // namespace turbolm::cuda

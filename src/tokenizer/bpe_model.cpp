#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <limits>
#include <queue>

#include "core/error.h"
#include "tokenizer/bpe_cache.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace turbolm {

namespace {

constexpr uint32_t kNoRank = std::numeric_limits<uint32_t>::max();
// Words up to this many symbols merge with the in-place scan; longer ones use the heap.
constexpr size_t kSmallWord = 96;

uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

// Open-addressing hash table from (left id, right id) to (rank, merged id).
struct BpeModel::PairTable {
    struct Slot {
        uint64_t key;
        uint32_t rank;
        int32_t result;
    };
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    std::vector<Slot> slots;
    uint64_t mask = 0;
    int shift = 64;

    explicit PairTable(size_t n) {
        size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        slots.assign(cap, Slot{kEmpty, 0, 0});
        mask = cap - 1;
        shift = 64 - __builtin_ctzll(cap);
    }
    size_t home(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift); }

    // A pair listed twice keeps its last rank, as HF's merge map does.
    void insert(uint64_t key, uint32_t rank, int32_t result) {
        for (size_t i = home(key);; i = (i + 1) & mask) {
            Slot& s = slots[i];
            if (s.key == kEmpty || s.key == key) {
                s = Slot{key, rank, result};
                return;
            }
        }
    }
    const Slot* find(uint64_t key) const {
        for (size_t i = home(key);; i = (i + 1) & mask) {
            const Slot& s = slots[i];
            if (s.key == key) return &s;
            if (s.key == kEmpty) return nullptr;
        }
    }
};

BpeModel::BpeModel(std::vector<std::string> tokens, const std::vector<BpeMerge>& merges, BpeOptions options)
    : tokens_(std::move(tokens)), options_(std::move(options)) {
    token_ids_.reserve(tokens_.size());
    for (size_t id = 0; id < tokens_.size(); ++id) {
        if (!tokens_[id].empty()) token_ids_.emplace(tokens_[id], static_cast<int32_t>(id));
    }
    std::fill(std::begin(byte_token_), std::end(byte_token_), -1);
    std::fill(std::begin(ascii_token_), std::end(ascii_token_), -1);
    if (options_.byte_level) {
        byte_ids_.reserve(tokens_.size());
        std::string bytes;
        for (size_t id = 0; id < tokens_.size(); ++id) {
            if (tokens_[id].empty() || !byte_level::decode(tokens_[id], bytes)) continue;
            byte_ids_.emplace(bytes, static_cast<int32_t>(id));
        }
        for (int b = 0; b < 256; ++b) {
            auto it = token_ids_.find(byte_level::byte_to_utf8(static_cast<uint8_t>(b)));
            if (it != token_ids_.end()) byte_token_[b] = it->second;
        }
    } else {
        for (const auto& [text, id] : token_ids_) {
            unicode::Utf8Step st = unicode::utf8_step(text, 0);
            if (!st.valid || st.length != text.size()) continue;
            if (st.cp < 128) ascii_token_[st.cp] = id;
            char_token_.emplace(st.cp, id);
        }
        if (options_.byte_fallback) {
            static const char* kHex = "0123456789ABCDEF";
            for (int b = 0; b < 256; ++b) {
                std::string name = str_cat("<0x", kHex[b >> 4], kHex[b & 15], ">");
                auto it = token_ids_.find(name);
                if (it != token_ids_.end()) byte_token_[b] = it->second;
            }
        }
        const std::string& marker = options_.word_marker;
        if (!marker.empty() && token_ids_.count(marker)) {
            // Cutting before a marker is exact only if no token has a marker after anything else.
            split_at_marker_ = true;
            for (const std::string& t : tokens_) {
                size_t pos = t.find(marker, 1);
                while (pos != std::string::npos && split_at_marker_) {
                    if (pos < marker.size() || t.compare(pos - marker.size(), marker.size(), marker) != 0) {
                        split_at_marker_ = false;
                    }
                    pos = t.find(marker, pos + 1);
                }
                if (!split_at_marker_) break;
            }
        }
    }
    pairs_ = std::make_unique<PairTable>(merges.size());
    for (const BpeMerge& m : merges) {
        TURBOLM_CHECK(m.left >= 0 && m.right >= 0 && m.result >= 0 && m.result < size(), "merge refers to a bad id");
        pairs_->insert(pair_key(m.left, m.right), m.rank, m.result);
    }
    merge_count_ = merges.size();
}

BpeModel::~BpeModel() = default;

std::optional<int32_t> BpeModel::find(std::string_view token) const {
    auto it = token_ids_.find(token);
    if (it == token_ids_.end()) return std::nullopt;
    return it->second;
}

BpeModel::CacheLease::CacheLease(const BpeModel& model) : model_(model) {
    std::lock_guard<std::mutex> lock(model_.pool_mutex_);
    if (!model_.pool_.empty()) {
        cache_ = std::move(model_.pool_.back());
        model_.pool_.pop_back();
    }
    if (!cache_) cache_ = std::make_unique<BpeCache>();
}

BpeModel::CacheLease::~CacheLease() {
    std::lock_guard<std::mutex> lock(model_.pool_mutex_);
    model_.pool_.push_back(std::move(cache_));
}

void BpeModel::encode(std::string_view word, std::vector<int32_t>& out) const {
    CacheLease lease(*this);
    encode(word, out, lease.cache());
}

void BpeModel::encode(std::string_view word, std::vector<int32_t>& out, BpeCache& cache) const {
    auto encode_piece = [&](std::string_view piece) {
        if (piece.empty()) return;
        if (piece.size() > BpeCache::kMaxKey) {
            encode_uncached(piece, out);
            return;
        }
        uint64_t h = BpeCache::hash(piece);
        if (cache.lookup(piece, h, out)) return;
        size_t before = out.size();
        encode_uncached(piece, out);
        cache.insert(piece, h, out.data() + before, out.size() - before);
    };
    if (!split_at_marker_) {
        encode_piece(word);
        return;
    }
    const std::string& marker = options_.word_marker;
    size_t start = 0;
    size_t pos = word.find(marker, 1);
    while (pos != std::string_view::npos) {
        bool after_marker = pos >= marker.size() && word.compare(pos - marker.size(), marker.size(), marker) == 0;
        if (!after_marker) {
            encode_piece(word.substr(start, pos - start));
            start = pos;
        }
        pos = word.find(marker, pos + marker.size());
    }
    encode_piece(word.substr(start));
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const {
    symbols.clear();
    if (options_.byte_level) {
        for (unsigned char b : word) {
            if (byte_token_[b] >= 0) {
                symbols.push_back(byte_token_[b]);
            } else if (options_.unk_id) {
                if (!(options_.fuse_unk && !symbols.empty() && symbols.back() == *options_.unk_id)) {
                    symbols.push_back(*options_.unk_id);
                }
            }
        }
        return;
    }
    bool last_unk = false;
    for (size_t i = 0; i < word.size();) {
        unsigned char c = static_cast<unsigned char>(word[i]);
        int32_t id = -1;
        uint32_t len = 1;
        if (c < 0x80) {
            id = ascii_token_[c];
        } else {
            unicode::Utf8Step st = unicode::utf8_step(word, i);
            len = st.length;
            if (st.valid) {
                auto it = char_token_.find(st.cp);
                if (it != char_token_.end()) id = it->second;
            }
        }
        if (id >= 0) {
            symbols.push_back(id);
            last_unk = false;
        } else {
            bool done = false;
            if (options_.byte_fallback) {
                bool all = true;
                for (uint32_t k = 0; k < len; ++k)
                    all = all && byte_token_[static_cast<unsigned char>(word[i + k])] >= 0;
                if (all) {
                    for (uint32_t k = 0; k < len; ++k)
                        symbols.push_back(byte_token_[static_cast<unsigned char>(word[i + k])]);
                    last_unk = false;
                    done = true;
                }
            }
            if (!done && options_.unk_id) {
                if (!(options_.fuse_unk && last_unk)) symbols.push_back(*options_.unk_id);
                last_unk = true;
            }
        }
        i += len;
    }
}

void BpeModel::merge_small(std::vector<int32_t>& symbols) const {
    size_t n = symbols.size();
    if (n < 2) return;
    thread_local std::vector<uint32_t> ranks;
    thread_local std::vector<int32_t> results;
    ranks.resize(n - 1);
    results.resize(n - 1);
    auto lookup = [&](size_t j) {
        const PairTable::Slot* s = pairs_->find(pair_key(symbols[j], symbols[j + 1]));
        ranks[j] = s ? s->rank : kNoRank;
        results[j] = s ? s->result : -1;
    };
    for (size_t j = 0; j + 1 < n; ++j) lookup(j);
    while (n > 1) {
        uint32_t best = kNoRank;
        size_t at = 0;
        for (size_t j = 0; j + 1 < n; ++j) {
            if (ranks[j] < best) {
                best = ranks[j];
                at = j;
            }
        }
        if (best == kNoRank) break;
        symbols[at] = results[at];
        symbols.erase(symbols.begin() + static_cast<ptrdiff_t>(at) + 1);
        --n;
        if (at + 1 < n) {
            ranks.erase(ranks.begin() + static_cast<ptrdiff_t>(at) + 1);
            results.erase(results.begin() + static_cast<ptrdiff_t>(at) + 1);
        } else {
            ranks.pop_back();
            results.pop_back();
        }
        if (at > 0) lookup(at - 1);
        if (at + 1 < n) lookup(at);
    }
}

void BpeModel::merge_large(std::vector<int32_t>& symbols) const {
    struct Candidate {
        uint32_t rank;
        int32_t pos;
        int32_t result;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    const int32_t n = static_cast<int32_t>(symbols.size());
    std::vector<int32_t> prev(n), next(n);
    std::vector<char> alive(n, 1);
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto consider = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        if (const PairTable::Slot* s = pairs_->find(pair_key(symbols[left], symbols[right]))) {
            queue.push({s->rank, left, s->result});
        }
    };
    for (int32_t i = 0; i < n; ++i) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);
    while (!queue.empty()) {
        Candidate top = queue.top();
        queue.pop();
        int32_t left = top.pos;
        if (!alive[left] || next[left] < 0) continue;
        int32_t right = next[left];
        // Skip entries made stale by an earlier merge of either side.
        const PairTable::Slot* s = pairs_->find(pair_key(symbols[left], symbols[right]));
        if (!s || s->result != top.result || s->rank != top.rank) continue;
        symbols[left] = top.result;
        alive[right] = 0;
        next[left] = next[right];
        if (next[right] >= 0) prev[next[right]] = left;
        consider(prev[left], left);
        consider(left, next[left]);
    }
    size_t w = 0;
    for (int32_t i = 0; i < n; ++i) {
        if (alive[i]) symbols[w++] = symbols[i];
    }
    symbols.resize(w);
}

void BpeModel::encode_uncached(std::string_view word, std::vector<int32_t>& out) const {
    if (options_.ignore_merges) {
        const StringMap<int32_t>& whole = options_.byte_level ? byte_ids_ : token_ids_;
        auto it = whole.find(word);
        if (it != whole.end()) {
            out.push_back(it->second);
            return;
        }
    }
    thread_local std::vector<int32_t> symbols;
    initial_symbols(word, symbols);
    if (symbols.size() <= kSmallWord) {
        merge_small(symbols);
    } else {
        merge_large(symbols);
    }
    out.insert(out.end(), symbols.begin(), symbols.end());
}

}  // namespace turbolm

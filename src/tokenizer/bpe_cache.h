// Cache of recently encoded words -> ids for one encode call at a time (BpeModel lends caches from a
// pool, so concurrent encodes never share one). Open addressing over flat arenas; when it fills it
// starts over, which keeps memory bounded without per-entry bookkeeping.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace turbolm {

class BpeCache {
  public:
    static constexpr size_t kMaxKey = 64;  // longer words are rarely repeated and are not cached

    BpeCache() : slots_(kSlots) {}

    static uint64_t hash(std::string_view word) { return std::hash<std::string_view>{}(word); }

    bool lookup(std::string_view word, uint64_t h, std::vector<int32_t>& out) const {
        for (size_t i = h & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
            const Slot& s = slots_[i];
            if (s.key_len == kEmpty) return false;
            if (s.hash == h && s.key_len == word.size() && keys_.compare(s.key_offset, s.key_len, word) == 0) {
                out.insert(out.end(), ids_.begin() + s.ids_offset, ids_.begin() + s.ids_offset + s.ids_len);
                return true;
            }
        }
    }

    void insert(std::string_view word, uint64_t h, const int32_t* ids, size_t n) {
        if (used_ >= kSlots / 2) clear();
        for (size_t i = h & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
            Slot& s = slots_[i];
            if (s.key_len != kEmpty) continue;
            s = Slot{h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(word.size()),
                     static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(n)};
            keys_.append(word);
            ids_.insert(ids_.end(), ids, ids + n);
            ++used_;
            return;
        }
    }

    void clear() {
        std::fill(slots_.begin(), slots_.end(), Slot{});
        keys_.clear();
        ids_.clear();
        used_ = 0;
    }

  private:
    static constexpr size_t kSlots = size_t{1} << 15;
    static constexpr uint32_t kEmpty = ~uint32_t{0};
    struct Slot {
        uint64_t hash = 0;
        uint32_t key_offset = 0;
        uint32_t key_len = kEmpty;
        uint32_t ids_offset = 0;
        uint32_t ids_len = 0;
    };
    std::vector<Slot> slots_;
    std::string keys_;
    std::vector<int32_t> ids_;
    size_t used_ = 0;
};

}  // namespace turbolm

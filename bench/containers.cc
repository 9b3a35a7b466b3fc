/*
 * bench/containers.cc - C++ standard containers the way a text-processing
 * service uses them: a sliding-window word count beside an LRU cache.
 *
 * For each document (`words` words drawn Zipf-like from a vocabulary of
 * 50 000 words of 2-24 letters, so that many but not all outgrow the
 * std::string small-string buffer):
 *   - the text is built by appending to a std::string, then split into a
 *     std::vector<std::string>;
 *   - its words are counted in a std::unordered_map<std::string, unsigned>;
 *     the ten most frequent are picked with partial_sort from a
 *     std::vector of (word, count) pairs;
 *   - the counts are added to a std::map<std::string, unsigned long> of the
 *     last 32 documents, and the counts of the document leaving the window
 *     (kept in a std::deque) are taken out of it again, entries erased at 0;
 *   - `lookups` requests go to an LRU cache (a std::list of entries and a
 *     std::unordered_map from key to list position) of at most 20 000
 *     values; keys "user:<n>" with n Zipf-like in 1..200 000, values
 *     std::vector<unsigned char> of 16 B-1 KiB (as many per octave) filled
 *     from the key; a hit checks the value, a miss inserts one and evicts
 *     the least recently used entry when the cache is full.
 * Checks: the window's total count is the sum of its documents' words, and
 * every cache hit finds its value intact.
 *
 * ops are words counted plus cache lookups.
 *
 * Usage: containers [docs [words [lookups [seed]]]]   (600 2000 2000 2246822519)
 */
#include "common.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

const unsigned kVocabulary = 50000;
const unsigned kWindow = 32;
const size_t kCacheCapacity = 20000;
const unsigned kKeys = 200000;

/* A rank in [0, n), Zipf-like: log-uniform, so rank 0 is the most likely. */
unsigned zipf(uint32_t *rng, unsigned n) {
    double u = (bench_xorshift32(rng) >> 8) / 16777216.0;
    unsigned r = (unsigned)std::exp(u * std::log((double)n + 1.0)) - 1;
    return r < n ? r : n - 1;
}

/* The byte at offset i of the value cached under key number n. */
unsigned char value_byte(unsigned n, size_t i) {
    return (unsigned char)(n * 2654435761u + i * 40503u);
}

struct Entry {
    std::string key;
    unsigned n;
    std::vector<unsigned char> value;
};

class Lru {
  public:
    /* Look key number n up; on a miss insert its value.  True on a hit. */
    bool lookup(unsigned n, uint32_t *rng) {
        std::string key = "user:" + std::to_string(n);
        auto it = index_.find(key);
        if (it != index_.end()) {
            entries_.splice(entries_.begin(), entries_, it->second);
            const Entry &e = *it->second;
            if (e.n != n || e.value.front() != value_byte(n, 0) ||
                e.value.back() != value_byte(n, e.value.size() - 1) ||
                e.value[e.value.size() / 2] != value_byte(n, e.value.size() / 2))
                bench_die("containers: the cached value of %s changed", key.c_str());
            return true;
        }
        if (entries_.size() == kCacheCapacity) {
            index_.erase(entries_.back().key);
            entries_.pop_back();
        }
        unsigned octave = 4 + bench_xorshift32(rng) % 6;
        size_t size = ((size_t)1 << octave) + bench_xorshift32(rng) % ((size_t)1 << octave);
        std::vector<unsigned char> value(size);
        for (size_t i = 0; i < size; i++)
            value[i] = value_byte(n, i);
        entries_.push_front(Entry{key, n, std::move(value)});
        index_.emplace(std::move(key), entries_.begin());
        return false;
    }

  private:
    std::list<Entry> entries_;
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

} // namespace

int main(int argc, char **argv) {
    unsigned long long docs = bench_arg_u64(argc, argv, 1, 600);
    unsigned long long words = bench_arg_u64(argc, argv, 2, 2000);
    unsigned long long lookups = bench_arg_u64(argc, argv, 3, 2000);
    uint32_t rng = (uint32_t)bench_arg_u64(argc, argv, 4, 2246822519u);
    if (docs == 0 || words == 0 || rng == 0)
        bench_die("docs and words must be positive, seed not 0");

    std::vector<std::string> vocabulary;
    vocabulary.reserve(kVocabulary);
    for (unsigned i = 0; i < kVocabulary; i++) {
        std::string w(2 + bench_xorshift32(&rng) % 23, 'a');
        for (char &c : w)
            c = (char)('a' + bench_xorshift32(&rng) % 26);
        vocabulary.push_back(std::move(w));
    }

    std::map<std::string, unsigned long> window;
    std::deque<std::unordered_map<std::string, unsigned>> recent;
    unsigned long long in_window = 0, hits = 0, top_sum = 0;
    Lru cache;

    double t0 = bench_now();
    for (unsigned long long d = 0; d < docs; d++) {
        std::string text;
        for (unsigned long long i = 0; i < words; i++) {
            if (i != 0)
                text += ' ';
            text += vocabulary[zipf(&rng, kVocabulary)];
        }
        std::vector<std::string> tokens;
        for (size_t pos = 0; pos < text.size();) {
            size_t end = text.find(' ', pos);
            if (end == std::string::npos)
                end = text.size();
            tokens.emplace_back(text, pos, end - pos);
            pos = end + 1;
        }

        std::unordered_map<std::string, unsigned> counts;
        for (const std::string &t : tokens)
            counts[t]++;
        std::vector<std::pair<std::string, unsigned>> ranked(counts.begin(), counts.end());
        size_t k = std::min<size_t>(10, ranked.size());
        std::partial_sort(ranked.begin(), ranked.begin() + (long)k, ranked.end(),
                          [](const std::pair<std::string, unsigned> &a,
                             const std::pair<std::string, unsigned> &b) {
                              return a.second != b.second ? a.second > b.second : a.first < b.first;
                          });
        top_sum += ranked[0].second;

        for (const auto &c : counts)
            window[c.first] += c.second;
        in_window += tokens.size();
        recent.push_back(std::move(counts));
        if (recent.size() > kWindow) {
            for (const auto &c : recent.front()) {
                auto it = window.find(c.first);
                it->second -= c.second;
                in_window -= c.second;
                if (it->second == 0)
                    window.erase(it);
            }
            recent.pop_front();
        }

        for (unsigned long long l = 0; l < lookups; l++)
            hits += cache.lookup(1 + zipf(&rng, kKeys), &rng);
    }
    double secs = bench_now() - t0;

    unsigned long long total = 0;
    for (const auto &w : window)
        total += w.second;
    if (total != in_window)
        bench_die("containers: the window counts %llu words, its documents %llu", total, in_window);

    char extra[160];
    snprintf(extra, sizeof extra, " docs=%llu words=%llu lookups=%llu hits=%llu top_sum=%llu", docs,
             words, lookups, hits, top_sum);
    bench_report("containers", -1, docs * (words + lookups), secs, extra);
    return 0;
}

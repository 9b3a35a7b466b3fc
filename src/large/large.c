/*
 * large.c - the large-block path, shared by every backend: requests above
 * the largest size class, or aligned beyond a page.
 *
 * A block of up to RUN_MAX_PAGES pages is a run of pages in a shared 2 MiB
 * run chunk (first fit over a 512-bit free map).  A bigger one is an
 * extent: a chunk of its own, its header page (a whole alignment for an
 * aligned one) then the block's pages, mapped no further than the block
 * needs.  A run of 256 pages (1 MiB) would leave the other half of its
 * chunk unusable beside the header, so such blocks are extents, and the
 * address space the OS grants (RLIMIT_AS) holds almost nothing but blocks;
 * when the OS refuses memory, run chunks give up their free tails too.
 *
 * Freed memory stays mapped and dirty ("cached"), so a program that frees
 * and allocates again pays no system call and no page fault.  Empty run
 * chunks and the memory of freed extents are spares, kept in a table of
 * their own (a freed extent's memory keeps its header page, tracked for
 * the statistics but no longer registered: no pointer into it is ours),
 * and they serve both kinds.  A request takes the smallest spare that
 * fits, and what lies past the first 2 MiB boundary after the block goes
 * back to the spares, so a block is never charged (malloc_usable_size) for
 * more than its pages; freed memory merges with the spare memory it
 * touches, and when no spare fits, spares that lie one after another (the
 * OS maps them apart) are merged, the gaps between mapped.
 *
 * Memory goes back to the OS (purged: its pages dropped, the mapping kept,
 * so it reads as zero) once it stayed free for the purge delay
 * (hak_purge_at), and, oldest first, beyond the ACE's budget plus a boost
 * once it stayed free for an eighth of the delay (the grace); both count
 * the program's activity, not its idle stretches (purge.h).  A program
 * that takes memory back, faulting it in anew, within the purge delay
 * after some went for the budget cycles through more than the budget: the
 * boost becomes what it has live, and shrinks by what stays unused for the
 * delay.  One that takes memory back soon after some went for its age
 * cycles a little slower than the delay, which doubles (delay_shift).  A
 * page is known clean (zero) until handed out, and again after a purge, so
 * calloc zeroes only dirty pages.
 *
 * One lock guards it all: the path is taken for blocks above 64 KiB,
 * whose use costs far more than the lock.
 */
#include "large/large.h"
#include "platform/purge.h"

#include <string.h>

#define RUN_MAX_PAGES ((HAK_CHUNK_PAGES - 1) / 2) /* two fill a run chunk */
#define RUN_WORDS (HAK_CHUNK_PAGES / 64)
#define SPARES_MAX 64

typedef struct run_chunk {
    hak_chunk_t base;
    struct run_chunk *next, *prev; /* on runs while in use */
    uint64_t freed_at;             /* ms: when a run in it was last freed */
    int spare;                     /* empty: its index in spares, else -1 */
    unsigned nfree;
    uint64_t free_map[RUN_WORDS];  /* 1 = page free */
    uint64_t dirty_map[RUN_WORDS]; /* 1 = page may hold non-zero bytes */
    /* At a live run's first page: the pages it holds, and of those the
     * ones it shows as usable (fewer while it holds realloc's headroom:
     * hak_large_hold). */
    uint16_t run_pages[HAK_CHUNK_PAGES], run_shown[HAK_CHUNK_PAGES];
} run_chunk_t;

_Static_assert(sizeof(run_chunk_t) <= HAK_PAGE_SIZE, "run chunk header fits page 0");

typedef struct extent {
    hak_chunk_t base;
    void *user;              /* the block */
    size_t size;             /* bytes usable from user */
    struct extent *far_next; /* blocks aligned to 2 MiB or more */
} extent_t;

/* An empty run chunk (rc), or free memory: size bytes from base, a 2 MiB
 * boundary where its header page lies (hak_chunk_forget), the rest all
 * dirty or all clean. */
typedef struct spare {
    char *base;
    size_t size;
    size_t cached; /* dirty bytes */
    uint64_t freed_at;
    run_chunk_t *rc;
} spare_t;

static hak_lock_t large_lock = HAK_LOCK_INIT;
static run_chunk_t *runs; /* run chunks with a live run and a free page */
static spare_t spares[SPARES_MAX];
static unsigned nspares;
static extent_t *far_list;
/* Cached: the free dirty pages of every run chunk and of spare memory.
 * Live: the pages of live blocks, with their extents' headers. */
static size_t cached_bytes, live_bytes;
static size_t budget_bytes; /* set by the ACE at init */
static size_t boost_bytes;
static uint64_t returned_at; /* when memory last went back for the budget */
/* The purge delay is HAKMEM_PURGE_DELAY << delay_shift: a program that
 * takes memory back soon after some went for staying unused (aged_at) has
 * a cycle a little longer than the delay, which doubles, up to
 * DELAY_SHIFT_MAX times; a purge for age that no such taking follows
 * halves it again. */
#define DELAY_SHIFT_MAX 1
static unsigned delay_shift;
static uint64_t aged_at;
static bool aged_regretted;

void hak_large_set_budget(size_t bytes) {
    hak_lock(&large_lock);
    budget_bytes = bytes;
    hak_unlock(&large_lock);
}

static size_t page_bytes(size_t pages) { return pages << HAK_PAGE_SHIFT; }
static uint64_t delay(void) { return (uint64_t)hak_opt.purge_delay << delay_shift; }
static size_t round_page(size_t n) { return (n + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1); }
static uintptr_t round_chunk(uintptr_t a) {
    return (a + HAK_CHUNK_MASK) & ~(uintptr_t)HAK_CHUNK_MASK;
}

/* ---- bitmaps over the pages of a run chunk ---- */

/* The bits [i, i + n) of word i / 64, n reaching no further than the word. */
static uint64_t word_bits(unsigned i, unsigned n) {
    uint64_t m = n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
    return m << (i & 63);
}

static void bits_set(uint64_t *m, unsigned i, unsigned n, bool on) {
    while (n > 0) {
        unsigned k = 64 - (i & 63) < n ? 64 - (i & 63) : n;
        if (on)
            m[i >> 6] |= word_bits(i, k);
        else
            m[i >> 6] &= ~word_bits(i, k);
        i += k;
        n -= k;
    }
}

static unsigned bits_count(const uint64_t *m, unsigned i, unsigned n) {
    unsigned c = 0;
    while (n > 0) {
        unsigned k = 64 - (i & 63) < n ? 64 - (i & 63) : n;
        c += (unsigned)__builtin_popcountll(m[i >> 6] & word_bits(i, k));
        i += k;
        n -= k;
    }
    return c;
}

/* First index >= from whose bit equals want, or HAK_CHUNK_PAGES. */
static unsigned bit_next(const uint64_t *m, unsigned from, bool want) {
    while (from < HAK_CHUNK_PAGES) {
        uint64_t w = want ? m[from >> 6] : ~m[from >> 6];
        w &= ~(uint64_t)0 << (from & 63);
        if (w)
            return (from & ~63u) + (unsigned)__builtin_ctzll(w);
        from = (from & ~63u) + 64;
    }
    return HAK_CHUNK_PAGES;
}

/* First free run of n pages, a word of the map at a time: the free pages
 * that run on from the words below (carry) and the word's low ones, else,
 * for n <= 64, the runs within the word (y: bit i set where pages i to
 * i + k - 1 are free, k doubling up to n), else its high ones carried on.
 * 0 if none (page 0, the header, is never free). */
static unsigned run_find_first(const uint64_t *m, unsigned n) {
    unsigned carry = 0;
    for (unsigned w = 0; w < RUN_WORDS; w++) {
        uint64_t x = m[w];
        unsigned low = x == ~(uint64_t)0 ? 64 : (unsigned)__builtin_ctzll(~x);
        if (carry + low >= n)
            return w * 64 - carry;
        if (low == 64) {
            carry += 64;
            continue;
        }
        if (n <= 64) {
            uint64_t y = x;
            for (unsigned k = 1; k < n;) {
                unsigned s = 2 * k <= n ? k : n - k;
                y &= y >> s;
                k += s;
            }
            if (y)
                return w * 64 + (unsigned)__builtin_ctzll(y);
        }
        carry = (unsigned)__builtin_clzll(~x);
    }
    return 0;
}

/* First free run of n pages starting at a multiple of align pages. */
static unsigned run_find(const run_chunk_t *rc, unsigned n, unsigned align) {
    if (align == 1)
        return run_find_first(rc->free_map, n);
    unsigned pos = 0;
    for (;;) {
        unsigned start = bit_next(rc->free_map, pos, true);
        if (start >= HAK_CHUNK_PAGES)
            return 0;
        unsigned end = bit_next(rc->free_map, start, false);
        unsigned s = (start + align - 1) & ~(align - 1);
        if (s + n <= end)
            return s;
        pos = end;
    }
}

static size_t dirty_pages(const run_chunk_t *rc, unsigned pos, unsigned n) {
    return bits_count(rc->dirty_map, pos, n);
}

/* The free dirty bytes of a run chunk. */
static size_t run_cached(const run_chunk_t *rc) {
    size_t k = 0;
    for (unsigned w = 0; w < RUN_WORDS; w++)
        k += (size_t)__builtin_popcountll(rc->free_map[w] & rc->dirty_map[w]);
    return page_bytes(k);
}

static void runs_remove(run_chunk_t *rc) { HAK_DLIST_UNLINK(&runs, rc); }
static void runs_push(run_chunk_t *rc) { HAK_DLIST_PUSH(&runs, rc); }

/* ---- giving memory back ---- */

static size_t run_purge(run_chunk_t *rc, unsigned pos, unsigned n) {
    size_t dirty = page_bytes(dirty_pages(rc, pos, n));
    if (dirty == 0)
        return 0;
    hak_os_purge((char *)rc + page_bytes(pos), page_bytes(n));
    bits_set(rc->dirty_map, pos, n, false);
    cached_bytes -= dirty;
    return dirty;
}

/* Gives the free dirty pages of a run chunk back to the OS; returns their
 * bytes. */
static size_t runs_purge(run_chunk_t *rc) {
    size_t n = 0;
    for (unsigned s = bit_next(rc->free_map, 1, true); s < HAK_CHUNK_PAGES;) {
        unsigned e = bit_next(rc->free_map, s, false);
        n += run_purge(rc, s, e - s);
        s = bit_next(rc->free_map, e, true);
    }
    if (rc->spare >= 0)
        spares[rc->spare].cached = 0;
    return n;
}

static size_t spare_purge(unsigned i) {
    spare_t *x = &spares[i];
    if (x->rc != NULL)
        return runs_purge(x->rc);
    size_t n = x->cached;
    if (n > 0) {
        hak_os_purge(x->base + HAK_PAGE_SIZE, n);
        cached_bytes -= n;
        x->cached = 0;
    }
    return n;
}

static void spare_remove(unsigned i) {
    if (spares[i].rc != NULL)
        spares[i].rc->spare = -1;
    else
        cached_bytes -= spares[i].cached;
    spares[i] = spares[--nspares];
    if (i < nspares && spares[i].rc != NULL)
        spares[i].rc->spare = (int)i;
}

/* Unmaps spare i. */
static void spare_unmap(unsigned i) {
    spare_t x = spares[i];
    spare_remove(i);
    if (x.rc != NULL)
        cached_bytes -= run_cached(x.rc);
    hak_chunk_unmap((hak_chunk_t *)x.base);
}

/* Unmaps every spare; true if there was any. */
static bool spares_unmap(void) {
    bool any = nspares > 0;
    while (nspares > 0)
        spare_unmap(nspares - 1);
    return any;
}

/* Adds spare x; the table full, the one freed longest ago goes back to the
 * OS first.  Returns its index. */
static unsigned spare_insert(spare_t x) {
    if (nspares == SPARES_MAX) {
        unsigned old = 0;
        for (unsigned i = 1; i < nspares; i++)
            if (spares[i].freed_at < spares[old].freed_at)
                old = i;
        spare_unmap(old);
    }
    if (x.rc != NULL)
        x.rc->spare = (int)nspares;
    else
        cached_bytes += x.cached;
    spares[nspares] = x;
    return nspares++;
}

/* Adds freed memory (a chunk unregistered), merged with the spare memory it
 * touches that is dirty or clean alike (pieces of one mapping); returns its
 * index. */
static unsigned memory_add(hak_chunk_t *c, bool dirty, uint64_t freed_at) {
    for (unsigned i = 0; i < nspares;) {
        spare_t *x = &spares[i];
        hak_chunk_t *xc = (hak_chunk_t *)x->base;
        if (x->rc == NULL && (x->cached > 0) == dirty &&
            (x->base + x->size == (char *)c || (char *)c + c->map_size == x->base)) {
            if (x->freed_at > freed_at)
                freed_at = x->freed_at;
            spare_remove(i);
            if (xc < c) {
                hak_chunk_join(xc, c);
                c = xc;
            } else {
                hak_chunk_join(c, xc);
            }
        } else {
            i++;
        }
    }
    size_t dirt = dirty ? c->map_size - HAK_PAGE_SIZE : 0;
    return spare_insert((spare_t){(char *)c, c->map_size, dirt, freed_at, NULL});
}

/* Whether memory freed at freed_at stayed unused for need milliseconds of
 * the program's activity (purge.h, idle stretches); else lowers *next to
 * when it will have. */
static bool unused_for(uint64_t freed_at, uint64_t now, uint64_t need, uint64_t *next) {
    uint64_t unused = hak_purge_elapsed(freed_at, now);
    if (unused >= need)
        return true;
    if (now + (need - unused) < *next)
        *next = now + (need - unused);
    return false;
}

/* Whether memory freed at freed_at stayed unused for the purge delay. */
static bool aged(uint64_t freed_at, uint64_t now, uint64_t *next) {
    return unused_for(freed_at, now, delay(), next);
}

/* What stays beyond the budget waits this long first, of the program's
 * activity (purge.h): a program that frees much and takes it back soon,
 * or after an idle stretch, takes it back resident.  A piece bigger than
 * the whole budget, which could never stay, does not wait (a freed block
 * of many MiB leaves the RSS at once), nor what lies beyond four budgets
 * (a program that frees hundreds of MiB sees most of it leave at once).
 * No grace with HAKMEM_ACE=0, or with a budget of 0 (M_TRIM_THRESHOLD 0
 * asks for a trim at each free). */
#define GRACE_SHIFT 3
#define GRACE_BUDGETS 4
static uint64_t grace(void) { return hak_opt.ace && budget_bytes ? delay() >> GRACE_SHIFT : 0; }

/* Whether a piece of bytes cached, freed at freed_at, may go for the
 * budget; else lowers *next to when its grace runs out. */
static bool may_go(uint64_t freed_at, size_t bytes, uint64_t now, uint64_t *next) {
    return bytes > budget_bytes || cached_bytes > budget_bytes * GRACE_BUDGETS + boost_bytes ||
           unused_for(freed_at, now, grace(), next);
}

/* Purges the oldest free memory that may go until the cache is within the
 * budget and its boost; arms the clock for what must wait. */
static void keep_within_budget(uint64_t now) {
    uint64_t next = UINT64_MAX;
    while (cached_bytes > budget_bytes + boost_bytes) {
        int old = -1;
        uint64_t at = UINT64_MAX;
        for (unsigned i = 0; i < nspares; i++)
            if (spares[i].cached > 0 && spares[i].freed_at < at &&
                may_go(spares[i].freed_at, spares[i].cached, now, &next)) {
                old = (int)i;
                at = spares[i].freed_at;
            }
        run_chunk_t *orc = NULL;
        for (run_chunk_t *rc = runs; rc; rc = rc->next) {
            size_t k;
            if (rc->freed_at < at && (k = run_cached(rc)) > 0 &&
                may_go(rc->freed_at, k, now, &next)) {
                orc = rc;
                at = rc->freed_at;
            }
        }
        size_t n = orc ? runs_purge(orc) : old >= 0 ? spare_purge((unsigned)old) : 0;
        if (n == 0)
            break;
        returned_at = now;
    }
    if (next != UINT64_MAX && cached_bytes > budget_bytes + boost_bytes)
        hak_purge_at(next);
}

/* Memory was just taken that the cache did not hold, clean: it faults in
 * anew.  If memory went back for the budget within the purge delay, the
 * program cycles through more than the budget, and may keep as much free
 * memory as it has live; if it went back for its age, the program's cycle
 * is longer than the delay.  With HAKMEM_ACE=0 it learns nothing: no
 * boost, the delay as given. */
static void learn(size_t clean, uint64_t now) {
    if (clean == 0 || !hak_opt.ace)
        return;
    if (returned_at != 0 && hak_purge_elapsed(returned_at, now) < delay())
        boost_bytes = live_bytes;
    if (aged_at != 0 && !aged_regretted && hak_purge_elapsed(aged_at, now) < delay()) {
        aged_regretted = true;
        if (delay_shift < DELAY_SHIFT_MAX)
            delay_shift++;
    }
}

/* Purges what stayed free for the purge delay (the program did not need
 * it: the boost shrinks by as much), and asks the ACE to call again when
 * the next piece is due. */
static void purge_aged(uint64_t now) {
    keep_within_budget(now);
    uint64_t next = UINT64_MAX;
    size_t n = 0;
    for (unsigned i = 0; i < nspares; i++)
        if (spares[i].cached > 0 && aged(spares[i].freed_at, now, &next))
            n += spare_purge(i);
    for (run_chunk_t *rc = runs; rc; rc = rc->next)
        if (run_cached(rc) > 0 && aged(rc->freed_at, now, &next))
            n += runs_purge(rc);
    boost_bytes -= n < boost_bytes ? n : boost_bytes;
    if (n > 0) {
        if (aged_at != 0 && !aged_regretted && delay_shift > 0)
            delay_shift--;
        aged_at = now;
        aged_regretted = false;
    }
    if (next != UINT64_MAX)
        hak_purge_at(next);
}

void hak_large_decay(void) {
    hak_lock(&large_lock);
    purge_aged(hak_os_now_ms());
    hak_unlock(&large_lock);
}

/* After a free: the budget, and the purge clock for what stays cached. */
static void freed(uint64_t now) {
    keep_within_budget(now);
    if (hak_opt.purge_delay > 0)
        hak_purge_at(now + delay());
}

/* Unmaps the free pages at the end of every run chunk in use: address
 * space it gives up for good (RLIMIT_AS may hold a block more for it: three
 * runs of 512 KiB leave a quarter of their chunk free).  True if any. */
static bool runs_trim_tails(void) {
    bool any = false;
    for (run_chunk_t *rc = runs, *next; rc; rc = next) {
        next = rc->next;
        unsigned end = (unsigned)(rc->base.map_size >> HAK_PAGE_SHIFT), last = end;
        while (last > 1 && bits_count(rc->free_map, last - 1, 1))
            last--;
        if (last == end)
            continue;
        cached_bytes -= page_bytes(dirty_pages(rc, last, end - last));
        bits_set(rc->free_map, last, end - last, false);
        bits_set(rc->dirty_map, last, end - last, false);
        rc->nfree -= end - last;
        hak_os_unmap((char *)rc + page_bytes(last), page_bytes(end - last));
        rc->base.map_size = page_bytes(last);
        if (rc->nfree == 0)
            runs_remove(rc);
        any = true;
    }
    return any;
}

/* Maps a chunk; when the OS refuses, gives back what it can of what we hold
 * mapped (it may be what stands between us and RLIMIT_AS), every spare
 * first, and tries once more each time. */
static hak_chunk_t *chunk_new(size_t size, unsigned kind) {
    hak_chunk_t *c = hak_chunk_map_new(size, kind);
    if (c == NULL && spares_unmap())
        c = hak_chunk_map_new(size, kind);
    if (c == NULL && runs_trim_tails())
        c = hak_chunk_map_new(size, kind);
    return c;
}

/* ---- spares: fitted, split and merged ---- */

/* The smallest spare of at least need bytes, a dirty one of two alike;
 * -1 if none. */
static int spare_fit(size_t need) {
    int best = -1;
    for (unsigned i = 0; i < nspares; i++) {
        const spare_t *x = &spares[i];
        if (x->size >= need && (best < 0 || x->size < spares[best].size ||
                                (x->size == spares[best].size && x->cached > spares[best].cached)))
            best = (int)i;
    }
    return best;
}

/* The dirty spare memory that starts at the first 2 MiB boundary at or
 * after end; -1 if none. */
static int spare_after(const char *end) {
    const char *next = (const char *)round_chunk((uintptr_t)end);
    for (unsigned i = 0; i < nspares; i++)
        if (spares[i].base == next && spares[i].rc == NULL && spares[i].cached > 0)
            return (int)i;
    return -1;
}

/* Whether the address space [from, to) between two spares is ours: the OS
 * maps it for us unless something else took it. */
static bool gap_fill(char *from, char *to) {
    if (from == to)
        return true;
    int err;
    void *p = hak_os_map_at(from, (size_t)(to - from), &err);
    if (p == from)
        return true;
    if (p != NULL) /* an old kernel took the address as a hint only */
        hak_os_unmap(p, (size_t)(to - from));
    return false;
}

/* When no spare holds need bytes: dirty spare memory in pieces that follow
 * one another, each at the first 2 MiB boundary after the end of the one
 * before (a mapping ends where its block does), merged into one of need
 * bytes or more, the fewest such; the gaps between are mapped anew (clean
 * pages, counted dirty with the rest).  Returns its index, or -1. */
static int spares_merge(size_t need) {
    int best = -1;
    size_t best_len = SIZE_MAX;
    for (unsigned i = 0; i < nspares; i++) {
        if (spares[i].rc != NULL || spares[i].cached == 0)
            continue;
        size_t len = spares[i].size;
        for (int j = (int)i; len < need && (j = spare_after(spares[j].base + spares[j].size)) >= 0;)
            len = (size_t)(spares[j].base - spares[i].base) + spares[j].size;
        if (len >= need && len < best_len) {
            best = (int)i;
            best_len = len;
        }
    }
    if (best < 0)
        return -1;
    spare_t x = spares[best];
    spare_remove((unsigned)best);
    int j;
    while (x.size < need && (j = spare_after(x.base + x.size)) >= 0 &&
           gap_fill(x.base + x.size, spares[j].base)) {
        if (spares[j].freed_at > x.freed_at)
            x.freed_at = spares[j].freed_at;
        hak_chunk_t *n = (hak_chunk_t *)spares[j].base;
        spare_remove((unsigned)j);
        hak_chunk_join((hak_chunk_t *)x.base, n);
        x.size = ((hak_chunk_t *)x.base)->map_size;
    }
    x.cached = x.size - HAK_PAGE_SIZE;
    unsigned i = spare_insert(x);
    return x.size >= need ? (int)i : -1; /* else the OS gave a gap to another */
}

/* Takes spare i for a chunk of kind of at least need bytes, what lies past
 * the first 2 MiB boundary at or after need going back to the spares;
 * *dirty tells whether its memory may hold non-zero bytes. */
static hak_chunk_t *spare_take(unsigned i, size_t need, unsigned kind, bool *dirty) {
    spare_t x = spares[i];
    spare_remove(i);
    if (x.rc != NULL) { /* an empty run chunk: 2 MiB */
        size_t n = run_cached(x.rc);
        *dirty = n > 0;
        if (kind != HAK_CHUNK_RUNS) {
            cached_bytes -= n;
            x.rc->base.kind = (uint8_t)kind;
        }
        return &x.rc->base;
    }
    *dirty = x.cached > 0;
    hak_chunk_t *c = (hak_chunk_t *)x.base;
    size_t cut = round_chunk(need);
    if (cut < x.size)
        (void)memory_add(hak_chunk_split(c, cut), *dirty, x.freed_at);
    hak_chunk_recall(c, kind);
    return c;
}

/* ---- runs ---- */

/* Lays out an empty run chunk over 2 MiB chunk c. */
static run_chunk_t *run_chunk_init(hak_chunk_t *c, bool dirty) {
    run_chunk_t *rc = (run_chunk_t *)c;
    unsigned pages = (unsigned)(c->map_size >> HAK_PAGE_SHIFT); /* 2 MiB, or less: run_chunk_part */
    c->kind = HAK_CHUNK_RUNS;
    rc->next = rc->prev = NULL;
    rc->spare = -1;
    memset(rc->free_map, 0, sizeof rc->free_map);
    memset(rc->dirty_map, 0, sizeof rc->dirty_map);
    memset(rc->run_pages, 0, sizeof rc->run_pages);
    memset(rc->run_shown, 0, sizeof rc->run_shown);
    bits_set(rc->free_map, 1, pages - 1, true);
    if (dirty) {
        bits_set(rc->dirty_map, 1, pages - 1, true);
        cached_bytes += page_bytes(pages - 1);
    }
    rc->nfree = pages - 1;
    return rc;
}

/* When the OS refuses a whole chunk: a run chunk of only the pages a run
 * of n pages aligned to align needs with its header, as one whose free
 * tail went back (runs_trim_tails), so that the last of the address space
 * serves too.  NULL if even that is refused. */
static run_chunk_t *run_chunk_part(unsigned n, unsigned align) {
    unsigned pages = (align > 1 ? align : 1) + n;
    if (pages >= HAK_CHUNK_PAGES)
        return NULL;
    hak_chunk_t *c = hak_chunk_map_new(page_bytes(pages), HAK_CHUNK_RUNS);
    return c ? run_chunk_init(c, false) : NULL;
}

/* The empty run chunk freed last (its pages the likeliest to be in the
 * CPU's caches) that holds a run of n pages aligned to align (one whose
 * tail went back to the OS may not), else 2 MiB of spare memory, else a
 * new chunk. */
static run_chunk_t *run_chunk_new(unsigned n, unsigned align) {
    int last = -1;
    for (unsigned i = 0; i < nspares; i++)
        if (spares[i].rc != NULL && (last < 0 || spares[i].freed_at > spares[last].freed_at) &&
            run_find(spares[i].rc, n, align) != 0)
            last = (int)i;
    if (last >= 0) {
        run_chunk_t *rc = spares[last].rc;
        spare_remove((unsigned)last);
        return rc;
    }
    int i = spare_fit(HAK_CHUNK_SIZE);
    if (i >= 0) {
        bool dirty;
        hak_chunk_t *c = spare_take((unsigned)i, HAK_CHUNK_SIZE, HAK_CHUNK_RUNS, &dirty);
        return run_chunk_init(c, dirty);
    }
    hak_chunk_t *c = chunk_new(HAK_CHUNK_SIZE, HAK_CHUNK_RUNS);
    return c ? run_chunk_init(c, false) : NULL;
}

/* What a zeroed request must still zero once the lock is let go (the
 * block is the caller's by then, and nothing else reads the copy): len
 * bytes at base, or when len is 0 the pages of [pos, pos + n) marked in
 * map, a copy of the dirty map of the run chunk at base. */
typedef struct large_zero {
    char *base;
    size_t len;
    unsigned pos, n;
    uint64_t map[RUN_WORDS];
} large_zero_t;

static void zero_apply(const large_zero_t *z) {
    if (z->len != 0) {
        memset(z->base, 0, z->len);
        return;
    }
    unsigned end = z->pos + z->n;
    for (unsigned i = bit_next(z->map, z->pos, true); i < end;) {
        unsigned e = bit_next(z->map, i, false);
        if (e > end)
            e = end;
        memset(z->base + page_bytes(i), 0, page_bytes(e - i));
        i = bit_next(z->map, e, true);
    }
}

static void *run_alloc(unsigned n, unsigned align, large_zero_t *zero, hak_fail_t *cause,
                       uint64_t now) {
    run_chunk_t *rc;
    unsigned pos = 0;
    for (rc = runs; rc; rc = rc->next)
        if (rc->nfree >= n && (pos = run_find(rc, n, align)) != 0)
            break;
    if (rc == NULL) {
        rc = run_chunk_new(n, align);
        if (rc == NULL)
            rc = run_chunk_part(n, align);
        if (rc == NULL) {
            *cause = hak_map_fail_cause();
            return NULL;
        }
        runs_push(rc);
        pos = run_find(rc, n, align);
        HAK_ASSERT(pos != 0);
    }
    size_t dirty = dirty_pages(rc, pos, n);
    cached_bytes -= page_bytes(dirty);
    if (zero != NULL && dirty) {
        *zero = (large_zero_t){.base = (char *)rc, .pos = pos, .n = n};
        memcpy(zero->map, rc->dirty_map, sizeof zero->map);
    }
    bits_set(rc->free_map, pos, n, false);
    bits_set(rc->dirty_map, pos, n, true);
    rc->run_pages[pos] = rc->run_shown[pos] = (uint16_t)n;
    rc->nfree -= n;
    if (rc->nfree == 0)
        runs_remove(rc);
    rc->base.page_code[pos] = HAK_CODE_LARGE;
    live_bytes += page_bytes(n);
    learn(page_bytes(n - dirty), now);
    return (char *)rc + page_bytes(pos);
}

/* Frees n pages from pos of a run chunk; they were handed out, so dirty. */
static void run_pages_free(run_chunk_t *rc, unsigned pos, unsigned n, uint64_t now) {
    bool was_full = rc->nfree == 0;
    bits_set(rc->free_map, pos, n, true);
    rc->nfree += n;
    cached_bytes += page_bytes(n);
    live_bytes -= page_bytes(n);
    rc->freed_at = now;
    if (was_full)
        runs_push(rc);
}

static void run_free(run_chunk_t *rc, unsigned pos, uint64_t now) {
    unsigned n = rc->run_pages[pos];
    rc->base.page_code[pos] = HAK_CODE_NONE;
    rc->run_pages[pos] = rc->run_shown[pos] = 0;
    run_pages_free(rc, pos, n, now);
    if (rc->nfree == (rc->base.map_size >> HAK_PAGE_SHIFT) - 1) {
        runs_remove(rc);
        unsigned i =
            spare_insert((spare_t){(char *)rc, rc->base.map_size, run_cached(rc), now, rc});
        if (hak_opt.purge_delay == 0)
            (void)spare_purge(i);
    } else if (hak_opt.purge_delay == 0) {
        (void)runs_purge(rc);
    }
}

/* ---- extents ---- */

static void *extent_alloc(size_t size, size_t align, large_zero_t *zero, hak_fail_t *cause,
                          uint64_t now) {
    size_t offset = align > HAK_PAGE_SIZE ? align : HAK_PAGE_SIZE;
    bool far = offset >= HAK_CHUNK_SIZE;
    if (size > SIZE_MAX - offset - HAK_PAGE_SIZE) {
        *cause = HAK_FAIL_THRESHOLD;
        return NULL;
    }
    size_t need = round_page(offset + size);
    int i = far ? -1 : spare_fit(need);
    if (i < 0 && !far)
        i = spares_merge(need);
    extent_t *h;
    if (i >= 0) {
        bool dirty;
        h = (extent_t *)spare_take((unsigned)i, need, HAK_CHUNK_HUGE, &dirty);
        if (zero != NULL && dirty)
            *zero = (large_zero_t){.base = (char *)h + offset, .len = need - offset};
        if (!dirty)
            learn(need, now);
    } else if (far) {
        /* Header at an align-aligned chunk, block one alignment later: the
         * block's own 2 MiB slot holds no header, so it is found through
         * far_list (rare: alignments of 2 MiB and more). */
        void *m = hak_os_map(need, offset);
        if (m != NULL && ((uintptr_t)m >> HAK_VA_BITS) != 0) {
            hak_os_unmap(m, need);
            m = NULL;
        }
        if (m == NULL) {
            *cause = hak_map_fail_cause();
            return NULL;
        }
        h = m;
        h->base.magic = HAK_CHUNK_MAGIC;
        h->base.kind = HAK_CHUNK_HUGE;
        h->base.map_size = need;
        hak_chunk_track(&h->base, true);
        h->far_next = far_list;
        far_list = h;
    } else {
        h = (extent_t *)chunk_new(need, HAK_CHUNK_HUGE);
        if (h == NULL) {
            *cause = hak_map_fail_cause();
            return NULL;
        }
        learn(need, now);
    }
    h->user = (char *)h + offset;
    h->size = need - offset;
    if (!far) {
        h->base.page_code[offset >> HAK_PAGE_SHIFT] = HAK_CODE_LARGE;
        live_bytes += h->base.map_size;
    }
    return h->user;
}

static void extent_free(extent_t *h, uint64_t now) {
    live_bytes -= h->base.map_size;
    hak_chunk_forget(&h->base);
    unsigned i = memory_add(&h->base, true, now);
    if (hak_opt.purge_delay == 0)
        (void)spare_purge(i);
}

/* ---- the interface ---- */

static extent_t **far_find(const void *p) {
    extent_t **pp = &far_list;
    while (*pp && (*pp)->user != p)
        pp = &(*pp)->far_next;
    return pp;
}

/*
 * With HAKMEM_SECURE, a large block's last page is a guard: no access while
 * the block lives, so a write or read past its usable size faults at once
 * instead of reaching the next block.  A block is then one page longer
 * than it shows (malloc_usable_size), and never resized in place.  When the
 * OS will not split the mapping further (too many mappings), the block
 * goes without its guard.
 */
static size_t guard_bytes(void) { return hak_opt.secure ? HAK_PAGE_SIZE : 0; }

/* The bytes of large block p, in a chunk of the map, its guard included:
 * a run's pages shown, an extent's usable bytes. */
static size_t block_bytes(const void *p) {
    uintptr_t a = (uintptr_t)p;
    hak_chunk_t *c = hak_chunk_of(a);
    if (c->kind == HAK_CHUNK_RUNS) {
        unsigned pos = (unsigned)((a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1));
        return page_bytes(((const run_chunk_t *)c)->run_shown[pos]);
    }
    return ((const extent_t *)c)->size;
}

/* The same of a far block (outside the map), or 0 if p is none. */
static size_t far_bytes(const void *p) {
    extent_t *h = *far_find(p);
    return h ? h->size : 0;
}

/* The guard page of block p (guard_bytes() != 0); the caller holds
 * large_lock, as the far list is walked. */
static char *guard_page(const void *p) {
    size_t bytes = hak_chunk_owned((uintptr_t)p) ? block_bytes(p) : far_bytes(p);
    return (char *)p + bytes - guard_bytes();
}

void *hak_large_alloc(size_t size, size_t align, bool zero, hak_fail_t *cause) {
    if (size == 0) /* aligned_alloc(big, 0): still a block of its own */
        size = 1;
    if (align < HAK_PAGE_SIZE)
        align = HAK_PAGE_SIZE;
    if (guard_bytes() != 0)
        size = round_page(size) + guard_bytes();
    size_t pages = (size + HAK_PAGE_SIZE - 1) >> HAK_PAGE_SHIFT;
    size_t apages = align >> HAK_PAGE_SHIFT;
    void *p;
    /* Dirty memory is zeroed, and then the guard page set, after the lock:
     * the block is the caller's by then. */
    large_zero_t z; /* base NULL: nothing to zero */
    z.base = NULL;
    uint64_t now = hak_os_now_ms(); /* read before the lock: shorter held */
    hak_purge_active(now);
    hak_lock(&large_lock);
    if (size <= page_bytes(RUN_MAX_PAGES) && apages <= RUN_MAX_PAGES)
        p = run_alloc((unsigned)(pages ? pages : 1), (unsigned)apages, zero ? &z : NULL, cause,
                      now);
    else
        p = extent_alloc(size, align, zero ? &z : NULL, cause, now);
    char *g = p != NULL && guard_bytes() != 0 ? guard_page(p) : NULL;
    hak_unlock(&large_lock);
    if (p != NULL && z.base != NULL)
        zero_apply(&z);
    if (g != NULL)
        hak_os_guard(g, guard_bytes(), true);
    return p;
}

void hak_large_free(void *p) {
    uintptr_t a = (uintptr_t)p;
    hak_chunk_t *c = hak_chunk_of(a);
    unsigned pos = (unsigned)((a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1));
    uint64_t now = hak_os_now_ms();
    hak_purge_active(now);
    hak_lock(&large_lock);
    if ((a & (HAK_PAGE_SIZE - 1)) != 0 || c->page_code[pos] != HAK_CODE_LARGE) {
        hak_unlock(&large_lock);
        hak_invalid_block("free()", p);
    }
    char *g = guard_bytes() != 0 ? guard_page(p) : NULL;
    if (g != NULL && !hak_os_guard(g, guard_bytes(), false))
        hak_fatal("free(): the guard page %p of %p cannot be lifted (mprotect)", (void *)g, p);
    if (c->kind == HAK_CHUNK_RUNS)
        run_free((run_chunk_t *)c, pos, now);
    else
        extent_free((extent_t *)c, now);
    freed(now);
    hak_unlock(&large_lock);
    hak_purger_poke();
}

size_t hak_large_usable(const void *p) { return block_bytes(p) - guard_bytes(); }

/* Extent h's block to n bytes, within its mapping; a shrink gives what lies
 * past the next 2 MiB boundary to the spares (the pages before it stay:
 * often headroom realloc gave and the program never wrote, whose purge
 * would be a system call for nothing), unless it holds them all (hold),
 * and a growth keeps the whole mapping for the next one. */
static bool extent_resize(extent_t *h, size_t n, bool hold, uint64_t now) {
    size_t off = (size_t)((char *)h->user - (char *)h);
    if (n > h->base.map_size - off)
        return false;
    size_t need = round_page(off + n), cut = round_chunk(need);
    bool shrink = need - off < h->size;
    h->size = need - off;
    if (shrink && !hold && cut < h->base.map_size) {
        live_bytes -= h->base.map_size - cut;
        unsigned i = memory_add(hak_chunk_split(&h->base, cut), true, now);
        if (hak_opt.purge_delay == 0)
            (void)spare_purge(i);
        freed(now);
    }
    return true;
}

/* Run rc's run at pos to want pages: a shrink frees the pages past want
 * (hold: keeps them, for a growth to show again), a growth shows the pages
 * it holds, then takes the free pages after them. */
static bool run_resize(run_chunk_t *rc, unsigned pos, unsigned want, bool hold, uint64_t now) {
    unsigned have = rc->run_pages[pos];
    if (want <= have) {
        rc->run_shown[pos] = (uint16_t)want;
        if (want < have && !hold) {
            rc->run_pages[pos] = (uint16_t)want;
            run_pages_free(rc, pos + want, have - want, now);
            if (hak_opt.purge_delay == 0)
                (void)runs_purge(rc);
            freed(now);
        }
        return true;
    }
    if (pos + want > HAK_CHUNK_PAGES || bit_next(rc->free_map, pos + have, false) < pos + want)
        return false;
    unsigned extra = want - have;
    size_t dirty = dirty_pages(rc, pos + have, extra);
    cached_bytes -= page_bytes(dirty);
    bits_set(rc->free_map, pos + have, extra, false);
    bits_set(rc->dirty_map, pos + have, extra, true);
    rc->run_pages[pos] = rc->run_shown[pos] = (uint16_t)want;
    rc->nfree -= extra;
    if (rc->nfree == 0)
        runs_remove(rc);
    live_bytes += page_bytes(extra);
    learn(page_bytes(extra - dirty), now);
    return true;
}

/* Large block p to n bytes in place, holding what a shrink frees (hold)
 * or not; whether it could. */
static bool resize(void *p, size_t n, bool hold) {
    uintptr_t a = (uintptr_t)p;
    hak_chunk_t *c = hak_chunk_of(a);
    bool ok = false;
    /* A far block's chunk header is elsewhere; a guarded one never moves
     * its guard. */
    if (!hak_chunk_owned(a) || guard_bytes() != 0)
        return false;
    hak_lock(&large_lock);
    uint64_t now = hak_os_now_ms();
    if (c->kind == HAK_CHUNK_HUGE) {
        ok = extent_resize((extent_t *)c, n, hold, now);
    } else if (n < HAK_CHUNK_SIZE) { /* a run grows in place past RUN_MAX_PAGES */
        unsigned pos = (unsigned)((a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1));
        ok = run_resize((run_chunk_t *)c, pos, (unsigned)(round_page(n) >> HAK_PAGE_SHIFT), hold,
                        now);
    }
    hak_unlock(&large_lock);
    return ok;
}

bool hak_large_resize(void *p, size_t n) { return resize(p, n, false); }

bool hak_large_hold(void *p, size_t n) { return resize(p, n, true); }

size_t hak_large_free_far(void *p) {
    hak_lock(&large_lock);
    extent_t **pp = far_find(p), *h = *pp;
    if (h)
        *pp = h->far_next;
    hak_unlock(&large_lock);
    if (h == NULL)
        return 0;
    size_t size = h->size - guard_bytes();
    hak_chunk_track(&h->base, false);
    hak_os_unmap(h, h->base.map_size);
    return size;
}

size_t hak_large_usable_far(const void *p) {
    hak_lock(&large_lock);
    size_t n = far_bytes(p);
    hak_unlock(&large_lock);
    return n ? n - guard_bytes() : 0;
}

bool hak_large_trim(size_t pad) {
    bool released = false;
    hak_lock(&large_lock);
    if (cached_bytes > pad)
        released = spares_unmap();
    for (run_chunk_t *rc = runs; rc && cached_bytes > pad; rc = rc->next)
        released |= runs_purge(rc) > 0;
    boost_bytes = 0;
    returned_at = 0;
    hak_unlock(&large_lock);
    return released;
}

bool hak_large_squeeze(void) {
    hak_lock(&large_lock);
    bool released = spares_unmap();
    released |= runs_trim_tails();
    hak_unlock(&large_lock);
    return released;
}

void hak_large_fork_prepare(void) { hak_lock(&large_lock); }
void hak_large_fork_release(void) { hak_unlock(&large_lock); }

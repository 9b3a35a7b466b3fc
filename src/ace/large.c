/*
 * large.c - the large-block path, shared by every backend: requests above
 * the largest size class, or aligned beyond a page.
 *
 * Up to RUN_MAX_PAGES a block is a run of pages in a shared 2 MiB run
 * chunk (first fit over a 512-bit free map).  Bigger blocks get a chunk of
 * their own.  Freed memory stays mapped and dirty ("cached"), so churn
 * costs no system call: within the ACE's budget for good, beyond it until
 * the ACE's purge clock runs out (hak_ace_purge_due), when it is purged
 * down to half the budget, the largest huge chunks first.  A freed huge
 * chunk bigger than the whole budget is purged at once, and one beyond the
 * cache's slots unmapped.  A page is known
 * clean (zero) until handed out, and again after a purge, so calloc zeroes
 * only dirty pages.
 *
 * One lock guards it all: the path is taken for blocks above 64 KiB,
 * whose use costs far more than the lock.
 */
#include "ace/ace.h"

#include <string.h>

#define RUN_MAX_PAGES 256 /* 1 MiB */
#define RUN_WORDS (HAK_CHUNK_PAGES / 64)
#define HUGE_CACHE_SLOTS 64
#define SPARE_RUNS_MAX 8

typedef struct run_chunk {
    hak_chunk_t base;
    uint64_t free_map[RUN_WORDS];  /* 1 = page free */
    uint64_t dirty_map[RUN_WORDS]; /* 1 = page may hold non-zero bytes */
    uint16_t run_pages[HAK_CHUNK_PAGES]; /* at a live run's first page */
    struct run_chunk *next, *prev;
    unsigned nfree;
} run_chunk_t;

_Static_assert(sizeof(run_chunk_t) <= HAK_PAGE_SIZE, "run chunk header fits page 0");

typedef struct huge_chunk {
    hak_chunk_t base;
    void *user;               /* the block */
    size_t size;              /* bytes usable from user */
    bool dirty;               /* cached with non-zero bytes */
    struct huge_chunk *far_next; /* blocks aligned to 2 MiB or more */
} huge_chunk_t;

static hak_lock_t large_lock = HAK_LOCK_INIT;
static run_chunk_t *runs;          /* chunks with at least one free page */
static run_chunk_t *spare_runs;    /* empty chunks kept for reuse */
static unsigned nspare_runs;
/* Freed huge chunks, dirty while within budget, purged beyond it: a purged
 * one costs address space only and saves a mmap/munmap pair on reuse. */
static huge_chunk_t *huge_cache[HUGE_CACHE_SLOTS];
static huge_chunk_t *far_list;
static size_t cached_bytes, budget_bytes; /* budget: set by the ACE at init */
static uint64_t over_since; /* the purge clock (hak_ace_purge_due) */

void hak_large_set_budget(size_t bytes) {
    hak_lock(&large_lock);
    budget_bytes = bytes;
    hak_unlock(&large_lock);
}

/* ---- bitmaps over the pages of a run chunk ---- */

static bool bit_get(const uint64_t *m, unsigned i) { return (m[i >> 6] >> (i & 63)) & 1; }

static void bits_set(uint64_t *m, unsigned i, unsigned n, bool on) {
    for (unsigned k = i; k < i + n; k++) {
        uint64_t b = (uint64_t)1 << (k & 63);
        if (on)
            m[k >> 6] |= b;
        else
            m[k >> 6] &= ~b;
    }
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

/* First free run of n pages starting at a multiple of align pages. */
static unsigned run_find(const run_chunk_t *rc, unsigned n, unsigned align) {
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

static void list_remove(run_chunk_t *rc) { HAK_DLIST_UNLINK(&runs, rc); }
static void list_push(run_chunk_t *rc) { HAK_DLIST_PUSH(&runs, rc); }

static bool cache_drop_clean(void);

/* Maps a chunk; when the OS refuses, gives back every cached chunk (they
 * may be what stands between us and RLIMIT_AS) and tries once more. */
static hak_chunk_t *chunk_new(size_t size, unsigned kind) {
    hak_chunk_t *c = hak_chunk_map_new(size, kind, 0);
    if (c == NULL && cache_drop_clean())
        c = hak_chunk_map_new(size, kind, 0);
    return c;
}

static run_chunk_t *run_chunk_new(void) {
    if (spare_runs) {
        run_chunk_t *rc = spare_runs;
        spare_runs = rc->next;
        nspare_runs--;
        rc->next = NULL;
        return rc;
    }
    run_chunk_t *rc = (run_chunk_t *)chunk_new(HAK_CHUNK_SIZE, HAK_CHUNK_RUNS);
    if (rc == NULL)
        return NULL;
    bits_set(rc->free_map, 1, HAK_CHUNK_PAGES - 1, true);
    rc->nfree = HAK_CHUNK_PAGES - 1;
    return rc;
}

/* Zeroes the dirty pages of [pos, pos+n). */
static void run_zero_dirty(run_chunk_t *rc, unsigned pos, unsigned n) {
    char *base = (char *)rc;
    unsigned i = pos, end = pos + n;
    while (i < end) {
        unsigned d = bit_next(rc->dirty_map, i, true);
        if (d >= end)
            break;
        unsigned c = bit_next(rc->dirty_map, d, false);
        if (c > end)
            c = end;
        memset(base + ((size_t)d << HAK_PAGE_SHIFT), 0, (size_t)(c - d) << HAK_PAGE_SHIFT);
        i = c;
    }
}

static size_t dirty_pages(const run_chunk_t *rc, unsigned pos, unsigned n) {
    size_t k = 0;
    for (unsigned i = pos; i < pos + n; i++)
        k += bit_get(rc->dirty_map, i);
    return k;
}

static void *run_alloc(unsigned n, unsigned align, bool zero, hak_fail_t *cause) {
    run_chunk_t *rc;
    unsigned pos = 0;
    for (rc = runs; rc; rc = rc->next)
        if (rc->nfree >= n && (pos = run_find(rc, n, align)) != 0)
            break;
    if (rc == NULL) {
        rc = run_chunk_new();
        if (rc == NULL) {
            *cause = HAK_FAIL_MAPFAIL;
            return NULL;
        }
        list_push(rc);
        pos = run_find(rc, n, align);
        HAK_ASSERT(pos != 0);
    }
    size_t dirty = dirty_pages(rc, pos, n) << HAK_PAGE_SHIFT;
    cached_bytes -= dirty;
    if (zero && dirty)
        run_zero_dirty(rc, pos, n);
    bits_set(rc->free_map, pos, n, false);
    bits_set(rc->dirty_map, pos, n, true);
    rc->run_pages[pos] = (uint16_t)n;
    rc->nfree -= n;
    if (rc->nfree == 0)
        list_remove(rc);
    rc->base.page_code[pos] = HAK_CODE_LARGE;
    return (char *)rc + ((size_t)pos << HAK_PAGE_SHIFT);
}

static void run_purge(run_chunk_t *rc, unsigned pos, unsigned n) {
    size_t dirty = dirty_pages(rc, pos, n) << HAK_PAGE_SHIFT;
    if (dirty == 0)
        return;
    hak_os_purge((char *)rc + ((size_t)pos << HAK_PAGE_SHIFT), (size_t)n << HAK_PAGE_SHIFT);
    bits_set(rc->dirty_map, pos, n, false);
    cached_bytes -= dirty;
}

static void run_free(run_chunk_t *rc, unsigned pos, unsigned n) {
    bool was_full = rc->nfree == 0;
    rc->base.page_code[pos] = HAK_CODE_NONE;
    rc->run_pages[pos] = 0;
    bits_set(rc->free_map, pos, n, true);
    rc->nfree += n;
    cached_bytes += (size_t)n << HAK_PAGE_SHIFT;
    if (was_full)
        list_push(rc);
    if (rc->nfree == HAK_CHUNK_PAGES - 1) {
        list_remove(rc);
        if (nspare_runs < SPARE_RUNS_MAX) {
            rc->next = spare_runs;
            spare_runs = rc;
            nspare_runs++;
        } else {
            cached_bytes -= dirty_pages(rc, 1, HAK_CHUNK_PAGES - 1) << HAK_PAGE_SHIFT;
            hak_chunk_unmap(&rc->base);
        }
    }
}

/* ---- huge blocks: a chunk each ---- */

/* The smallest cached chunk that fits, if it is at most twice the need. */
static huge_chunk_t *huge_from_cache(size_t map_size) {
    unsigned best = HUGE_CACHE_SLOTS;
    for (unsigned i = 0; i < HUGE_CACHE_SLOTS; i++) {
        huge_chunk_t *h = huge_cache[i];
        if (h && h->base.map_size >= map_size && h->base.map_size / 2 <= map_size &&
            (best == HUGE_CACHE_SLOTS || h->base.map_size < huge_cache[best]->base.map_size))
            best = i;
    }
    if (best == HUGE_CACHE_SLOTS)
        return NULL;
    huge_chunk_t *h = huge_cache[best];
    huge_cache[best] = NULL;
    if (h->dirty)
        cached_bytes -= h->base.map_size;
    return h;
}

static void huge_purge(huge_chunk_t *h) {
    hak_os_purge((char *)h + HAK_PAGE_SIZE, h->base.map_size - HAK_PAGE_SIZE);
    h->dirty = false;
    cached_bytes -= h->base.map_size;
}

static void *huge_alloc(size_t size, size_t align, bool zero, hak_fail_t *cause) {
    size_t offset = align > HAK_PAGE_SIZE ? align : HAK_PAGE_SIZE;
    bool far = offset >= HAK_CHUNK_SIZE;
    if (size > SIZE_MAX - offset - HAK_PAGE_SIZE) {
        *cause = HAK_FAIL_THRESHOLD;
        return NULL;
    }
    size_t map_size = (offset + size + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1);
    huge_chunk_t *h = far ? NULL : huge_from_cache(map_size);
    if (h != NULL) {
        if (zero && h->dirty)
            memset((char *)h + offset, 0, size);
    } else {
        if (far) {
            /* Header at an align-aligned chunk, block one alignment later:
             * the block's own 2 MiB slot holds no header, so it is found
             * through far_list (rare: alignments of 2 MiB and more). */
            void *m = hak_os_map(map_size, offset);
            if (m != NULL && ((uintptr_t)m >> HAK_VA_BITS) == 0) {
                hak_chunk_t *c = m;
                c->magic = HAK_CHUNK_MAGIC;
                c->kind = HAK_CHUNK_HUGE;
                c->map_size = map_size;
                hak_chunk_track(c, true);
                h = (huge_chunk_t *)c;
            } else if (m != NULL) {
                hak_os_unmap(m, map_size);
            }
        } else {
            h = (huge_chunk_t *)chunk_new(map_size, HAK_CHUNK_HUGE);
        }
        if (h == NULL) {
            *cause = HAK_FAIL_MAPFAIL;
            return NULL;
        }
    }
    h->user = (char *)h + offset;
    h->size = h->base.map_size - offset;
    h->dirty = true;
    if (far) {
        h->far_next = far_list;
        far_list = h;
    } else {
        h->base.page_code[offset >> HAK_PAGE_SHIFT] = HAK_CODE_LARGE;
    }
    return h->user;
}

static void huge_release(huge_chunk_t *h) {
    size_t off = (size_t)((char *)h->user - (char *)h);
    h->base.page_code[off >> HAK_PAGE_SHIFT] = HAK_CODE_NONE;
    for (unsigned i = 0; i < HUGE_CACHE_SLOTS; i++) {
        if (huge_cache[i] == NULL) {
            huge_cache[i] = h;
            cached_bytes += h->base.map_size;
            /* A block bigger than the whole budget could never be kept
             * within it: its pages go back now, not after the purge delay,
             * which a program that frees it and goes idle never reaches. */
            if (h->base.map_size > budget_bytes)
                huge_purge(h);
            return;
        }
    }
    hak_chunk_unmap(&h->base);
}

/* ---- giving memory back ---- */

/* Purges the free pages of the run chunks on list (linked by next) until at
 * most target bytes are cached; true if it purged any. */
static bool runs_purge(run_chunk_t *list, size_t target) {
    bool purged = false;
    for (run_chunk_t *rc = list; rc && cached_bytes > target; rc = rc->next) {
        for (unsigned s = bit_next(rc->free_map, 1, true); s < HAK_CHUNK_PAGES;) {
            unsigned e = bit_next(rc->free_map, s, false);
            if (dirty_pages(rc, s, e - s)) {
                run_purge(rc, s, e - s);
                purged = true;
            }
            s = bit_next(rc->free_map, e, true);
        }
    }
    return purged;
}

/* Purges cached memory until at most target bytes are dirty: the largest
 * huge chunks first, so the small ones, likeliest to be reused, stay warm;
 * then spare and partly used run chunks. */
static void purge_down(size_t target) {
    while (cached_bytes > target) {
        huge_chunk_t *big = NULL;
        for (unsigned k = 0; k < HUGE_CACHE_SLOTS; k++)
            if (huge_cache[k] && huge_cache[k]->dirty &&
                (!big || huge_cache[k]->base.map_size > big->base.map_size))
                big = huge_cache[k];
        if (big == NULL)
            break;
        huge_purge(big);
    }
    (void)runs_purge(spare_runs, target);
    (void)runs_purge(runs, target);
}

static void purge_if_due(void) {
    if (hak_ace_purge_due(&over_since, cached_bytes, budget_bytes))
        purge_down(budget_bytes / 2);
}

void hak_large_decay(void) {
    hak_lock(&large_lock);
    purge_if_due();
    hak_unlock(&large_lock);
}

/* ---- the interface ---- */

void *hak_large_alloc(size_t size, size_t align, bool zero, hak_fail_t *cause) {
    if (size == 0) /* aligned_alloc(big, 0): still a block of its own */
        size = 1;
    if (align < HAK_PAGE_SIZE)
        align = HAK_PAGE_SIZE;
    size_t pages = (size + HAK_PAGE_SIZE - 1) >> HAK_PAGE_SHIFT;
    size_t apages = align >> HAK_PAGE_SHIFT;
    void *p;
    hak_lock(&large_lock);
    if (size <= (size_t)RUN_MAX_PAGES << HAK_PAGE_SHIFT && apages <= RUN_MAX_PAGES)
        p = run_alloc((unsigned)(pages ? pages : 1), (unsigned)apages, zero, cause);
    else
        p = huge_alloc(size, align, zero, cause);
    if (cached_bytes <= budget_bytes) /* reuse brought the cache back within budget */
        over_since = 0;
    hak_unlock(&large_lock);
    return p;
}

void hak_large_free(void *p) {
    uintptr_t a = (uintptr_t)p;
    hak_chunk_t *c = hak_chunk_of(a);
    unsigned pos = (unsigned)((a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1));
    hak_lock(&large_lock);
    if ((a & (HAK_PAGE_SIZE - 1)) != 0 || c->page_code[pos] != HAK_CODE_LARGE) {
        hak_unlock(&large_lock);
        hak_fatal("free(): invalid pointer: %p (not the start of a block)", p);
    }
    if (c->kind == HAK_CHUNK_RUNS) {
        run_chunk_t *rc = (run_chunk_t *)c;
        run_free(rc, pos, rc->run_pages[pos]);
    } else {
        huge_release((huge_chunk_t *)c);
    }
    purge_if_due();
    hak_unlock(&large_lock);
    hak_ace_purger_poke();
}

size_t hak_large_usable(const void *p) {
    uintptr_t a = (uintptr_t)p;
    hak_chunk_t *c = hak_chunk_of(a);
    if (c->kind == HAK_CHUNK_RUNS) {
        unsigned pos = (unsigned)((a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1));
        return (size_t)((const run_chunk_t *)c)->run_pages[pos] << HAK_PAGE_SHIFT;
    }
    return ((const huge_chunk_t *)c)->size;
}

bool hak_large_resize(void *p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    hak_chunk_t *c = hak_chunk_of(a);
    bool ok = false;
    if (!hak_chunk_owned(a))
        return false; /* a far block: its chunk header is elsewhere */
    hak_lock(&large_lock);
    if (c->kind == HAK_CHUNK_HUGE) {
        ok = n <= ((huge_chunk_t *)c)->size && n > ((huge_chunk_t *)c)->size / 2;
    } else if (n <= (size_t)RUN_MAX_PAGES << HAK_PAGE_SHIFT) {
        run_chunk_t *rc = (run_chunk_t *)c;
        unsigned pos = (unsigned)((a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1));
        unsigned have = rc->run_pages[pos];
        unsigned want = (unsigned)((n + HAK_PAGE_SIZE - 1) >> HAK_PAGE_SHIFT);
        if (want <= have) {
            ok = want > have / 2;
        } else if (pos + want <= HAK_CHUNK_PAGES &&
                   bit_next(rc->free_map, pos + have, false) >= pos + want) {
            /* The pages after the run are free: grow in place. */
            unsigned extra = want - have;
            cached_bytes -= dirty_pages(rc, pos + have, extra) << HAK_PAGE_SHIFT;
            bits_set(rc->free_map, pos + have, extra, false);
            bits_set(rc->dirty_map, pos + have, extra, true);
            rc->run_pages[pos] = (uint16_t)want;
            rc->nfree -= extra;
            if (rc->nfree == 0)
                list_remove(rc);
            ok = true;
        }
    }
    hak_unlock(&large_lock);
    return ok;
}

static huge_chunk_t **far_find(const void *p) {
    huge_chunk_t **pp = &far_list;
    while (*pp && (*pp)->user != p)
        pp = &(*pp)->far_next;
    return pp;
}

size_t hak_large_free_far(void *p) {
    hak_lock(&large_lock);
    huge_chunk_t **pp = far_find(p), *h = *pp;
    if (h)
        *pp = h->far_next;
    hak_unlock(&large_lock);
    if (h == NULL)
        return 0;
    size_t size = h->size;
    hak_chunk_track(&h->base, false);
    hak_os_unmap(h, h->base.map_size);
    return size;
}

size_t hak_large_usable_far(const void *p) {
    hak_lock(&large_lock);
    huge_chunk_t *h = *far_find(p);
    size_t n = h ? h->size : 0;
    hak_unlock(&large_lock);
    return n;
}

/* Unmaps every cached chunk; with large_lock held.  True if any was. */
static bool cache_drop_clean(void) {
    bool released = false;
    for (unsigned i = 0; i < HUGE_CACHE_SLOTS; i++) {
        huge_chunk_t *h = huge_cache[i];
        if (h) {
            if (h->dirty)
                cached_bytes -= h->base.map_size;
            hak_chunk_unmap(&h->base);
            huge_cache[i] = NULL;
            released = true;
        }
    }
    while (spare_runs) {
        run_chunk_t *rc = spare_runs;
        spare_runs = rc->next;
        cached_bytes -= dirty_pages(rc, 1, HAK_CHUNK_PAGES - 1) << HAK_PAGE_SHIFT;
        hak_chunk_unmap(&rc->base);
        released = true;
    }
    nspare_runs = 0;
    return released;
}

bool hak_large_trim(size_t pad) {
    bool released = false;
    hak_lock(&large_lock);
    if (cached_bytes > pad)
        released = cache_drop_clean();
    released |= runs_purge(runs, pad);
    hak_unlock(&large_lock);
    return released;
}

void hak_large_fork_prepare(void) { hak_lock(&large_lock); }
void hak_large_fork_release(void) { hak_unlock(&large_lock); }

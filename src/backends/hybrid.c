/*
 * hybrid.c - the hybrid backend: page runs with coalescing and best-fit
 * reuse under central per-class lists.
 *
 * Chunks of 2 MiB are cut into runs of whole 64 KiB units (unit 0 holds the
 * header; a unit is the granule of the frontend's window table).  Every run
 * is either free, on the page heap's list for its length, or a span serving
 * one class.  A new span takes the shortest free run that holds it, and the
 * rest of that run stays free; a span that empties goes back at once and
 * merges with the free runs on either side, so free space coalesces without
 * a sweep and a long run is there for the next long span.
 *
 * A class keeps its spans with blocks to give, those holding freed blocks
 * and those with only never-used ones, behind a lock shared by every thread
 * (one of 32, each serving the classes 32 apart).  Refill and flush take
 * that lock; a block freed by another thread costs what a local one does,
 * with no remote queue, no owner and nothing to adopt when a thread exits.
 * (The superslab backend makes the other choice: per-thread heaps without
 * locks.)  A refill takes freed blocks first and never-used ones only when
 * it found none, so fewer pages ever become resident.  A class keeps one
 * empty span for its next refill; any other empty span goes back.
 *
 * Free runs that held data stay mapped within the ACE's budget, and are
 * taken first; beyond the budget they are purged down to half of it at
 * once.  Up to HY_EMPTY_CHUNKS empty chunks stay mapped; more are unmapped.
 * As in superslab, units taken back that were purged after use raise the
 * budget (the ACE's boost, ace.h), so that a workload that frees and
 * allocates the same memory in cycles does not fault it in again each
 * time, until free memory stays over the plain budget for the purge delay.
 */
#include "backends/backend.h"
#include "ace/ace.h"

#include <string.h>

#define HY_BACKEND_ID 2
#define HY_UNITS ((unsigned)HAK_CHUNK_UNITS)
#define HY_FREE_UNITS (HY_UNITS - 1) /* all but the header's */
/* A span holds at least HY_MIN_BLOCKS blocks, within HY_MAX_UNITS units. */
#define HY_MIN_BLOCKS 32
#define HY_MAX_UNITS 8
#define HY_EMPTY_CHUNKS 16

/* A run is free or a span (under heap_lock); a span is on one of its
 * class's lists, or on none when it has no block to give (under the class
 * lock).  Two fields, so that neither lock guards a byte the other writes. */
enum { HY_RUN_FREE, HY_RUN_SPAN };
enum { HY_LIST_NONE, HY_LIST_FREED, HY_LIST_FRESH };

/* A run, described at its first unit. */
typedef struct hy_run {
    void *free;                 /* span: freed blocks, NULL-terminated */
    char *bump, *end;           /* span: never-used blocks */
    struct hy_run *next, *prev; /* free run: its length list; span: freed or fresh */
    uint32_t used;              /* span: blocks out (caches and program) */
    uint32_t capacity;
    uint8_t cls;   /* span: its class */
    uint8_t units; /* length */
    uint8_t state; /* HY_RUN_* */
    uint8_t list;  /* span: HY_LIST_* */
    uint8_t dirty; /* free run: on a list of runs holding data */
} hy_run_t;

typedef struct hy_chunk {
    hak_chunk_t base;
    hy_run_t runs[HY_UNITS];  /* at each run's first unit */
    uint8_t first[HY_UNITS];  /* for each unit, its run's first unit */
    uint32_t dirty;           /* free units holding data */
    uint32_t purged;          /* free units purged after use */
    unsigned free_units;
    struct hy_chunk *next, *prev; /* every chunk */
} hy_chunk_t;

_Static_assert(sizeof(hy_chunk_t) <= HAK_PAGE_SIZE, "chunk header fits page 0");

/* A class's spans, under lock class_lock(c). */
typedef struct hy_class {
    hy_run_t *freed; /* spans holding freed blocks */
    hy_run_t *fresh; /* spans with never-used blocks only */
} HAK_ALIGNED(64) hy_class_t;

/* The class locks: class c takes lock c % HY_LOCKS, so neighbouring
 * classes, often used together, have different locks.  Fewer than one per
 * class keeps what fork holds at once (all of them) within what
 * ThreadSanitizer's deadlock detector tracks (64). */
#define HY_LOCKS 32
typedef struct hy_lock {
    hak_lock_t lock;
} HAK_ALIGNED(64) hy_lock_t;
static hy_lock_t class_locks[HY_LOCKS] = {[0 ... HY_LOCKS - 1] = {HAK_LOCK_INIT}};
static hak_lock_t *class_lock(unsigned c) { return &class_locks[c % HY_LOCKS].lock; }

/* The page heap (heap_lock): free runs by length, those holding data
 * first; every chunk; the dirty bytes and their budget (set by the ACE). */
static hak_lock_t heap_lock = HAK_LOCK_INIT;
static hy_run_t *free_runs[2][HY_UNITS]; /* [1]: dirty */
static hy_chunk_t *chunks;
static unsigned empty_chunks;
static size_t dirty_bytes, budget_bytes;
static hak_boost_t boost;

static hy_class_t classes[HAK_NCODES];
static unsigned span_units[HAK_NCODES];

static hy_chunk_t *chunk_of(const void *p) { return (hy_chunk_t *)hak_chunk_of((uintptr_t)p); }
static unsigned run_index(const hy_run_t *r) { return (unsigned)(r - chunk_of(r)->runs); }
static char *run_start(const hy_run_t *r) {
    return (char *)chunk_of(r) + ((size_t)run_index(r) << HAK_UNIT_SHIFT);
}
static uint32_t unit_bits(unsigned first, unsigned n) { return ((1u << n) - 1) << first; }

static hy_run_t *run_of(const void *p) {
    hy_chunk_t *ch = chunk_of(p);
    return &ch->runs[ch->first[((uintptr_t)p >> HAK_UNIT_SHIFT) & (HY_UNITS - 1)]];
}

/* ------------------------------------------------------------------ */
/* The page heap (heap_lock held)                                      */

static void free_push(hy_chunk_t *ch, unsigned first, unsigned n) {
    hy_run_t *r = &ch->runs[first];
    memset(&ch->first[first], (int)first, n);
    r->state = HY_RUN_FREE;
    r->units = (uint8_t)n;
    r->dirty = (ch->dirty & unit_bits(first, n)) != 0;
    HAK_DLIST_PUSH(&free_runs[r->dirty][n], r);
}

static void free_unlink(hy_run_t *r) { HAK_DLIST_UNLINK(&free_runs[r->dirty][r->units], r); }

/* Purges the free units of ch that hold data, neighbours in one madvise;
 * its free runs move to the clean lists. */
static void chunk_purge(hy_chunk_t *ch) {
    for (unsigned u = 1; u < HY_UNITS;) {
        if (!(ch->dirty >> u & 1)) {
            u++;
            continue;
        }
        unsigned e = u;
        while (e < HY_UNITS && (ch->dirty >> e & 1))
            e++;
        hak_os_purge((char *)ch + ((size_t)u << HAK_UNIT_SHIFT), (size_t)(e - u) << HAK_UNIT_SHIFT);
        u = e;
    }
    dirty_bytes -= (size_t)__builtin_popcount(ch->dirty) << HAK_UNIT_SHIFT;
    ch->purged |= ch->dirty;
    ch->dirty = 0;
    for (unsigned u = 1; u < HY_UNITS; u += ch->runs[u].units) {
        hy_run_t *r = &ch->runs[u];
        if (r->state == HY_RUN_FREE && r->dirty) {
            free_unlink(r);
            free_push(ch, u, r->units);
        }
    }
}

static void purge_down(size_t target) {
    for (hy_chunk_t *ch = chunks; ch && dirty_bytes > target; ch = ch->next)
        if (ch->dirty)
            chunk_purge(ch);
}

/* Keeps dirty memory within the budget, and the boost while it lasts. */
static void heap_purge(void) {
    size_t keep = hak_ace_boost_budget(&boost, dirty_bytes, budget_bytes);
    if (dirty_bytes > keep)
        purge_down(keep / 2);
}

static void chunk_drop(hy_chunk_t *ch) {
    free_unlink(&ch->runs[1]);
    HAK_DLIST_UNLINK(&chunks, ch);
    dirty_bytes -= (size_t)__builtin_popcount(ch->dirty) << HAK_UNIT_SHIFT;
    hak_chunk_unmap(&ch->base);
}

static hy_chunk_t *chunk_new(void) {
    hy_chunk_t *ch = (hy_chunk_t *)hak_chunk_map_new(HAK_CHUNK_SIZE, HAK_CHUNK_SLABS, HY_BACKEND_ID);
    if (ch == NULL)
        return NULL;
    ch->runs[0].units = 1; /* the header, never free */
    ch->runs[0].state = HY_RUN_SPAN;
    ch->free_units = HY_FREE_UNITS;
    HAK_DLIST_PUSH(&chunks, ch);
    empty_chunks++;
    free_push(ch, 1, HY_FREE_UNITS);
    return ch;
}

/* Takes n units, best fit: the shortest free run that holds them, one
 * holding data before a clean one; the rest of it stays free. */
static hy_run_t *units_take(unsigned n) {
    hy_run_t *r = NULL;
    hak_lock(&heap_lock);
    for (unsigned len = n; r == NULL && len < HY_UNITS; len++)
        r = free_runs[1][len] ? free_runs[1][len] : free_runs[0][len];
    if (r == NULL) {
        hy_chunk_t *ch = chunk_new();
        if (ch == NULL) {
            hak_unlock(&heap_lock);
            return NULL;
        }
        r = &ch->runs[1];
    }
    hy_chunk_t *ch = chunk_of(r);
    unsigned first = run_index(r), len = r->units;
    free_unlink(r);
    if (ch->free_units == HY_FREE_UNITS)
        empty_chunks--;
    ch->free_units -= n;
    uint32_t bits = unit_bits(first, n);
    dirty_bytes -= (size_t)__builtin_popcount(ch->dirty & bits) << HAK_UNIT_SHIFT;
    hak_ace_boost_took(&boost, (size_t)__builtin_popcount(ch->purged & bits) << HAK_UNIT_SHIFT);
    ch->dirty &= ~bits;
    ch->purged &= ~bits;
    if (len > n)
        free_push(ch, first + n, len - n);
    memset(&ch->first[first], (int)first, n);
    r->units = (uint8_t)n;
    r->state = HY_RUN_SPAN;
    hak_unlock(&heap_lock);
    return r;
}

/* Gives the units of r back, merged with the free runs beside them. */
static void units_give(hy_run_t *r) {
    hy_chunk_t *ch = chunk_of(r);
    unsigned first = run_index(r), n = r->units;
    hak_lock(&heap_lock);
    ch->dirty |= unit_bits(first, n);
    dirty_bytes += (size_t)n << HAK_UNIT_SHIFT;
    ch->free_units += n;
    hy_run_t *left = &ch->runs[ch->first[first - 1]];
    if (left->state == HY_RUN_FREE) {
        free_unlink(left);
        n += first - run_index(left);
        first = run_index(left);
    }
    if (first + n < HY_UNITS && ch->runs[first + n].state == HY_RUN_FREE) {
        hy_run_t *right = &ch->runs[first + n];
        free_unlink(right);
        n += right->units;
    }
    free_push(ch, first, n);
    if (ch->free_units == HY_FREE_UNITS &&
        empty_chunks++ >= HY_EMPTY_CHUNKS + boost.bytes / HAK_CHUNK_SIZE) {
        empty_chunks--;
        chunk_drop(ch);
    }
    heap_purge();
    hak_unlock(&heap_lock);
}

/* ------------------------------------------------------------------ */
/* Spans (their class's lock held)                                     */

/* Moves span r to list (HY_LIST_*) of its class. */
static void span_list(hy_class_t *k, hy_run_t *r, uint8_t list) {
    if (r->list == HY_LIST_FREED)
        HAK_DLIST_UNLINK(&k->freed, r);
    else if (r->list == HY_LIST_FRESH)
        HAK_DLIST_UNLINK(&k->fresh, r);
    if (list == HY_LIST_FREED)
        HAK_DLIST_PUSH(&k->freed, r);
    else if (list == HY_LIST_FRESH)
        HAK_DLIST_PUSH(&k->fresh, r);
    r->list = list;
}

static hy_run_t *span_new(unsigned c, hak_fail_t *cause) {
    hy_run_t *r = units_take(span_units[c]);
    if (r == NULL) {
        *cause = hak_map_fail_cause();
        return NULL;
    }
    size_t size = hak_class_size[c];
    char *start = run_start(r);
    r->free = NULL;
    r->capacity = (uint32_t)(((size_t)r->units << HAK_UNIT_SHIFT) / size);
    r->bump = start;
    r->end = start + (size_t)r->capacity * size;
    r->used = 0;
    r->cls = (uint8_t)c;
    r->list = HY_LIST_NONE;
    hak_chunk_set_units(&chunk_of(r)->base, run_index(r), r->units, c);
    span_list(&classes[c], r, HY_LIST_FRESH);
    return r;
}

static void span_release(hy_class_t *k, hy_run_t *r) {
    span_list(k, r, HY_LIST_NONE);
    hak_chunk_set_units(&chunk_of(r)->base, run_index(r), r->units, HAK_CODE_NONE);
    units_give(r);
}

/* Whether p is the start of a block of class c that span r handed out
 * (class lock held). */
static bool block_ok(const hy_run_t *r, unsigned c, const void *p) {
    hak_span_t a = hak_span(c, r->end, r->capacity, r->bump);
    return r->state != HY_RUN_FREE && r->cls == c && hak_span_has(&a, p);
}

/* A block handed back must be the start of a block its span handed out. */
static void check_block(const hy_run_t *r, unsigned c, const void *p) {
    if (!block_ok(r, c, p))
        hak_invalid_block("free()", p);
}

/* ------------------------------------------------------------------ */
/* The contract                                                        */

static int hy_init(void) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        size_t need = (size_t)hak_class_size[c] * HY_MIN_BLOCKS;
        unsigned units = (unsigned)((need + HAK_UNIT_SIZE - 1) >> HAK_UNIT_SHIFT);
        span_units[c] = units < HY_MAX_UNITS ? units : HY_MAX_UNITS;
    }
    return 0;
}

static void hy_set_budget(const hak_budget_t *b) {
    hak_lock(&heap_lock);
    budget_bytes = b->cached_bytes;
    hak_unlock(&heap_lock);
}

static void *hy_thread_init(void) { return NULL; }
static void hy_thread_exit(void *state) { (void)state; }

static unsigned hy_refill(void *state, unsigned c, unsigned want, unsigned max, void **list,
                          hak_fail_t *cause) {
    (void)state;
    (void)max;
    hy_class_t *k = &classes[c];
    size_t size = hak_class_size[c];
    void *head = HAK_LIST_END;
    unsigned got = 0;
    hak_lock(class_lock(c));
    while (got < want && k->freed != NULL) {
        hy_run_t *r = k->freed;
        unsigned before = got;
        while (got < want && r->free != NULL) {
            void *p = r->free;
            if (!block_ok(r, c, p) || !hak_block_kept(p))
                hak_list_corrupt(p, "refill: a block written after its free, or a damaged link");
            r->free = hak_block_kept_next(p);
            head = hak_block_push(p, head);
            got++;
        }
        r->used += got - before;
        if (r->free == NULL)
            span_list(k, r, r->bump < r->end ? HY_LIST_FRESH : HY_LIST_NONE);
    }
    /* Never-used blocks only when no freed one was found. */
    while (got == 0) {
        hy_run_t *r = k->fresh;
        if (r == NULL && (r = span_new(c, cause)) == NULL)
            break;
        char *stop = r->bump + hak_carve_bytes(size);
        got = hak_carve(&r->bump, stop < r->end ? stop : r->end, size, want - got, &head);
        r->used += got;
        if (r->bump == r->end)
            span_list(k, r, HY_LIST_NONE);
    }
    hak_unlock(class_lock(c));
    *list = head;
    return got;
}

static void hy_flush(void *state, unsigned c, void *list, unsigned n) {
    (void)state;
    hy_class_t *k = &classes[c];
    hak_lock(class_lock(c));
    void *p = list, *next;
    for (unsigned i = 0; i < n; i++, p = next) {
        next = hak_block_flushed(p, c);
        hy_run_t *r = run_of(p);
        check_block(r, c, p);
        if (r->free == NULL)
            span_list(k, r, HY_LIST_FREED);
        hak_block_keep(p, r->free);
        r->free = p;
        /* Empty: back to the page heap, unless it is the class's last. */
        if (--r->used == 0 && (k->freed != r || r->next != NULL || k->fresh != NULL))
            span_release(k, r);
    }
    if (p != HAK_LIST_END)
        hak_list_corrupt(p, "flush: a list longer than its count");
    hak_unlock(class_lock(c));
    /* Starting the purge thread allocates: only with no lock held. */
    hak_ace_purger_poke();
}

static bool hy_owns_block(const void *p, unsigned c) {
    hak_lock(class_lock(c));
    bool ok = block_ok(run_of(p), c, p);
    hak_unlock(class_lock(c));
    return ok;
}

static bool hy_trim(size_t pad) {
    bool released = false;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        hy_class_t *k = &classes[c];
        hak_lock(class_lock(c));
        for (int fresh = 0; fresh < 2; fresh++)
            for (hy_run_t *r = fresh ? k->fresh : k->freed, *next; r; r = next) {
                next = r->next;
                if (r->used == 0) {
                    span_release(k, r);
                    released = true;
                }
            }
        hak_unlock(class_lock(c));
    }
    hak_lock(&heap_lock);
    for (hy_chunk_t *ch = chunks, *next; ch; ch = next) {
        next = ch->next;
        if (ch->free_units == HY_FREE_UNITS) {
            chunk_drop(ch);
            empty_chunks--;
            released = true;
        }
    }
    boost = (hak_boost_t){0};
    if (dirty_bytes > pad) {
        purge_down(pad);
        released = true;
    }
    hak_unlock(&heap_lock);
    return released;
}

static void hy_decay(void) {
    hak_lock(&heap_lock);
    heap_purge();
    hak_unlock(&heap_lock);
}

/* The class locks in order, then the page heap's (the order refill and
 * flush take them in: one class lock, then the heap's). */
static void hy_fork_prepare(void) {
    for (unsigned i = 0; i < HY_LOCKS; i++)
        hak_lock(&class_locks[i].lock);
    hak_lock(&heap_lock);
}
static void hy_fork_release(void) {
    hak_unlock(&heap_lock);
    for (unsigned i = HY_LOCKS; i-- > 0;)
        hak_unlock(&class_locks[i].lock);
}

const hak_backend_t hak_backend_hybrid = {
    .name = "hybrid",
    .caps = HAK_CAP_RETURNS_SMALL,
    .init = hy_init,
    .set_budget = hy_set_budget,
    .thread_init = hy_thread_init,
    .thread_exit = hy_thread_exit,
    .refill = hy_refill,
    .flush = hy_flush,
    .owns_block = hy_owns_block,
    .trim = hy_trim,
    .decay = hy_decay,
    .fork_prepare = hy_fork_prepare,
    .fork_release = hy_fork_release,
};

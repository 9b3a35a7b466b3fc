/*
 * hybrid.c - the hybrid backend: spans of whole units from the unit pool
 * under central per-class lists.
 *
 * A span is a run of 64 KiB units of the unit pool (src/pool) serving one
 * class.  A class keeps its spans with blocks to give, those holding freed
 * blocks and those with only never-used ones, behind a lock shared by
 * every thread (one of 32, each serving the classes 32 apart).  Refill and
 * flush take that lock; a block freed by another thread costs what a local
 * one does, with no remote queue, no owner and nothing to adopt when a
 * thread exits.  (The superslab backend makes the other choice: per-thread
 * heaps without locks.)  A refill takes freed blocks first and never-used
 * ones only when it found none, so fewer pages ever become resident.  A
 * class keeps one empty span for its next refill; any other empty span
 * goes back to the pool at once, which keeps free units within the ACE's
 * budget and returns them when idle.
 */
#include "backends/backend.h"
#include "pool/pool.h"

#include <string.h>

/* A span holds at least HY_MIN_BLOCKS blocks (within HAK_POOL_MAX_UNITS
 * units). */
#define HY_MIN_BLOCKS 32

/* A span is on one of its class's lists, or on none when it has no block
 * to give (under the class lock).  cls is 0 once it went back to the pool. */
enum { HY_LIST_NONE, HY_LIST_FREED, HY_LIST_FRESH };

/* A span, described at its first unit. */
typedef struct hy_run {
    void *free;                 /* freed blocks, NULL-terminated */
    char *end;                  /* never-used blocks: from its bump (the pool's, run_bump) to end */
    struct hy_run *next, *prev; /* on freed or fresh */
    uint32_t used;              /* blocks out (caches and program) */
    uint32_t capacity;
    uint8_t cls;   /* its class; 0 when free */
    uint8_t units; /* length */
    uint8_t first; /* its first unit: where the pool keeps its bump */
    uint8_t list;  /* HY_LIST_* */
} hy_run_t;

/* A chunk of the unit pool, with the span of each run at its first unit. */
typedef struct hy_chunk {
    hak_pool_chunk_t pool;
    hy_run_t runs[HAK_POOL_UNITS];
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

static hak_pool_t pool = HAK_POOL_INIT_CARVING;
static hy_class_t classes[HAK_NCODES];
static unsigned span_units[HAK_NCODES];

static hy_chunk_t *chunk_of(const void *p) { return (hy_chunk_t *)hak_chunk_of((uintptr_t)p); }
static hy_run_t *run_of(const void *p) { return &chunk_of(p)->runs[hak_pool_first(p)]; }
static char *run_bump(const hy_run_t *r) { return hak_pool_bump(&chunk_of(r)->pool, r->first); }

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
    unsigned first;
    hy_chunk_t *ch = (hy_chunk_t *)hak_pool_take(&pool, c, span_units[c], &first);
    if (ch == NULL) {
        *cause = hak_map_fail_cause();
        return NULL;
    }
    hy_run_t *r = &ch->runs[first];
    size_t size = hak_class_size[c];
    char *start = hak_pool_unit(&ch->pool, first);
    r->units = (uint8_t)span_units[c];
    r->first = (uint8_t)first;
    r->free = NULL;
    r->capacity = (uint32_t)(((size_t)r->units << HAK_UNIT_SHIFT) / size);
    r->end = start + (size_t)r->capacity * size;
    r->used = 0;
    r->cls = (uint8_t)c;
    r->list = HY_LIST_NONE;
    span_list(&classes[c], r, HY_LIST_FRESH);
    return r;
}

static void span_release(hy_class_t *k, hy_run_t *r) {
    unsigned c = r->cls;
    span_list(k, r, HY_LIST_NONE);
    r->cls = 0;
    hak_pool_release(&pool, &chunk_of(r)->pool, r->first, r->units, c, 0);
}

/* Whether p is the start of a block of class c that span r handed out
 * (class lock held). */
static bool block_ok(const hy_run_t *r, unsigned c, const void *p) {
    hak_span_t a = hak_span(c, r->end, r->capacity, run_bump(r));
    return r->cls == c && hak_span_has(&a, p);
}

/* A block handed back must be the start of a block its span handed out. */
static void check_block(const hy_run_t *r, unsigned c, const void *p) {
    if (!block_ok(r, c, p))
        hak_invalid_block("free()", p);
}

/* ------------------------------------------------------------------ */
/* The contract                                                        */

static int hy_init(void) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        span_units[c] = hak_pool_class_units(c, HY_MIN_BLOCKS);
    return 0;
}

static void hy_set_budget(const hak_budget_t *b) { hak_pool_set_budget(&pool, b->cached_bytes); }

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
            span_list(k, r, run_bump(r) < r->end ? HY_LIST_FRESH : HY_LIST_NONE);
    }
    /* Never-used blocks only when no freed one was found. */
    while (got == 0) {
        hy_run_t *r = k->fresh;
        if (r == NULL && (r = span_new(c, cause)) == NULL)
            break;
        char *bump = run_bump(r);
        char *stop =
            bump + hak_carve_bytes(size, bump == hak_pool_unit(&chunk_of(r)->pool, r->first));
        got = hak_carve(&bump, stop < r->end ? stop : r->end, size, want - got, &head);
        hak_pool_set_bump(&chunk_of(r)->pool, r->first, bump);
        r->used += got;
        if (bump == r->end)
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
    hy_run_t *r = NULL; /* the last block's span, while it serves: a */
    hak_span_t a = {0};
    for (unsigned i = 0; i < n; i++, p = next) {
        /* In the last block's span (arithmetic only): a block of r. */
        if (r != NULL && hak_span_has(&a, p)) {
            next = hak_block_flushed_next(p);
        } else {
            next = hak_block_flushed(p, c);
            r = run_of(p);
            check_block(r, c, p);
            a = hak_span(c, r->end, r->capacity, run_bump(r));
        }
        if (r->free == NULL)
            span_list(k, r, HY_LIST_FREED);
        hak_block_keep(p, r->free);
        r->free = p;
        /* Empty: back to the unit pool, unless it is the class's last. */
        if (--r->used == 0 && (k->freed != r || r->next != NULL || k->fresh != NULL)) {
            span_release(k, r);
            r = NULL;
        }
    }
    if (p != HAK_LIST_END)
        hak_list_corrupt(p, "flush: a list longer than its count");
    hak_unlock(class_lock(c));
    /* Starting the purge thread allocates: only with no lock held. */
    hak_purger_poke();
}

static bool hy_squeeze(void) { return hak_pool_squeeze(&pool); }

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
    if (hak_pool_trim(&pool, pad))
        released = true;
    return released;
}

static void hy_decay(void) { hak_pool_decay(&pool); }

/* The class locks in order, then the pool's (the order refill and flush
 * take them in: one class lock, then the pool's). */
static void hy_fork_prepare(void) {
    for (unsigned i = 0; i < HY_LOCKS; i++)
        hak_lock(&class_locks[i].lock);
    hak_pool_fork_prepare(&pool);
}
static void hy_fork_release(void) {
    hak_pool_fork_release(&pool);
    for (unsigned i = HY_LOCKS; i-- > 0;)
        hak_unlock(&class_locks[i].lock);
}

const hak_backend_t hak_backend_hybrid = {
    .name = "hybrid",
    .caps = HAK_CAP_RETURNS_SMALL | HAK_CAP_BOUNDS | HAK_CAP_TRANSFER,
    .init = hy_init,
    .set_budget = hy_set_budget,
    .thread_init = hy_thread_init,
    .thread_exit = hy_thread_exit,
    .refill = hy_refill,
    .flush = hy_flush,
    .trim = hy_trim,
    .squeeze = hy_squeeze,
    .decay = hy_decay,
    .fork_prepare = hy_fork_prepare,
    .fork_release = hy_fork_release,
};

/*
 * superslab.c - the SuperSlab backend.
 *
 * Memory comes from the unit pool: 2 MiB chunks of 32 units of 64 KiB;
 * unit 0 holds the header (only its first page is ever touched).  A slab
 * is one or more contiguous units serving one class; slabs of one chunk
 * may serve different classes, and a slab that empties goes back to the
 * pool at once, free for any class (the old HAKMEM kept one class per
 * chunk and churned through mmap/munmap), but for a heap's active slab of
 * the class, which the heap's next refill uses again while no orphan of
 * the class waits for adoption.
 *
 * Each slab has one owning thread heap.  The owner allocates from the slab's
 * local free list and bump range and takes local frees back without any
 * atomic.  Other threads push the blocks they free onto the slab's atomic
 * remote list, and count them in the owner heap's pending count for the
 * class; the owner collects them from a slab when it runs short.  Before a
 * refill takes fresh memory, a pending count worth the walk (a quarter of
 * the class's full slabs or more) makes the owner collect all its full
 * slabs of the class: a producer whose blocks a consumer frees reuses
 * them instead of growing.  used counts the blocks out of the slab (held by
 * a thread cache, by the program or on the remote list), so it is exact
 * without sweeping: the flush that brings it to zero releases the slab
 * (not the active one).
 *
 * An owner that makes no call collects nothing, so the thread whose flush
 * brings a heap's pending count past a multiple of a slab's worth (and to
 * a quarter of its full slabs) collects for it, unless the owner made a
 * backend call since the last such look: under the heap's lock, which the
 * owner holds in every backend call (never on the fast path), it collects
 * the heap's slabs of the class and gives back those that are empty.  It
 * only tries the lock: a busy owner collects by itself (a look at every
 * flush kept a busy owner's lock line moving and the owner waiting on its
 * lock).  A trim does the same for every heap and class, and for the
 * orphans of exited threads.  Without this, 100 MB that one thread
 * allocated and another freed stayed resident while the first one slept,
 * as they do with mimalloc, jemalloc and tcmalloc.
 *
 * A heap keeps per class an active slab, a list of partial slabs (with
 * local blocks) and a list of full ones (none local; they may gain remote
 * frees).  At thread exit its slabs that are still in use become orphans,
 * adopted by the next thread that needs their class, and its heap waits for
 * the next thread with its empty active slabs (parked, within a bound).
 * Threads already torn down share one heap under a lock.
 *
 * A refill takes freed blocks (local, then remote, then those of partial
 * slabs) before fresh memory, so fewer pages ever become resident.  Slabs
 * are runs of units of the unit pool (src/pool), which keeps the free
 * units within the ACE's budget, takes back for a class where it last
 * released one, and returns free units when idle.  Every block handed back
 * is checked to be the start of a block its slab gave out.
 *
 * What stays free and unused for the purge delay goes back when idle
 * (idle_return): a heap whose owner made no call for that long gives back
 * its empty slabs and its slabs' free pages, and the pool its free units.
 *
 * When no memory can be mapped, a heap takes over a slab of the class with
 * free blocks from another (slab_steal).
 */
#include "backends/backend.h"
#include "pool/pool.h"

#include <string.h>

#define SS_UNITS HAK_POOL_UNITS
/* A slab holds at least SS_MIN_BLOCKS blocks (within HAK_POOL_MAX_UNITS
 * units): slabs of big blocks that held only a few would empty, and go
 * back to the pool, at almost every flush.  But a heap's first slab of a
 * class holds SS_FIRST_BLOCKS, and each further one twice as many up to
 * that: a class a thread uses for a few blocks then ties up a unit or two,
 * not eight (with four threads and sizes to 256 KiB, an address-space
 * limit held 11 % more blocks). */
#define SS_MIN_BLOCKS 16
#define SS_FIRST_BLOCKS 4
#define SS_MAX_BLOCKS 4096 /* a slab's capacity at most (ss_slab_t) */
#define SS_SCAN 8          /* full slabs looked at per search for remote frees */

enum { SS_LIST_NONE, SS_LIST_PARTIAL, SS_LIST_FULL, SS_LIST_ORPHAN };

struct ss_heap;

/* A list of free blocks as a thread cache holds one (cached, ended by
 * HAK_LIST_END): its first block, its last when known (NULL: not known),
 * and how many, so that a refill hands it over without reading a block. */
typedef struct ss_list {
    void *head, *tail;
    uint32_t n;
} ss_list_t;

typedef struct ss_slab {
    /* Owner-local free blocks: the owner's latest frees, at most about a
     * refill's worth of blocks (ss_class_t.seg) so that a refill takes them
     * whole, its tail known; and the older ones, and remote frees. */
    ss_list_t recent, older;
    /* Never-used blocks: from the slab's bump (the pool's, slab_bump) to
     * end.  Only the owner moves it; other threads read it to check the
     * blocks they hand back. */
    char *end;
    _Atomic uint64_t remote;       /* blocks freed by other threads (below) */
    struct ss_heap *_Atomic owner; /* NULL while orphaned or free */
    struct ss_slab *next, *prev;
    /* Blocks out of the slab (owner-only), and in it: at most 4096 (a
     * unit of 16-byte blocks; slabs of more units hold bigger blocks). */
    uint16_t used;
    uint16_t capacity;
    uint8_t cls, units, list;
    uint8_t first; /* its first unit: where the pool keeps its bump */
} ss_slab_t;

/* The remote list is one packed word (hak_pack): its head and the number
 * of blocks on it, so the owner learns how many it collected without
 * walking the list.  Its blocks are cached and it ends with HAK_LIST_END, as a
 * thread cache's lists: the owner takes it whole into its local list, and
 * a refill hands that over whole. */

/* A chunk of the unit pool, with the slab of each run at its first unit. */
typedef struct ss_chunk {
    hak_pool_chunk_t pool;
    ss_slab_t slabs[SS_UNITS];
} ss_chunk_t;

_Static_assert(sizeof(ss_chunk_t) <= HAK_PAGE_SIZE, "chunk header fits page 0");

typedef struct ss_class {
    ss_slab_t *active, *partial, *full;
    ss_slab_t *scan; /* where the next look for remote frees in full starts */
    unsigned nfull;  /* slabs on full */
    unsigned seg;    /* the last refill's max: a slab's recent list stays within it */
} ss_class_t;

/* Heaps are type-stable: the heap of an exited thread waits for the next
 * thread and is never unmapped, so a thread that read a slab's owner just
 * before the owner exited still counts its remote frees in a heap (the
 * count is then only a wrong hint).  The owner holds its heap's lock in
 * every backend call (refill, flush, exit; never on the fast path), so
 * that another thread may take it to collect what it freed into the heap's
 * slabs while the owner makes no call (remote_free, ss_trim). */
typedef struct ss_heap {
    hak_lock_t lock;
    /* Whether the owner made a backend call since the last look of another
     * thread that would collect for it (foreign_collect). */
    _Atomic bool called;
    ss_class_t cls[HAK_NCODES];
    _Atomic uint32_t pending[HAK_NCODES]; /* remote frees not yet collected, about */
    struct ss_heap *next_free;
    struct ss_heap *next_all; /* every heap ever made (heaps_lock) */
    /* Idle return (ss_decay): the owner's backend calls, and whether free
     * memory may lie in its slabs since the last look that returned it
     * (both under lock). */
    hak_idle_t calls;
    bool dirty;
    /* While on free_heaps: the units of the empty active slabs it keeps,
     * and their classes. */
    unsigned parked;
    uint64_t parked_classes[(HAK_NCODES + 63) / 64];
} ss_heap_t;

/* The unit pool, and the heaps and orphans (heaps_lock). */
static hak_pool_t pool = HAK_POOL_INIT_CARVING;
static hak_lock_t heaps_lock = HAK_LOCK_INIT;
static ss_slab_t *orphans[HAK_NCODES];
/* Whether orphans[c] has a slab: set under heaps_lock as it changes, read
 * without it (a hint: whether an empty slab of the class is worth keeping,
 * or should go so that the next refill adopts an orphan). */
static _Atomic bool orphans_wait[HAK_NCODES];
static void orphans_mark(unsigned c) {
    atomic_store_explicit(&orphans_wait[c], orphans[c] != NULL, memory_order_relaxed);
}
static bool orphans_waiting(unsigned c) {
    return atomic_load_explicit(&orphans_wait[c], memory_order_relaxed);
}
/* Blocks freed into orphans of each class since their last collection,
 * about (orphans_collect). */
static _Atomic uint32_t orphan_pending[HAK_NCODES];
static unsigned class_blocks[HAK_NCODES]; /* blocks in a full-sized slab of the class */
/* Held by a thread collecting for another heap's owner, by a trim, and by
 * fork. */
static hak_lock_t collect_lock = HAK_LOCK_INIT;

/* The heap of threads already torn down. */
static ss_heap_t shared_heap = {.lock = HAK_LOCK_INIT};
static ss_heap_t *free_heaps; /* of exited threads */
/* An exited thread's heap keeps its empty active slabs for the next thread
 * (whose first refill of each class then needs no run from the pool), up
 * to SS_PARK_UNITS units over every heap on free_heaps (heaps_lock). */
#define SS_PARK_UNITS 64
static unsigned parked_units;
static ss_heap_t *all_heaps = &shared_heap;
/* Every heap, as the list is now: a heap joins it at its head and never
 * leaves it (a thread's exit puts it on free_heaps too), so a walk from
 * here needs no lock. */
static ss_heap_t *heaps_now(void) {
    hak_lock(&heaps_lock);
    ss_heap_t *h = all_heaps;
    hak_unlock(&heaps_lock);
    return h;
}

/* ------------------------------------------------------------------ */
/* Lists                                                               */

static void slab_push(ss_slab_t **head, ss_slab_t *s, uint8_t list) {
    HAK_DLIST_PUSH(head, s);
    s->list = list;
}

static void slab_unlink(ss_slab_t **head, ss_slab_t *s) {
    HAK_DLIST_UNLINK(head, s);
    s->list = SS_LIST_NONE;
}

/* Takes s off the partial or full list of its owner h. */
static void heap_unlink(ss_heap_t *h, ss_slab_t *s) {
    ss_class_t *k = &h->cls[s->cls];
    if (k->scan == s)
        k->scan = s->next;
    if (s->list == SS_LIST_FULL)
        k->nfull--;
    slab_unlink(s->list == SS_LIST_PARTIAL ? &k->partial : &k->full, s);
}

static void heap_push_full(ss_heap_t *h, ss_slab_t *s) {
    ss_class_t *k = &h->cls[s->cls];
    slab_push(&k->full, s, SS_LIST_FULL);
    k->nfull++;
}

static ss_heap_t *owner_of(const ss_slab_t *s) {
    return atomic_load_explicit(&s->owner, memory_order_relaxed);
}
static void set_owner(ss_slab_t *s, ss_heap_t *h) {
    atomic_store_explicit(&s->owner, h, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Slabs from the pool                                                 */

static ss_chunk_t *chunk_of(const void *p) { return (ss_chunk_t *)hak_chunk_of((uintptr_t)p); }

static ss_slab_t *slab_of(const void *p) {
    ss_chunk_t *r = chunk_of(p);
    return &r->slabs[hak_pool_first(p)];
}

static void list_init(ss_list_t *l) { *l = (ss_list_t){HAK_LIST_END, NULL, 0}; }

/* A new slab of n units for class c. */
static ss_slab_t *slab_acquire(unsigned c, unsigned n, hak_fail_t *cause) {
    unsigned first;
    ss_chunk_t *r = (ss_chunk_t *)hak_pool_take(&pool, c, n, &first);
    if (r == NULL) {
        *cause = hak_map_fail_cause();
        return NULL;
    }
    ss_slab_t *s = &r->slabs[first];
    size_t size = hak_class_size[c];
    char *start = hak_pool_unit(&r->pool, first);
    list_init(&s->recent);
    list_init(&s->older);
    s->capacity = (uint16_t)(((size_t)n << HAK_UNIT_SHIFT) / size);
    s->end = start + (size_t)s->capacity * size;
    atomic_store_explicit(&s->remote, 0, memory_order_relaxed);
    HAK_ASSERT(s->capacity < ((uint32_t)1 << (64 - HAK_PACK_PTR_BITS)));
    s->used = 0;
    s->cls = (uint8_t)c;
    s->units = (uint8_t)n;
    s->first = (uint8_t)first;
    s->next = s->prev = NULL;
    s->list = SS_LIST_NONE;
    return s;
}

/* Gives a slab whose blocks are all back to the pool (how: as
 * hak_pool_release's). */
static void slab_release(ss_slab_t *s, unsigned how) {
    ss_chunk_t *r = chunk_of(s);
    set_owner(s, NULL);
    hak_pool_release(&pool, &r->pool, s->first, s->units, s->cls, how);
}

/* ------------------------------------------------------------------ */
/* Slabs seen by their owner                                           */

static char *slab_bump(const ss_slab_t *s) { return hak_pool_bump(&chunk_of(s)->pool, s->first); }

/* The blocks slab s handed out so far. */
static hak_span_t slab_span(const ss_slab_t *s) {
    return hak_span(s->cls, s->end, s->capacity, slab_bump(s));
}

/* Whether p, reached through a link of one of a slab's lists, is a free
 * block that the slab (a, its span) handed out: if not, the list is
 * reported. */
static void free_check(const hak_span_t *a, const void *p, const char *why) {
    if (!hak_span_has(a, p) || !hak_block_cached(p))
        hak_list_corrupt(p, why);
}

/* The k-th block (k >= 1) of the list from p, of slab s, each checked
 * before its link is followed. */
static void *list_walk(const ss_slab_t *s, void *p, unsigned k, const char *why) {
    hak_span_t a = slab_span(s);
    for (;;) {
        free_check(&a, p, why);
        if (--k == 0)
            return p;
        p = hak_block_next(p);
    }
}

/* Moves the remote list to the older local one; returns how many came.
 * Into an empty list it goes whole, unread (its tail unknown); in front of
 * blocks it is walked to its tail. */
static unsigned slab_collect(ss_slab_t *s) {
    if (atomic_load_explicit(&s->remote, memory_order_relaxed) == 0)
        return 0;
    uint64_t w = atomic_exchange_explicit(&s->remote, 0, memory_order_acquire);
    unsigned n = hak_pack_count(w);
    if (w == 0)
        return 0;
    void *list = hak_pack_list(w);
    ss_list_t *o = &s->older;
    if (o->n > 0) {
        void *tail = list_walk(s, list, n, "remote frees: a block written after its free");
        if (hak_block_next(tail) != HAK_LIST_END)
            hak_list_corrupt(tail, "remote frees: a list longer than its count");
        hak_block_link(tail, o->head);
    } else {
        o->tail = NULL;
    }
    o->head = list;
    o->n += n;
    s->used -= n;
    return n;
}

static unsigned slab_nfree(const ss_slab_t *s) { return s->recent.n + s->older.n; }
static bool slab_has_local(const ss_slab_t *s) {
    return slab_nfree(s) > 0 || slab_bump(s) < s->end;
}

/* When no memory is left to map (the OS or the heap limit refused): a slab
 * of class c with free blocks that another heap holds, taken over by h,
 * so that a thread that starts then is served from what others freed.
 * Only a heap whose lock is free is looked at (h's is held: trylock keeps
 * the order free); its owner is then in no backend call, and what its
 * thread cache still holds of the slab comes back as remote frees.  Its
 * pending count keeps what it counted for the slab: a wrong hint only. */
static ss_slab_t *slab_steal(ss_heap_t *h, unsigned c) {
    ss_heap_t *heaps = heaps_now();
    for (ss_heap_t *o = heaps; o != NULL; o = o->next_all) {
        if (o == h || !hak_trylock(&o->lock))
            continue;
        ss_class_t *k = &o->cls[c];
        ss_slab_t *s = k->partial;
        for (ss_slab_t *f = k->full; s == NULL && f != NULL; f = f->next)
            if (slab_collect(f))
                s = f;
        if (s != NULL)
            heap_unlink(o, s);
        else if (k->active != NULL && (slab_has_local(k->active) || slab_collect(k->active))) {
            s = k->active;
            k->active = NULL;
        }
        if (s != NULL)
            set_owner(s, h);
        hak_unlock(&o->lock);
        if (s != NULL)
            return s;
    }
    return NULL;
}

/* The newest orphan of class c, adopted by heap h with the blocks other
 * threads freed into it collected; if freed, only one that holds free
 * blocks (its own or other threads' frees), else NULL. */
static ss_slab_t *orphan_adopt(ss_heap_t *h, unsigned c, bool freed) {
    hak_lock(&heaps_lock);
    ss_slab_t *s = orphans[c];
    if (s != NULL && freed && slab_nfree(s) == 0 &&
        atomic_load_explicit(&s->remote, memory_order_relaxed) == 0)
        s = NULL;
    if (s != NULL)
        slab_unlink(&orphans[c], s);
    orphans_mark(c);
    hak_unlock(&heaps_lock);
    if (s != NULL) {
        set_owner(s, h);
        slab_collect(s);
    }
    return s;
}

/* The next slab with blocks for heap h, class c, made active. */
static ss_slab_t *next_slab(ss_heap_t *h, unsigned c, hak_fail_t *cause) {
    ss_class_t *k = &h->cls[c];
    ss_slab_t *s = k->partial;
    if (s) {
        heap_unlink(h, s);
        return s;
    }
    /* Look for remote frees in a few full slabs per call, resuming where
     * the last look stopped: a thread filling slab after slab must not
     * rescan them all each time. */
    s = k->scan ? k->scan : k->full;
    for (unsigned i = 0; s && i < SS_SCAN; i++) {
        if (slab_collect(s)) {
            heap_unlink(h, s);
            return s;
        }
        s = s->next;
    }
    k->scan = s;
    s = orphan_adopt(h, c, false);
    if (s)
        return s;
    unsigned blocks = k->nfull < 2 ? SS_FIRST_BLOCKS << k->nfull : SS_MIN_BLOCKS;
    s = slab_acquire(c, hak_pool_class_units(c, blocks), cause);
    if (s == NULL)
        return slab_steal(h, c);
    set_owner(s, h);
    return s;
}

/* Moves blocks of l, a list of slab s, onto the front of *head: all of l
 * when it has at most max blocks and its tail is known or *head is empty,
 * without reading a block (the thread cache checks each block as malloc
 * takes it); otherwise up to n blocks, each checked before its link is
 * followed.  Returns how many. */
static unsigned list_take(const ss_slab_t *s, ss_list_t *l, unsigned n, unsigned max, void **head) {
    unsigned k = l->n;
    void *first = l->head, *last;
    if (k == 0 || n == 0)
        return 0;
    if (k <= max && (l->tail != NULL || *head == HAK_LIST_END)) {
        last = *head == HAK_LIST_END ? NULL : l->tail; /* NULL: nothing to link */
        list_init(l);
    } else {
        if (k > n)
            k = n;
        last = list_walk(s, first, k, "refill: a block written after its free, or a damaged link");
        if (k == l->n) {
            list_init(l);
        } else {
            l->head = hak_block_next(last);
            l->n -= k;
        }
    }
    if (last != NULL)
        hak_block_link(last, *head);
    *head = first;
    return k;
}

/* Moves up to about n (at most max) of s's free blocks onto *head: a list
 * whose tail is not known first, while *head is empty, so that it can go
 * whole.  Returns how many. */
static unsigned pop_free(ss_slab_t *s, unsigned n, unsigned max, void **head) {
    ss_list_t *a = &s->recent, *b = &s->older;
    if (*head == HAK_LIST_END && b->tail == NULL) {
        a = &s->older;
        b = &s->recent;
    }
    unsigned got = list_take(s, a, n, max, head);
    if (got < n)
        got += list_take(s, b, n - got, max - got, head);
    s->used += got;
    return got;
}

/* Drains the full slabs of class c once other threads have freed enough
 * of their blocks to be worth the walk (pending counts them, roughly; a
 * block counted makes at most four slabs looked at).  The slabs that got
 * blocks back go to partial, but for a second empty one, which goes back to
 * the pool.  Returns whether any block came back. */
static bool heap_collect(ss_heap_t *h, unsigned c) {
    ss_class_t *k = &h->cls[c];
    uint32_t pending = atomic_load_explicit(&h->pending[c], memory_order_relaxed);
    if (pending == 0 || (size_t)pending * 4 < k->nfull)
        return false;
    atomic_store_explicit(&h->pending[c], 0, memory_order_relaxed);
    bool found = false;
    for (ss_slab_t *s = k->full, *next; s; s = next) {
        next = s->next;
        if (!slab_collect(s))
            continue;
        heap_unlink(h, s);
        if (s->used == 0 && found) {
            slab_release(s, 0);
            continue;
        }
        slab_push(&k->partial, s, SS_LIST_PARTIAL);
        found = true;
    }
    return found;
}

/* n units of parked heap h's slabs are no longer parked. */
static void unpark(ss_heap_t *h, unsigned n) {
    h->parked -= n;
    hak_lock(&heaps_lock);
    parked_units -= n;
    hak_unlock(&heaps_lock);
}

/* Collects every slab of class c in h (for another thread's frees, a trim
 * or an idle return: how, as slab_release's): each that is empty goes
 * back to the pool; a full one that got blocks back goes to partial. */
static void heap_collect_all(ss_heap_t *h, unsigned c, unsigned how) {
    ss_class_t *k = &h->cls[c];
    atomic_store_explicit(&h->pending[c], 0, memory_order_relaxed);
    if (k->active != NULL) {
        slab_collect(k->active);
        if (k->active->used == 0) {
            if (h->parked > 0) {
                h->parked_classes[c / 64] &= ~((uint64_t)1 << (c % 64));
                unpark(h, k->active->units);
            }
            slab_release(k->active, how);
            k->active = NULL;
        }
    }
    for (int full = 0; full < 2; full++)
        for (ss_slab_t *s = full ? k->full : k->partial, *next; s; s = next) {
            next = s->next;
            if (!slab_collect(s) && s->used != 0)
                continue;
            heap_unlink(h, s);
            if (s->used == 0)
                slab_release(s, how);
            else
                slab_push(&k->partial, s, SS_LIST_PARTIAL);
        }
}

static unsigned heap_refill(ss_heap_t *h, unsigned c, unsigned want, unsigned max, void **list,
                            hak_fail_t *cause) {
    ss_class_t *k = &h->cls[c];
    size_t size = hak_class_size[c];
    void *head = HAK_LIST_END;
    unsigned got = 0;
    k->seg = max;
    while (got < want) {
        ss_slab_t *s = k->active;
        if (s == NULL) {
            s = next_slab(h, c, cause);
            if (s == NULL)
                break;
            k->active = s;
        }
        got += pop_free(s, want - got, max - got, &head);
        if (got < want && slab_collect(s))
            got += pop_free(s, want - got, max - got, &head);
        /* Reuse blocks freed into partial slabs before touching fresh
         * memory of this one: fewer pages ever become resident. */
        while (got < want && slab_bump(s) < s->end && k->partial && slab_nfree(k->partial) > 0) {
            ss_slab_t *q = k->partial;
            got += pop_free(q, want - got, max - got, &head);
            if (!slab_has_local(q)) {
                heap_unlink(h, q);
                heap_push_full(h, q);
            }
        }
        /* Fresh memory only when no freed block was found: a bin that
         * other threads feed (a producer's) refills in smaller steps
         * rather than making new pages resident. */
        if (got > 0)
            break;
        if (heap_collect(h, c))
            continue;
        /* Nor while an orphan of the class holds freed blocks: threads
         * that come and go, each leaving blocks that others free later,
         * otherwise carve fresh memory from the slab each adopts while the
         * blocks freed into the older orphans wait (thread_churn: 1.8 MB
         * more resident after 20 000 threads than after 200). */
        if (orphans_waiting(c)) {
            ss_slab_t *o = orphan_adopt(h, c, true);
            if (o != NULL) {
                slab_push(&k->partial, o, SS_LIST_PARTIAL);
                continue;
            }
        }
        /* A first carve is small only while the heap holds no full slab
         * of the class: a class in steady use (slabs filling, emptying and
         * taken anew) carves as many blocks as before. */
        char *bump = slab_bump(s);
        char *stop =
            bump + hak_carve_bytes(size, k->nfull == 0 &&
                                             bump == hak_pool_unit(&chunk_of(s)->pool, s->first));
        if (stop > s->end)
            stop = s->end;
        got = hak_carve(&bump, stop, size, want - got, &head);
        hak_pool_set_bump(&chunk_of(s)->pool, s->first, bump);
        s->used += got;
        if (bump >= s->end) { /* nothing local, nothing remote: s is full */
            k->active = NULL;
            heap_push_full(h, s);
        }
    }
    *list = head;
    return got;
}

/* Takes back the chain first..last of n blocks of a slab h owns (linked
 * in order; last's link is rewritten). */
static void local_free(ss_heap_t *h, ss_slab_t *s, void *first, void *last, unsigned n) {
    bool had_local = slab_has_local(s);
    ss_list_t *r = &s->recent, *o = &s->older;
    unsigned seg = h->cls[s->cls].seg;
    if (r->n > 0 && seg != 0 && r->n + n > seg) {
        /* A refill's worth: the recent list joins the older blocks. */
        hak_block_link(r->tail, o->head);
        if (o->n == 0)
            o->tail = r->tail;
        o->head = r->head;
        o->n += r->n;
        list_init(r);
    }
    hak_block_link(last, r->head);
    if (r->n == 0)
        r->tail = last;
    r->head = first;
    r->n += n;
    s->used -= n;
    if (s->used == 0) {
        /* The active slab stays, empty, so that the class's next refill
         * takes its blocks again instead of a run from the pool; unless an
         * orphan of the class waits for that refill. */
        ss_class_t *k = &h->cls[s->cls];
        if (k->active == s && !orphans_waiting(s->cls))
            return;
        if (k->active == s)
            k->active = NULL;
        else if (s->list != SS_LIST_NONE)
            heap_unlink(h, s);
        slab_release(s, 0);
        return;
    }
    if (!had_local && s->list == SS_LIST_FULL) {
        heap_unlink(h, s);
        slab_push(&h->cls[s->cls].partial, s, SS_LIST_PARTIAL);
    }
}

/* Pushes the chain first..last of n blocks onto s's remote list and counts
 * them in the pending count of owner (s->owner, read before: once the
 * blocks are on the list, s itself may be collected and released at once),
 * or of the orphans of the class when it has none.  Returns whether the
 * count passed a multiple of a slab's worth of blocks. */
static bool remote_free(ss_slab_t *s, ss_heap_t *owner, void *first, void *last, unsigned n) {
    unsigned c = s->cls;
    uint64_t old = atomic_load_explicit(&s->remote, memory_order_relaxed), w;
    do {
        hak_block_link(last, old != 0 ? hak_pack_list(old) : HAK_LIST_END);
        w = hak_pack(first, hak_pack_count(old) + n);
    } while (!atomic_compare_exchange_weak_explicit(&s->remote, &old, w, memory_order_release,
                                                    memory_order_relaxed));
    _Atomic uint32_t *pending = owner != NULL ? &owner->pending[c] : &orphan_pending[c];
    uint32_t before = atomic_fetch_add_explicit(pending, n, memory_order_relaxed);
    return before / class_blocks[c] != (before + n) / class_blocks[c];
}

/* Gives back a list of n blocks of class c a run at a time: the blocks at
 * its front that one slab handed out are checked against the slab's span,
 * which also ends the run, and go back as they are linked, with one splice
 * (one CAS for a slab another thread owns): only the run's last block is
 * written.  A pointer that is not the start of a block
 * is reported, and so is a list that its checks or its count contradict.
 * Returns a heap other than h whose pending count passed a multiple of a
 * slab's worth, or NULL; *orphaned says whether that of the orphans of the
 * class did. */
static ss_heap_t *heap_flush(ss_heap_t *h, unsigned c, void *list, unsigned count, bool *orphaned) {
    ss_heap_t *busy = NULL;
    void *p = list;
    while (count > 0) {
        void *next = hak_block_flushed(p, c);
        ss_slab_t *s = slab_of(p);
        hak_span_t a = slab_span(s);
        if (!hak_span_has(&a, p))
            hak_invalid_block("free()", p);
        void *last = p;
        unsigned n = 1;
        /* In the span (arithmetic only, so asked first): a block of s. */
        while (n < count && hak_span_has(&a, next)) {
            void *after = hak_block_flushed_next(next);
            last = next;
            next = after;
            n++;
        }
        count -= n;
        ss_heap_t *owner = owner_of(s);
        if (h != NULL && owner == h)
            local_free(h, s, p, last, n);
        else if (remote_free(s, owner, p, last, n)) {
            if (owner != NULL)
                busy = owner;
            else
                *orphaned = true;
        }
        p = next;
    }
    if (p != HAK_LIST_END)
        hak_list_corrupt(p, "flush: a list longer than its count");
    return busy;
}

/* Collects what other threads freed into the slabs of class c of a heap
 * whose owner made no backend call since the last look: collected slabs
 * that are empty go back to the pool.  Takes collect_lock (so that fork
 * never copies a heap half-collected by another thread), then the heap's
 * lock, both only if free: a busy owner collects by itself. */
static void foreign_collect(ss_heap_t *h, unsigned c) {
    if (atomic_load_explicit(&h->called, memory_order_relaxed)) {
        atomic_store_explicit(&h->called, false, memory_order_relaxed);
        return;
    }
    if (!hak_trylock(&collect_lock))
        return;
    if (hak_trylock(&h->lock)) {
        uint32_t pending = atomic_load_explicit(&h->pending[c], memory_order_relaxed);
        if ((size_t)pending * 4 >= h->cls[c].nfull)
            heap_collect_all(h, c, 0);
        hak_unlock(&h->lock);
    }
    hak_unlock(&collect_lock);
}

/* Purges the pages of slab s that hold no live block and no link: those
 * inside its free blocks, past the words any check reads of them, and those
 * past its bump pointer (h, its owner, locked, or s off every list;
 * remote frees collected). */
#define SS_FREE_KEEP 64 /* bytes of a free block its checks read */
static void slab_purge_free(ss_slab_t *s) {
    size_t size = hak_class_size[s->cls];
    uintptr_t page = HAK_PAGE_SIZE - 1;
    if (size > HAK_PAGE_SIZE) {
        hak_span_t a = slab_span(s);
        const ss_list_t *lists[2] = {&s->recent, &s->older};
        for (int i = 0; i < 2; i++) {
            void *p = lists[i]->head;
            for (uint32_t k = 0; k < lists[i]->n; k++, p = hak_block_next(p)) {
                free_check(&a, p, "purge: a block written after its free, or a damaged link");
                uintptr_t lo = ((uintptr_t)p + SS_FREE_KEEP + page) & ~page;
                uintptr_t hi = ((uintptr_t)p + size) & ~page;
                if (hi > lo)
                    hak_os_purge((void *)lo, hi - lo);
            }
        }
    }
    ss_chunk_t *r = chunk_of(s);
    uintptr_t lo = ((uintptr_t)slab_bump(s) + page) & ~page;
    unsigned last = s->first + s->units - 1;
    uintptr_t hi = (uintptr_t)hak_pool_unit(&r->pool, last) + hak_pool_unit_mapped(&r->pool, last);
    if (hi > lo)
        hak_os_purge((void *)lo, hi - lo);
}

/* Gives back the orphans of class c that other threads emptied: taken off
 * their list as an adopter would, then released (purged: no thread cycles
 * through them) or put back, with their free pages purged if purge, at an
 * idle return, which releases them as idle (collect_lock held, so that
 * fork does not copy them off every list).  Without this, threads that
 * come and go, leaving blocks another thread frees later, leave more and
 * more orphans that no thread adopts (the newest go first) and all that
 * memory freed. */
static void orphans_collect(unsigned c, bool purge) {
    atomic_store_explicit(&orphan_pending[c], 0, memory_order_relaxed);
    hak_lock(&heaps_lock);
    ss_slab_t *list = orphans[c];
    orphans[c] = NULL;
    orphans_mark(c);
    hak_unlock(&heaps_lock);
    /* From the oldest, so that the list keeps its order: the newest
     * orphan, the one the next adopter takes, is the slab that threads
     * pass on one after another.  Reversed at each collection, adopters
     * took instead the orphans that other threads were emptying
     * (thread_churn: 80 KiB more after 20 000 threads, 200 after 50 000). */
    while (list != NULL && list->next != NULL)
        list = list->next;
    for (ss_slab_t *o = list, *next; o != NULL; o = next) {
        next = o->prev;
        o->list = SS_LIST_NONE;
        slab_collect(o);
        if (o->used == 0) {
            slab_release(o, HAK_RELEASE_PURGE | (purge ? HAK_RELEASE_IDLE : 0u));
            continue;
        }
        if (purge)
            slab_purge_free(o);
        hak_lock(&heaps_lock);
        slab_push(&orphans[c], o, SS_LIST_ORPHAN);
        orphans_mark(c);
        hak_unlock(&heaps_lock);
    }
}

/* ------------------------------------------------------------------ */
/* The contract                                                        */

static int ss_init(void) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        class_blocks[c] =
            (unsigned)(((size_t)hak_pool_class_units(c, SS_MIN_BLOCKS) << HAK_UNIT_SHIFT) /
                       hak_class_size[c]);
    return 0;
}

static void ss_set_budget(const hak_budget_t *b) { hak_pool_set_budget(&pool, b->cached_bytes); }

static void *ss_thread_init(void) {
    hak_lock(&heaps_lock);
    ss_heap_t *h = free_heaps;
    if (h != NULL)
        free_heaps = h->next_free;
    hak_unlock(&heaps_lock);
    if (h == NULL) {
        h = hak_meta_alloc(sizeof(ss_heap_t));
        if (h == NULL)
            return NULL;
        h->lock = (hak_lock_t)HAK_LOCK_INIT;
        hak_lock(&heaps_lock);
        h->next_all = all_heaps;
        all_heaps = h;
        hak_unlock(&heaps_lock);
        return h;
    }
    /* Its lists were emptied at its last thread's exit but for the empty
     * active slabs it parked, which are the new thread's now (a collector
     * may still look at them: the lock).  Orphans of a class go before its
     * parked slab, which goes back to the pool: what they hold free would
     * wait longer otherwise. */
    hak_lock(&h->lock);
    for (unsigned c = 0; c < HAK_NCODES; c++)
        atomic_store_explicit(&h->pending[c], 0, memory_order_relaxed);
    if (h->parked > 0)
        unpark(h, h->parked);
    for (unsigned w = 0; w < (HAK_NCODES + 63) / 64; w++) {
        for (uint64_t b = h->parked_classes[w]; b != 0; b &= b - 1) {
            unsigned c = w * 64 + (unsigned)__builtin_ctzll(b);
            if (orphans_waiting(c)) {
                slab_release(h->cls[c].active, 0);
                h->cls[c].active = NULL;
            }
        }
        h->parked_classes[w] = 0;
    }
    hak_unlock(&h->lock);
    return h;
}

/* Takes s off the lists of h, whose thread exits: back to the pool if
 * empty, else an orphan of its class. */
static void slab_leave(ss_heap_t *h, ss_slab_t *s) {
    heap_unlink(h, s);
    slab_collect(s);
    if (s->used == 0) {
        slab_release(s, HAK_RELEASE_PURGE);
        return;
    }
    set_owner(s, NULL);
    hak_lock(&heaps_lock);
    slab_push(&orphans[s->cls], s, SS_LIST_ORPHAN);
    orphans_mark(s->cls);
    hak_unlock(&heaps_lock);
}

static void ss_thread_exit(void *state) {
    ss_heap_t *h = state;
    if (h == NULL)
        return;
    /* The bound's room left, reserved whole and what is unused given back. */
    hak_lock(&heaps_lock);
    unsigned room = SS_PARK_UNITS - parked_units;
    parked_units = SS_PARK_UNITS;
    hak_unlock(&heaps_lock);
    hak_lock(&h->lock);
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        ss_class_t *k = &h->cls[c];
        ss_slab_t *s = k->active;
        if (s != NULL) {
            /* Parked if empty and within the bound. */
            slab_collect(s);
            if (s->used == 0 && s->units <= room) {
                room -= s->units;
                h->parked += s->units;
                h->parked_classes[c / 64] |= (uint64_t)1 << (c % 64);
            } else {
                slab_push(&k->partial, s, SS_LIST_PARTIAL);
                k->active = NULL;
            }
        }
        /* The full slabs first, then the partial ones from the last, so
         * that the orphans in front, which the next adopters take, hold
         * free blocks, the active slab first.  The other way, the next
         * thread adopted a full one for nothing before each with free
         * blocks (thread_churn: about 190 KiB more after 20 000 threads,
         * 80 after 50 000, on average). */
        while ((s = k->full) != NULL)
            slab_leave(h, s);
        for (s = k->partial; s != NULL && s->next != NULL;)
            s = s->next;
        for (ss_slab_t *prev; s != NULL; s = prev) {
            prev = s->prev;
            slab_leave(h, s);
        }
        k->seg = 0; /* the lists' unlinks left scan NULL and nfull 0 */
    }
    hak_unlock(&h->lock);
    hak_lock(&heaps_lock);
    parked_units -= room;
    h->next_free = free_heaps;
    free_heaps = h;
    hak_unlock(&heaps_lock);
}

/* Counts a backend call of h's owner (h locked); the flag is written only
 * when it changes, so that its line stays where it is. */
static void heap_called(ss_heap_t *h) {
    h->calls.count++;
    if (!atomic_load_explicit(&h->called, memory_order_relaxed))
        atomic_store_explicit(&h->called, true, memory_order_relaxed);
}

static unsigned ss_refill(void *state, unsigned c, unsigned want, unsigned max, void **list,
                          hak_fail_t *cause) {
    ss_heap_t *h = state != NULL ? state : &shared_heap;
    hak_lock(&h->lock);
    heap_called(h);
    unsigned got = heap_refill(h, c, want, max, list, cause);
    hak_unlock(&h->lock);
    return got;
}

static void ss_flush(void *state, unsigned c, void *list, unsigned n) {
    ss_heap_t *h = state, *busy;
    bool orphaned = false;
    if (h != NULL) {
        hak_lock(&h->lock);
        heap_called(h);
        hak_idle_arm(&h->dirty);
        busy = heap_flush(h, c, list, n, &orphaned);
        hak_unlock(&h->lock);
    } else {
        busy = heap_flush(NULL, c, list, n, &orphaned);
    }
    if (busy != NULL)
        foreign_collect(busy, c);
    if (orphaned && hak_trylock(&collect_lock)) {
        orphans_collect(c, false);
        hak_unlock(&collect_lock);
    }
    /* Starting the purge thread allocates: only with no lock held. */
    hak_purger_poke();
}

static bool ss_trim(size_t pad) {
    /* First every heap whose owner is not in a call now gives back its
     * slabs that other threads emptied. */
    hak_lock(&collect_lock);
    ss_heap_t *heaps = heaps_now();
    for (ss_heap_t *h = heaps; h != NULL; h = h->next_all) {
        if (!hak_trylock(&h->lock))
            continue;
        for (unsigned c = 1; c <= HAK_NCLASSES; c++)
            heap_collect_all(h, c, HAK_RELEASE_IDLE);
        hak_unlock(&h->lock);
    }
    /* Then orphans that other threads emptied. */
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        orphans_collect(c, false);
    hak_unlock(&collect_lock);
    return hak_pool_trim(&pool, pad);
}

/* Keeps only the blocks below limit on list l of a slab, whose blocks
 * slab_uncarve just checked; the list's tail is then known. */
static void list_cut(ss_list_t *l, const char *limit) {
    void *p = l->head, *head = HAK_LIST_END, *tail = NULL;
    uint32_t n = 0;
    for (uint32_t k = l->n; k > 0; k--) {
        void *next = hak_block_next(p);
        if ((char *)p < limit) {
            if (tail == NULL)
                head = p;
            else
                hak_block_link(tail, p);
            tail = p;
            n++;
        }
        p = next;
    }
    if (tail != NULL)
        hak_block_link(tail, HAK_LIST_END);
    *l = (ss_list_t){head, tail, n};
}

/* Moves the bump of slab s down past the free blocks just below it (the
 * last carved, often what a thread cache held), as if they never went
 * out (s locked as slab_shrink's). */
static void slab_uncarve(ss_slab_t *s, char *start) {
    if (slab_nfree(s) == 0 || s->capacity > SS_MAX_BLOCKS)
        return;
    size_t size = hak_class_size[s->cls];
    hak_span_t a = slab_span(s);
    unsigned carved = (unsigned)((size_t)(slab_bump(s) - start) / size);
    uint64_t freed[SS_MAX_BLOCKS / 64] = {0};
    const ss_list_t *lists[2] = {&s->recent, &s->older};
    for (int i = 0; i < 2; i++) {
        void *p = lists[i]->head;
        for (uint32_t k = 0; k < lists[i]->n; k++, p = hak_block_next(p)) {
            free_check(&a, p, "squeeze: a block written after its free, or a damaged link");
            size_t b = (size_t)((char *)p - start) / size;
            freed[b / 64] |= (uint64_t)1 << (b % 64);
        }
    }
    unsigned k = carved;
    while (k > 0 && (freed[(k - 1) / 64] >> ((k - 1) % 64) & 1))
        k--;
    if (k == carved)
        return;
    char *limit = start + (size_t)k * size;
    list_cut(&s->recent, limit);
    list_cut(&s->older, limit);
    hak_pool_set_bump(&chunk_of(s)->pool, s->first, limit);
}

/* Gives the whole units past slab s's bump, whose blocks never went out,
 * back to the pool, the bump first moved down past the free blocks below
 * it (h, its owner, locked, or s an orphan under heaps_lock; remote frees
 * collected first): the slab keeps the units its blocks went out from, at
 * least one.  Whether any went. */
#define SS_NEIGHBOUR 16
static bool slab_shrink(ss_slab_t *s) {
    ss_chunk_t *r = chunk_of(s);
    char *start = hak_pool_unit(&r->pool, s->first);
    slab_collect(s);
    slab_uncarve(s, start);
    size_t carved = (size_t)(slab_bump(s) - start), size = hak_class_size[s->cls];
    unsigned keep = (unsigned)((carved + HAK_UNIT_SIZE - 1) >> HAK_UNIT_SHIFT);
    if (keep == 0)
        keep = 1;
    bool any = false;
    if (keep < s->units) {
        unsigned n = s->units - keep;
        s->units = (uint8_t)keep;
        s->capacity = (uint16_t)(((size_t)keep << HAK_UNIT_SHIFT) / size);
        s->end = start + (size_t)s->capacity * size;
        hak_pool_release(&pool, &r->pool, s->first + keep, n, s->cls, HAK_RELEASE_IDLE);
        any = true;
    }
    /* Then the pages of the last unit past the bump: the slab ends there,
     * SS_NEIGHBOUR bytes before them (HAKMEM_SECURE's free reads that
     * much of the block after the one it frees, in the same unit). */
    size_t mapped = (carved + SS_NEIGHBOUR + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1);
    unsigned last = s->first + keep - 1;
    size_t unit_from = (size_t)(keep - 1) << HAK_UNIT_SHIFT;
    if (carved > 0 && mapped - unit_from < hak_pool_unit_mapped(&r->pool, last)) {
        s->capacity = (uint16_t)((mapped - SS_NEIGHBOUR) / size);
        s->end = start + (size_t)s->capacity * size;
        hak_pool_unmap_tail(&pool, &r->pool, last,
                            (unsigned)((mapped - unit_from) >> HAK_PAGE_SHIFT));
        any = true;
    }
    return any;
}

/* When the OS refused memory: every heap whose owner is in no call now,
 * and every orphan, gives back the never-used units of its slabs, and the
 * pool unmaps its free units, so that their address space serves any
 * request (large blocks too). */
static bool ss_squeeze(void) {
    bool any = false;
    hak_lock(&collect_lock);
    ss_heap_t *heaps = heaps_now();
    for (ss_heap_t *h = heaps; h != NULL; h = h->next_all) {
        if (!hak_trylock(&h->lock))
            continue;
        for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
            ss_class_t *k = &h->cls[c];
            if (k->active != NULL)
                any |= slab_shrink(k->active);
            for (ss_slab_t *s = k->partial; s != NULL; s = s->next)
                any |= slab_shrink(s);
        }
        hak_unlock(&h->lock);
    }
    hak_lock(&heaps_lock);
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        for (ss_slab_t *s = orphans[c]; s != NULL; s = s->next)
            any |= slab_shrink(s);
    hak_unlock(&heaps_lock);
    hak_unlock(&collect_lock);
    any |= hak_pool_squeeze(&pool);
    return any;
}

/* Gives back what heap h holds free, its owner idle: empty slabs to the
 * pool, the free pages of the others to the OS (h locked). */
static void heap_purge_free(ss_heap_t *h) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        heap_collect_all(h, c, HAK_RELEASE_IDLE);
        ss_class_t *k = &h->cls[c];
        if (k->active != NULL)
            slab_purge_free(k->active);
        for (ss_slab_t *s = k->partial; s != NULL; s = s->next)
            slab_purge_free(s);
    }
}

/*
 * Idle return: memory that stays free and unused for the purge delay goes
 * back to the OS, small-block memory too, while the program sleeps (with
 * HAKMEM_PURGE_THREAD, which calls this at the deadline once the program
 * was quiet for long: purge.h).  A heap whose owner made no backend call
 * since a look a purge delay or more ago, or since the program's last call
 * the clock saw that long before a look that finds it changed, is
 * idle: its empty slabs go to the pool and the free pages of the others to
 * the OS (what its thread cache holds it keeps).  Orphans that other
 * threads freed blocks into since the last look go back when empty, and
 * give their free pages back otherwise.  The pool's free units go once no
 * slab came or went for as long.  What a program takes back within the
 * delay is never returned: its heap was not idle.  (Any deadline makes a
 * look, the large path's too: a look only counts from when it saw.)  The
 * first flush after a look that returned everything, and the first
 * release, arm the clock (idle_arm); a look that leaves something arms it
 * again.  With a delay of 0 nothing is idle: a look at every slow path, or
 * a purge thread that never sleeps, would cost more than it returns.
 */
static void idle_return(void) {
    if (hak_opt.purge_delay == 0)
        return;
    uint64_t now = hak_os_now_ms(), next = UINT64_MAX;
    if (!hak_trylock(&collect_lock)) { /* a trim or a fork: later */
        hak_purge_at(now + hak_opt.purge_delay);
        return;
    }
    ss_heap_t *heaps = heaps_now();
    for (ss_heap_t *h = heaps; h != NULL; h = h->next_all) {
        if (!hak_trylock(&h->lock)) {
            next = now + hak_opt.purge_delay;
            continue;
        }
        if (h->dirty && hak_idle_check(&h->calls, now, &next)) {
            heap_purge_free(h);
            h->dirty = false;
        }
        hak_unlock(&h->lock);
    }
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        if (atomic_load_explicit(&orphan_pending[c], memory_order_relaxed) != 0)
            orphans_collect(c, true);
    hak_unlock(&collect_lock);
    if (next != UINT64_MAX)
        hak_purge_at(next);
}

static void ss_decay(void) {
    idle_return();
    hak_pool_decay(&pool);
}

static void ss_fork_prepare(void) {
    hak_lock(&collect_lock);
    hak_lock(&shared_heap.lock);
    hak_lock(&heaps_lock);
    hak_pool_fork_prepare(&pool);
}
static void ss_fork_release(void) {
    hak_pool_fork_release(&pool);
    hak_unlock(&heaps_lock);
    hak_unlock(&shared_heap.lock);
    hak_unlock(&collect_lock);
}

const hak_backend_t hak_backend_superslab = {
    .name = "superslab",
    .caps = HAK_CAP_RETURNS_SMALL | HAK_CAP_THREAD_LOCAL | HAK_CAP_BOUNDS,
    .init = ss_init,
    .set_budget = ss_set_budget,
    .thread_init = ss_thread_init,
    .thread_exit = ss_thread_exit,
    .refill = ss_refill,
    .flush = ss_flush,
    .trim = ss_trim,
    .squeeze = ss_squeeze,
    .decay = ss_decay,
    .fork_prepare = ss_fork_prepare,
    .fork_release = ss_fork_release,
};

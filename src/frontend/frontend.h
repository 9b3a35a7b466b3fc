/*
 * frontend.h - the thread cache and the inline fast path.
 *
 * A thread's cache has a hot half, hak_tc in static TLS: a pointer per
 * class code to its bin (one list head and one room count, in the thread's
 * record), reached by one %fs-relative load.  malloc
 * pops from the bin of the request's class; free pushes onto the bin of the
 * class the window table gives the pointer's 64 KiB unit (platform/chunk.h).  The
 * cold half, a hak_thread_t, holds the bins and what only slow paths read.
 * No lock, no atomic, no getenv and no init check: a new thread's hot half
 * points every class to hak_slot_none, at the list end and with no room,
 * so its bins miss and its first call lands in the slow path, which builds
 * the cache.  Every miss is a call to a noinline slow function.
 */
#ifndef HAK_FRONTEND_H
#define HAK_FRONTEND_H

#include "ace/ace.h"
#include "internal.h"
#include "large/large.h"
#include "platform/purge.h"
#include "pool/pool.h"
#include "prof/prof.h"

#include <malloc.h>
#include <stdio.h>

/* fail.c */
/* The paths an allocation tried before it failed, as the trace names them:
 * the transfer cache (no batch of the class), the backend (its free
 * blocks, those other threads freed into their slabs, fresh memory), the
 * large path (its spare memory, a new mapping), a trim of all the free
 * memory kept mapped, and a squeeze (the caller's cache flushed, the
 * address space of memory held but unused unmapped: malloc.c), after
 * each of which the same was asked again. */
#define HAK_TRIED_TRANSFER 1u
#define HAK_TRIED_BACKEND 2u
#define HAK_TRIED_LARGE 4u
#define HAK_TRIED_TRIM 8u
#define HAK_TRIED_SQUEEZE 16u
/* Counts and reports an allocation failure, after the paths in tried, and
 * sets errno to ENOMEM: a trace line without allocating when tracing is
 * on, and to the failure hook when one is set (the caller holds no lock:
 * the hook may allocate). */
HAK_HIDDEN void hak_fail(hak_fail_t cause, size_t size, size_t align, unsigned tried);
HAK_HIDDEN const char *hak_fail_cause_name(hak_fail_t cause);

/* A thread's counters, written by it alone (hak_count), read by any
 * (hak_stats_collect) with relaxed atomic accesses.  Per class: blocks
 * taken from the backend and given back to it, and the bin's refills and
 * flushes.  What a thread took and did not give back is in its cache, in
 * the transfer cache or live in the program: statistics count live blocks
 * from these without a cost on the fast path. */
typedef struct hak_class_counts {
    uint64_t taken, given, refills, flushes;
} hak_class_counts_t;

typedef struct hak_thread_stats {
    uint64_t mallocs, frees; /* counted only with --enable-stats */
    hak_class_counts_t cls[HAK_NCODES];
} hak_thread_stats_t;

HAK_INLINE void hak_count(uint64_t *x, uint64_t n) {
    __atomic_store_n(x, __atomic_load_n(x, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* A bin of the hot half: its list and its room, the number of frees it
 * still takes.  free takes one before it looks further (one
 * read-modify-write), so a room of 0 becomes -1 on the way to the slow
 * path, which gives it back (hak_free_slow). */
typedef struct hak_slot {
    void *head;
    int32_t room;
} hak_slot_t;
/* Every bin of a thread not attached yet, or torn down: an empty list and
 * no room.  Shared, so written by every such thread's free at once; but
 * only ever to take a room below 0 or give it back to 0 (the slow path),
 * so it never takes a block. */
HAK_HIDDEN extern hak_slot_t hak_slot_none;

/* The hot half: where each bin is.  The fast paths reach a bin through its
 * pointer, not by an index from the thread pointer: the list head and room
 * that one call stores and the next loads are then addressed by a register
 * alone, which CPUs forward from store to load faster than an indexed
 * %fs-relative address (README, "tiny_hot and simple"). */
typedef struct hak_tcache {
    hak_slot_t *bin[HAK_NBINS];
    /* With HAKMEM_SECURE, the thread's quarantine while its frees may take
     * hak_secure_free's straight path, one load away: NULL before the
     * thread's first free, while its profiler epoch is one of sampling,
     * and after its teardown. */
    struct hak_quarantine *quarantine;
} hak_tcache_t;

HAK_HIDDEN extern __thread hak_tcache_t hak_tc __attribute__((tls_model("initial-exec")));
/* Bin b of the calling thread. */
HAK_INLINE hak_slot_t *hak_slot(unsigned b) { return hak_tc.bin[b]; }
/* Takes one from the room of s, which may be hak_slot_none, for a free;
 * returns the room left.  Atomic under ThreadSanitizer only: every thread
 * without a cache writes hak_slot_none's, and a lost update there still
 * leaves it below 1. */
HAK_INLINE int32_t hak_slot_take(hak_slot_t *s) {
#if defined(__SANITIZE_THREAD__)
    return __atomic_sub_fetch(&s->room, 1, __ATOMIC_RELAXED);
#else
    return --s->room;
#endif
}
/* Gives back the room a free took from s on its way to the slow path. */
HAK_INLINE void hak_slot_restore(hak_slot_t *s) {
#if defined(__SANITIZE_THREAD__)
    int32_t r = __atomic_load_n(&s->room, __ATOMIC_RELAXED);
    if (r < 0)
        __atomic_compare_exchange_n(&s->room, &r, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#else
    if (s->room < 0)
        s->room = 0;
#endif
}

/* HAKMEM_SECURE's quarantine of a thread (thread.c): a ring of blocks
 * freed and their classes, the next put at in, which overwrites the
 * oldest slot.  The empty slots (NULL: not filled yet, or left early for
 * the bytes bound) are the oldest: so the oldest block is at in + empty,
 * and a put that overwrites a block takes it out, with no other index.
 * Only a put into an empty slot reads the bytes bound, and only the puts
 * into one and the takes count bytes: a full ring stays full (a put
 * swaps) until it is flushed, which sets bytes to 0. */
#define HAK_QUARANTINE_BLOCKS 64
#define HAK_QUARANTINE_BYTES ((size_t)256 << 10)
typedef struct hak_quarantine {
    uintptr_t word0, word1; /* a waiting block's words (thread.c, quarantined) */
    void *block[HAK_QUARANTINE_BLOCKS];
    uint8_t cls[HAK_QUARANTINE_BLOCKS];
    unsigned in;    /* blocks put in so far */
    unsigned empty; /* slots without a block */
    size_t bytes;   /* what the blocks waiting hold, while a slot is empty */
} hak_quarantine_t;

typedef struct hak_thread {
    hak_slot_t slot[HAK_NBINS]; /* the bins the hot half points to */
    hak_binctl_t ctl[HAK_NCODES];
    size_t grown;                 /* bytes the ACE added to the bins' capacities */
    void *bstate;                 /* the backend's per-thread state */
    int64_t unpublished;          /* live bytes not yet in the process's count */
    hak_quarantine_t *quarantine; /* with HAKMEM_SECURE, once it frees */
    uint64_t rng;                 /* with HAKMEM_SECURE, the refills' shuffle */
    hak_prof_thread_t prof;       /* the heap profiler's sampler */
    struct hak_thread *next, *prev;
    hak_thread_stats_t stats;
} hak_thread_t;

/* A bin of a thread cache as its slow paths see it: its list, its room
 * and its capacity.  hak_bin is bin c of the calling thread (t), and
 * hak_shadow_bin its shadow bin (internal.h, HAK_SHADOW). */
typedef struct hak_bin {
    void **head;
    int32_t *room;
    unsigned cap;
} hak_bin_t;
HAK_INLINE unsigned hak_bin_held(hak_bin_t b) { return b.cap - (unsigned)*b.room; }

/* The read-only sentinels for the cold half: a thread not yet attached,
 * and one whose cache was torn down at thread exit (it is served without a
 * cache; its hot half is empty again). */
HAK_HIDDEN extern const hak_thread_t hak_thread_empty, hak_thread_dead;
#define HAK_THREAD_EMPTY ((hak_thread_t *)&hak_thread_empty)
#define HAK_THREAD_DEAD ((hak_thread_t *)&hak_thread_dead)

/* The calling thread's record (the cold half of its cache, hak_tc being
 * the hot one), or HAK_THREAD_EMPTY / HAK_THREAD_DEAD. */
HAK_HIDDEN extern __thread hak_thread_t *hak_self __attribute__((tls_model("initial-exec")));

HAK_INLINE hak_bin_t hak_bin(hak_thread_t *t, unsigned c) {
    return (hak_bin_t){&hak_slot(c)->head, &hak_slot(c)->room, t->ctl[c].cap};
}
/* Acts on the ACE's decision for bin c: the capacity it grew by goes to the
 * bin's room; returns how many blocks to move. */
HAK_INLINE unsigned hak_bin_move(unsigned c, hak_ace_move_t m) {
    hak_slot(c)->room += (int32_t)m.grown;
    return m.count;
}
/* The list head of the shadow bin of class c (hak_shadow_bin, without its
 * growth). */
HAK_INLINE void **hak_shadow_head(hak_thread_t *t, unsigned c) {
    return c <= HAK_SHADOW_CLASSES ? &hak_slot(HAK_SHADOW(c))->head : &t->prof.side_head[c];
}
/* The shadow bin of class c, grown first to the capacity the ACE gives bin
 * c (never shrunk: its room would go below what it holds). */
HAK_INLINE hak_bin_t hak_shadow_bin(hak_thread_t *t, unsigned c) {
    hak_bin_t b = {&t->prof.side_head[c], &t->prof.side_room[c], t->prof.shadow_cap[c]};
    if (c <= HAK_SHADOW_CLASSES)
        b = (hak_bin_t){&hak_slot(HAK_SHADOW(c))->head, &hak_slot(HAK_SHADOW(c))->room, b.cap};
    if ((t->prof.epoch & 1) && t->ctl[c].cap > b.cap) {
        *b.room += (int32_t)(t->ctl[c].cap - b.cap);
        b.cap = t->prof.shadow_cap[c] = t->ctl[c].cap;
    }
    return b;
}

/* thread.c: thread caches and the registry of live threads */
HAK_HIDDEN extern hak_lock_t hak_threads_lock;
HAK_HIDDEN extern hak_thread_t *hak_threads;
HAK_HIDDEN extern hak_thread_stats_t hak_stats_retired;
HAK_HIDDEN void hak_thread_key_init(void);
/* Gives the calling thread a cold half (HAK_THREAD_DEAD when metadata
 * memory is exhausted: it is then served without a cache). */
HAK_HIDDEN hak_thread_t *hak_thread_attach(void);
/* The calling thread's cold half, attaching it first if it has none. */
HAK_INLINE hak_thread_t *hak_thread_get(void) {
    hak_thread_t *t = hak_self;
    return HAK_LIKELY(t != HAK_THREAD_EMPTY) ? t : hak_thread_attach();
}
/* Puts p, a block of class c the thread of t frees, in its cache (through
 * the quarantine with HAKMEM_SECURE). */
HAK_HIDDEN void hak_cache_free(hak_thread_t *t, unsigned c, void *p);
/* HAKMEM_SECURE's free of p, a pointer into a window unit of class c
 * (hak_secure_class, so the backend keeps block bounds): the block's
 * checks, the quarantine and the cache in one routine, or hak_small_free's
 * path when the thread has no quarantine yet, its quarantine slot is
 * empty, or its profiler epoch samples (hak_tcache_t's quarantine).  A
 * change of epoch reaches the thread at a slow path, as by default. */
HAK_HIDDEN void hak_secure_free(void *p, unsigned c);
/* Gives back everything the calling thread (t) caches. */
HAK_HIDDEN void hak_thread_flush(hak_thread_t *t);
/* Sorts the blocks of the calling thread's group bin of class c (t's;
 * internal.h, HAK_SHADOW_GROUP) into the shadow bins of their classes. */
HAK_HIDDEN void hak_thread_group_sort(hak_thread_t *t, unsigned c);
/* Brings the calling thread's bins (t) in line with the profiler's epoch:
 * on, each bin's blocks move to its shadow bin, whose room is the bin's
 * capacity, so that the malloc slow path counts them again; off, the
 * shadow bins are flushed and take no more. */
HAK_HIDDEN void hak_thread_prof_switch(hak_thread_t *t, unsigned epoch);
HAK_INLINE void hak_thread_prof_sync(hak_thread_t *t) {
    unsigned e = hak_prof_epoch_now();
    if (HAK_UNLIKELY(t->prof.epoch != e))
        hak_thread_prof_switch(t, e);
}
/* Adds to held[c] the blocks of each class c in t's quarantine (another
 * thread's: read without a lock, so only a near figure). */
HAK_HIDDEN void hak_quarantine_held(const hak_thread_t *t, uint64_t *held);
/* At exit, checks the calling thread's quarantine. */
HAK_HIDDEN void hak_quarantine_check_exit(void);
HAK_HIDDEN void hak_threads_fork_child(void);

/* malloc.c: slow paths */
HAK_HIDDEN void *hak_malloc_slow(size_t n);
HAK_HIDDEN void hak_free_slow(void *p);
/* Frees p, a small block of class c (hak_ptr_classify checked it). */
HAK_HIDDEN void hak_small_free(void *p, unsigned c);
/* Hands n blocks of class c back to the backend for thread t (NULL: one
 * without a cache), counted. */
HAK_HIDDEN void hak_flush(hak_thread_t *t, unsigned c, void *list, unsigned n);
/* Frees the blocks the profiler keeps for its samples (prof.h,
 * hak_prof_freed); true if there were any. */
HAK_HIDDEN bool hak_prof_kept_free(void);
/* Gives the profiler's kept blocks, the transfer cache's batches and the
 * cached free memory of the backend and the large path back, keeping pad
 * bytes of each of the last two; true if it gave any. */
HAK_HIDDEN bool hak_trim_cached(size_t pad);
/* A large block of n bytes aligned to align, zeroed if asked, or NULL. */
HAK_HIDDEN void *hak_alloc_large(size_t n, size_t align, bool zero);
/* What a pointer handed back is (hak_ptr_classify, below). */
enum hak_ptr_kind { HAK_PTR_SMALL, HAK_PTR_LARGE, HAK_PTR_FAR };
HAK_HIDDEN size_t hak_ptr_usable(const void *p, enum hak_ptr_kind k, unsigned c, const char *who);
HAK_HIDDEN void hak_ptr_free_large(void *p, enum hak_ptr_kind k, size_t usable);

/* family.c: the rest of the family */
/* free_sized, free_aligned_sized and C++ sized delete (who names the call):
 * size is what the program says it asked for.  exact: the block came from
 * a plain malloc or new of that size, so a small one is of that size's
 * class; otherwise (realloc, aligned) size is at most what the block holds.
 * A size the block contradicts is reported as misuse. */
HAK_HIDDEN void hak_free_sized_slow(void *p, size_t size, bool exact, const char *who);
HAK_HIDDEN void *hak_impl_calloc(size_t nmemb, size_t size);
HAK_HIDDEN void *hak_impl_realloc(void *p, size_t n);
HAK_HIDDEN void *hak_impl_reallocarray(void *p, size_t nmemb, size_t size);
HAK_HIDDEN void *hak_impl_aligned_alloc(size_t align, size_t n);
HAK_HIDDEN void *hak_impl_memalign(size_t align, size_t n);
HAK_HIDDEN int hak_impl_posix_memalign(void **out, size_t align, size_t n);
HAK_HIDDEN void *hak_impl_pvalloc(size_t n);
HAK_HIDDEN size_t hak_impl_usable_size(const void *p);
HAK_HIDDEN int hak_impl_trim(size_t pad);
/* The backend serving the process, set by process init (init.c), before
 * any block exists; NULL before. */
HAK_HIDDEN extern const hak_backend_t *hak_backend;
/* Process init runs once, from the first slow-path call. */
enum { HAK_INIT_NONE, HAK_INIT_RUNNING, HAK_INIT_DONE };
HAK_HIDDEN extern _Atomic int hak_init_state;
HAK_HIDDEN void hak_init_slow(void);
HAK_INLINE void hak_ensure_init(void) {
    if (HAK_UNLIKELY(atomic_load_explicit(&hak_init_state, memory_order_acquire) != HAK_INIT_DONE))
        hak_init_slow();
}

/* introspect.c: glibc's introspection calls */
HAK_HIDDEN struct mallinfo2 hak_impl_mallinfo2(void);
HAK_HIDDEN struct mallinfo hak_impl_mallinfo(void);
HAK_HIDDEN void hak_impl_malloc_stats(void);
HAK_HIDDEN int hak_impl_malloc_info(int options, FILE *fp);
HAK_HIDDEN int hak_impl_mallopt(int param, int value);

/* transfer.c: batches from draining bins to missing ones.  put keeps a
 * batch of n blocks of class c, or returns false (no slot free, or too
 * big); get hands over a batch of at most max blocks, or returns 0; release
 * gives every batch back to the backend, and returns whether there was
 * any. */
HAK_HIDDEN bool hak_xfer_put(unsigned c, void *list, unsigned n);
HAK_HIDDEN unsigned hak_xfer_get(unsigned c, unsigned max, void **list);
HAK_HIDDEN bool hak_xfer_flush(void);

/* How many blocks of class c wait in the transfer cache now. */
HAK_HIDDEN unsigned hak_xfer_held(unsigned c);

/* stats.c */
HAK_HIDDEN void hak_thread_stats_add(hak_thread_stats_t *to, const hak_thread_stats_t *from);
HAK_HIDDEN extern _Atomic uint64_t hak_stat_large_allocs, hak_stat_large_frees, hak_stat_failures,
    hak_stat_transfers, hak_stat_large_live_bytes, hak_stat_large_peak_blocks,
    hak_stat_large_peak_bytes;
/* Counts a large block of usable bytes made (n = 1) or freed (n = -1), or
 * one resized in place by usable bytes (n = 0; usable wraps to shrink). */
HAK_HIDDEN void hak_stats_count_large(int n, size_t usable);
/* Counts n blocks of class c that thread t (NULL: a thread without a
 * cache, or the transfer cache) took from the backend (n > 0) or gave back
 * to it (n < 0). */
HAK_HIDDEN void hak_stats_count_out(hak_thread_t *t, unsigned c, int64_t n);
/* Adds delta to the bytes out of the backends and the large path, whose
 * high-water mark is peak_live_bytes: through *pending, a thread's own
 * count, in steps of at least HAK_PEAK_STEP, or at once with NULL. */
#define HAK_PEAK_STEP ((int64_t)64 << 10)
HAK_HIDDEN void hak_stats_publish(int64_t *pending, int64_t delta);
/* Fills s, and the first n of per_class (by class code, 1..HAK_NCLASSES)
 * when it is not NULL. */
HAK_HIDDEN void hak_stats_collect(hak_stats_t *s, hak_class_stats_t *per_class, size_t n);
/* HAKMEM_STATS: at init, fixes where the statistics will go (without
 * allocating); at exit, writes them there. */
HAK_HIDDEN void hak_stats_output_init(void);
HAK_HIDDEN void hak_stats_at_exit(void);
/* HAKMEM_STATS_INTERVAL: starts the thread that writes a line of
 * statistics every interval (after init: starting a thread allocates). */
HAK_HIDDEN void hak_stats_interval_start(void);

HAK_INLINE void *hak_fast_malloc(size_t n) {
    if (HAK_LIKELY(n <= HAK_SMALL_MAX)) {
        hak_slot_t *s = hak_slot(hak_class_fast(n));
        void *p = s->head;
        /* A block in a bin that fails its check was written after its
         * free: the slow path reports it (pool/freelist.h, "A free small
         * block").  An empty bin's head, HAK_LIST_END, always fails. */
        if (HAK_LIKELY(hak_block_marked(p))) {
            s->head = hak_block_next(p);
            s->room++;
            hak_block_unmark(p);
            if (hak_config_stats)
                hak_self->stats.mallocs++;
            return p;
        }
    }
    return hak_malloc_slow(n);
}

/* The window unit of p, counted from base, or a number >=
 * HAK_WINDOW_UNITS.  The index and its range check in one: the offset
 * from base is rotated so that its
 * four low bits land on top, where a pointer not 16-byte aligned fails the
 * check like a pointer outside the window. */
HAK_INLINE uintptr_t hak_unit_from(const void *p, uintptr_t base) {
    uintptr_t off = (uintptr_t)p - base;
    return ((off >> 4) | (off << 60)) >> (HAK_UNIT_SHIFT - 4);
}
HAK_INLINE uintptr_t hak_window_unit(const void *p) { return hak_unit_from(p, hak_window_base); }
/* The same as the fast path sees it (hak_window_fast_base): with
 * HAKMEM_SECURE, never a unit of the window. */
HAK_INLINE uintptr_t hak_fast_unit(const void *p) { return hak_unit_from(p, hak_window_fast_base); }

/* With HAKMEM_SECURE, the class of the window unit of p when it serves
 * small blocks and p is 16-byte aligned, from the table only that mode
 * fills, when the backend keeps block bounds (chunk.c,
 * hak_chunk_set_units); else HAK_CODE_NONE, and the chunk map tells. */
HAK_INLINE unsigned hak_secure_class(const void *p) {
    uintptr_t u = hak_window_unit(p);
    return u < HAK_WINDOW_UNITS ? hak_tables.unit_class[u] : HAK_CODE_NONE;
}

/* With HAKMEM_SECURE: reports p, of class c, unless it is the start of a
 * block the backend handed out (when its bounds tell: HAK_CAP_BOUNDS). */
HAK_INLINE void hak_secure_block_check(const void *p, unsigned c, const char *who) {
    if (HAK_LIKELY(hak_backend->caps & HAK_CAP_BOUNDS) && HAK_UNLIKELY(!hak_pool_handed_out(p, c)))
        hak_invalid_block(who, p);
}

/*
 * What a pointer handed to free, realloc or malloc_usable_size is: the one
 * place that tells, for all three.  HAK_PTR_SMALL: a small block of class
 * *cls (aligned, in a slab, and with HAKMEM_SECURE the start of a block
 * the backend handed out); HAK_PTR_LARGE: a large block in a chunk of its own
 * or a run (its start is checked by the large path); HAK_PTR_FAR: outside any
 * chunk's map entry, so a block aligned to 2 MiB or more, or no block of
 * HAKMEM's, which only the large path's list of far blocks can tell.  A
 * pointer that can be no block is reported here; who names the call.
 */
HAK_INLINE enum hak_ptr_kind hak_ptr_classify(const void *p, unsigned *cls, const char *who) {
    uintptr_t a = (uintptr_t)p;
    unsigned c = hak_opt.secure ? hak_secure_class(p) : HAK_CODE_NONE;
    if (c == HAK_CODE_NONE) {
        if (!hak_chunk_owned(a))
            return HAK_PTR_FAR;
        c = hak_page_code(a);
        if (c == HAK_CODE_LARGE && (a & (HAK_PAGE_SIZE - 1)) == 0)
            return HAK_PTR_LARGE;
        if (c == HAK_CODE_LARGE || c == HAK_CODE_NONE || (a & (HAK_MIN_ALIGN - 1)) != 0)
            hak_invalid_block(who, p);
    }
    if (hak_opt.secure)
        hak_secure_block_check(p, c, who);
    *cls = c;
    return HAK_PTR_SMALL;
}

HAK_INLINE void hak_fast_free(void *p) {
    uintptr_t u = hak_fast_unit(p);
    if (HAK_LIKELY(u < HAK_WINDOW_UNITS)) {
        hak_slot_t *s = hak_slot(hak_tables.unit_code[u]);
        /* The room first: only a unit whose code has room is surely in a
         * slab.  A block still marked free is a double free: the slow path
         * reports it. */
        if (HAK_LIKELY(hak_slot_take(s) >= 0)) {
            if (HAK_LIKELY(!hak_block_marked(p))) {
                s->head = hak_block_push(p, s->head);
                if (hak_config_stats)
                    hak_self->stats.frees++;
                return;
            }
        }
    }
    hak_free_slow(p);
}

/* C++ sized delete: the fast path of free, where the size's class must be
 * the block's. */
HAK_INLINE void hak_fast_free_sized(void *p, size_t n, const char *who) {
    uintptr_t u = hak_fast_unit(p);
    if (HAK_LIKELY(u < HAK_WINDOW_UNITS && n <= HAK_SMALL_MAX)) {
        unsigned c = hak_tables.unit_code[u];
        hak_slot_t *s = hak_slot(c);
        if (HAK_LIKELY(c == hak_class_fast(n) && hak_slot_take(s) >= 0)) {
            if (HAK_LIKELY(!hak_block_marked(p))) {
                s->head = hak_block_push(p, s->head);
                if (hak_config_stats)
                    hak_self->stats.frees++;
                return;
            }
        }
    }
    hak_free_sized_slow(p, n, true, who);
}

#endif /* HAK_FRONTEND_H */

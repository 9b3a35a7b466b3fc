/*
 * pool.h - the unit pool under the backends: 2 MiB chunks cut into 64 KiB
 * units, the records of which units are free, which of those hold data and
 * which were purged after use, the empty-chunk cache, coalesced purging
 * within a budget (and the ACE's boost while a workload cycles), the aging
 * of free units and unused pages while the program runs, idle return of
 * free units, and each class's geometry.  A backend takes runs of
 * whole units for its slabs or spans and gives them back when they empty;
 * what it keeps of its own (heaps, lists, owners) lives in the records it
 * adds after the pool's in each chunk header.
 *
 * A pool is an instance (hak_pool_t), one per backend, since the chunk
 * header after hak_pool_chunk_t is the backend's: a chunk never serves two
 * backends.  Its lock is the innermost the backend takes.
 */
#ifndef HAK_POOL_H
#define HAK_POOL_H

#include "internal.h"
#include "platform/purge.h"
#include "pool/freelist.h"

#define HAK_POOL_UNITS ((unsigned)HAK_CHUNK_UNITS)
#define HAK_POOL_ALL_UNITS 0xfffffffeu /* every unit but the header's */
/* A slab or span spans at most this many units. */
#define HAK_POOL_MAX_UNITS 8
/* Empty chunks stay mapped (purged beyond the budget: address space only),
 * up to this many and one more per 2 MiB of boost, so a workload that
 * swings does not unmap and map again; a trim unmaps them. */
#define HAK_POOL_EMPTY_CHUNKS 32
/* Where runs of each class were last given back: their units are free for
 * any class, but a class that takes a run again gets one of these first
 * when it is still free (same block boundaries, so the pages the program
 * already touched serve again instead of new ones becoming resident). */
#define HAK_POOL_HINTS 4

/* The pool's part of a chunk header; the backend's records follow. */
typedef struct hak_pool_chunk {
    hak_chunk_t base;
    uint8_t first[HAK_POOL_UNITS]; /* for each taken unit, its run's first */
    /* At each run's first unit: where its never-used blocks start (the run's
     * start when taken).  The blocks from the run's start below it went out
     * at least once.  Here, not in the backend's records, so that
     * HAKMEM_SECURE's free reads it without a call (hak_pool_handed_out);
     * only the carving backend moves it. */
    char *_Atomic bump[HAK_POOL_UNITS];
    uint32_t free_units;     /* 1 = free */
    uint32_t dirty_units;    /* free and holding data */
    uint32_t purged_units;   /* free, and purged after use */
    uint32_t unmapped_units; /* free, and unmapped (squeeze) */
    /* Dirty free units that were already so at the pool's last aging pass
     * and not taken since (hak_pool_decay; a take clears them). */
    uint32_t aging_units;
    /* With a carving backend, for each unit, as the index of a page: the
     * last its runs' blocks reached in the lives given back since the last
     * aging pass (bits 0-3) and in each of the two periods before it (bits
     * 4-7 and 8-11), and the last that may still be resident (reach, while
     * dirty).  A take purges the pages past all three: no life used them
     * for two whole periods, two purge delays or more (hak_pool_take).  One
     * period would purge pages that one burst left unused and the next
     * takes back (burst_idle pausing half the delay, hybrid: 100 more page
     * faults in 45 500). */
    uint16_t used_page[HAK_POOL_UNITS];
    uint8_t reach_page[HAK_POOL_UNITS];
    /* Taken units whose owner unmapped pages at their end, and how many
     * (hak_pool_unmap_tail; under the lock): a release unmaps the rest.
     * Unit 0's: those past the header's page (a squeeze). */
    uint32_t holed_units;
    uint8_t tail_hole[HAK_POOL_UNITS];
    struct hak_pool_chunk *next, *prev; /* on avail: has a free unit */
} hak_pool_chunk_t;

/* Idle return: a count of events, its value at the look that last saw it
 * change and when that was.  hak_idle_check says whether it stayed the same
 * for the purge delay, and lowers *next to when it would have. */
typedef struct hak_idle {
    uint64_t count, seen, seen_at;
} hak_idle_t;
HAK_HIDDEN bool hak_idle_check(hak_idle_t *t, uint64_t now, uint64_t *next);
/* Marks free memory left for idle return in *armed, and arms the purge
 * clock for it the first time since the last return. */
HAK_HIDDEN void hak_idle_arm(bool *armed);

typedef struct hak_pool_hint {
    hak_pool_chunk_t *chunk;
    unsigned first;
} hak_pool_hint_t;

typedef struct hak_pool {
    hak_lock_t lock;
    hak_pool_chunk_t *avail;
    unsigned empty_chunks;
    size_t dirty_bytes, budget_bytes; /* budget: the ACE's (set_budget) */
    hak_boost_t boost;
    hak_idle_t idle; /* counts takes and gives */
    bool armed;      /* dirty free units left since the last idle return */
    /* Its backend carves runs from their start up to the bump (superslab,
     * hybrid): a run's pages past its bump went unused in its life. */
    bool carves;
    /* Aging: when the last pass was, and the next is due (0: none armed,
     * no dirty free unit at the last pass nor since). */
    uint64_t aged_at, aging_at;
    hak_pool_hint_t hints[HAK_NCODES][HAK_POOL_HINTS];
    unsigned hint_next[HAK_NCODES];
} hak_pool_t;
#define HAK_POOL_INIT                                                                              \
    { .lock = HAK_LOCK_INIT }
#define HAK_POOL_INIT_CARVING                                                                      \
    { .lock = HAK_LOCK_INIT, .carves = true }

/* The first unit of the run that holds p, in its chunk's records (only
 * meaningful while the run is taken). */
HAK_INLINE unsigned hak_pool_first(const void *p) {
    const hak_pool_chunk_t *ch = (const hak_pool_chunk_t *)hak_chunk_of((uintptr_t)p);
    return ch->first[((uintptr_t)p >> HAK_UNIT_SHIFT) & (HAK_POOL_UNITS - 1)];
}
HAK_INLINE char *hak_pool_unit(const hak_pool_chunk_t *ch, unsigned u) {
    return (char *)ch + ((size_t)u << HAK_UNIT_SHIFT);
}
/* The bump of the run whose first unit is first (read by any thread; only
 * the carving backend sets it). */
HAK_INLINE char *hak_pool_bump(const hak_pool_chunk_t *ch, unsigned first) {
    return atomic_load_explicit(&ch->bump[first], memory_order_relaxed);
}
HAK_INLINE void hak_pool_set_bump(hak_pool_chunk_t *ch, unsigned first, char *bump) {
    atomic_store_explicit(&ch->bump[first], bump, memory_order_relaxed);
}
/* Whether p, on a unit of a pool chunk marked class c, is the start of a
 * block its run handed out: a backend with HAK_CAP_BOUNDS carves its runs
 * from their start in blocks of the class, below their bump.  (p lies on
 * a unit of the run, so not below its start.) */
HAK_INLINE bool hak_pool_handed_out(const void *p, unsigned c) {
    const hak_pool_chunk_t *ch = (const hak_pool_chunk_t *)hak_chunk_of((uintptr_t)p);
    unsigned first = hak_pool_first(p);
    uint64_t off = (uint64_t)((const char *)p - hak_pool_unit(ch, first));
    return (const char *)p < hak_pool_bump(ch, first) && hak_span_aligned(off, hak_class_magic[c]);
}

/* Units for a slab of class c: enough for min_blocks blocks, at most
 * HAK_POOL_MAX_UNITS. */
HAK_INLINE unsigned hak_pool_class_units(unsigned c, unsigned min_blocks) {
    size_t need = (size_t)hak_class_size[c] * min_blocks;
    unsigned units = (unsigned)((need + HAK_UNIT_SIZE - 1) >> HAK_UNIT_SHIFT);
    return units < HAK_POOL_MAX_UNITS ? units : HAK_POOL_MAX_UNITS;
}

/* Takes a run of n units for class c (a hinted one if still free, else the
 * first that fits, else in a new chunk) and marks them c; its chunk, with
 * *first set, or NULL with errno ENOMEM when no chunk could be mapped (or
 * squeezed units mapped back).  With a carving backend, the pages of its
 * dirty units that no life used for two aging periods are purged first:
 * left resident, a slab that needs only its first pages would keep the
 * whole unit resident, as every unit in rotation would. */
HAK_HIDDEN hak_pool_chunk_t *hak_pool_take(hak_pool_t *pl, unsigned c, unsigned n, unsigned *first);
/* How a run comes back (hak_pool_release), any of: */
/* The release of an idle owner's memory (at an idle return or a trim),
 * which is not a take or give of the program's for the pool's own idle
 * return. */
#define HAK_RELEASE_IDLE 1u
/* Memory that no thread cycles through: the empty slabs of a thread that
 * exits, and those it left that others emptied since.  Purged at once
 * rather than kept dirty within the budget: threads that come and go
 * otherwise keep a float of such units resident, between their release
 * and the take that reuses them (thread_churn: 450 to 700 KiB after 20 000
 * threads, none after 200). */
#define HAK_RELEASE_PURGE 2u
/* Gives back the n units from first of ch, which served class c and hold
 * no live block any more; they stay dirty within the budget, unless how
 * (HAK_RELEASE_* bits, or 0) says otherwise. */
HAK_HIDDEN void hak_pool_release(hak_pool_t *pl, hak_pool_chunk_t *ch, unsigned first, unsigned n,
                                 unsigned c, unsigned how);
HAK_HIDDEN void hak_pool_set_budget(hak_pool_t *pl, size_t bytes);
/* When the OS refused memory: unmaps every free unit (and empty chunk),
 * so that its address space serves any mapping (RLIMIT_AS counts it);
 * a take maps the units back.  Whether anything went. */
HAK_HIDDEN bool hak_pool_squeeze(hak_pool_t *pl);
/* The owner of taken unit u of ch, when the OS refused memory: unmaps the
 * pages of the unit from page on (never written again until the unit is
 * released, when the pool unmaps the rest).  Only more pages than were. */
HAK_HIDDEN void hak_pool_unmap_tail(hak_pool_t *pl, hak_pool_chunk_t *ch, unsigned u,
                                    unsigned page);
/* The bytes of taken unit u of ch still mapped from its start. */
HAK_INLINE size_t hak_pool_unit_mapped(const hak_pool_chunk_t *ch, unsigned u) {
    return HAK_UNIT_SIZE - ((size_t)ch->tail_hole[u] << HAK_PAGE_SHIFT);
}
/* Unmaps the empty chunks and purges free units down to pad dirty bytes,
 * the boost dropped; whether anything went. */
HAK_HIDDEN bool hak_pool_trim(hak_pool_t *pl, size_t pad);
/* At the purge clock's deadline: dirty free units within the budget and
 * boost; while the program runs, those that stayed free from one aging
 * pass to the next, a purge delay of its activity apart (so between one
 * and two delays); and all of them once no run came or went for the purge
 * delay (the clock armed for when the next of these will be). */
HAK_HIDDEN void hak_pool_decay(hak_pool_t *pl);
HAK_HIDDEN void hak_pool_fork_prepare(hak_pool_t *pl);
HAK_HIDDEN void hak_pool_fork_release(hak_pool_t *pl);

#endif /* HAK_POOL_H */

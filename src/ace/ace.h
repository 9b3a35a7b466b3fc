/*
 * ace.h - the Adaptive Cache Engine.  It owns every number that should
 * follow the workload rather than be a constant: how many blocks each
 * thread-cache bin holds and moves per refill or flush, how much free memory
 * stays cached, and the large-block path (above the largest size class),
 * whose free memory it keeps within budget and gives back to the OS.  It
 * also explains allocation failures (HAKMEM_ACE_TRACE=1).
 *
 * The ACE runs only on slow paths: at refill, flush and large-block time.
 */
#ifndef HAK_ACE_H
#define HAK_ACE_H

#include "internal.h"
#include "backends/backend.h"

/* The ACE's part of one thread-cache bin: its capacity, how many refills
 * it saw since the capacity last changed, whether it flushed since, and
 * how many times it flushed since its last refill.
 * The fast path's part is the bin's list head and its room (capacity minus
 * blocks held), kept in separate arrays of the thread cache's hot half
 * (frontend.h), each one scaled load; a room of 0 refuses frees and a
 * head at the list end (HAK_LIST_END) refuses mallocs. */
typedef struct hak_binctl {
    uint16_t cap;
    uint8_t events;
    bool flushed;
    uint8_t drains;
} hak_binctl_t;

/* A bin's capacity in blocks: it starts at ACE_START_CAP and doubles after
 * every ACE_GROW_EVENTS refills, up to ACE_BIN_BYTES worth of blocks and
 * ACE_MAX_CAP blocks, or, for a bin that flushed since it last grew
 * (ace.c), ACE_CYCLING_BIN_BYTES and ACE_CYCLING_MAX_CAP; never fewer
 * than ACE_MIN_CAP, and all the growth of a thread's bins together within
 * ACE_THREAD_GROWN_BYTES.  (A cycling bin of 16-byte blocks holds up to
 * 64 KiB: a loop that allocates 1600 of them and frees them all, as
 * glibc's simple benchmark does, then stays in its thread cache.)  A bin
 * that flushes more than ACE_DRAIN_FLUSHES times in a row without a refill
 * is draining: it doubles at each flush up to ACE_DRAIN_BIN_BYTES worth of
 * blocks (at most ACE_DRAIN_MAX_CAP), and flushes whole. */
#define ACE_START_CAP 8
#define ACE_MIN_CAP 8
#define ACE_MAX_CAP 512
#define ACE_CYCLING_MAX_CAP 4096
#define ACE_BIN_BYTES ((size_t)32 << 10)
#define ACE_CYCLING_BIN_BYTES ((size_t)512 << 10)
#define ACE_GROW_EVENTS 4
#define ACE_DRAIN_BIN_BYTES ((size_t)8 << 10)
#define ACE_DRAIN_MAX_CAP 64
#define ACE_DRAIN_FLUSHES 4
#define ACE_THREAD_GROWN_BYTES ((size_t)4 << 20)

/* ace.c */
HAK_HIDDEN void hak_ace_init(const hak_backend_t *backend);
/* Sets how much free memory the backend and the large path each keep
 * cached (mallopt's M_TRIM_THRESHOLD sets both). */
HAK_HIDDEN void hak_ace_set_cached(size_t backend_bytes, size_t large_bytes);
/* Sets up bin c of a new thread cache. */
HAK_HIDDEN void hak_ace_bin_init(hak_binctl_t *k, int32_t *room, unsigned cls);
/* How many blocks to ask the backend for when bin c (empty) missed; may
 * grow the bin, adding the bytes to *grown, its thread's growth so far. */
HAK_HIDDEN unsigned hak_ace_refill_want(hak_binctl_t *k, int32_t *room, unsigned cls,
                                        size_t *grown);
/* How many blocks to hand back when bin c (full) refused a free: all it
 * holds when it is draining (may grow the bin, as refill_want). */
HAK_HIDDEN unsigned hak_ace_flush_count(hak_binctl_t *k, int32_t *room, unsigned cls,
                                        size_t *grown);
/*
 * The purge clock, used by the large path and by a backend's decay.  The
 * large path keeps each piece of free memory mapped and dirty until it
 * stayed free for HAKMEM_PURGE_DELAY milliseconds, so a workload that frees
 * and allocates big blocks again soon pays no system call and no page
 * fault, and asks for a call when the oldest piece is due
 * (hak_ace_purge_at).  A backend asks at its own events, with its lock held
 * and *over_since its own (0 while within budget); true means "purge now";
 * when it is not yet time, the ACE arms the deadline itself.  hak_ace_tick,
 * called from the frontend's slow paths, honours the deadline by calling
 * hak_large_decay and the backend's decay.  With a delay of 0 the answer is
 * always "now".  (A backend purges a one-time free at once: what it caches
 * is touched memory, which a program that frees a lot expects to see leave
 * its RSS at once.  Superslab waits on the clock only for what a cycling
 * workload showed it takes back; the large path likewise beyond its
 * budget.)
 */
HAK_HIDDEN bool hak_ace_purge_due(uint64_t *over_since, size_t dirty, size_t budget);

/* A backend's raise of its budget while the workload cycles (its lock
 * held): what it takes back that was purged after use (a page fault each
 * page, for nothing) raises it (hak_ace_boost_took), up to HAK_BOOST_MAX;
 * once dirty memory stays over the plain budget for the purge delay it
 * drops to 0, and the excess goes (hak_ace_boost_budget: the dirty bytes
 * the backend may keep now).  A trim clears it. */
#define HAK_BOOST_MAX ((size_t)256 << 20)
typedef struct hak_boost {
    size_t bytes;
    uint64_t since; /* hak_ace_purge_due's */
} hak_boost_t;
HAK_INLINE void hak_ace_boost_took(hak_boost_t *b, size_t purged) {
    if (!hak_opt.ace) /* HAKMEM_ACE=0: the budget stays fixed */
        return;
    b->bytes = b->bytes + purged < HAK_BOOST_MAX ? b->bytes + purged : HAK_BOOST_MAX;
}
HAK_INLINE size_t hak_ace_boost_budget(hak_boost_t *b, size_t dirty, size_t budget) {
    if (b->bytes > 0 && hak_ace_purge_due(&b->since, dirty, budget))
        b->bytes = 0;
    return budget + b->bytes;
}
HAK_HIDDEN void hak_ace_purge_at(uint64_t at);
HAK_HIDDEN void hak_ace_tick(void);
/* With HAKMEM_PURGE_THREAD, a thread of the ACE's own honours the deadline
 * even when no slow path runs: the large path after each free, and
 * superslab after each flush, poke it holding no lock (starting it
 * allocates), which starts it the first time a deadline is armed.  The
 * fork hooks keep its lock consistent (taken after the large path's and
 * the backend's), and the child starts a new thread when it needs one. */
HAK_HIDDEN void hak_ace_purger_poke(void);
/* A unit test moved hak_os_test_clock: the purge thread looks again. */
HAK_HIDDEN void hak_ace_clock_moved(void);
HAK_HIDDEN void hak_ace_fork_prepare(void);
HAK_HIDDEN void hak_ace_fork_release(void);
HAK_HIDDEN void hak_ace_fork_child(void);
/* The paths an allocation tried before it failed, as the trace names them:
 * the transfer cache (no batch of the class), the backend (its free
 * blocks, those other threads freed into their slabs, fresh memory), the
 * large path (its spare memory, a new mapping), and a release of all the
 * free memory kept mapped, after which the same was asked again. */
#define HAK_TRIED_TRANSFER 1u
#define HAK_TRIED_BACKEND 2u
#define HAK_TRIED_LARGE 4u
#define HAK_TRIED_RELEASE 8u
/* Reports an allocation failure: a trace line without allocating when
 * tracing is on, and to the failure hook when one is set (the caller holds
 * no lock: the hook may allocate). */
HAK_HIDDEN void hak_ace_trace_fail(hak_fail_t cause, size_t size, size_t align, unsigned tried);
HAK_HIDDEN const char *hak_ace_cause_name(hak_fail_t cause);

/* large.c: blocks above HAK_SMALL_MAX or aligned beyond a page.
 * Sizes up to half a run chunk are page runs in shared 2 MiB chunks; bigger
 * ones get a chunk of their own.  Returns NULL with *cause set on failure. */
HAK_HIDDEN void *hak_large_alloc(size_t size, size_t align, bool zero, hak_fail_t *cause);
/* Frees a block whose page code is HAK_CODE_LARGE; reports and aborts on a
 * pointer that is not the start of a live large block. */
HAK_HIDDEN void hak_large_free(void *p);
HAK_HIDDEN size_t hak_large_usable(const void *p);
/* Resizes a large block in place to n bytes if it can (n fits its mapping,
 * or the pages after a run are free), giving back the pages a shrink
 * frees; true if it did. */
HAK_HIDDEN bool hak_large_resize(void *p, size_t n);
/* Blocks aligned to 2 MiB or more lie outside their chunk's map entry:
 * frees p if it is one and returns the bytes it held, else returns 0. */
HAK_HIDDEN size_t hak_large_free_far(void *p);
HAK_HIDDEN size_t hak_large_usable_far(const void *p);
HAK_HIDDEN void hak_large_set_budget(size_t cached_bytes);
/* Purges what the purge clock says is due (hak_ace_tick calls it). */
HAK_HIDDEN void hak_large_decay(void);
HAK_HIDDEN bool hak_large_trim(size_t pad);
HAK_HIDDEN void hak_large_fork_prepare(void);
HAK_HIDDEN void hak_large_fork_release(void);

#endif /* HAK_ACE_H */

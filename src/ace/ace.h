/*
 * ace.h - the Adaptive Cache Engine.  It owns every number that should
 * follow the workload rather than be a constant: how many blocks each
 * thread-cache bin holds and moves per refill or flush, and how much free
 * memory the backend's unit pool and the large path (src/large) keep
 * cached before it goes back to the OS.
 *
 * The ACE runs only on slow paths: at refill and flush time.
 */
#ifndef HAK_ACE_H
#define HAK_ACE_H

#include "backends/backend.h"
#include "internal.h"
#include "large/large.h"

/* The ACE's part of one thread-cache bin: its capacity, how many refills
 * it saw since the capacity last changed, whether it flushed since, how
 * many times it flushed since its last refill, and whether a refill would
 * change nothing but that last count (settled: hak_ace_refill_settled).
 * The fast path's part is the bin's list head and its room (capacity minus
 * blocks held), a hak_slot_t that the thread cache's hot half points to
 * (frontend.h); a room of 0 refuses frees and a head at the list end
 * (HAK_LIST_END) refuses mallocs. */
typedef struct hak_binctl {
    uint16_t cap;
    uint8_t events;
    bool flushed;
    uint8_t drains;
    bool settled;
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
/* A draining bin's bound.  Bigger batches make fewer flushes of the
 * consumer and fewer refills of its producer (bench/prodcons, 64 B blocks:
 * batches of 64 ran at 0.89x mimalloc, of 256 level with it); but what the
 * bin holds is memory its producer cannot reuse yet, which keeps the slabs
 * of those blocks resident too (at 32 KiB, 0.3 MiB more of the orphans
 * test_purge frees than it allows). */
#define ACE_DRAIN_BIN_BYTES ((size_t)16 << 10)
#define ACE_DRAIN_MAX_CAP ACE_MAX_CAP
#define ACE_DRAIN_FLUSHES 4
#define ACE_THREAD_GROWN_BYTES ((size_t)4 << 20)

/* ace.c */
HAK_HIDDEN void hak_ace_init(const hak_backend_t *backend);
/* Sets how much free memory the backend and the large path each keep
 * cached (mallopt's M_TRIM_THRESHOLD sets both). */
HAK_HIDDEN void hak_ace_set_cached(size_t backend_bytes, size_t large_bytes);
/* The ACE decides, the thread cache acts: how many blocks to move, and by
 * how many blocks the bin's capacity grew (the thread cache adds them to
 * the bin's room).  The ACE writes only its own records: the bin's
 * hak_binctl_t and *grown, its thread's growth so far in bytes. */
typedef struct hak_ace_move {
    unsigned count, grown;
} hak_ace_move_t;
/* Sets up bin c of a new thread cache; its capacity. */
HAK_HIDDEN unsigned hak_ace_bin_init(hak_binctl_t *k, unsigned cls);
/* How many blocks to ask the backend for when bin c (empty) missed. */
HAK_HIDDEN hak_ace_move_t hak_ace_refill_want(hak_binctl_t *k, unsigned cls, size_t *grown);
/* hak_ace_refill_want's common case, inline for the profiler's slow path
 * (a refill from the shadow bin at nearly every miss, frontend/malloc.c):
 * when the bin is settled, a refill of k counts, and wants half its
 * capacity without growing it; true then.  False: call
 * hak_ace_refill_want. */
HAK_INLINE bool hak_ace_refill_settled(hak_binctl_t *k) {
    if (!k->settled)
        return false;
    k->drains = 0;
    return true;
}
/* How many blocks to hand back when bin c (full) refused a free: all it
 * holds when it is draining. */
HAK_HIDDEN hak_ace_move_t hak_ace_flush_count(hak_binctl_t *k, unsigned cls, size_t *grown);
#endif /* HAK_ACE_H */

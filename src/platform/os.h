/*
 * os.h - the operating system (os.c: every memory system call, the heap limit,
 * random bytes, the clock), locks, metadata memory (meta.c) and why an
 * allocation failed.
 */
#ifndef HAK_OS_H
#define HAK_OS_H

#include "platform/base.h"

/* ------------------------------------------------------------------ */
/* OS memory (platform/os.c): the only place that makes memory syscalls. */

/* Anonymous read-write mapping of size bytes aligned to align (a power of
 * two >= page); NULL when the OS refuses. */
HAK_HIDDEN void *hak_os_map(size_t size, size_t align);
HAK_HIDDEN void hak_os_unmap(void *p, size_t size);
/* Counts size bytes as mapped again: a hole already unmapped inside a
 * mapping that hak_os_unmap is about to give back whole. */
HAK_HIDDEN void hak_os_count_hole(size_t size);
/* Maps size bytes exactly at addr if nothing is there; an old kernel may
 * map elsewhere.  NULL with *err = EEXIST when the range is taken, or the
 * mmap(2) error when the OS refuses. */
HAK_HIDDEN void *hak_os_map_at(void *addr, size_t size, int *err);
/* The heap limit: bytes that may be mapped at once (hak_os_stats.mapped,
 * everything the calls above map), 0 for none.  A mapping that would pass
 * it is refused as if by the OS (ENOMEM), and hak_os_limit_refused then
 * says so to the thread until a mapping it asks for is refused by the OS.
 * set returns the limit it replaces. */
HAK_HIDDEN uint64_t hak_os_set_limit(uint64_t bytes);
HAK_HIDDEN uint64_t hak_os_limit(void);
HAK_HIDDEN bool hak_os_limit_refused(void);
/* Two words of the OS's random bytes (getrandom(2), or the kernel's
 * AT_RANDOM stirred with the clock if that fails). */
HAK_HIDDEN void hak_os_random(uintptr_t key[2]);
/* Gives the pages back to the OS; they read as zero afterwards. */
HAK_HIDDEN void hak_os_purge(void *p, size_t size);
/* Makes the pages a guard (on: no access) or ordinary memory again; false
 * when the OS refuses (mprotect(2): too many mappings). */
HAK_HIDDEN bool hak_os_guard(void *p, size_t size, bool on);
/* Milliseconds of a coarse monotonic clock (a vDSO read, no system call);
 * never 0.  The purge clock reads it.  A unit test drives it instead: while
 * hak_os_test_clock is not 0, that is the time, and it moves only when the
 * test moves it (then hak_purge_clock_moved wakes the purge thread). */
HAK_HIDDEN uint64_t hak_os_now_ms(void);
HAK_HIDDEN extern _Atomic uint64_t hak_os_test_clock;

/* returned: bytes given back to the OS so far, purged or unmapped. */
typedef struct hak_os_stats {
    _Atomic uint64_t mapped, peak, mmaps, munmaps, madvises, returned;
} hak_os_stats_t;
HAK_HIDDEN extern hak_os_stats_t hak_os_stats;

/* ------------------------------------------------------------------ */
/* Locks.  Plain mutexes; fork handling takes every one before fork and
 * releases them after, in the parent and the child (frontend/init.c). */

typedef pthread_mutex_t hak_lock_t;
/* Adaptive where the C library has it (glibc): a contended lock spins a
 * little before it sleeps, as the short critical sections of refill and
 * flush want (the hybrid backend's xthread went from 33 to 80 M ops/s). */
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#define HAK_LOCK_INIT PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#else
#define HAK_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
#endif
HAK_INLINE void hak_lock(hak_lock_t *l) { pthread_mutex_lock(l); }
HAK_INLINE void hak_unlock(hak_lock_t *l) { pthread_mutex_unlock(l); }
HAK_INLINE bool hak_trylock(hak_lock_t *l) { return pthread_mutex_trylock(l) == 0; }

/* A spin lock, for the profiler's tables (src/prof): taken twice in the
 * life of every sampled block, around a few dozen instructions, where a
 * mutex's lock and unlock cost some 65 more.  Contended, it spins a
 * little, then yields the CPU between tries (a profile is written under
 * it).  Fork handling takes it like a mutex. */
typedef _Atomic bool hak_spin_t;
#define HAK_SPIN_INIT false
HAK_HIDDEN void hak_spin_wait(hak_spin_t *l);
HAK_INLINE void hak_spin_lock(hak_spin_t *l) {
    if (HAK_UNLIKELY(atomic_exchange_explicit(l, true, memory_order_acquire)))
        hak_spin_wait(l);
}
HAK_INLINE void hak_spin_unlock(hak_spin_t *l) {
    atomic_store_explicit(l, false, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* Metadata memory (platform/meta.c): small internal objects (thread
 * caches, backend heaps) that must not come from the allocator itself. */

HAK_HIDDEN void *hak_meta_alloc(size_t size); /* zeroed; NULL on ENOMEM */
HAK_HIDDEN void hak_meta_free(void *p, size_t size);
HAK_HIDDEN void hak_meta_fork_prepare(void);
HAK_HIDDEN void hak_meta_fork_release(void);

/* ------------------------------------------------------------------ */
/* Allocation failures                                                 */

/* Why an allocation failed (the ACE trace causes; hakmem.h has the values). */
typedef enum hak_fail {
    HAK_FAIL_NONE = 0,
    HAK_FAIL_THRESHOLD = HAK_FAILURE_THRESHOLD,
    HAK_FAIL_EXHAUSTION = HAK_FAILURE_EXHAUSTION,
    HAK_FAIL_MAPFAIL = HAK_FAILURE_MAPFAIL,
} hak_fail_t;

/* Why the mapping this thread asked for last was refused: the heap limit
 * (Exhaustion: the heap may not grow) or the OS (MapFail). */
HAK_INLINE hak_fail_t hak_map_fail_cause(void) {
    return hak_os_limit_refused() ? HAK_FAIL_EXHAUSTION : HAK_FAIL_MAPFAIL;
}

#endif /* HAK_OS_H */

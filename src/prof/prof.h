/*
 * prof.h - the sampling heap profiler and leak report (HAKMEM_PROF,
 * HAKMEM_LEAKS, hak_prof_* in hakmem.h).  The frontend calls it from its
 * slow paths only; it uses the platform layer and nothing above it.
 *
 * Allocations are sampled by bytes, as a Poisson process of mean interval
 * HAKMEM_PROF_RATE: an allocation of s bytes is sampled with probability
 * 1 - exp(-s / rate), and stands for 1 / that many allocations like it.
 * Each thread keeps, per class, the bytes to its next sample point
 * (hak_prof_thread_t); a Poisson process split by class is one
 * independent Poisson process per class, so the thread's whole byte stream
 * is sampled at the rate.  The frontend serves a sampled small request
 * from the large path, so its free always reaches a slow path (internal.h,
 * HAK_SHADOW, says how the fast path is kept from serving a sample point).
 * The profiler keeps, per sampled block, its stack (a frame-pointer walk),
 * size and weight, and per stack the estimated allocated and in-use counts.
 */
#ifndef HAK_PROF_H
#define HAK_PROF_H

#include "internal.h"

/* A thread's sampler: the profiling epoch its bins follow (odd: on), its
 * random state, the bytes to the next sample point per class (left[0]:
 * requests above the classes; 0: not drawn yet), the capacity of its
 * shadow bins, and the shadow bins of the classes above
 * HAK_SHADOW_CLASSES (platform/sizeclass.h), which the thread cache's hot half has
 * no room for. */
typedef struct hak_prof_thread {
    unsigned epoch;
    uint64_t rng;
    uint64_t left[HAK_NCODES];
    uint16_t shadow_cap[HAK_NCODES];
    void *side_head[HAK_NCODES];
    int32_t side_room[HAK_NCODES];
} hak_prof_thread_t;
/* Blocks a group bin (internal.h, HAK_SHADOW_GROUP) holds before the free
 * slow path sorts it. */
#define HAK_GROUP_CAP 64

/* Odd while profiling is on; moves at each start and stop. */
HAK_HIDDEN extern _Atomic unsigned hak_prof_epoch;
/* Sampled blocks live, and blocks kept for samples (hak_prof_freed): the
 * frontend asks hak_prof_freed only when there are some. */
HAK_HIDDEN extern _Atomic uint64_t hak_prof_live;

HAK_INLINE unsigned hak_prof_epoch_now(void) {
    return atomic_load_explicit(&hak_prof_epoch, memory_order_acquire);
}

/* At init, once the options are read: starts profiling if HAKMEM_PROF or
 * HAKMEM_LEAKS asks (no block exists yet). */
HAK_HIDDEN void hak_prof_init(void);
/* After init, where installing a signal handler is safe. */
HAK_HIDDEN void hak_prof_init_late(void);
/* Bytes from the end of a block to the next sample point, drawn from the
 * thread's random state: at least 1 (always 1 at HAKMEM_PROF_RATE=1). */
HAK_HIDDEN uint64_t hak_prof_draw(hak_prof_thread_t *pt);
/* Records p, a sampled block of request bytes, sampled as size bytes
 * (its class's size, or the request above the classes), with the stack of
 * its caller.  Takes locks: the caller holds none. */
HAK_HIDDEN void hak_prof_sampled(void *p, size_t request, size_t size);
/* If p is a sampled block: forgets it.  While profiling is on, a sampled
 * block of usable bytes, a whole number of pages no more than the classes'
 * biggest, is then kept, two per number of pages, for the next sample of
 * a request of as many pages (hak_prof_kept_take): a sample of a small
 * request then skips the large path's maps and lock both ways.  Returns
 * true when it kept p, which the caller then does not free; p itself kept
 * (freed twice) is fatal.  usable 0: not to be kept. */
HAK_HIDDEN bool hak_prof_freed(void *p, size_t usable);
/* A kept block of the pages n bytes take (at least one), or of up to half
 * as many again and one more (a sampled block is one of many: its waste
 * counts little), taken, or NULL: the caller records it again
 * (hak_prof_sampled). */
HAK_HIDDEN void *hak_prof_kept_take(size_t n);
/* Takes every kept block into out (HAK_PROF_KEPT_MAX of them at most),
 * returns how many: the caller frees them (a trim, a squeeze, profiling
 * stopped). */
#define HAK_PROF_KEPT_MAX (2 * (HAK_SMALL_MAX >> HAK_PAGE_SHIFT))
HAK_HIDDEN unsigned hak_prof_kept_drain(void *out[HAK_PROF_KEPT_MAX]);
/* Whether p is a sampled block. */
HAK_HIDDEN bool hak_prof_has(const void *p);
/* At exit: the final profile and the leak report, when asked. */
HAK_HIDDEN void hak_prof_at_exit(void);
HAK_HIDDEN void hak_prof_fork_prepare(void);
HAK_HIDDEN void hak_prof_fork_release(void);

#endif /* HAK_PROF_H */

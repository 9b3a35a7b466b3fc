/*
 * frontend.h - the thread cache and the inline fast path.
 *
 * A thread's cache is a hak_thread_t: one bin per class code.  malloc pops
 * from the bin of the request's class; free pushes onto the bin of the
 * class the window table gives the pointer's 64 KiB unit (internal.h).  No lock, no atomic, no getenv and no init check:
 * a new thread's hak_tls points at a static, read-only, all-zero cache whose
 * bins always miss, so its first call lands in the slow path, which builds
 * the real cache.  Every miss is a call to a noinline slow function.
 */
#ifndef HAK_FRONTEND_H
#define HAK_FRONTEND_H

#include "internal.h"
#include "ace/ace.h"

typedef struct hak_thread_stats {
    uint64_t mallocs, frees; /* counted only with --enable-stats */
    uint64_t refills, flushes;
} hak_thread_stats_t;

typedef struct hak_thread {
    void *head[HAK_NCODES];     /* first: the fast path adds no offset */
    uint32_t room[HAK_NCODES];
    hak_binctl_t ctl[HAK_NCODES];
    void *bstate; /* the backend's per-thread state */
    struct hak_thread *next, *prev;
    hak_thread_stats_t stats;
} hak_thread_t;

/* The read-only sentinels: a thread not yet attached, and one whose cache
 * was torn down at thread exit (it is served without a cache). */
HAK_HIDDEN extern const hak_thread_t hak_thread_empty, hak_thread_dead;

HAK_HIDDEN extern __thread hak_thread_t *hak_tls __attribute__((tls_model("initial-exec")));

/* malloc.c: slow paths and the rest of the family */
HAK_HIDDEN void *hak_malloc_slow(size_t n);
HAK_HIDDEN void hak_free_slow(void *p);
HAK_HIDDEN void *hak_impl_calloc(size_t nmemb, size_t size);
HAK_HIDDEN void *hak_impl_realloc(void *p, size_t n);
HAK_HIDDEN void *hak_impl_reallocarray(void *p, size_t nmemb, size_t size);
HAK_HIDDEN void *hak_impl_aligned_alloc(size_t align, size_t n);
HAK_HIDDEN void *hak_impl_memalign(size_t align, size_t n);
HAK_HIDDEN int hak_impl_posix_memalign(void **out, size_t align, size_t n);
HAK_HIDDEN void *hak_impl_pvalloc(size_t n);
HAK_HIDDEN size_t hak_impl_usable_size(const void *p);
HAK_HIDDEN int hak_impl_trim(size_t pad);
/* The backend serving the process (valid once a block exists). */
HAK_HIDDEN extern const hak_backend_t *hak_backend;
/* Process init runs once, from the first slow-path call. */
enum { HAK_INIT_NONE, HAK_INIT_RUNNING, HAK_INIT_DONE };
HAK_HIDDEN extern _Atomic int hak_init_state;
HAK_HIDDEN void hak_init_slow(void);
HAK_INLINE void hak_ensure_init(void) {
    if (HAK_UNLIKELY(atomic_load_explicit(&hak_init_state, memory_order_acquire) != HAK_INIT_DONE))
        hak_init_slow();
}

/* stats.c */
HAK_HIDDEN extern hak_lock_t hak_threads_lock;
HAK_HIDDEN extern hak_thread_t *hak_threads;
HAK_HIDDEN extern hak_thread_stats_t hak_stats_retired;
HAK_HIDDEN void hak_thread_stats_add(hak_thread_stats_t *to, const hak_thread_stats_t *from);
HAK_HIDDEN extern _Atomic uint64_t hak_stat_large_allocs, hak_stat_large_frees, hak_stat_failures;
HAK_HIDDEN void hak_stats_collect(hak_stats_t *out);

/*
 * Free blocks carry a mark: their second word holds HAK_FREE_MARK, and
 * malloc clears it.  A free of a block that still bears the mark is a
 * double free, caught at the second free() whichever threads made the two
 * and however many calls came between; the word shares the cache line
 * free() writes anyway.  The mark is the address of the window table, which
 * free() has in a register already and no program stores in its blocks.
 * Every path that hands out a small block clears the mark.
 */
#define HAK_FREE_MARK ((uintptr_t)hak_unit_code)
HAK_INLINE bool hak_block_marked(const void *p) { return ((const uintptr_t *)p)[1] == HAK_FREE_MARK; }
HAK_INLINE void hak_block_mark(void *p) { ((uintptr_t *)p)[1] = HAK_FREE_MARK; }
HAK_INLINE void hak_block_unmark(void *p) { ((uintptr_t *)p)[1] = 0; }

HAK_INLINE void *hak_fast_malloc(size_t n) {
    if (HAK_LIKELY(n <= HAK_SMALL_MAX)) {
        hak_thread_t *t = hak_tls;
        unsigned c = hak_class_of(n);
        void *p = t->head[c];
        if (HAK_LIKELY(p != NULL)) {
            t->head[c] = *(void **)p;
            t->room[c]++;
            hak_block_unmark(p);
            if (hak_config_stats)
                t->stats.mallocs++;
            return p;
        }
    }
    return hak_malloc_slow(n);
}

HAK_INLINE void hak_fast_free(void *p) {
    /* The unit index and its range check in one: the offset in the window
     * is rotated so that its four low bits land on top, where a pointer not
     * 16-byte aligned makes the index fail the check like a pointer outside
     * the window. */
    uintptr_t off = (uintptr_t)p - hak_window_base;
    uintptr_t u = ((off >> 4) | (off << 60)) >> (HAK_UNIT_SHIFT - 4);
    if (HAK_LIKELY(u < (HAK_WINDOW_SIZE >> HAK_UNIT_SHIFT))) {
        hak_thread_t *t = hak_tls;
        unsigned c = hak_unit_code[u];
        /* A block still marked free is a double free: the slow path
         * reports it.  (room first: only then is p surely in a slab.) */
        if (HAK_LIKELY(t->room[c] != 0 && !hak_block_marked(p))) {
            *(void **)p = t->head[c];
            hak_block_mark(p);
            t->head[c] = p;
            t->room[c]--;
            if (hak_config_stats)
                t->stats.frees++;
            return;
        }
    }
    hak_free_slow(p);
}

#endif /* HAK_FRONTEND_H */

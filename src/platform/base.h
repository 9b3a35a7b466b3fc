/*
 * base.h - compiler helpers, build switches as constants, debug asserts, intrusive
 * lists and the geometry of pages, chunks and the address space.
 */
#ifndef HAK_BASE_H
#define HAK_BASE_H

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem.h"

/* ------------------------------------------------------------------ */
/* Compiler helpers                                                    */

#define HAK_LIKELY(x) __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HAK_INLINE static inline __attribute__((always_inline))
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_COLD __attribute__((noinline, cold))
/* A function that reads words another thread may be writing, and trusts
 * what it reads only as far as its comment says: ThreadSanitizer is told
 * not to report those reads, and the function is then never inlined (into
 * a caller ThreadSanitizer instruments, the attribute would be lost).
 * HAK_RACY_INLINE is the same for a function HAK_INLINE otherwise. */
#if defined(__SANITIZE_THREAD__)
#define HAK_RACY_READS __attribute__((no_sanitize("thread"), noinline))
#define HAK_RACY_INLINE static HAK_RACY_READS
#else
#define HAK_RACY_READS
#define HAK_RACY_INLINE HAK_INLINE
#endif
#define HAK_HIDDEN __attribute__((visibility("hidden")))
#define HAK_EXPORT __attribute__((visibility("default")))
#define HAK_ALIGNED(n) __attribute__((aligned(n)))

/* Built with ThreadSanitizer (GCC says so with a macro, clang with a
 * feature test). */
#if defined(__SANITIZE_THREAD__)
#define HAK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HAK_TSAN 1
#endif
#endif

/* Build switches are constants so that code under them is always compiled
 * and type-checked; the optimiser removes what is off. */
static const bool hak_config_stats = HAK_CONFIG_STATS;
static const bool hak_config_debug = HAK_CONFIG_DEBUG;

/* HAK_ASSERT is a debug-build invariant check.  Checks of the program's
 * pointers are always on and call hak_fatal directly. */
#define HAK_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (hak_config_debug && HAK_UNLIKELY(!(cond)))                                             \
            hak_fatal("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__);                  \
    } while (0)

/* Raises *x to v if v is more. */
HAK_INLINE void hak_atomic_max(_Atomic uint64_t *x, uint64_t v) {
    uint64_t old = atomic_load_explicit(x, memory_order_relaxed);
    while (v > old && !atomic_compare_exchange_weak_explicit(x, &old, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

/* Intrusive doubly linked lists: x is any struct with next and prev
 * pointers to its own type; head is the address of the list's first. */
#define HAK_DLIST_PUSH(head, x)                                                                    \
    do {                                                                                           \
        (x)->prev = NULL;                                                                          \
        (x)->next = *(head);                                                                       \
        if (*(head))                                                                               \
            (*(head))->prev = (x);                                                                 \
        *(head) = (x);                                                                             \
    } while (0)
#define HAK_DLIST_UNLINK(head, x)                                                                  \
    do {                                                                                           \
        if ((x)->prev)                                                                             \
            (x)->prev->next = (x)->next;                                                           \
        else                                                                                       \
            *(head) = (x)->next;                                                                   \
        if ((x)->next)                                                                             \
            (x)->next->prev = (x)->prev;                                                           \
        (x)->next = (x)->prev = NULL;                                                              \
    } while (0)

/* ------------------------------------------------------------------ */
/* Geometry                                                            */

#define HAK_PAGE_SHIFT 12
#define HAK_PAGE_SIZE ((size_t)1 << HAK_PAGE_SHIFT)
#define HAK_CHUNK_SHIFT 21 /* 2 MiB chunks, aligned to their size */
#define HAK_CHUNK_SIZE ((size_t)1 << HAK_CHUNK_SHIFT)
#define HAK_CHUNK_MASK (HAK_CHUNK_SIZE - 1)
#define HAK_CHUNK_PAGES (HAK_CHUNK_SIZE >> HAK_PAGE_SHIFT)
#define HAK_MIN_ALIGN 16

/* User address space covered by the chunk map. */
#if defined(__x86_64__)
#define HAK_VA_BITS 47
#else
#define HAK_VA_BITS 48
#endif

#endif /* HAK_BASE_H */

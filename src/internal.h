/*
 * internal.h - what every HAKMEM source file shares: compiler helpers, the
 * build switches as constants, the size-class scheme, the chunk map that
 * answers "is this pointer ours" in O(1), and the prototypes of the
 * platform layer (OS memory, locks, options, non-allocating diagnostics).
 *
 * It is the platform layer's header, the lowest of the layers src/README
 * lists; every layer may use it, and it names nothing of a layer above.
 * Cross-file prototypes are grouped by the file that defines them.
 */
#ifndef HAK_INTERNAL_H
#define HAK_INTERNAL_H

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
 * not to report those reads. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define HAK_RACY_READS __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef HAK_RACY_READS
#define HAK_RACY_READS
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

/* ------------------------------------------------------------------ */
/* Size classes (sizeclass.c owns the table)                           */
/*
 * Class codes are 1..HAK_NCLASSES.  Code 0 means "no block starts on this
 * page" and HAK_CODE_LARGE marks the first page of a large block; both have
 * always-missing bins in every thread cache, so the free fast path can index
 * the cache with whatever code a page carries without a range check.
 * Spacing is 16 B up to 256 B, then eight classes per doubling up to 64 KiB:
 * internal waste is at most 12.5 % above 128 B.
 */
#define HAK_NCLASSES 80
#define HAK_CODE_NONE 0
#define HAK_CODE_LARGE (HAK_NCLASSES + 1)
#define HAK_NCODES (HAK_NCLASSES + 2)
#define HAK_SMALL_MAX ((size_t)65536)
/*
 * While the heap profiler samples (src/prof), each thread has a shadow bin
 * per class: frees push onto it, mallocs pop from the class's bin, and only
 * the malloc slow path moves blocks from one to the other, so it sees
 * every allocation that crosses a sample point.  The window table gives
 * the units of each class up to HAK_SHADOW_CLASSES (1 KiB) the shadow code
 * HAK_SHADOW(c), after every class code, whose bin in the thread cache's
 * hot half the free fast path fills at full speed, and the units of the
 * bigger classes the code of their group, HAK_SHADOW_GROUP(c), one per
 * eight classes (a doubling of sizes), whose bin gathers their frees at
 * full speed too; the slow paths sort a group bin into the shadow bins of
 * its classes, which are in the cold half.  A shadow bin for each of the
 * 80 classes in the hot half would make it too big for the static TLS a
 * dlopen() may use.  The chunks' page codes are always the classes.
 */
#define HAK_SHADOW_CLASSES 32
#define HAK_SHADOW(c) ((c) + HAK_NCLASSES + 1)
#define HAK_GROUP_CLASSES 8
#define HAK_NGROUPS ((HAK_NCLASSES - HAK_SHADOW_CLASSES) / HAK_GROUP_CLASSES)
#define HAK_GROUP(c) (((c)-HAK_SHADOW_CLASSES - 1) / HAK_GROUP_CLASSES)
#define HAK_GROUP_BIN(g) (HAK_SHADOW(HAK_SHADOW_CLASSES) + 1 + (g))
#define HAK_SHADOW_GROUP(c) HAK_GROUP_BIN(HAK_GROUP(c))
#define HAK_NBINS HAK_GROUP_BIN(HAK_NGROUPS)

HAK_HIDDEN extern const uint32_t hak_class_size[HAK_NCODES];
/* Per class, the reciprocal hak_block_at (pool/freelist.h) takes: 2^40 /
 * size + 1. */
HAK_HIDDEN extern const uint64_t hak_class_magic[HAK_NCODES];

/* What the fast paths read: the free-list secrets (below) and the class
 * code of each window unit (described below), in one object addressed from
 * one base register, and the class of each request size.  The secrets are
 * set once, at init, before any block is free. */
#define HAK_WINDOW_SHIFT 36
#define HAK_UNIT_SHIFT 16
#define HAK_WINDOW_UNITS (((uintptr_t)1 << HAK_WINDOW_SHIFT) >> HAK_UNIT_SHIFT)
typedef struct hak_tables {
    uintptr_t key_link, key_check;       /* random, per process */
    uint8_t unit_code[HAK_WINDOW_UNITS]; /* by 64 KiB unit of the window */
} hak_tables_t;
HAK_HIDDEN extern hak_tables_t hak_tables;

/* The class of a request of n <= HAK_SMALL_MAX bytes, by n itself: one
 * load, no arithmetic (sizeclass.c's constant table). */
HAK_HIDDEN extern const uint8_t hak_size_class[HAK_SMALL_MAX + 1];
HAK_INLINE unsigned hak_class_of(size_t n) { return hak_size_class[n]; }

/* The natural alignment of blocks of class c: the largest power of two that
 * divides its size, at most one page.  Every backend honours it. */
HAK_INLINE size_t hak_class_align(unsigned c) {
    size_t s = hak_class_size[c];
    size_t a = s & -s;
    return a > HAK_PAGE_SIZE ? HAK_PAGE_SIZE : a;
}

/* sizeclass.c */
/* The smallest class that serves n bytes aligned to align (a power of two,
 * >= 16), or 0 when no class can. */
HAK_HIDDEN unsigned hak_class_for_aligned(size_t n, size_t align);

/* ------------------------------------------------------------------ */
/* Chunks and the chunk map (platform/chunk.c)                         */
/*
 * Every block HAKMEM hands out lies in a chunk: a 2 MiB-aligned mapping whose
 * first page starts with a hak_chunk_t.  A bit per 2 MiB of address space
 * says whether a chunk header starts there, so free() learns in two loads
 * and no syscall whether a pointer is ours and which class it has.  The map
 * lives in .bss: untouched parts cost no memory and it needs no init.
 */
#define HAK_CHUNK_MAP_WORDS ((size_t)1 << (HAK_VA_BITS - HAK_CHUNK_SHIFT - 6))
HAK_HIDDEN extern _Atomic uint64_t hak_chunk_map[HAK_CHUNK_MAP_WORDS];

enum hak_chunk_kind {
    HAK_CHUNK_SLABS = 1, /* small-block slabs of a backend */
    HAK_CHUNK_RUNS = 2,  /* page runs of the large path */
    HAK_CHUNK_HUGE = 3,  /* one block of more than half a run chunk, alone */
};

#define HAK_CHUNK_MAGIC 0x48414b4du /* "HAKM" */

typedef struct hak_chunk {
    /* Per page: the class code of blocks starting on it.  First, so the
     * free fast path indexes the chunk base directly. */
    uint8_t page_code[HAK_CHUNK_PAGES];
    uint32_t magic;
    uint8_t kind;                          /* enum hak_chunk_kind */
    size_t map_size;                       /* bytes mapped from this header on */
    struct hak_chunk *all_next, *all_prev; /* every chunk mapped (chunk.c) */
} hak_chunk_t;

HAK_INLINE bool hak_chunk_owned(uintptr_t a) {
    uintptr_t w = a >> (HAK_CHUNK_SHIFT + 6);
    if (HAK_UNLIKELY(w >= HAK_CHUNK_MAP_WORDS))
        return false;
    uint64_t bits = atomic_load_explicit(&hak_chunk_map[w], memory_order_relaxed);
    return (bits >> ((a >> HAK_CHUNK_SHIFT) & 63)) & 1;
}

HAK_INLINE hak_chunk_t *hak_chunk_of(uintptr_t a) {
    return (hak_chunk_t *)(a & ~(uintptr_t)HAK_CHUNK_MASK);
}

HAK_INLINE unsigned hak_page_code(uintptr_t a) {
    return hak_chunk_of(a)->page_code[(a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1)];
}

/*
 * The small-block window.  Slab chunks are placed, when the OS lets us, in
 * one 64 GiB window of address space at a random base, and a table keeps
 * the class code of every 64 KiB unit in it.  The free fast path then needs
 * one subtraction, a rotate and one byte load to know that a pointer is
 * ours, 16-byte aligned, and of which class; anything outside the window,
 * not aligned, or on a unit whose code is 0 (a hole, a chunk header, a
 * foreign mapping), takes the slow path, which asks the chunk map.  Nothing is reserved: the window
 * is only where chunks are asked to go.  Before the first chunk the base is 0 and every code 0.
 */
#define HAK_UNIT_SIZE ((size_t)1 << HAK_UNIT_SHIFT)
#define HAK_CHUNK_UNITS (HAK_CHUNK_SIZE >> HAK_UNIT_SHIFT)
#define HAK_WINDOW_SIZE ((uintptr_t)1 << HAK_WINDOW_SHIFT)
HAK_HIDDEN extern uintptr_t hak_window_base;

/* chunk.c */
/* Maps size bytes at a 2 MiB boundary, zeroed, with its header initialised
 * and registered in the map; a slab chunk of HAK_CHUNK_SIZE goes in the
 * window when it can.  Returns NULL with errno = ENOMEM when the OS refuses. */
HAK_HIDDEN hak_chunk_t *hak_chunk_map_new(size_t size, unsigned kind);
/* Unregisters and unmaps a chunk. */
HAK_HIDDEN void hak_chunk_unmap(hak_chunk_t *c);
/* The large path's spare memory: a chunk that forget unregisters (no
 * pointer into it is ours any more) stays mapped and tracked, its header
 * the spare's; recall registers it again, of kind, its page codes cleared;
 * split makes the part of c's mapping from off (a 2 MiB multiple) a chunk
 * of its own, tracked, not registered; join makes c's mapping reach to the
 * end of next's (which starts at or after c's end, the gap between mapped),
 * and next no chunk. */
HAK_HIDDEN void hak_chunk_forget(hak_chunk_t *c);
HAK_HIDDEN void hak_chunk_recall(hak_chunk_t *c, unsigned kind);
HAK_HIDDEN hak_chunk_t *hak_chunk_split(hak_chunk_t *c, size_t off);
HAK_HIDDEN void hak_chunk_join(hak_chunk_t *c, hak_chunk_t *next);
/* Sets the class code of whole units [first, first+n) of a slab chunk, in
 * its header (every page but the header page) and in the window table
 * (the shadow code there while hak_chunk_shadow is on).  Unit 0 holds the
 * header and never serves blocks. */
HAK_HIDDEN void hak_chunk_set_units(hak_chunk_t *c, unsigned first, unsigned n, unsigned code);
/* Gives every unit in the window its class's shadow or group code (on), or
 * its class code again (off), now and in every later hak_chunk_set_units
 * (see HAK_SHADOW). */
HAK_HIDDEN void hak_chunk_shadow(bool on);
/* Adds a chunk mapped without hak_chunk_map_new (a far block's) to, or
 * takes it off, the list of every chunk, which hak_chunk_resident walks. */
HAK_HIDDEN void hak_chunk_track(hak_chunk_t *c, bool on);
/* Bytes of every chunk's pages now resident in memory, as the kernel says
 * (mincore(2)): measured, not estimated, in a walk over every chunk. */
HAK_HIDDEN size_t hak_chunk_resident(void);
/* Bytes serving blocks: slab units with a class code set on them, and
 * the pages of live large blocks (the frontend adds those); and their
 * high-water mark.  hak_active_add moves both. */
HAK_HIDDEN extern _Atomic uint64_t hak_active_bytes, hak_active_peak;
HAK_HIDDEN void hak_active_add(int64_t delta);
HAK_HIDDEN void hak_chunk_fork_prepare(void);
HAK_HIDDEN void hak_chunk_fork_release(void);

/* ------------------------------------------------------------------ */
/* OS memory (platform/os.c): the only place that makes memory syscalls. */

/* Anonymous read-write mapping of size bytes aligned to align (a power of
 * two >= page); NULL when the OS refuses. */
HAK_HIDDEN void *hak_os_map(size_t size, size_t align);
HAK_HIDDEN void hak_os_unmap(void *p, size_t size);
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

/* ------------------------------------------------------------------ */
/* Metadata memory (platform/meta.c): small internal objects (thread
 * caches, backend heaps) that must not come from the allocator itself. */

HAK_HIDDEN void *hak_meta_alloc(size_t size); /* zeroed; NULL on ENOMEM */
HAK_HIDDEN void hak_meta_free(void *p, size_t size);
HAK_HIDDEN void hak_meta_fork_prepare(void);
HAK_HIDDEN void hak_meta_fork_release(void);

/* ------------------------------------------------------------------ */
/* Diagnostics (platform/log.c): formatted into a stack buffer and written
 * to fd 2 with one write(2); never allocate.  Formats: %s %d %u %zu %lu
 * %llu %x %p %c %%. */

HAK_HIDDEN void hak_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
HAK_HIDDEN __attribute__((noreturn, cold)) void hak_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Formats into buf (always NUL-terminated); returns the length written. */
/* Reports a pointer handed to who ("free()", ...) that is not the start of
 * a block HAKMEM handed out, and aborts. */
HAK_HIDDEN __attribute__((noreturn, cold)) void hak_invalid_block(const char *who, const void *p);
HAK_HIDDEN size_t hak_format(char *buf, size_t cap, const char *fmt, __builtin_va_list ap);
HAK_HIDDEN size_t hak_format_str(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The name of an errno value, such as ENOENT, or "errno N" formatted into buf. */
HAK_HIDDEN const char *hak_errno_name(int err, char *buf, size_t cap);
/* Writes all of buf to fd; 0 or -1 with errno. */
HAK_HIDDEN int hak_write_all(int fd, const char *buf, size_t len);

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

/* ------------------------------------------------------------------ */
/* Options (platform/options.c, table in platform/options.def)         */

typedef enum hak_stats_mode {
    HAK_STATS_OFF = 0,
    HAK_STATS_ON_TEXT,
    HAK_STATS_ON_JSON
} hak_stats_mode_t;

typedef struct hak_optstr {
    char s[32];
} hak_optstr_t;
typedef struct hak_optpath {
    char s[4096];
} hak_optpath_t;
#define HAK_OPT_TYPE_STR hak_optstr_t
#define HAK_OPT_TYPE_PATH hak_optpath_t
#define HAK_OPT_TYPE_BOOL bool
#define HAK_OPT_TYPE_STATS hak_stats_mode_t
#define HAK_OPT_TYPE_MS uint32_t
#define HAK_OPT_TYPE_SIZE uint64_t

typedef struct hak_options {
#define HAK_OPTION(field, env, kind, def, doc) HAK_OPT_TYPE_##kind field;
#include "platform/options.def"
#undef HAK_OPTION
} hak_options_t;

HAK_HIDDEN extern hak_options_t hak_opt;
/* Parses the environment once (from envp, which may be NULL) without
 * allocating; unknown values warn and keep the default. */
HAK_HIDDEN void hak_options_parse(char **envp);
/* Prints the effective options, one per line, to fd 2. */
HAK_HIDDEN void hak_options_print(void);

#endif /* HAK_INTERNAL_H */

/*
 * hakmem.h - the public interface of HAKMEM, a general-purpose malloc
 * replacement for Linux.
 *
 * Programs normally reach HAKMEM through the standard malloc family, either
 * by LD_PRELOAD=libhakmem.so or by linking -lhakmem.  This header adds the
 * hak_* names (the same allocator under its own name, usable beside another
 * malloc) and the control and statistics interface.  See hakmem(3).
 *
 * Run-time options are HAKMEM_* environment variables, read once before the
 * first allocation; hakmem(3) lists every one under ENVIRONMENT.
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1
#define HAKMEM_VERSION_PATCH 0

#if defined(__GNUC__)
#define HAK_API_MALLOC __attribute__((malloc, warn_unused_result))
#else
#define HAK_API_MALLOC
#endif

/* The allocator under its own name; semantics are those of the libc names. */
void *hak_malloc(size_t size) HAK_API_MALLOC;
void hak_free(void *ptr);
void *hak_calloc(size_t nmemb, size_t size) HAK_API_MALLOC;
void *hak_realloc(void *ptr, size_t size);
void *hak_aligned_alloc(size_t alignment, size_t size) HAK_API_MALLOC;
size_t hak_usable_size(const void *ptr);

/* Returns free memory held in caches to the operating system, keeping at
 * most pad bytes cached.  Returns 1 if memory was released, else 0. */
int hak_trim(size_t pad);

/* Caps the bytes HAKMEM may have mapped from the OS at once (mapped_bytes
 * of hak_stats_t: blocks, caches, bookkeeping) at bytes; 0 removes the cap.
 * An allocation that would map past it fails with NULL and ENOMEM, after
 * HAKMEM gave back the free memory it caches; a request above 64 KiB that
 * is bigger than bytes fails at once.  A cap below what is mapped now takes nothing back: new
 * mappings fail until enough is unmapped.  Overrides HAKMEM_HEAP_LIMIT.
 * Returns the cap replaced (0: none). */
size_t hak_set_heap_limit(size_t bytes);

/* The name of the backend serving this process, as HAKMEM_BACKEND names
 * it ("superslab", "hybrid", "legacy" in this release). */
const char *hak_backend_name(void);

/* The library version as "MAJOR.MINOR.PATCH". */
const char *hak_version(void);

/* Process-wide counters.  Values are merged from every thread at the time of
 * the call; counters of threads that are running may lag by one cache. */
typedef struct hak_stats {
    uint64_t mapped_bytes;      /* bytes currently mapped from the OS */
    uint64_t peak_mapped_bytes; /* high-water mark of mapped_bytes */
    uint64_t mmap_calls;        /* mmap system calls made */
    uint64_t munmap_calls;      /* munmap system calls made */
    uint64_t madvise_calls;     /* madvise system calls made */
    uint64_t refills;           /* thread-cache refills (backend, transfers) */
    uint64_t flushes;           /* thread-cache flushes (backend, transfers) */
    uint64_t large_allocs;      /* blocks above the largest size class */
    uint64_t large_frees;
    uint64_t malloc_calls;   /* only with --enable-stats, else 0 */
    uint64_t free_calls;     /* only with --enable-stats, else 0 */
    uint64_t alloc_failures; /* requests answered with NULL/ENOMEM */
    uint64_t threads_live;   /* threads holding a thread cache */
    uint64_t transfers;      /* batches passed from cache to cache */
    /* Memory, in bytes (since 0.1: hakmem(3), STATISTICS, defines each). */
    uint64_t live_bytes; /* handed out to the program, not yet freed */
    uint64_t live_blocks;
    uint64_t peak_live_bytes;   /* high-water mark of live plus thread-cached */
    uint64_t large_live_bytes;  /* of live_bytes, in blocks above 64 KiB */
    uint64_t active_bytes;      /* slab units and pages serving blocks */
    uint64_t peak_active_bytes; /* high-water mark of active_bytes */
    uint64_t cached_bytes;      /* free blocks waiting in thread caches */
    uint64_t resident_bytes;    /* of mapped_bytes, in memory (mincore(2)) */
    uint64_t returned_bytes;    /* given back to the OS so far */
    /* Room for counters of later versions: the struct keeps its size, so a
     * program built against this header works with them.  Zero for now. */
    uint64_t reserved[9];
} hak_stats_t;

/* Fills *out.  Always succeeds.  resident_bytes costs a mincore(2) call per
 * 2 MiB mapped. */
void hak_stats_get(hak_stats_t *out);

/* One size class. */
typedef struct hak_class_stats {
    uint64_t size;          /* bytes of each block of the class */
    uint64_t live_blocks;   /* handed out to the program */
    uint64_t cached_blocks; /* free, in thread caches and the transfer cache */
    uint64_t refills;       /* thread-cache refills of the class */
    uint64_t flushes;       /* thread-cache flushes of the class */
    uint64_t reserved[3];
} hak_class_stats_t;

/* Fills out[0 .. n-1] with the first n size classes, smallest first, and
 * returns how many classes there are. */
size_t hak_stats_classes(hak_class_stats_t *out, size_t n);

/* Why an allocation failed: the causes HAKMEM_ACE_TRACE=1 prints. */
#define HAK_FAILURE_THRESHOLD 1  /* no size class or path may serve the request */
#define HAK_FAILURE_EXHAUSTION 2 /* the pool that should serve it is empty, may not grow */
#define HAK_FAILURE_MAPFAIL 3    /* the operating system refused memory */

/* One allocation failure, as a failure hook sees it. */
typedef struct hak_failure {
    size_t size;            /* bytes asked of the allocator (a small request's class size) */
    size_t alignment;       /* the alignment asked for, 0 when none */
    int cause;              /* HAK_FAILURE_* */
    const char *cause_name; /* "Threshold", "Exhaustion" or "MapFail" */
} hak_failure_t;

typedef void (*hak_failure_hook_t)(const hak_failure_t *failure);

/* Installs fn, called on every allocation about to return NULL with ENOMEM:
 * on the failing thread, with no HAKMEM lock held, before the call returns.
 * fn may allocate; a failure inside fn does not call fn again.  The failing
 * call still returns NULL with errno ENOMEM.  NULL removes the hook.
 * Returns the hook replaced. */
hak_failure_hook_t hak_set_failure_hook(hak_failure_hook_t fn);

/* Formats for hak_stats_print. */
#define HAK_STATS_TEXT 0
#define HAK_STATS_JSON 1

/* Writes the statistics to file descriptor fd without allocating.
 * Returns 0, or -1 with errno set by write(2). */
int hak_stats_print(int fd, int format);

/* The sampling heap profiler (hakmem(3), HEAP PROFILING).  Allocations
 * are sampled by bytes, one in HAKMEM_PROF_RATE bytes on average; each
 * sampled block keeps its call stack until it is freed. */

/* Starts profiling (HAKMEM_PROF or HAKMEM_LEAKS also start it at load).
 * Returns 0, or -1 with errno ENOMEM when no memory for its tables. */
int hak_prof_start(void);
/* Stops sampling; blocks already sampled stay in the profile until freed. */
void hak_prof_stop(void);
/* Writes a heap profile in the gperftools format (google-pprof reads it)
 * to path, or to the next PREFIX.<pid>.<seq>.heap of HAKMEM_PROF=PREFIX
 * when path is NULL.  Returns 0, or -1 with errno (EINVAL: profiling never
 * started, or no path and no prefix; else from open(2) or write(2)). */
int hak_prof_dump(const char *path);

#define HAK_PROF_ALLOC 1
#define HAK_PROF_FREE 2

/* One sampled allocation, or the free of one, as a hook sees it. */
typedef struct hak_prof_event {
    int kind;           /* HAK_PROF_ALLOC or HAK_PROF_FREE */
    void *ptr;          /* the block */
    size_t size;        /* the bytes asked for */
    double weight;      /* how many allocations of this size it stands for */
    unsigned depth;     /* frames in stack */
    void *const *stack; /* return addresses, innermost first; valid during the call */
    uint64_t ms;        /* when the block was sampled: CLOCK_MONOTONIC_COARSE, ms */
} hak_prof_event_t;

typedef void (*hak_prof_hook_t)(const hak_prof_event_t *event);

/* Installs fn, called on the allocating or freeing thread after each
 * sampled allocation and each free of a sampled block, with no HAKMEM lock
 * held.  fn may allocate; what it allocates does not call fn again.  NULL
 * removes the hook.  Returns the hook replaced. */
hak_prof_hook_t hak_prof_set_hook(hak_prof_hook_t fn);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_H */

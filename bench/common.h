/*
 * bench/common.h - shared helpers for the HAKMEM benchmark programs.
 *
 * Every benchmark is a single C11 file that includes this header and uses
 * nothing but the plain malloc/free/realloc/calloc interface, so the same
 * binary can be run under any allocator (LD_PRELOAD) or linked directly
 * against libhakmem.
 *
 * This header is the single place that:
 *   - reads the monotonic clock,
 *   - finds out which shared object provides `malloc` in this process
 *     (the "proof" the comparison harness checks),
 *   - asks HAKMEM for its active backend name if HAKMEM is loaded,
 *   - reads the peak resident set size,
 *   - starts threads,
 *   - fills a block with a pattern and checks it before the block is freed,
 *   - prints the final machine-readable RESULT line (or, for a program
 *     that cannot run on this machine, a SKIP line).
 *
 * It compiles as C11 and as C++ (bench/containers.cc).
 *
 * RESULT line format (one line, space separated key=value, no spaces in
 * values):
 *   RESULT bench=NAME ws=N|- ops=N seconds=S mops=M peak_rss_kb=K
 *          [extra key=value ...] malloc_from=PATH hakmem_backend=NAME|-
 */
#ifndef HAKMEM_BENCH_COMMON_H
#define HAKMEM_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Print a message to stderr and exit with status 2. */
static inline void bench_die(const char *fmt, ...) {
    va_list ap;
    fputs("bench: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* Abort the run when an allocation failed. */
static inline void bench_oom(size_t size) {
    bench_die("allocation of %zu bytes failed (errno=%d: %s)", size, errno, strerror(errno));
}

/* Seconds from CLOCK_MONOTONIC. */
static inline double bench_now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        bench_die("clock_gettime(CLOCK_MONOTONIC) failed");
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 32-bit xorshift (13, 17, 5).  The state must never be 0. */
static inline uint32_t bench_xorshift32(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* The xorshift32 state of stream n of several drawn from one seed (one per
 * thread, or per thread and round): a different start for each n, never 0. */
static inline uint32_t bench_stream_seed(uint32_t seed, unsigned long long n) {
    uint32_t s = seed ^ (uint32_t)(n * 2654435761u);
    return s != 0 ? s : 1;
}

/* Parse argv[i] as an unsigned integer, or return dflt if absent. */
static inline unsigned long long bench_arg_u64(int argc, char **argv, int i,
                                               unsigned long long dflt) {
    if (i >= argc)
        return dflt;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 0);
    if (errno != 0 || end == argv[i] || *end != '\0' || argv[i][0] == '-')
        bench_die("argument %d ('%s') is not a non-negative integer", i, argv[i]);
    return v;
}

/*
 * Name of the file that provides `malloc` in this process, as resolved by
 * the dynamic linker's global lookup (so an LD_PRELOADed allocator wins).
 * Returns the executable's own path if malloc is linked statically into it,
 * or "unknown" if it cannot be determined.
 */
static inline const char *bench_malloc_from(void) {
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL ||
        info.dli_fname[0] == '\0')
        return "unknown";
    return info.dli_fname;
}

/* Active HAKMEM backend, or "-" when HAKMEM is not in this process. */
static inline const char *bench_hakmem_backend(void) {
    typedef const char *(*backend_fn)(void);
    void *sym = dlsym(RTLD_DEFAULT, "hak_backend_name");
    if (sym == NULL)
        return "-";
    backend_fn fn;
    memcpy(&fn, &sym, sizeof fn); /* object pointer -> function pointer */
    const char *name = fn();
    return (name != NULL && name[0] != '\0') ? name : "-";
}

/* Peak resident set size in KiB (VmHWM) of the process whose status file
 * is `status` ("/proc/self/status", "/proc/<pid>/status"), or -1. */
static inline long bench_vmhwm_kb(const char *status) {
    long kb = -1;
    FILE *f = fopen(status, "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "VmHWM:", 6) == 0) {
                kb = strtol(line + 6, NULL, 10);
                break;
            }
        }
        fclose(f);
    }
    return kb;
}

/* Peak resident set size of this process in KiB. */
static inline long bench_peak_rss_kb(void) {
    long kb = bench_vmhwm_kb("/proc/self/status");
    if (kb < 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            kb = ru.ru_maxrss; /* KiB on Linux */
    }
    return kb;
}

/* The resident set size now, in KiB. */
static inline long bench_rss_kb(void) {
    long pages = -1, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        bench_die("cannot read /proc/self/statm");
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Keeps the compiler from eliding allocations whose contents are unused. */
static volatile unsigned char bench_sink;

/* Write one byte through p (and remember it) so the block is really used. */
static inline void bench_touch(void *p, unsigned char v) {
    volatile unsigned char *q = (volatile unsigned char *)p;
    *q = v;
    bench_sink ^= *q;
}

/* Start a thread running fn(arg). */
static inline void bench_thread_start(pthread_t *tid, void *(*fn)(void *), void *arg) {
    if (pthread_create(tid, NULL, fn, arg) != 0)
        bench_die("pthread_create failed");
}

/* A barrier for n parties (the workers and main), or the program dies. */
static inline void bench_barrier_init(pthread_barrier_t *b, unsigned n) {
    if (pthread_barrier_init(b, NULL, n) != 0)
        bench_die("pthread_barrier_init failed");
}

/*
 * Fill the size-byte block at p (size >= 8) from tag: 64-bit word i holds
 * tag ^ (i * 0x9E3779B97F4A7C15), a tail shorter than a word the low byte
 * of tag.  Word 0 is tag itself, so a block can carry its own size (or
 * whatever else its checker needs).  Programs write what they allocate;
 * a benchmark that only touched a byte would hide the cache misses and
 * page faults of where the allocator puts blocks.
 */
static inline void bench_fill(void *p, size_t size, uint64_t tag) {
    unsigned char *q = (unsigned char *)p;
    size_t words = size / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = tag ^ (i * 0x9E3779B97F4A7C15ULL);
        memcpy(q + 8 * i, &w, sizeof w);
    }
    for (size_t i = 8 * words; i < size; i++)
        q[i] = (unsigned char)tag;
}

/* Die unless the block still holds what bench_fill(p, size, tag) wrote:
 * the allocator handed out overlapping blocks or wrote into a live one. */
static inline void bench_check_fill(const void *p, size_t size, uint64_t tag, const char *bench) {
    const unsigned char *q = (const unsigned char *)p;
    size_t words = size / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, q + 8 * i, sizeof w);
        if (w != (tag ^ (i * 0x9E3779B97F4A7C15ULL)))
            bench_die("%s: live block %p of %zu bytes changed at offset %zu", bench, p, size,
                      8 * i);
    }
    for (size_t i = 8 * words; i < size; i++)
        if (q[i] != (unsigned char)tag)
            bench_die("%s: live block %p of %zu bytes changed at offset %zu", bench, p, size, i);
}

/*
 * Print the RESULT line of a run whose peak RSS and proof were measured in
 * another process (a server the program drove): peak_rss_kb, malloc_from
 * and hakmem_backend are that process's.  `ws` < 0 prints "ws=-".  `extra`
 * is either NULL or a string of additional " key=value" pairs (starting
 * with a space).
 */
static inline void bench_report_for(const char *name, long long ws, unsigned long long ops,
                                    double seconds, long peak_rss_kb, const char *extra,
                                    const char *malloc_from, const char *hakmem_backend) {
    double mops = seconds > 0.0 ? (double)ops / seconds / 1e6 : 0.0;
    char wsbuf[32];
    if (ws < 0)
        snprintf(wsbuf, sizeof wsbuf, "-");
    else
        snprintf(wsbuf, sizeof wsbuf, "%lld", ws);
    printf("RESULT bench=%s ws=%s ops=%llu seconds=%.6f mops=%.3f "
           "peak_rss_kb=%ld%s malloc_from=%s hakmem_backend=%s\n",
           name, wsbuf, ops, seconds, mops, peak_rss_kb, extra != NULL ? extra : "", malloc_from,
           hakmem_backend);
    fflush(stdout);
}

/* Print the RESULT line of this process (see bench_report_for). */
static inline void bench_report(const char *name, long long ws, unsigned long long ops,
                                double seconds, const char *extra) {
    bench_report_for(name, ws, ops, seconds, bench_peak_rss_kb(), extra, bench_malloc_from(),
                     bench_hakmem_backend());
}

/* Say on stdout that this benchmark cannot run here, and why, and exit
 * with status 77: bench/compare drops the program's row with a note. */
static inline void bench_skip(const char *fmt, ...) {
    va_list ap;
    fputs("SKIP ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    exit(77);
}

#endif /* HAKMEM_BENCH_COMMON_H */

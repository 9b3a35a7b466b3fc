/*
 * stats.c - statistics.  Counters are per thread, merged here at the time
 * of the call with those of retired threads and the OS layer's; printed as
 * text or JSON without allocating, each block naming its process.
 *
 * Live blocks are counted without a cost on the fast path: a thread counts
 * the blocks of each class it takes from the backend and gives back to it
 * (slow paths only); of those out of the backend, the ones waiting in a
 * thread cache (its capacity less its room) or in the transfer cache are
 * free, the rest live.  The calling thread's figures are exact; another
 * thread's cache is read while it runs, so they may lag by what that
 * thread did meanwhile.
 */
#include "frontend/frontend.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Atomic uint64_t hak_stat_large_allocs, hak_stat_large_frees, hak_stat_failures, hak_stat_transfers,
    hak_stat_large_live_bytes, hak_stat_large_peak_blocks, hak_stat_large_peak_bytes;
/* Blocks of each class out of the backend on no thread's counters. */
static _Atomic int64_t unowned_out[HAK_NCODES];
/* Bytes out of the backends and the large path, as published. */
static _Atomic int64_t out_bytes;
static _Atomic uint64_t peak_out_bytes;

void hak_thread_stats_add(hak_thread_stats_t *to, const hak_thread_stats_t *from) {
    to->mallocs += __atomic_load_n(&from->mallocs, __ATOMIC_RELAXED);
    to->frees += __atomic_load_n(&from->frees, __ATOMIC_RELAXED);
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        const hak_class_counts_t *f = &from->cls[c];
        hak_class_counts_t *t = &to->cls[c];
        t->taken += __atomic_load_n(&f->taken, __ATOMIC_RELAXED);
        t->given += __atomic_load_n(&f->given, __ATOMIC_RELAXED);
        t->refills += __atomic_load_n(&f->refills, __ATOMIC_RELAXED);
        t->flushes += __atomic_load_n(&f->flushes, __ATOMIC_RELAXED);
    }
}

void hak_stats_publish(int64_t *pending, int64_t delta) {
    if (pending != NULL) {
        delta += *pending;
        if (delta < HAK_PEAK_STEP && delta > -HAK_PEAK_STEP) {
            *pending = delta;
            return;
        }
        *pending = 0;
    }
    int64_t now = atomic_fetch_add_explicit(&out_bytes, delta, memory_order_relaxed) + delta;
    if (now > 0)
        hak_atomic_max(&peak_out_bytes, (uint64_t)now);
}

void hak_stats_count_out(hak_thread_t *t, unsigned c, int64_t n) {
    int64_t bytes = n * (int64_t)hak_class_size[c];
    if (t == NULL) {
        atomic_fetch_add_explicit(&unowned_out[c], n, memory_order_relaxed);
        hak_stats_publish(NULL, bytes);
        return;
    }
    if (n > 0)
        hak_count(&t->stats.cls[c].taken, (uint64_t)n);
    else
        hak_count(&t->stats.cls[c].given, (uint64_t)-n);
    hak_stats_publish(&t->unpublished, bytes);
}

void hak_stats_count_large(int n, size_t usable) {
    hak_thread_t *t = hak_self;
    int64_t *pending = t == &hak_thread_empty || t == &hak_thread_dead ? NULL : &t->unpublished;
    uint64_t bytes = n < 0 ? -(uint64_t)usable : (uint64_t)usable;
    uint64_t live =
        atomic_fetch_add_explicit(&hak_stat_large_live_bytes, bytes, memory_order_relaxed) + bytes;
    hak_stats_publish(pending, (int64_t)bytes);
    hak_active_add((int64_t)bytes);
    if (n < 0) {
        atomic_fetch_add_explicit(&hak_stat_large_frees, 1, memory_order_relaxed);
        return;
    }
    hak_atomic_max(&hak_stat_large_peak_bytes, live);
    if (n > 0) {
        uint64_t blocks =
            atomic_fetch_add_explicit(&hak_stat_large_allocs, 1, memory_order_relaxed) + 1 -
            atomic_load_explicit(&hak_stat_large_frees, memory_order_relaxed);
        hak_atomic_max(&hak_stat_large_peak_blocks, blocks);
    }
}

/* The blocks of class c that thread t's cache holds: its capacity less its
 * room, and those in its shadow bin.  Another thread's
 * fast path writes its room without atomics while this reads it; a word
 * read is whole on every target, and a stale one only makes the figure lag
 * (ThreadSanitizer is told so). */
HAK_RACY_READS static uint64_t cache_held(const hak_thread_t *t, unsigned c) {
    int32_t room = ((volatile const int32_t *)&t->slot[c].room)[0];
    int32_t cap = ((volatile const uint16_t *)&t->ctl[c].cap)[0];
    if (room < 0)
        room = 0; /* a free on its way to the slow path took it from 0 */
    /* and its shadow bin, while the profiler samples (platform/sizeclass.h) */
    const int32_t *rooms =
        c <= HAK_SHADOW_CLASSES ? &t->slot[HAK_SHADOW(c)].room : &t->prof.side_room[c];
    int32_t sroom = ((volatile const int32_t *)rooms)[0];
    int32_t scap = ((volatile const uint16_t *)&t->prof.shadow_cap[c])[0];
    if (sroom < 0)
        sroom = 0;
    return (sroom < scap ? (uint64_t)(scap - sroom) : 0) +
           (room < cap ? (uint64_t)(cap - room) : 0);
}

void hak_stats_collect(hak_stats_t *out, hak_class_stats_t *per_class, size_t n) {
    hak_stats_t s = {0};
    int64_t out_blocks[HAK_NCODES] = {0};
    uint64_t held[HAK_NCODES] = {0};
    s.mapped_bytes = atomic_load(&hak_os_stats.mapped);
    s.peak_mapped_bytes = atomic_load(&hak_os_stats.peak);
    s.mmap_calls = atomic_load(&hak_os_stats.mmaps);
    s.munmap_calls = atomic_load(&hak_os_stats.munmaps);
    s.madvise_calls = atomic_load(&hak_os_stats.madvises);
    s.returned_bytes = atomic_load(&hak_os_stats.returned);
    s.large_allocs = atomic_load(&hak_stat_large_allocs);
    s.large_frees = atomic_load(&hak_stat_large_frees);
    s.alloc_failures = atomic_load(&hak_stat_failures);
    s.transfers = atomic_load(&hak_stat_transfers);
    s.large_live_bytes = atomic_load(&hak_stat_large_live_bytes);
    hak_lock(&hak_threads_lock);
    hak_thread_stats_t sum = hak_stats_retired;
    for (hak_thread_t *t = hak_threads; t; t = t->next) {
        hak_thread_stats_add(&sum, &t->stats);
        for (unsigned c = 1; c <= HAK_NCLASSES; c++)
            held[c] += cache_held(t, c);
        hak_quarantine_held(t, held);
        s.threads_live++;
    }
    hak_unlock(&hak_threads_lock);
    uint64_t live_small = 0, small_blocks = 0;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        const hak_class_counts_t *k = &sum.cls[c];
        held[c] += hak_xfer_held(c);
        out_blocks[c] = (int64_t)(k->taken - k->given) + atomic_load(&unowned_out[c]);
        uint64_t live = out_blocks[c] > (int64_t)held[c] ? (uint64_t)out_blocks[c] - held[c] : 0;
        live_small += live * hak_class_size[c];
        small_blocks += live;
        s.cached_bytes += held[c] * hak_class_size[c];
        s.refills += k->refills;
        s.flushes += k->flushes;
        if (per_class != NULL && c <= n)
            per_class[c - 1] = (hak_class_stats_t){.size = hak_class_size[c],
                                                   .live_blocks = live,
                                                   .cached_blocks = held[c],
                                                   .refills = k->refills,
                                                   .flushes = k->flushes};
    }
    s.malloc_calls = sum.mallocs;
    s.free_calls = sum.frees;
    s.live_bytes = live_small + s.large_live_bytes;
    s.live_blocks = small_blocks + (s.large_allocs - s.large_frees);
    s.peak_live_bytes = atomic_load(&peak_out_bytes);
    if (s.peak_live_bytes < s.live_bytes)
        s.peak_live_bytes = s.live_bytes;
    s.active_bytes = atomic_load(&hak_active_bytes);
    s.peak_active_bytes = atomic_load(&hak_active_peak);
    s.resident_bytes = hak_chunk_resident();
    *out = s;
}

HAK_EXPORT void hak_stats_get(hak_stats_t *out) { hak_stats_collect(out, NULL, 0); }

HAK_EXPORT size_t hak_stats_classes(hak_class_stats_t *out, size_t n) {
    hak_stats_t s;
    hak_stats_collect(&s, out, n);
    return HAK_NCLASSES;
}

/* One name per field, in one place, for both formats, with whether this
 * build keeps it: a counter it does not keep is left out, not shown as 0. */
/* clang-format off */
#define HAK_STATS_FIELDS(X) \
    X(mapped_bytes, 1) \
    X(peak_mapped_bytes, 1) \
    X(live_bytes, 1) \
    X(live_blocks, 1) \
    X(peak_live_bytes, 1) \
    X(large_live_bytes, 1) \
    X(active_bytes, 1) \
    X(peak_active_bytes, 1) \
    X(cached_bytes, 1) \
    X(resident_bytes, 1) \
    X(returned_bytes, 1) \
    X(mmap_calls, 1) \
    X(munmap_calls, 1) \
    X(madvise_calls, 1) \
    X(refills, 1) \
    X(flushes, 1) \
    X(large_allocs, 1) \
    X(large_frees, 1) \
    X(malloc_calls, hak_config_stats) \
    X(free_calls, hak_config_stats) \
    X(alloc_failures, 1) \
    X(threads_live, 1) \
    X(transfers, 1)
/* clang-format on */

/* The JSON shape's version: it changes only when a field changes meaning
 * or goes; new fields may appear without it changing. */
#define HAK_STATS_JSON_FORMAT 1

/* Output in pieces of at most a buffer, each written with one write(2):
 * no allocation, and no limit on the length. */
typedef struct outbuf {
    char buf[2048];
    size_t len;
    int fd, err;
} outbuf_t;

static void out_flush(outbuf_t *o) {
    if (o->len > 0 && hak_write_all(o->fd, o->buf, o->len) != 0)
        o->err = errno;
    o->len = 0;
}

/* One piece: a format of at most 256 bytes once expanded. */
static void put(outbuf_t *o, const char *fmt, ...) {
    va_list ap;
    if (sizeof o->buf - o->len < 256)
        out_flush(o);
    va_start(ap, fmt);
    o->len += hak_format(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
    va_end(ap);
}

/* s as a JSON string's contents: quotes, backslashes and control bytes
 * escaped. */
static void put_json_str(outbuf_t *o, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c < 0x20)
            put(o, "\\u00%c%c", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
        else
            put(o, "%c", c);
    }
}

/* The statistics in one of the two formats; with oneline (the interval's
 * lines), the totals only, on one line that says when (ms since start). */
static int stats_write(int fd, int format, bool oneline, uint64_t at_ms) {
    hak_stats_t s;
    hak_class_stats_t cls[HAK_NCLASSES];
    hak_ensure_init();
    hak_stats_collect(&s, cls, HAK_NCLASSES);
    outbuf_t o = {.len = 0, .fd = fd, .err = 0};
    const char *backend = hak_backend->name;
    const char *program = program_invocation_short_name;
    unsigned long pid = (unsigned long)getpid();
    if (format == HAK_STATS_JSON) {
        put(&o, "{\"hakmem\":{\"format\":%d,\"version\":\"%s\",\"pid\":%lu,\"program\":\"",
            HAK_STATS_JSON_FORMAT, PACKAGE_VERSION, pid);
        put_json_str(&o, program);
        put(&o, "\",\"backend\":\"%s\"", backend);
        if (oneline)
            put(&o, ",\"at_ms\":%llu", (unsigned long long)at_ms);
#define X(f, kept)                                                                                 \
    if (kept)                                                                                      \
        put(&o, ",\"" #f "\":%llu", (unsigned long long)s.f);
        HAK_STATS_FIELDS(X)
#undef X
        if (!oneline) {
            put(&o, ",\"classes\":[");
            const char *sep = "";
            for (unsigned i = 0; i < HAK_NCLASSES; i++) {
                if (cls[i].refills == 0)
                    continue;
                put(&o,
                    "%s{\"size\":%llu,\"live_blocks\":%llu,\"cached_blocks\":%llu,"
                    "\"refills\":%llu,\"flushes\":%llu}",
                    sep, (unsigned long long)cls[i].size, (unsigned long long)cls[i].live_blocks,
                    (unsigned long long)cls[i].cached_blocks, (unsigned long long)cls[i].refills,
                    (unsigned long long)cls[i].flushes);
                sep = ",";
            }
            put(&o, "]");
        }
        put(&o, "}}\n");
    } else if (oneline) {
        put(&o, "hakmem: statistics of pid %lu at %llu ms:", pid, (unsigned long long)at_ms);
#define X(f, kept)                                                                                 \
    if (kept)                                                                                      \
        put(&o, " %s %llu", #f, (unsigned long long)s.f);
        HAK_STATS_FIELDS(X)
#undef X
        put(&o, "\n");
    } else {
        put(&o, "hakmem: statistics of pid %lu (%s), version %s, backend %s\n", pid, program,
            PACKAGE_VERSION, backend);
#define X(f, kept)                                                                                 \
    if (kept)                                                                                      \
        put(&o, "hakmem:   %s %llu\n", #f, (unsigned long long)s.f);
        HAK_STATS_FIELDS(X)
#undef X
        put(&o, "hakmem:   class size: live_blocks cached_blocks refills flushes\n");
        for (unsigned i = 0; i < HAK_NCLASSES; i++)
            if (cls[i].refills != 0)
                put(&o, "hakmem:   class %llu: %llu %llu %llu %llu\n",
                    (unsigned long long)cls[i].size, (unsigned long long)cls[i].live_blocks,
                    (unsigned long long)cls[i].cached_blocks, (unsigned long long)cls[i].refills,
                    (unsigned long long)cls[i].flushes);
    }
    out_flush(&o);
    if (o.err != 0) {
        errno = o.err;
        return -1;
    }
    return 0;
}

HAK_EXPORT int hak_stats_print(int fd, int format) { return stats_write(fd, format, false, 0); }

/* Where HAKMEM_STATS writes at exit: the file HAKMEM_STATS_FILE names (made
 * absolute at start, so a chdir does not move it), or a copy of fd 2 made at
 * start, so a program that closes its stderr before it exits (ls does)
 * still gets them.  A copy that no longer refers to the file it was made
 * from (the program closed it, and the number went to a file of its own)
 * is not written to. */
static char stats_path[sizeof hak_opt.stats_file.s];
static int stats_fd = -1;
static dev_t stats_dev;
static ino_t stats_ino;

void hak_stats_output_init(void) {
    if (hak_opt.stats == HAK_STATS_OFF)
        return;
    const char *file = hak_opt.stats_file.s;
    if (file[0] != '\0') {
        size_t n = 0, len = strlen(file);
        if (file[0] != '/' && getcwd(stats_path, sizeof stats_path) != NULL) {
            n = strlen(stats_path);
            stats_path[n++] = '/';
        }
        if (n + len >= sizeof stats_path)
            n = 0; /* too long with the directory: as given */
        memcpy(stats_path + n, file, len + 1);
        return;
    }
    struct stat st;
    stats_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (stats_fd >= 0 && fstat(stats_fd, &st) == 0) {
        stats_dev = st.st_dev;
        stats_ino = st.st_ino;
    }
}

/* The file name of the statistics for this process: %p is its PID. */
static void expand_path(char *out, size_t cap) {
    size_t n = 0;
    for (const char *f = stats_path; *f && n + 1 < cap; f++) {
        if (f[0] == '%' && f[1] == 'p') {
            char pid[24];
            size_t k = hak_format_str(pid, sizeof pid, "%lu", (unsigned long)getpid());
            for (size_t i = 0; i < k && n + 1 < cap; i++)
                out[n++] = pid[i];
            f++;
        } else if (f[0] == '%' && f[1] == '%') {
            out[n++] = '%';
            f++;
        } else {
            out[n++] = *f;
        }
    }
    out[n] = '\0';
}

/* Writes the statistics where HAKMEM_STATS sends them (see above). */
static void stats_emit(bool oneline, uint64_t at_ms) {
    int format = hak_opt.stats == HAK_STATS_ON_JSON ? HAK_STATS_JSON : HAK_STATS_TEXT;
    if (stats_path[0] != '\0') {
        static _Atomic bool warned;
        char path[sizeof stats_path];
        expand_path(path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            char num[24];
            if (!atomic_exchange(&warned, true))
                hak_log("HAKMEM_STATS_FILE=%s: cannot open: %s", path,
                        hak_errno_name(errno, num, sizeof num));
            return;
        }
        (void)stats_write(fd, format, oneline, at_ms);
        close(fd);
        return;
    }
    struct stat st;
    if (stats_fd >= 0 && fstat(stats_fd, &st) == 0 && st.st_dev == stats_dev &&
        st.st_ino == stats_ino)
        (void)stats_write(stats_fd, format, oneline, at_ms);
}

void hak_stats_at_exit(void) {
    if (atomic_load(&hak_init_state) == HAK_INIT_DONE && hak_opt.stats != HAK_STATS_OFF)
        stats_emit(false, 0);
}

/* HAKMEM_STATS_INTERVAL's thread: a line at every multiple of the interval
 * since start (a late wake-up does not shift the later ones).  It holds no
 * lock between lines, so fork never copies one taken; a child of fork
 * writes no interval lines of its own, only its statistics at exit. */
static void *interval_main(void *arg) {
    (void)arg;
    struct timespec start, next;
    clock_gettime(CLOCK_MONOTONIC, &start);
    next = start;
    for (;;) {
        uint64_t ns = (uint64_t)next.tv_nsec + (uint64_t)hak_opt.stats_interval * 1000000u;
        next.tv_sec += (time_t)(ns / 1000000000u);
        next.tv_nsec = (long)(ns % 1000000000u);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0)
            ;
        int64_t ns_since =
            (int64_t)(next.tv_sec - start.tv_sec) * 1000000000 + (next.tv_nsec - start.tv_nsec);
        uint64_t at = (uint64_t)(ns_since / 1000000);
        stats_emit(true, at);
    }
    return NULL;
}

void hak_stats_interval_start(void) {
    if (hak_opt.stats == HAK_STATS_OFF || hak_opt.stats_interval == 0)
        return;
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The program's signals stay with the program's threads. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&th, &attr, interval_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        char num[24];
        hak_log("HAKMEM_STATS_INTERVAL=%u: cannot start the statistics thread: %s",
                hak_opt.stats_interval, hak_errno_name(err, num, sizeof num));
    }
}

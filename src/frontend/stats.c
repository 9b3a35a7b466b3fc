/*
 * stats.c - statistics.  Counters are per thread, merged here at the time
 * of the call with those of retired threads and the OS layer's; printed as
 * text or JSON without allocating.
 */
#include "frontend/frontend.h"

#include <stdarg.h>

hak_lock_t hak_threads_lock = HAK_LOCK_INIT;
hak_thread_t *hak_threads;
hak_thread_stats_t hak_stats_retired;
_Atomic uint64_t hak_stat_large_allocs, hak_stat_large_frees, hak_stat_failures, hak_stat_transfers;

void hak_thread_stats_add(hak_thread_stats_t *to, const hak_thread_stats_t *from) {
    to->mallocs += from->mallocs;
    to->frees += from->frees;
    to->refills += from->refills;
    to->flushes += from->flushes;
}

void hak_stats_collect(hak_stats_t *out) {
    hak_stats_t s = {0};
    s.mapped_bytes = atomic_load(&hak_os_stats.mapped);
    s.peak_mapped_bytes = atomic_load(&hak_os_stats.peak);
    s.mmap_calls = atomic_load(&hak_os_stats.mmaps);
    s.munmap_calls = atomic_load(&hak_os_stats.munmaps);
    s.madvise_calls = atomic_load(&hak_os_stats.madvises);
    s.large_allocs = atomic_load(&hak_stat_large_allocs);
    s.large_frees = atomic_load(&hak_stat_large_frees);
    s.alloc_failures = atomic_load(&hak_stat_failures);
    s.transfers = atomic_load(&hak_stat_transfers);
    hak_lock(&hak_threads_lock);
    hak_thread_stats_t sum = hak_stats_retired;
    for (hak_thread_t *t = hak_threads; t; t = t->next) {
        hak_thread_stats_add(&sum, &t->stats);
        s.threads_live++;
    }
    hak_unlock(&hak_threads_lock);
    s.refills = sum.refills;
    s.flushes = sum.flushes;
    s.malloc_calls = sum.mallocs;
    s.free_calls = sum.frees;
    *out = s;
}

HAK_EXPORT void hak_stats_get(hak_stats_t *out) { hak_stats_collect(out); }

/* One name per field, in one place, for both formats. */
#define HAK_STATS_FIELDS(X)                                                    \
    X(mapped_bytes) X(peak_mapped_bytes) X(mmap_calls) X(munmap_calls)         \
    X(madvise_calls) X(refills) X(flushes) X(large_allocs) X(large_frees)      \
    X(malloc_calls) X(free_calls) X(alloc_failures) X(threads_live) X(transfers)

typedef struct outbuf {
    char buf[2048];
    size_t len;
} outbuf_t;

static void put(outbuf_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    o->len += hak_format(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
    va_end(ap);
}

HAK_EXPORT int hak_stats_print(int fd, int format) {
    hak_stats_t s;
    hak_stats_collect(&s);
    outbuf_t o = {.len = 0};
    hak_ensure_init();
    const char *backend = hak_backend->name;
    if (format == HAK_STATS_JSON) {
        put(&o, "{\"hakmem\":{\"version\":\"%s\",\"backend\":\"%s\"", PACKAGE_VERSION, backend);
#define X(f) put(&o, ",\"" #f "\":%llu", (unsigned long long)s.f);
        HAK_STATS_FIELDS(X)
#undef X
        put(&o, "}}\n");
    } else {
        put(&o, "hakmem: statistics (version %s, backend %s)\n", PACKAGE_VERSION, backend);
#define X(f) put(&o, "hakmem:   %s %llu\n", #f, (unsigned long long)s.f);
        HAK_STATS_FIELDS(X)
#undef X
    }
    return hak_write_all(fd, o.buf, o.len);
}

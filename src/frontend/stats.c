/*
 * stats.c - statistics.  Counters are per thread, merged here at the time
 * of the call with those of retired threads and the OS layer's; printed as
 * text or JSON without allocating, each block naming its process.
 */
#include "frontend/frontend.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* One name per field, in one place, for both formats, with whether this
 * build keeps it: a counter it does not keep is left out, not shown as 0. */
#define HAK_STATS_FIELDS(X)                                                    \
    X(mapped_bytes, 1) X(peak_mapped_bytes, 1) X(mmap_calls, 1)                \
    X(munmap_calls, 1) X(madvise_calls, 1) X(refills, 1) X(flushes, 1)         \
    X(large_allocs, 1) X(large_frees, 1) X(malloc_calls, hak_config_stats)     \
    X(free_calls, hak_config_stats) X(alloc_failures, 1) X(threads_live, 1)    \
    X(transfers, 1)

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

HAK_EXPORT int hak_stats_print(int fd, int format) {
    hak_stats_t s;
    hak_stats_collect(&s);
    outbuf_t o = {.len = 0};
    hak_ensure_init();
    const char *backend = hak_backend->name;
    const char *program = program_invocation_short_name;
    unsigned long pid = (unsigned long)getpid();
    if (format == HAK_STATS_JSON) {
        put(&o, "{\"hakmem\":{\"version\":\"%s\",\"pid\":%lu,\"program\":\"", PACKAGE_VERSION,
            pid);
        put_json_str(&o, program);
        put(&o, "\",\"backend\":\"%s\"", backend);
#define X(f, kept)                                                             \
    if (kept)                                                                  \
        put(&o, ",\"" #f "\":%llu", (unsigned long long)s.f);
        HAK_STATS_FIELDS(X)
#undef X
        put(&o, "}}\n");
    } else {
        put(&o, "hakmem: statistics of pid %lu (%s), version %s, backend %s\n", pid, program,
            PACKAGE_VERSION, backend);
#define X(f, kept)                                                             \
    if (kept)                                                                  \
        put(&o, "hakmem:   %s %llu\n", #f, (unsigned long long)s.f);
        HAK_STATS_FIELDS(X)
#undef X
    }
    return hak_write_all(fd, o.buf, o.len);
}

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

static const char *errno_name(int err, char *buf, size_t cap) {
#if HAVE_STRERRORNAME_NP
    const char *name = strerrorname_np(err);
    if (name != NULL)
        return name;
#endif
    hak_format_str(buf, cap, "errno %d", err);
    return buf;
}

void hak_stats_at_exit(void) {
    if (atomic_load(&hak_init_state) != HAK_INIT_DONE || hak_opt.stats == HAK_STATS_OFF)
        return;
    int format = hak_opt.stats == HAK_STATS_ON_JSON ? HAK_STATS_JSON : HAK_STATS_TEXT;
    if (stats_path[0] != '\0') {
        char path[sizeof stats_path];
        expand_path(path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            char num[24];
            hak_log("HAKMEM_STATS_FILE=%s: cannot open: %s", path, errno_name(errno, num, sizeof num));
            return;
        }
        (void)hak_stats_print(fd, format);
        close(fd);
        return;
    }
    struct stat st;
    if (stats_fd >= 0 && fstat(stats_fd, &st) == 0 && st.st_dev == stats_dev &&
        st.st_ino == stats_ino)
        (void)hak_stats_print(stats_fd, format);
}

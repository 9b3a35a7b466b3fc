/* Integration: statistics, version, the failure hook, environment options (in child processes) and
 * their diagnostics. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check_main.h"

/* ---- hak_version, hak_stats_get, hak_stats_print ---- */

START_TEST(test_version) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR,
             HAKMEM_VERSION_PATCH);
    ck_assert_str_eq(hak_version(), want);
    ck_assert_str_eq(hak_version(), PACKAGE_VERSION);
}
END_TEST

START_TEST(test_stats_get) {
    hak_stats_t a, b;
    hak_stats_get(&a);
    void *big = malloc(5 << 20);
    void *runs[10];
    for (int i = 0; i < 10; i++)
        runs[i] = malloc(100000);
    hak_stats_get(&b);
    ck_assert_uint_eq(b.large_allocs, a.large_allocs + 11);
    ck_assert_uint_gt(b.mapped_bytes, 0);
    ck_assert_uint_ge(b.peak_mapped_bytes, b.mapped_bytes);
    ck_assert_uint_ge(b.mmap_calls, 1);
    ck_assert_uint_ge(b.threads_live, 1);
    ck_assert_uint_ge(b.refills, 1); /* this thread's cache was filled at least once */
    free(big);
    for (int i = 0; i < 10; i++)
        free(runs[i]);
    hak_stats_get(&a);
    ck_assert_uint_eq(a.large_frees, b.large_frees + 11);
    ck_assert_uint_ge(a.peak_mapped_bytes, b.peak_mapped_bytes);
}
END_TEST

/* Prints the statistics into a pipe and returns what came out. */
static void print_to_string(int format, char *out, size_t cap) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(hak_stats_print(fds[1], format), 0);
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
}

static const char *const fields[] = {"mapped_bytes",   "peak_mapped_bytes", "live_bytes",
                                     "live_blocks",    "peak_live_bytes",   "large_live_bytes",
                                     "active_bytes",   "peak_active_bytes", "cached_bytes",
                                     "resident_bytes", "returned_bytes",    "mmap_calls",
                                     "munmap_calls",   "madvise_calls",     "refills",
                                     "flushes",        "large_allocs",      "large_frees",
                                     "alloc_failures", "threads_live",      "transfers"};
/* Kept only by a build configured with --enable-stats: left out otherwise. */
static const char *const counted[] = {"malloc_calls", "free_calls"};

/* Whether buf holds each field, and holds the counted ones iff the build
 * keeps them; the first it gets wrong, or NULL. */
static const char *wrong_field(const char *buf, const char *prefix, const char *suffix) {
    char key[64];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        snprintf(key, sizeof key, "%s%s%s", prefix, fields[i], suffix);
        if (strstr(buf, key) == NULL)
            return fields[i];
    }
    for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++) {
        snprintf(key, sizeof key, "%s%s%s", prefix, counted[i], suffix);
        if ((strstr(buf, key) != NULL) != (HAK_CONFIG_STATS != 0))
            return counted[i];
    }
    return NULL;
}

START_TEST(test_stats_print_text) {
    static char buf[32768];
    void *p = malloc(1 << 20);
    free(p);
    hak_stats_t s;
    hak_stats_get(&s);
    print_to_string(HAK_STATS_TEXT, buf, sizeof buf);
    const char *wrong = wrong_field(buf, "hakmem:   ", " ");
    HAK_CHECK_MSG(wrong == NULL, "%s wrong in:\n%s", wrong, buf);
    char want[128];
    snprintf(want, sizeof want,
             "hakmem: statistics of pid %d (test_control), version %s, backend %s\n", (int)getpid(),
             hak_version(), hak_backend_name());
    HAK_CHECK_MSG(strncmp(buf, want, strlen(want)) == 0, "want '%s' first in:\n%s", want, buf);
    snprintf(want, sizeof want, "large_allocs %llu\n", (unsigned long long)s.large_allocs);
    HAK_CHECK_MSG(strstr(buf, want) != NULL, "no '%s' in:\n%s", want, buf);
    snprintf(want, sizeof want, "large_frees %llu\n", (unsigned long long)s.large_frees);
    HAK_CHECK_MSG(strstr(buf, want) != NULL, "no '%s' in:\n%s", want, buf);
    HAK_CHECK_MSG(strstr(buf, hak_backend_name()) != NULL, "no backend in:\n%s", buf);
    HAK_CHECK_MSG(strstr(buf, hak_version()) != NULL, "no version in:\n%s", buf);
    HAK_CHECK_MSG(strncmp(buf, "hakmem: ", 8) == 0, "text output:\n%s", buf);
}
END_TEST

START_TEST(test_stats_print_json) {
    static char buf[32768];
    void *p = malloc(1 << 20);
    free(p);
    hak_stats_t s;
    hak_stats_get(&s);
    print_to_string(HAK_STATS_JSON, buf, sizeof buf);
    HAK_CHECK_MSG(buf[0] == '{', "JSON output:\n%s", buf);
    size_t len = strlen(buf);
    HAK_CHECK_MSG(len > 3 && strcmp(buf + len - 3, "}}\n") == 0, "JSON output:\n%s", buf);
    const char *wrong = wrong_field(buf, "\"", "\":");
    HAK_CHECK_MSG(wrong == NULL, "%s wrong in:\n%s", wrong, buf);
    char want[128];
    snprintf(
        want, sizeof want,
        "{\"hakmem\":{\"format\":1,\"version\":\"%s\",\"pid\":%d,\"program\":\"test_control\",",
        hak_version(), (int)getpid());
    HAK_CHECK_MSG(strncmp(buf, want, strlen(want)) == 0, "want '%s' first in:\n%s", want, buf);
    snprintf(want, sizeof want, "\"large_allocs\":%llu", (unsigned long long)s.large_allocs);
    HAK_CHECK_MSG(strstr(buf, want) != NULL, "no %s in:\n%s", want, buf);
    snprintf(want, sizeof want, "\"backend\":\"%s\"", hak_backend_name());
    HAK_CHECK_MSG(strstr(buf, want) != NULL, "no %s in:\n%s", want, buf);
    /* Balanced braces and quotes: enough to catch a broken writer. */
    int depth = 0, quotes = 0;
    for (const char *c = buf; *c; c++) {
        depth += *c == '{';
        depth -= *c == '}';
        quotes += *c == '"';
        ck_assert(depth >= 0);
    }
    ck_assert_int_eq(depth, 0);
    ck_assert_int_eq(quotes % 2, 0);
}
END_TEST

START_TEST(test_stats_print_bad_fd) {
    errno = 0;
    ck_assert_int_eq(hak_stats_print(-1, HAK_STATS_TEXT), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* ---- options, in a child process that re-runs this program ---- */

static char self[4096];

typedef struct child {
    int status;
    char out[4096], err[16384];
} child_t;

/* Runs `self --child MODE` with the environment changed by sets ("NAME=value")
 * and unsets ("NAME"); collects stdout and stderr (written to temp files, so
 * neither pipe can fill up). */
static void run_child(child_t *c, const char *mode, const char *const *sets,
                      const char *const *unsets) {
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out != NULL && err != NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (; unsets && *unsets; unsets++)
            unsetenv(*unsets);
        for (; sets && *sets; sets++)
            putenv((char *)*sets);
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        execl(self, self, "--child", mode, (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &c->status, 0), pid);
    rewind(out);
    rewind(err);
    hak_test_read_all(fileno(out), c->out, sizeof c->out);
    hak_test_read_all(fileno(err), c->err, sizeof c->err);
    fclose(out);
    fclose(err);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* What a child does; stdout gets the backend name. */
static int child_main(const char *mode) {
    if (strcmp(mode, "hugefail") == 0) {
        volatile size_t n = SIZE_MAX - 4096;
        void *p = malloc(n);
        return p == NULL && errno == ENOMEM ? 0 : 3;
    }
    if (strcmp(mode, "limit") == 0) {
        /* Under HAKMEM_HEAP_LIMIT=40m: blocks of 200000 B until the limit
         * refuses one, then a request bigger than the limit. */
        static void *b[1024];
        size_t k = 0;
        errno = 0;
        while (k < 1024 && (b[k] = malloc(200000)) != NULL)
            k++;
        bool exhausted = k < 1024 && errno == ENOMEM;
        volatile size_t over = (size_t)41 << 20;
        errno = 0;
        bool refused = malloc(over) == NULL && errno == ENOMEM;
        for (size_t i = 0; i < k; i++)
            free(b[i]);
        return exhausted && refused && hak_set_heap_limit(0) == (size_t)40 << 20 ? 0 : 5;
    }
    if (strcmp(mode, "chdir") == 0 && chdir("/") != 0)
        return 4;
    if (strcmp(mode, "interval") == 0) {
        /* Waits (up to 120 s) for the statistics thread's first two lines. */
        const char *path = getenv("HAKMEM_STATS_FILE");
        char buf[16384];
        for (int i = 0; i < 120000; i++) {
            int fd = open(path, O_RDONLY);
            if (fd >= 0) {
                hak_test_read_all(fd, buf, sizeof buf);
                close(fd);
                if (count_lines(buf) >= 2)
                    break;
            }
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
    }
    void *p = malloc(100), *q = malloc(1 << 20);
    free(p);
    free(q);
    printf("%s\n", hak_backend_name());
    return 0;
}

START_TEST(test_verbose_prints_backend) {
    child_t c;
    const char *sets[] = {"HAKMEM_VERBOSE=1", NULL};
    run_child(&c, "plain", sets, NULL);
    HAK_CHECK_MSG(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %d", c.status);
    char want[128];
    snprintf(want, sizeof want, "backend %s", hak_test_expected_backend());
    HAK_CHECK_MSG(strstr(c.err, "hakmem: ") != NULL && strstr(c.err, want) != NULL,
                  "no '%s' on stderr:\n%s", want, c.err);
    HAK_CHECK_MSG(strstr(c.err, "HAKMEM_VERBOSE=1") != NULL, "options not printed:\n%s", c.err);
}
END_TEST

START_TEST(test_quiet_by_default) {
    child_t c;
    run_child(&c, "plain", NULL, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(c.err[0] == '\0', "stderr not empty:\n%s", c.err);
    char want[64];
    snprintf(want, sizeof want, "%s\n", hak_test_expected_backend());
    ck_assert_str_eq(c.out, want);
}
END_TEST

START_TEST(test_bogus_backend_one_warning) {
    child_t c;
    const char *sets[] = {"HAKMEM_BACKEND=bogus", NULL};
    run_child(&c, "plain", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(count_lines(c.err) == 1, "want exactly one line on stderr, got:\n%s", c.err);
    HAK_CHECK_MSG(strncmp(c.err, "hakmem: ", 8) == 0 && strstr(c.err, "bogus") != NULL,
                  "stderr:\n%s", c.err);
    HAK_CHECK_MSG(strstr(c.err, HAK_DEFAULT_BACKEND) != NULL, "stderr:\n%s", c.err);
    ck_assert_str_eq(c.out, HAK_DEFAULT_BACKEND "\n");
}
END_TEST

START_TEST(test_empty_backend_is_default) {
    child_t c;
    const char *sets[] = {"HAKMEM_BACKEND=", NULL};
    run_child(&c, "plain", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(c.err[0] == '\0', "stderr:\n%s", c.err);
    ck_assert_str_eq(c.out, HAK_DEFAULT_BACKEND "\n");
}
END_TEST

START_TEST(test_stats_json_at_exit) {
    child_t c;
    const char *sets[] = {"HAKMEM_STATS=json", NULL};
    run_child(&c, "plain", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    char want[128];
    snprintf(want, sizeof want, "\"backend\":\"%s\"", hak_test_expected_backend());
    HAK_CHECK_MSG(strstr(c.err, "{\"hakmem\":{") != NULL && strstr(c.err, want) != NULL,
                  "stderr:\n%s", c.err);
    HAK_CHECK_MSG(strstr(c.err, "\"large_allocs\":") != NULL, "stderr:\n%s", c.err);
}
END_TEST

START_TEST(test_stats_text_at_exit) {
    child_t c;
    const char *sets[] = {"HAKMEM_STATS=1", NULL};
    run_child(&c, "plain", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(strstr(c.err, "hakmem: statistics") != NULL, "stderr:\n%s", c.err);
    HAK_CHECK_MSG(strstr(c.err, "large_allocs ") != NULL, "stderr:\n%s", c.err);
}
END_TEST

/* A relative HAKMEM_STATS_FILE names a file in the directory the program
 * started in, even after it moved to another; %p is its PID. */
START_TEST(test_stats_file_relative) {
    char dir[] = "/tmp/hakmem-stats-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chdir(dir), 0);
    child_t c;
    const char *sets[] = {"HAKMEM_STATS_FILE=st-%p.txt", "HAKMEM_STATS=json", NULL};
    run_child(&c, "chdir", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(c.err[0] == '\0', "stderr:\n%s", c.err);
    /* One file, st-<PID>.txt, whose contents name that PID. */
    DIR *d = opendir(".");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char name[256] = "";
    int files = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            files++;
            snprintf(name, sizeof name, "%s", e->d_name);
        }
    closedir(d);
    ck_assert_int_eq(files, 1);
    long pid = 0;
    ck_assert_int_eq(sscanf(name, "st-%ld.txt", &pid), 1);
    static char got[8192];
    FILE *f = fopen(name, "r");
    ck_assert_ptr_nonnull(f);
    got[fread(got, 1, sizeof got - 1, f)] = '\0';
    fclose(f);
    ck_assert_int_eq(unlink(name), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    char want[128];
    snprintf(
        want, sizeof want,
        "{\"hakmem\":{\"format\":1,\"version\":\"%s\",\"pid\":%ld,\"program\":\"test_control\",",
        hak_version(), pid);
    HAK_CHECK_MSG(strncmp(got, want, strlen(want)) == 0, "want '%s' first in:\n%s", want, got);
}
END_TEST

/* HAKMEM_STATS_INTERVAL: one line per interval, in the format asked for,
 * at later and later times, before the statistics at exit. */
static void check_interval(const char *format, const char *first, const char *field) {
    char dir[] = "/tmp/hakmem-interval-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char file[64], set_file[96], set_format[64];
    snprintf(file, sizeof file, "%s/st.txt", dir);
    snprintf(set_file, sizeof set_file, "HAKMEM_STATS_FILE=%s", file);
    snprintf(set_format, sizeof set_format, "HAKMEM_STATS=%s", format);
    const char *sets[] = {"HAKMEM_STATS_INTERVAL=10", set_file, set_format, NULL};
    child_t c;
    run_child(&c, "interval", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(c.err[0] == '\0', "stderr:\n%s", c.err);
    static char got[65536];
    int fd = open(file, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    hak_test_read_all(fd, got, sizeof got);
    close(fd);
    ck_assert_int_eq(unlink(file), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    char *line = got;
    long long last = -1;
    for (int i = 0; i < 2; i++) {
        char *end = strchr(line, '\n');
        HAK_CHECK_MSG(end != NULL, "no line %d in:\n%s", i + 1, got);
        *end = '\0';
        HAK_CHECK_MSG(strncmp(line, first, strlen(first)) == 0, "want '%s' first in '%s'", first,
                      line);
        const char *at = strstr(line, strcmp(format, "json") == 0 ? "\"at_ms\":" : " at ");
        HAK_CHECK_MSG(at != NULL && strstr(line, field) != NULL, "line '%s'", line);
        long long ms = atoll(at + (strcmp(format, "json") == 0 ? 8 : 4));
        HAK_CHECK_MSG(ms > last && ms % 10 == 0, "times %lld then %lld", last, ms);
        last = ms;
        line = end + 1;
    }
}

START_TEST(test_stats_interval_text) {
    check_interval("1", "hakmem: statistics of pid ", " live_bytes ");
}
END_TEST

START_TEST(test_stats_interval_json) {
    check_interval("json", "{\"hakmem\":{\"format\":1,", "\"live_bytes\":");
}
END_TEST

START_TEST(test_bad_option_value_warns) {
    child_t c;
    const char *sets[] = {"HAKMEM_STATS=xml", NULL};
    run_child(&c, "plain", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(count_lines(c.err) == 1 && strstr(c.err, "HAKMEM_STATS") != NULL, "stderr:\n%s",
                  c.err);
}
END_TEST

START_TEST(test_ace_trace_on_failure) {
    child_t c;
    const char *sets[] = {"HAKMEM_ACE_TRACE=1", NULL};
    run_child(&c, "hugefail", sets, NULL);
    HAK_CHECK_MSG(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %d", c.status);
    /* No class or path may serve SIZE_MAX - 4096 bytes: Threshold, at once. */
    HAK_CHECK_MSG(strcmp(c.err, "hakmem: ace: allocation failed: cause=Threshold "
                                "size=18446744073709547519 align=0 tried=none\n") == 0,
                  "stderr:\n%s", c.err);
    /* Without the option the failure is silent. */
    run_child(&c, "hugefail", NULL, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(c.err[0] == '\0', "stderr:\n%s", c.err);
}
END_TEST

/* HAKMEM_HEAP_LIMIT: the trace names the cause of each failure it makes,
 * Exhaustion for a request the limit leaves no room for, Threshold for
 * one bigger than the limit itself; nothing else fails. */
START_TEST(test_heap_limit_traced) {
    child_t c;
    const char *sets[] = {"HAKMEM_HEAP_LIMIT=40m", "HAKMEM_ACE_TRACE=1", NULL};
    run_child(&c, "limit", sets, NULL);
    HAK_CHECK_MSG(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %d, stderr:\n%s",
                  c.status, c.err);
    HAK_CHECK_MSG(strcmp(c.err,
                         "hakmem: ace: allocation failed: cause=Exhaustion size=200000 align=0 "
                         "tried=large\n"
                         "hakmem: ace: allocation failed: cause=Threshold size=42991616 align=0 "
                         "tried=none\n") == 0,
                  "stderr:\n%s", c.err);
}
END_TEST

START_TEST(test_heap_limit_bad_value) {
    child_t c;
    const char *sets[] = {"HAKMEM_HEAP_LIMIT=40x", NULL};
    run_child(&c, "plain", sets, NULL);
    ck_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
    HAK_CHECK_MSG(count_lines(c.err) == 1 &&
                      strstr(c.err, "hakmem: HAKMEM_HEAP_LIMIT: '40x' is not a number of bytes") !=
                          NULL,
                  "stderr:\n%s", c.err);
}
END_TEST

/* ---- hak_set_failure_hook ---- */

#define HUGE_REQUEST ((size_t)PTRDIFF_MAX + 1)
static int hook_calls, inner_failed;
static hak_failure_t seen;

/* Records the failure, then allocates: something that fails (which must
 * not call the hook again) and something that works; and spoils errno. */
static void hook(const hak_failure_t *f) {
    hook_calls++;
    seen = *f;
    inner_failed = malloc(HUGE_REQUEST) == NULL;
    free(malloc(100));
    errno = EINVAL;
}

START_TEST(test_failure_hook) {
    ck_assert_ptr_null(hak_set_failure_hook(hook));
    errno = 0;
    ck_assert_ptr_null(malloc(HUGE_REQUEST));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(hook_calls, 1);
    ck_assert(inner_failed);
    ck_assert_int_eq(seen.cause, HAK_FAILURE_THRESHOLD);
    ck_assert_str_eq(seen.cause_name, "Threshold");
    ck_assert_uint_eq(seen.size, HUGE_REQUEST);
    ck_assert_uint_eq(seen.alignment, 0);

    void *p = (void *)1;
    ck_assert_int_eq(posix_memalign(&p, 4096, HUGE_REQUEST), ENOMEM);
    ck_assert_ptr_eq(p, (void *)1);
    ck_assert_int_eq(hook_calls, 2);
    ck_assert_uint_eq(seen.alignment, 4096);

    /* The OS refuses: 256 MiB of address space, 1 GiB asked. */
    struct rlimit rl = {256 << 20, 256 << 20};
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    ck_assert_ptr_null(malloc((size_t)1 << 30));
    ck_assert_int_eq(hook_calls, 3);
    ck_assert_int_eq(seen.cause, HAK_FAILURE_MAPFAIL);
    ck_assert_str_eq(seen.cause_name, "MapFail");

    ck_assert_ptr_eq(hak_set_failure_hook(NULL), hook);
    ck_assert_ptr_null(malloc(HUGE_REQUEST));
    ck_assert_int_eq(hook_calls, 3);
}
END_TEST

/* ---- hak_set_heap_limit ---- */

static int limit_calls;
static hak_failure_t limit_seen;
static void limit_hook(const hak_failure_t *f) {
    limit_calls++;
    limit_seen = *f;
}

#define LIMIT_MAX 65536
static void *limit_blocks[LIMIT_MAX];

/* Blocks of n bytes until NULL (nothing here may allocate: Check would, and
 * fail); frees them and returns how many, or 0 when the failure was not
 * ENOMEM or no failure came. */
static size_t fill_limit(size_t n) {
    size_t k = 0;
    errno = 0;
    while (k < LIMIT_MAX && (limit_blocks[k] = malloc(n)) != NULL)
        ((char *)limit_blocks[k++])[n - 1] = 1;
    bool enomem = k < LIMIT_MAX && errno == ENOMEM;
    for (size_t i = 0; i < k; i++)
        free(limit_blocks[i]);
    return enomem ? k : 0;
}

/* 32 MiB of room: the limit refuses the 1 MiB block that would pass it,
 * cause Exhaustion, and mapped_bytes stays within it; small blocks hit it
 * too; freed memory serves again (legacy keeps small-block memory: there
 * large blocks come first); a request above the limit is Threshold. */
START_TEST(test_heap_limit) {
    hak_stats_t s;
    hak_stats_get(&s);
    size_t limit = (size_t)s.mapped_bytes + ((size_t)32 << 20);
    ck_assert_uint_eq(hak_set_heap_limit(limit), 0);
    hak_set_failure_hook(limit_hook);
    size_t large = fill_limit((size_t)1 << 20);
    hak_failure_t large_seen = limit_seen;
    size_t small = fill_limit(1000);
    hak_failure_t small_seen = limit_seen;
    size_t again = strcmp(hak_backend_name(), "legacy") == 0 ? large : fill_limit((size_t)1 << 20);
    hak_stats_get(&s);
    int calls = limit_calls;
    errno = 0;
    void *over = malloc(limit + 1);
    int over_errno = errno;
    ck_assert_uint_eq(hak_set_heap_limit(0), limit);
    hak_set_failure_hook(NULL);

    ck_assert_uint_le(s.mapped_bytes, limit);
    HAK_CHECK_MSG(large >= 24 && again + 2 >= large, "1 MiB blocks: %zu, then %zu", large, again);
    ck_assert_int_eq(large_seen.cause, HAK_FAILURE_EXHAUSTION);
    ck_assert_str_eq(large_seen.cause_name, "Exhaustion");
    ck_assert_uint_eq(large_seen.size, (size_t)1 << 20);
    HAK_CHECK_MSG(small >= 20000, "blocks of 1000 B: %zu", small);
    ck_assert_int_eq(small_seen.cause, HAK_FAILURE_EXHAUSTION);
    ck_assert_uint_ge(small_seen.size, 1000); /* its class's size */
    ck_assert_ptr_null(over);
    ck_assert_int_eq(over_errno, ENOMEM);
    ck_assert_int_eq(limit_calls, calls + 1);
    ck_assert_int_eq(limit_seen.cause, HAK_FAILURE_THRESHOLD);
    ck_assert_uint_eq(limit_seen.size, limit + 1);
    /* No limit any more. */
    void *big = malloc((size_t)64 << 20);
    ck_assert_ptr_nonnull(big);
    free(big);
}
END_TEST

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    if (!hak_test_self(self, sizeof self))
        return 99;

    Suite *s = suite_create("control");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_stats_get);
    tcase_add_test(tc, test_stats_print_text);
    tcase_add_test(tc, test_stats_print_json);
    tcase_add_test(tc, test_stats_print_bad_fd);
    tcase_add_test(tc, test_failure_hook);
    tcase_add_test(tc, test_heap_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("environment");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, test_verbose_prints_backend);
    tcase_add_test(tc, test_quiet_by_default);
    tcase_add_test(tc, test_bogus_backend_one_warning);
    tcase_add_test(tc, test_heap_limit_traced);
    tcase_add_test(tc, test_heap_limit_bad_value);
    tcase_add_test(tc, test_empty_backend_is_default);
    tcase_add_test(tc, test_stats_json_at_exit);
    tcase_add_test(tc, test_stats_text_at_exit);
    tcase_add_test(tc, test_stats_file_relative);
    tcase_add_test(tc, test_stats_interval_text);
    tcase_add_test(tc, test_stats_interval_json);
    tcase_add_test(tc, test_bad_option_value_warns);
    tcase_add_test(tc, test_ace_trace_on_failure);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

/* Integration: the heap profiler - estimates, the leak report, profiles at exit, on a signal, by
 * interval, in a forked child and while threads allocate, start/stop and the hook. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check_main.h"

#define MIB ((size_t)1 << 20)
#define LEAK_BYTES (32 * MIB)
#define CHURN_BYTES (512 * MIB)

static char self[4096];

/* ---- the known sites (a child runs them; prof.sh reads its profile) ---- */

static void *volatile sink;

/* Leaks 32 MiB in 4 KiB blocks.  Not static, and the program is linked
 * with -rdynamic, so that the leak report can name it (dladdr). */
void leak_site(void);
void churn_site(void);
__attribute__((noinline)) void leak_site(void) {
    for (size_t i = 0; i < LEAK_BYTES / 4096; i++) {
        char *p = malloc(4096);
        p[0] = 1;
        sink = p;
    }
}

/* Allocates and frees 512 MiB in 4 KiB blocks. */
__attribute__((noinline)) void churn_site(void) {
    for (size_t i = 0; i < CHURN_BYTES / 4096; i++) {
        char *p = malloc(4096);
        p[0] = 1;
        sink = p;
        free(p);
    }
}

/* Leaks n bytes in 64 KiB blocks. */
__attribute__((noinline)) static void leak_big(size_t n) {
    for (size_t i = 0; i < n / 65536; i++)
        sink = malloc(65536);
}

/* ---- children ---- */

static int child_main(const char *mode) {
    if (strcmp(mode, "sites") == 0) {
        leak_site();
        churn_site();
        return 0;
    }
    if (strcmp(mode, "fork") == 0) {
        leak_big(8 * MIB);
        pid_t pid = fork();
        if (pid < 0)
            return 3;
        if (pid == 0) {
            leak_big(16 * MIB);
            exit(0); /* the profile at exit, under the child's pid */
        }
        int st;
        return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4;
    }
    if (strcmp(mode, "signal") == 0) {
        /* The profile asked for is written by the next sampled allocation:
         * 64 MiB in 64 KiB blocks is 128 sample points on average. */
        raise(SIGUSR1);
        for (int i = 0; i < 1024; i++)
            free(malloc(65536));
        return 0;
    }
    if (strcmp(mode, "interval") == 0) {
        churn_site();
        return 0;
    }
    return 2;
}

typedef struct child {
    int status;
    char err[65536];
} child_t;

/* Runs `self --child MODE` with sets ("NAME=value") in its environment and
 * collects its stderr. */
static void run_child(child_t *c, const char *mode, const char *const *sets) {
    FILE *err = tmpfile();
    ck_assert(err != NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (; sets && *sets; sets++)
            putenv((char *)*sets);
        dup2(fileno(err), 2);
        execl(self, self, "--child", mode, (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &c->status, 0), pid);
    rewind(err);
    hak_test_read_all(fileno(err), c->err, sizeof c->err);
    fclose(err);
    ck_assert_msg(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0, "child %s: status %d: %s",
                  mode, c->status, c->err);
}

/* ---- profiles ---- */

typedef struct heap {
    unsigned long long in_n, in_b, al_n, al_b;
    int lines;
    int ok; /* header, lines and the maps section */
} heap_t;

static void heap_read(const char *path, heap_t *h) {
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    char line[8192];
    bool header = fgets(line, sizeof line, f) &&
                  sscanf(line, "heap profile: %llu: %llu [%llu: %llu] @ heapprofile", &h->in_n,
                         &h->in_b, &h->al_n, &h->al_b) == 4;
    bool maps = false, lines_ok = true;
    while (fgets(line, sizeof line, f)) {
        if (strcmp(line, "MAPPED_LIBRARIES:\n") == 0) {
            maps = fgets(line, sizeof line, f) != NULL && strchr(line, '-') != NULL;
            break;
        }
        if (line[0] == '\n')
            continue;
        unsigned long long a, b, c, d;
        lines_ok &= sscanf(line, "%llu: %llu [%llu: %llu] @ 0x", &a, &b, &c, &d) == 4 &&
                    strstr(line, "@ 0x") != NULL;
        h->lines++;
    }
    fclose(f);
    h->ok = header && maps && lines_ok;
}

/* The profiles in dir, sorted by name: returns how many (at most max). */
static int profiles(const char *dir, char names[][256], int max) {
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (strstr(e->d_name, ".heap"))
            snprintf(names[n++], 256, "%s/%s", dir, e->d_name);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], 256);
            memcpy(names[j], names[j - 1], 256);
            memcpy(names[j - 1], t, 256);
        }
    return n;
}

static void make_dir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/hakmem-prof-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(const char *dir) {
    char names[64][256];
    int n = profiles(dir, names, 64);
    for (int i = 0; i < n; i++)
        unlink(names[i]);
    rmdir(dir);
}

static bool within(double est, double truth, double tol) {
    return est >= truth * (1 - tol) && est <= truth * (1 + tol);
}

/* A child run with HAKMEM_PROF=<a new directory>/p and more settings,
 * and the profiles it wrote there. */
typedef struct profiled {
    char dir[64], prefix[128];
    child_t c;
    char names[64][256];
    int n;
} profiled_t;

static profiled_t *profiled_run(const char *mode, const char *const *more) {
    profiled_t *r = malloc(sizeof *r);
    ck_assert_ptr_nonnull(r);
    make_dir(r->dir, sizeof r->dir);
    snprintf(r->prefix, sizeof r->prefix, "HAKMEM_PROF=%s/p", r->dir);
    const char *sets[8] = {r->prefix};
    for (int i = 0; more[i] != NULL && i < 6; i++)
        sets[i + 1] = more[i];
    run_child(&r->c, mode, sets);
    r->n = profiles(r->dir, r->names, 64);
    return r;
}

static void profiled_done(profiled_t *r) {
    remove_dir(r->dir);
    free(r);
}

/* The known sites at the default rate: the profile at exit and the leak
 * report estimate the 32 MiB leaked within 10 % and put its site first;
 * the allocated space counts the 512 MiB too.  About 64 samples make the
 * leak's estimate: its spread is about 12 % (one standard deviation), so
 * the seed is fixed (over seeds 1-20 the mean was 1.3 % above the truth). */
START_TEST(test_sites_estimates) {
    profiled_t *r =
        profiled_run("sites", (const char *[]){"HAKMEM_LEAKS=1", "HAKMEM_PROF_SEED=4", NULL});
    ck_assert_int_eq(r->n, 1);
    heap_t h;
    heap_read(r->names[0], &h);
    ck_assert_msg(h.ok && h.lines > 0, "%s: not a heap profile", r->names[0]);
    ck_assert_msg(within((double)h.in_b, (double)LEAK_BYTES, 0.10), "in use %llu", h.in_b);
    ck_assert_msg(within((double)h.al_b, (double)(LEAK_BYTES + CHURN_BYTES), 0.10),
                  "allocated %llu", h.al_b);
    /* The leak report: the first leak, its estimate, and its site. */
    const char *l1 = strstr(r->c.err, "hakmem: leak 1: ");
    ck_assert_msg(l1 != NULL, "no leak report: %s", r->c.err);
    unsigned long long bytes = strtoull(l1 + strlen("hakmem: leak 1: "), NULL, 10);
    ck_assert_msg(within((double)bytes, (double)LEAK_BYTES, 0.10), "leak 1: %llu bytes", bytes);
    const char *l2 = strstr(l1, "hakmem: leak 2: ");
    const char *site = strstr(l1, "leak_site");
    ck_assert_msg(site != NULL && (l2 == NULL || site < l2), "leak 1 is not leak_site: %s", l1);
    profiled_done(r);
}
END_TEST

/* A forked child writes a profile of its own, under its pid, that holds
 * the parent's blocks and its own. */
START_TEST(test_fork_child_profile) {
    profiled_t *r = profiled_run("fork", (const char *[]){"HAKMEM_PROF_SEED=7", NULL});
    ck_assert_int_eq(r->n, 2);
    heap_t a, b;
    heap_read(r->names[0], &a);
    heap_read(r->names[1], &b);
    ck_assert(a.ok && b.ok && a.lines > 0 && b.lines > 0);
    /* Whichever pid is which: the child's holds 8 + 16 MiB, the parent's
     * 8 MiB (within the sampling error of 48 and 16 samples). */
    unsigned long long lo = a.in_b < b.in_b ? a.in_b : b.in_b;
    unsigned long long hi = a.in_b < b.in_b ? b.in_b : a.in_b;
    ck_assert_msg(lo >= 4 * MIB && lo <= 16 * MIB, "parent %llu", lo);
    ck_assert_msg(hi >= 16 * MIB && hi <= 36 * MIB, "child %llu", hi);
    profiled_done(r);
}
END_TEST

/* HAKMEM_PROF_SIGNAL: a profile on the signal, and one at exit. */
START_TEST(test_signal_profile) {
    char sig[64];
    snprintf(sig, sizeof sig, "HAKMEM_PROF_SIGNAL=%d", SIGUSR1);
    profiled_t *r = profiled_run("signal", (const char *[]){sig, "HAKMEM_PROF_SEED=3", NULL});
    ck_assert_int_eq(r->n, 2);
    profiled_done(r);
}
END_TEST

/* HAKMEM_PROF_INTERVAL=64M over 512 MiB allocated: about 8 profiles. */
START_TEST(test_interval_profiles) {
    profiled_t *r = profiled_run(
        "interval", (const char *[]){"HAKMEM_PROF_INTERVAL=64M", "HAKMEM_PROF_SEED=5", NULL});
    ck_assert_msg(r->n >= 5 && r->n <= 13, "%d profiles", r->n);
    for (int i = 0; i < r->n; i++) {
        heap_t h;
        heap_read(r->names[i], &h);
        ck_assert_msg(h.ok, "%s", r->names[i]);
    }
    profiled_done(r);
}
END_TEST

/* ---- in process: start, stop, the hook, dumps ---- */

#define EVENTS 4096
static struct {
    void *ptr;
    size_t size;
    int kind;
    unsigned depth;
    double weight;
    uint64_t ms;
} events[EVENTS];
static volatile int nevents;

static void hook(const hak_prof_event_t *e) {
    int i = __atomic_fetch_add(&nevents, 1, __ATOMIC_RELAXED);
    if (i < EVENTS) {
        events[i].ptr = e->ptr;
        events[i].size = e->size;
        events[i].kind = e->kind;
        events[i].depth = e->depth;
        events[i].weight = e->weight;
        events[i].ms = e->ms;
    }
    /* The hook may allocate; that does not call it again. */
    free(malloc(1 << 20));
}

/* The hook sees each sampled block allocated and then freed; a sampled
 * block behaves like any other; once stopped, nothing is sampled. */
START_TEST(test_hook_start_stop) {
    ck_assert_int_eq(hak_prof_start(), 0);
    ck_assert_ptr_null(hak_prof_set_hook(hook));
    nevents = 0;
    enum { N = 2048 };
    static char *b[N];
    for (int i = 0; i < N; i++) { /* 32 MiB of 100..16K-byte blocks */
        size_t n = 100 + (size_t)i * 8;
        b[i] = malloc(n);
        memset(b[i], 0x5a, n);
        HAK_CHECK(malloc_usable_size(b[i]) >= n);
    }
    int allocs = nevents;
    ck_assert_int_gt(allocs, 0);
    ck_assert_int_lt(allocs, EVENTS / 2);
    for (int i = 0; i < allocs; i++) {
        ck_assert_int_eq(events[i].kind, HAK_PROF_ALLOC);
        ck_assert(events[i].weight >= 1.0);
        ck_assert_uint_gt(events[i].depth, 0);
    }
    for (int i = 0; i < N; i++) {
        b[i] = realloc(b[i], 100 + (size_t)i * 8 + 8);
        free(b[i]);
    }
    /* Every sampled block's free was seen, once, after its allocation
     * (realloc may sample anew: count those too). */
    int frees = 0, again = 0;
    for (int i = allocs; i < nevents && i < EVENTS; i++) {
        if (events[i].kind == HAK_PROF_FREE)
            frees++;
        else
            again++;
    }
    /* A free's event carries the time of its block's sample, one no later
     * than now, and the allocation's event the same. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
    for (int i = 0; i < allocs; i++) {
        ck_assert_uint_gt(events[i].ms, 0);
        ck_assert_uint_le(events[i].ms, now);
        for (int j = allocs; j < nevents && j < EVENTS; j++)
            if (events[j].kind == HAK_PROF_FREE && events[j].ptr == events[i].ptr) {
                /* The first free at that address is the block's own. */
                ck_assert_uint_eq(events[j].ms, events[i].ms);
                break;
            }
    }
    ck_assert_int_eq(frees, allocs + again);
    hak_prof_stop();
    nevents = 0;
    for (int i = 0; i < N; i++)
        free(malloc(100 + (size_t)i * 8));
    ck_assert_int_eq(nevents, 0);
    ck_assert_ptr_eq(hak_prof_set_hook(NULL), hook);
}
END_TEST

START_TEST(test_dump_errors) {
    ck_assert_int_eq(hak_prof_dump(NULL), -1); /* never started */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(hak_prof_start(), 0);
    ck_assert_int_eq(hak_prof_dump(NULL), -1); /* no HAKMEM_PROF prefix */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(hak_prof_dump("/nonexistent-dir/x.heap"), -1);
    ck_assert_int_eq(errno, ENOENT);
    hak_prof_stop();
}
END_TEST

static volatile int stop_threads;
static unsigned long iterations; /* of every worker, atomically */

/* Waits until the workers did n more iterations (they allocate). */
static void wait_iterations(unsigned long n) {
    unsigned long until = __atomic_load_n(&iterations, __ATOMIC_RELAXED) + n;
    while (__atomic_load_n(&iterations, __ATOMIC_RELAXED) < until)
        sched_yield();
}

static void *worker(void *arg) {
    (void)arg;
    void *keep[256] = {0};
    unsigned r = 12345;
    while (!stop_threads) {
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        unsigned i = r % 256;
        free(keep[i]);
        keep[i] = malloc(16 + (r >> 8) % 40000);
        __atomic_fetch_add(&iterations, 1, __ATOMIC_RELAXED);
    }
    for (int i = 0; i < 256; i++)
        free(keep[i]);
    return NULL;
}

/* Profiles written while four threads allocate and free are whole. */
START_TEST(test_dump_while_threads_allocate) {
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    ck_assert_int_eq(hak_prof_start(), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int k = 0; k < 20; k++) {
        wait_iterations(5000);
        snprintf(path, sizeof path, "%s/t%02d.heap", dir, k);
        ck_assert_int_eq(hak_prof_dump(path), 0);
    }
    stop_threads = 1;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    hak_prof_stop();
    /* What the threads allocated is in the profile: about 4 of their
     * 20 KiB blocks per sample point of 512 KiB. */
    snprintf(path, sizeof path, "%s/z.heap", dir);
    ck_assert_int_eq(hak_prof_dump(path), 0);
    char names[64][256];
    int n = profiles(dir, names, 64);
    ck_assert_int_eq(n, 21);
    for (int i = 0; i < n; i++) {
        heap_t h;
        heap_read(names[i], &h);
        ck_assert_msg(h.ok, "%s", names[i]);
        if (i == n - 1)
            ck_assert_msg(h.al_b > 0 && h.lines > 0, "%s: nothing allocated", names[i]);
    }
    remove_dir(dir);
}
END_TEST

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    if (!hak_test_self(self, sizeof self))
        return 99;

    Suite *s = suite_create("prof");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("children");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_sites_estimates);
    tcase_add_test(tc, test_fork_child_profile);
    tcase_add_test(tc, test_signal_profile);
    tcase_add_test(tc, test_interval_profiles);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dump_errors);
    tcase_add_test(tc, test_hook_start_stop);
    tcase_add_test(tc, test_dump_while_threads_allocate);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

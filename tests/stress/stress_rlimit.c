/* Stress: out of address space (RLIMIT_AS) - two threads allocate until
 * NULL, free, and allocate again, small blocks then large ones: every
 * failure is NULL with ENOMEM, nothing aborts, and memory freed in one
 * size range serves the other (what the allocator caches is given back
 * when the OS refuses).  The legacy backend never gives small-block memory
 * back, so there only small blocks must find their memory again.  First,
 * in a child each, large blocks pack: 512 MiB of address space holds at
 * least 480 blocks of 1 MiB, or 960 of 512 KiB, each charged
 * (malloc_usable_size) at most 1.125 times its size; and once the
 * address space is used up, a thread that starts then is served the small
 * blocks the main thread freed. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "pattern.h"

#define HEADROOM ((size_t)256 << 20) /* address space allowed above the start */
#define SMALL 1000
#define LARGE ((size_t)3 << 20)
#define MAX_BLOCKS (1u << 20)

static pthread_barrier_t barrier;

typedef struct job {
    void **blocks;
    size_t counts[4]; /* blocks obtained: small, large, small again, large again */
} job_t;

/* Allocates blocks of n bytes until NULL; frees them; returns how many. */
static size_t fill_and_free(void **blocks, size_t n) {
    size_t k = 0;
    for (;;) {
        T_ASSERT(k < MAX_BLOCKS);
        errno = 0;
        void *p = malloc(n);
        if (p == NULL) {
            T_ASSERT(errno == ENOMEM);
            break;
        }
        ((volatile char *)p)[0] = 1;
        ((volatile char *)p)[n - 1] = 1;
        blocks[k++] = p;
    }
    for (size_t i = 0; i < k; i++)
        free(blocks[i]);
    return k;
}

static void *worker(void *arg) {
    job_t *j = arg;
    static const size_t sizes[4] = {SMALL, LARGE, SMALL, LARGE};
    for (int phase = 0; phase < 4; phase++) {
        pthread_barrier_wait(&barrier);
        j->counts[phase] = fill_and_free(j->blocks, sizes[phase]);
    }
    return NULL;
}

static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    T_ASSERT(f != NULL && fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    return (size_t)pages * 4096;
}

#define PACK_LIMIT ((size_t)512 << 20) /* address space allowed above the start */
#define PACK_MAX 2048
static void *packed[PACK_MAX];

/* In a child: blocks of n bytes until NULL under PACK_LIMIT; at least
 * want of them. */
static void pack_check(size_t n, size_t want) {
    fflush(stdout);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        struct rlimit lim;
        T_ASSERT(getrlimit(RLIMIT_AS, &lim) == 0);
        lim.rlim_cur = vm_size() + PACK_LIMIT;
        T_ASSERT(setrlimit(RLIMIT_AS, &lim) == 0);
        size_t k = 0;
        for (;;) {
            errno = 0;
            char *p = malloc(n);
            if (p == NULL) {
                T_ASSERT(errno == ENOMEM);
                break;
            }
            T_ASSERT(k < PACK_MAX);
            size_t u = malloc_usable_size(p);
            if (u < n || u > n + n / 8)
                T_FAIL("malloc(%zu): usable size %zu", n, u);
            p[0] = p[n - 1] = 1;
            packed[k++] = p;
        }
        printf("pack: %zu blocks of %zu KiB in %zu MiB of address space (want %zu)\n", k, n >> 10,
               PACK_LIMIT >> 20, want);
        fflush(stdout);
        T_ASSERT(k >= want);
        for (size_t i = 0; i < k; i++)
            free(packed[i]);
        _exit(0);
    }
    int status;
    T_ASSERT(waitpid(pid, &status, 0) == pid);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define STARVE_LIMIT ((size_t)64 << 20)
static pthread_barrier_t starve_barrier;
static void *starve_got;

/* Makes no allocation before the barrier: its first malloc comes after
 * the address space ran out. */
static void *starve_thread(void *arg) {
    (void)arg;
    pthread_barrier_wait(&starve_barrier);
    starve_got = malloc(64);
    return NULL;
}

/* In a child: a thread started (its stack mapped) before the limit; main
 * takes all the address space in 1 MiB then 64 B blocks and frees every
 * other 64 B block; the thread's first malloc(64) must get one of those. */
static void starve_check(void) {
    fflush(stdout);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        pthread_t t;
        T_ASSERT(pthread_barrier_init(&starve_barrier, NULL, 2) == 0);
        T_ASSERT(pthread_create(&t, NULL, starve_thread, NULL) == 0);
        struct rlimit lim;
        T_ASSERT(getrlimit(RLIMIT_AS, &lim) == 0);
        lim.rlim_cur = vm_size() + STARVE_LIMIT;
        T_ASSERT(setrlimit(RLIMIT_AS, &lim) == 0);
        static void *b[1u << 20];
        size_t big = 0, k;
        while (big < PACK_MAX && (b[big] = malloc((size_t)1 << 20)) != NULL)
            big++;
        for (k = big; k < (1u << 20) && (b[k] = malloc(64)) != NULL; k++)
            ;
        T_ASSERT(k < (1u << 20) && errno == ENOMEM);
        for (size_t i = big; i < k; i += 2)
            free(b[i]);
        pthread_barrier_wait(&starve_barrier);
        T_ASSERT(pthread_join(t, NULL) == 0);
        printf("starve: %zu blocks of 1 MiB, %zu of 64 B, half of those freed: a new thread's "
               "malloc(64) gave %p\n",
               big, k - big, starve_got);
        fflush(stdout);
        T_ASSERT(starve_got != NULL);
        _exit(0);
    }
    int status;
    T_ASSERT(waitpid(pid, &status, 0) == pid);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define SQUEEZE_LIMIT ((size_t)1 << 20) /* less than a chunk */
#define SQUEEZE_BLOCK ((size_t)192 << 10)
/* Two 2 MiB chunks' worth (whole units alone gave one, 10); with
 * HAKMEM_SECURE, whose blocks carry a guard page and whose refills are
 * shuffled, somewhat fewer. */
#define SQUEEZE_WANT 20
#define SQUEEZE_WANT_SECURE 12

/* In a child: one block of each size from 16 KiB to 64 KiB (slabs of
 * several units, their tails never used, and free units in the pool's
 * chunks), then an address-space limit less than a chunk above what is
 * mapped: blocks of 192 KiB must still come, from the address space that
 * small-block memory held but did not use (the squeeze, given back when
 * the OS refuses: whole units, never-used pages, the blocks the thread
 * cache held), and what is left then fits a run chunk of less than 2 MiB. */
static void squeeze_check(void) {
    fflush(stdout);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        static void *b[PACK_MAX];
        size_t k = 0;
        for (size_t n = (size_t)16 << 10; n <= (size_t)64 << 10; n += (size_t)4 << 10) {
            T_ASSERT(k < PACK_MAX);
            T_ASSERT((b[k++] = malloc(n)) != NULL);
        }
        size_t small = k;
        const char *secure = getenv("HAKMEM_SECURE");
        size_t want = secure && atoi(secure) ? SQUEEZE_WANT_SECURE : SQUEEZE_WANT;
        struct rlimit lim;
        T_ASSERT(getrlimit(RLIMIT_AS, &lim) == 0);
        lim.rlim_cur = vm_size() + SQUEEZE_LIMIT;
        T_ASSERT(setrlimit(RLIMIT_AS, &lim) == 0);
        for (;;) {
            errno = 0;
            char *p = malloc(SQUEEZE_BLOCK);
            if (p == NULL) {
                T_ASSERT(errno == ENOMEM);
                break;
            }
            T_ASSERT(k < PACK_MAX);
            p[0] = p[SQUEEZE_BLOCK - 1] = 1;
            b[k++] = p;
        }
        /* The small blocks still hold what was written. */
        for (size_t i = 0; i < small; i++)
            memset(b[i], 1, (size_t)16 << 10);
        printf("squeeze: %zu blocks of %zu KiB with %zu KiB of address space left (want %zu)\n",
               k - small, SQUEEZE_BLOCK >> 10, SQUEEZE_LIMIT >> 10, want);
        fflush(stdout);
        T_ASSERT(k - small >= want);
        for (size_t i = 0; i < k; i++)
            free(b[i]);
        _exit(0);
    }
    int status;
    T_ASSERT(waitpid(pid, &status, 0) == pid);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    hak_test_require_backend();
    pack_check((size_t)1 << 20, 480);
    pack_check((size_t)512 << 10, 960);
    starve_check();
    if (strcmp(hak_backend_name(), "superslab") == 0)
        squeeze_check(); /* stdout has its buffer by now */
    job_t jobs[2];
    pthread_t tid[2];
    pthread_barrier_init(&barrier, NULL, 3);
    for (int i = 0; i < 2; i++) {
        jobs[i].blocks = calloc(MAX_BLOCKS, sizeof(void *));
        T_ASSERT(jobs[i].blocks != NULL);
        T_ASSERT(pthread_create(&tid[i], NULL, worker, &jobs[i]) == 0);
    }
    printf("stress_rlimit: address space limited to %zu MiB above the start\n", HEADROOM >> 20);
    fflush(stdout);
    struct rlimit old, lim;
    T_ASSERT(getrlimit(RLIMIT_AS, &old) == 0);
    lim = old;
    lim.rlim_cur = vm_size() + HEADROOM;
    T_ASSERT(setrlimit(RLIMIT_AS, &lim) == 0);
    for (int phase = 0; phase < 4; phase++)
        pthread_barrier_wait(&barrier);
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    T_ASSERT(setrlimit(RLIMIT_AS, &old) == 0);

    size_t bytes[4];
    for (int phase = 0; phase < 4; phase++) {
        size_t n = jobs[0].counts[phase] + jobs[1].counts[phase];
        bytes[phase] = n * (phase % 2 ? LARGE : SMALL);
        printf("phase %d: %zu blocks, %zu MiB\n", phase, n, bytes[phase] >> 20);
    }
    /* Each phase gets most of the headroom, whatever the one before used. */
    bool keeps_small = strcmp(hak_backend_name(), "legacy") == 0;
    for (int phase = 0; phase < 4; phase++)
        T_ASSERT(bytes[phase] >= HEADROOM / 2 || (keeps_small && phase % 2 == 1));
    printf("PASS\n");
    return 0;
}

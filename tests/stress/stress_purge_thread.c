/* Stress: HAKMEM_PURGE_THREAD gives freed memory back while the program
 * makes no allocator call.  First, small blocks: 64 MiB of 1000-byte
 * blocks allocated and freed four times, which the superslab backend
 * keeps mapped as a cycling workload's (the first flush that arms the
 * clock also starts the thread, whose creation allocates: it must not find
 * an allocator lock held).  Then 384 MiB of touched 8 MiB blocks,
 * allocated and freed twice: what went beyond the large path's budget the
 * first time was taken back, so the second time all of it is kept for the
 * purge delay.  After
 * each, the program only waits, and its RSS must fall to base + 24 MiB
 * (HAKMEM_PURGE_DELAY is 100 ms here; the wait gives up after 120 s, which
 * only a missing purge reaches, however busy the machine).  A forked child does the
 * large blocks again, with a purge thread of its own.  The program
 * re-executes itself with those options set, as they are read at start. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define BLOCKS 48

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define PATIENCE_S 120.0

/* Waits without allocating until RSS is back to base + 24 MiB; returns the
 * seconds that took, or -1. */
static double wait_for_rss(size_t base) {
    size_t freed = hak_test_rss();
    double t0 = now_s();
    struct timespec tick = {0, 10 * 1000 * 1000};
    while (hak_test_rss() > base + 24 * MIB) {
        if (now_s() - t0 > PATIENCE_S) {
            printf("after free %zu KiB, still %zu KiB after %.0f s\n", freed >> 10,
                   hak_test_rss() >> 10, PATIENCE_S);
            return -1;
        }
        nanosleep(&tick, NULL);
    }
    printf("after free %zu KiB, base + 24 MiB reached in %.2f s\n", freed >> 10, now_s() - t0);
    return now_s() - t0;
}

/* Allocates and frees BLOCKS touched 8 MiB blocks twice, then waits
 * (wait_for_rss). */
static double free_and_wait(size_t base) {
    static void *blocks[BLOCKS];
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < BLOCKS; i++) {
            blocks[i] = malloc(8 * MIB);
            T_ASSERT(blocks[i] != NULL);
            memset(blocks[i], 0x5a, 8 * MIB);
        }
        for (unsigned i = 0; i < BLOCKS; i++)
            free(blocks[i]);
    }
    return wait_for_rss(base);
}

/* Allocates and frees 64 MiB of touched 1000-byte blocks four times, then
 * waits (wait_for_rss). */
#define SMALL (64 * MIB / 1000)
static double cycle_and_wait(size_t base) {
    static void *blocks[SMALL];
    for (int round = 0; round < 4; round++) {
        for (unsigned i = 0; i < SMALL; i++) {
            blocks[i] = malloc(1000);
            T_ASSERT(blocks[i] != NULL);
            memset(blocks[i], 0x5a, 1000);
        }
        for (unsigned i = 0; i < SMALL; i++)
            free(blocks[i]);
    }
    return wait_for_rss(base);
}

int main(int argc, char **argv) {
    (void)argc;
    if (getenv("HAKMEM_PURGE_THREAD") == NULL) {
        setenv("HAKMEM_PURGE_THREAD", "1", 1);
        setenv("HAKMEM_PURGE_DELAY", "100", 1);
        execv("/proc/self/exe", argv);
        T_FAIL("cannot re-execute /proc/self/exe");
    }
    hak_test_require_backend();
    free(malloc(8 * MIB));
    size_t base = hak_test_rss();
    if (strcmp(hak_backend_name(), "legacy") != 0) /* keeps small blocks */
        T_ASSERT(cycle_and_wait(base) >= 0);
    T_ASSERT(free_and_wait(base) >= 0);
    fflush(stdout);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        int ok = free_and_wait(hak_test_rss()) >= 0;
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int status;
    T_ASSERT(waitpid(pid, &status, 0) == pid);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("PASS\n");
    return 0;
}

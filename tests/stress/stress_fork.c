/* Stress: fork() while two other threads allocate; each child mallocs, frees a parent block, starts
 * a thread and exits 0. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

#define FORKS 200
#define BUSY_THREADS 2

static atomic_int stop;

static void *busy(void *arg) {
    uint64_t seed = 99 + (uintptr_t)arg;
    void *slot[64] = {0};
    size_t size[64] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned i = (unsigned)(rnd(&seed) % 64);
        if (slot[i]) {
            pat_check(slot[i], size[i]);
            free(slot[i]);
        }
        size[i] = rnd_size(&seed);
        slot[i] = malloc(size[i]);
        T_ASSERT(slot[i] != NULL);
        pat_fill(slot[i], size[i]);
    }
    for (int i = 0; i < 64; i++)
        free(slot[i]);
    return NULL;
}

static void *child_thread(void *arg) {
    void *p = malloc(1000);
    if (p == NULL)
        _exit(3);
    pat_fill(p, 1000);
    free(arg); /* a block of the child's main thread */
    pat_check(p, 1000);
    free(p);
    return NULL;
}

static void child(void *parent_small, void *parent_large) {
    /* A hang in the child fails the test through the parent's alarm too,
     * but this names the culprit. */
    alarm(20);
    void *p = malloc(200);
    if (p == NULL)
        _exit(2);
    pat_check(parent_small, 123);
    free(parent_small);
    pat_check(parent_large, 100000);
    free(parent_large);
    void *handoff = malloc(64);
    pthread_t t;
    if (handoff == NULL || pthread_create(&t, NULL, child_thread, handoff) != 0)
        _exit(4);
    if (pthread_join(t, NULL) != 0)
        _exit(5);
    free(p);
    _exit(0);
}

int main(void) {
    hak_test_require_backend();
    /* A deadlock anywhere kills the test with SIGALRM instead of hanging. */
    alarm(120);
    pthread_t t[BUSY_THREADS];
    for (uintptr_t i = 0; i < BUSY_THREADS; i++)
        T_ASSERT(pthread_create(&t[i], NULL, busy, (void *)i) == 0);
    int failures = 0;
    for (int f = 0; f < FORKS; f++) {
        void *small = malloc(123), *large = malloc(100000);
        T_ASSERT(small != NULL && large != NULL);
        pat_fill(small, 123);
        pat_fill(large, 100000);
        pid_t pid = fork();
        T_ASSERT(pid >= 0);
        if (pid == 0)
            child(small, large);
        int status;
        T_ASSERT(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failures++;
            if (WIFSIGNALED(status))
                fprintf(stderr, "fork %d: child killed by signal %d\n", f, WTERMSIG(status));
            else
                fprintf(stderr, "fork %d: child exited %d\n", f, WEXITSTATUS(status));
        }
        pat_check(small, 123);
        pat_check(large, 100000);
        free(small);
        free(large);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < BUSY_THREADS; i++)
        T_ASSERT(pthread_join(t[i], NULL) == 0);
    if (failures)
        T_FAIL("%d of %d children failed", failures, FORKS);
    printf("PASS: %d forks with %d threads allocating, all children exited 0\n", FORKS,
           BUSY_THREADS);
    return 0;
}

/* Stress: thread churn - many short threads allocate and free, some leave blocks for the main
 * thread to free. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "pattern.h"

#define ROUNDS 150
#define PER_ROUND 6
#define BLOCKS 200
#define LEFT 8

typedef struct blk {
    void *p;
    size_t n;
} blk_t;

static pthread_mutex_t left_lock = PTHREAD_MUTEX_INITIALIZER;
static blk_t left[ROUNDS * PER_ROUND * LEFT];
static size_t nleft;

static void *short_thread(void *arg) {
    uint64_t seed = 0xabcdefull + (uintptr_t)arg * 7919;
    blk_t b[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        b[i].n = rnd_size(&seed);
        b[i].p = malloc(b[i].n);
        T_ASSERT(b[i].p != NULL);
        pat_fill(b[i].p, b[i].n);
    }
    /* Free most in a scrambled order, so the cache holds blocks at exit. */
    for (int i = 0; i < BLOCKS - LEFT; i++) {
        int j = i + (int)(rnd(&seed) % (uint64_t)(BLOCKS - LEFT - i));
        blk_t t = b[i];
        b[i] = b[j];
        b[j] = t;
        pat_check(b[i].p, b[i].n);
        free(b[i].p);
    }
    pthread_mutex_lock(&left_lock);
    for (int i = BLOCKS - LEFT; i < BLOCKS; i++)
        left[nleft++] = b[i];
    pthread_mutex_unlock(&left_lock);
    return NULL;
}

int main(void) {
    hak_test_require_backend();
    hak_stats_t before, after;
    hak_stats_get(&before);
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[PER_ROUND];
        for (uintptr_t i = 0; i < PER_ROUND; i++)
            T_ASSERT(pthread_create(&t[i], NULL, short_thread, (void *)(r * PER_ROUND + i)) == 0);
        for (int i = 0; i < PER_ROUND; i++)
            T_ASSERT(pthread_join(t[i], NULL) == 0);
        /* The blocks of exited threads, freed by a thread that did not
         * allocate them. */
        pthread_mutex_lock(&left_lock);
        for (size_t i = 0; i < nleft; i++) {
            pat_check(left[i].p, left[i].n);
            free(left[i].p);
        }
        nleft = 0;
        pthread_mutex_unlock(&left_lock);
    }
    hak_stats_get(&after);
    /* Every exited thread left the registry: only this one holds a cache
     * (joined threads have run their destructors). */
    if (after.threads_live > before.threads_live + 1 && after.threads_live > 1)
        T_FAIL("threads_live %llu after churn (was %llu)", (unsigned long long)after.threads_live,
               (unsigned long long)before.threads_live);
    printf("PASS: %d short threads; mapped %llu KiB, peak %llu KiB\n", ROUNDS * PER_ROUND,
           (unsigned long long)after.mapped_bytes >> 10,
           (unsigned long long)after.peak_mapped_bytes >> 10);
    return 0;
}

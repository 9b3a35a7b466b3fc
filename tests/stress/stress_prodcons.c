/* Stress: producer/consumer.  One thread allocates, another (that never
 * allocates) frees, in batches through a ring of two: the producer fills
 * batch k while batch k - 1 waits, then the consumer frees batch k - 1,
 * and so on, so every free is of a block another thread allocated and the
 * live data stays between one and two batches.  RSS stays within 2x the
 * live data, and does not grow once the ring has turned over a few times
 * (RELIABILITY, "producer/consumer").  The two take turns, so the
 * allocator sees the same calls in the same order however the machine
 * schedules them, and a busy machine costs a time slice per batch, not per
 * block. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define BATCH 8192 /* blocks */
#define BATCHES 512
#define SAMPLE 16 /* batches between samples of RSS */
#define WARMUP 32 /* batches before the first */

static void *ring[2][BATCH];
static size_t batch_bytes[2]; /* requested bytes of each half */
static _Atomic size_t turn;   /* 2k: the producer fills batch k; 2k+1: the consumer frees k-1 */

/* A block carries its size in its first word and a check byte at its end. */
static void *make(size_t n) {
    unsigned char *p = malloc(n);
    T_ASSERT(p != NULL);
    memcpy(p, &n, sizeof n);
    p[n - 1] = (unsigned char)(n * 7);
    return p;
}

static void unmake(void *q) {
    unsigned char *p = q;
    size_t n;
    memcpy(&n, p, sizeof n);
    if (n < 64 || n > 4096 || p[n - 1] != (unsigned char)(n * 7))
        T_FAIL("block %p corrupted (size word %zu)", q, n);
    free(p);
}

static void wait_turn(size_t t) {
    while (atomic_load_explicit(&turn, memory_order_acquire) != t)
        sched_yield();
}

static size_t rss_growth(size_t base) {
    size_t r = hak_test_rss();
    return r > base ? r - base : 0;
}

static void *consumer(void *arg) {
    (void)arg;
    for (size_t k = 0; k <= BATCHES; k++) {
        wait_turn(2 * k + 1);
        for (size_t i = 0; k > 0 && i < BATCH; i++)
            unmake(ring[(k - 1) % 2][i]);
        atomic_store_explicit(&turn, 2 * k + 2, memory_order_release);
    }
    return NULL;
}

int main(void) {
    hak_test_require_backend();
    free(malloc(1));
    size_t base = hak_test_rss();
    pthread_t c;
    T_ASSERT(pthread_create(&c, NULL, consumer, NULL) == 0);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t first = 0, worst = 0, worst_live = 1;
    for (size_t k = 0; k <= BATCHES; k++) {
        wait_turn(2 * k);
        size_t bytes = 0;
        if (k < BATCHES)
            for (size_t i = 0; i < BATCH; i++) {
                size_t n = 64 + rnd(&seed) % 4033;
                ring[k % 2][i] = make(n);
                bytes += n;
            }
        batch_bytes[k % 2] = bytes;
        /* Both halves are live now: the most there ever is. */
        size_t live = batch_bytes[0] + batch_bytes[1];
        if (k >= WARMUP && k < BATCHES && k % SAMPLE == 0) {
            size_t grown = rss_growth(base);
            if (first == 0)
                first = grown;
            if (grown * worst_live > worst * live) {
                worst = grown;
                worst_live = live;
            }
            if (grown > 2 * live)
                T_FAIL("RSS grew %zu KiB for %zu KiB live (over 2x)", grown >> 10, live >> 10);
        }
        atomic_store_explicit(&turn, 2 * k + 1, memory_order_release);
    }
    T_ASSERT(pthread_join(c, NULL) == 0);
    size_t last = rss_growth(base);
    printf(
        "live at most about %zu KiB; RSS growth: first sample %zu KiB, worst %zu KiB for %zu KiB "
        "live, at the end %zu KiB\n",
        (size_t)2 * BATCH * 2080 >> 10, first >> 10, worst >> 10, worst_live >> 10, last >> 10);
    /* No growth once steady: the end is within 8 MiB of the first sample. */
    T_ASSERT(last <= first + 8 * MIB);
    printf("PASS\n");
    return 0;
}

/* Stress: producer/consumer.  One thread allocates, another (that never
 * allocates) frees, through a ring that keeps the live data steady.  RSS
 * stays within 2x the live data, and does not grow once the ring has turned
 * over a few times (RELIABILITY, "producer/consumer"). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define SLOTS 16384 /* blocks in flight */
#define TOTAL (SLOTS * 256)
#define SAMPLE (SLOTS * 4)
#define WARMUP (SLOTS * 8)

static void *ring[SLOTS];
static _Atomic size_t produced, consumed;
static _Atomic size_t live; /* requested bytes in flight */

/* A block carries its size in its first word and a check byte at its end. */
static void *make(size_t n) {
    unsigned char *p = malloc(n);
    T_ASSERT(p != NULL);
    memcpy(p, &n, sizeof n);
    p[n - 1] = (unsigned char)(n * 7);
    return p;
}

static size_t unmake(void *q) {
    unsigned char *p = q;
    size_t n;
    memcpy(&n, p, sizeof n);
    if (n < 64 || n > 4096 || p[n - 1] != (unsigned char)(n * 7))
        T_FAIL("block %p corrupted (size word %zu)", q, n);
    free(p);
    return n;
}

static size_t rss_growth(size_t base) {
    size_t r = hak_test_rss();
    return r > base ? r - base : 0;
}

static void *consumer(void *arg) {
    (void)arg;
    for (size_t i = 0; i < TOTAL; i++) {
        /* Free block i once SLOTS - 1 newer ones are out (or all are). */
        size_t want = i + SLOTS < TOTAL ? i + SLOTS : TOTAL;
        while (atomic_load_explicit(&produced, memory_order_acquire) < want)
            sched_yield();
        size_t n = unmake(ring[i % SLOTS]);
        atomic_fetch_sub_explicit(&live, n, memory_order_relaxed);
        atomic_store_explicit(&consumed, i + 1, memory_order_release);
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
    for (size_t i = 0; i < TOTAL; i++) {
        while (i - atomic_load_explicit(&consumed, memory_order_acquire) >= SLOTS)
            sched_yield();
        size_t n = 64 + rnd(&seed) % 4033;
        ring[i % SLOTS] = make(n);
        atomic_fetch_add_explicit(&live, n, memory_order_relaxed);
        atomic_store_explicit(&produced, i + 1, memory_order_release);
        if (i >= WARMUP && i % SAMPLE == 0) {
            size_t grown = rss_growth(base);
            size_t l = atomic_load_explicit(&live, memory_order_relaxed);
            if (first == 0)
                first = grown;
            /* The worst ratio of growth to the data live at that moment. */
            if (grown * worst_live > worst * l) {
                worst = grown;
                worst_live = l;
            }
            if (grown > 2 * l)
                T_FAIL("RSS grew %zu KiB for %zu KiB live (over 2x)", grown >> 10, l >> 10);
        }
    }
    T_ASSERT(pthread_join(c, NULL) == 0);
    size_t last = rss_growth(base);
    printf("live about %zu KiB; RSS growth: first sample %zu KiB, worst %zu KiB for %zu KiB live, "
           "at the end %zu KiB\n",
           (size_t)SLOTS * 2080 >> 10, first >> 10, worst >> 10, worst_live >> 10, last >> 10);
    /* No growth once steady: the end is within 8 MiB of the first sample. */
    T_ASSERT(last <= first + 8 * MIB);
    printf("PASS\n");
    return 0;
}

/*
 * xthread - cross-thread frees: producers allocate, one consumer frees.
 *
 * Usage: xthread [total_blocks [producers]]   defaults 4000000 1
 *
 * Each producer owns a bounded single-producer/single-consumer ring
 * (C11 atomics, allocated before timing).  A producer allocates blocks of
 * random size 16..512 bytes, writes their first byte and pushes them into
 * its ring.  The single consumer thread never allocates: it polls the
 * rings round-robin, reads each block's first byte and frees it.  When a
 * ring is full/empty the waiting side spins briefly, then yields.
 * The timed region runs from a start barrier until the consumer has freed
 * all blocks.  ops = allocations + frees = 2 * total_blocks.
 */
#include "common.h"

#include <sched.h>
#include <stdatomic.h>

#define RING_SIZE 1024u /* power of two */
#define CACHELINE 64

struct ring {
    _Alignas(CACHELINE) _Atomic unsigned long head; /* next to pop */
    _Alignas(CACHELINE) _Atomic unsigned long tail; /* next to push */
    _Alignas(CACHELINE) void *slot[RING_SIZE];
};

struct producer {
    pthread_t tid;
    struct ring *ring;
    unsigned long long count;
    uint32_t seed;
    pthread_barrier_t *start;
};

static void backoff(unsigned *spins) {
    if (++*spins > 64) {
        sched_yield();
        *spins = 0;
    }
}

static void *produce(void *arg) {
    struct producer *p = arg;
    struct ring *rg = p->ring;
    uint32_t x = p->seed;
    unsigned long tail = atomic_load_explicit(&rg->tail, memory_order_relaxed);

    pthread_barrier_wait(p->start);
    for (unsigned long long i = 0; i < p->count; i++) {
        uint32_t r = bench_xorshift32(&x);
        size_t size = 16 + (size_t)(r % 497); /* 16..512 */
        void *b = malloc(size);
        if (b == NULL)
            bench_oom(size);
        bench_touch(b, (unsigned char)r);
        unsigned spins = 0;
        while (tail - atomic_load_explicit(&rg->head, memory_order_acquire) >= RING_SIZE)
            backoff(&spins);
        rg->slot[tail & (RING_SIZE - 1)] = b;
        tail++;
        atomic_store_explicit(&rg->tail, tail, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv) {
    unsigned long long total = bench_arg_u64(argc, argv, 1, 4000000ULL);
    unsigned long long np = bench_arg_u64(argc, argv, 2, 1);
    if (np == 0 || np > 256)
        bench_die("producers must be in 1..256");
    if (total < np)
        bench_die("total_blocks must be >= producers");

    struct producer *ps = calloc((size_t)np, sizeof *ps);
    struct ring *rings = aligned_alloc(CACHELINE, (size_t)np * sizeof *rings);
    if (ps == NULL || rings == NULL)
        bench_oom((size_t)np * sizeof *rings);
    memset(rings, 0, (size_t)np * sizeof *rings);

    pthread_barrier_t start;
    bench_barrier_init(&start, (unsigned)np + 1);

    for (unsigned long long i = 0; i < np; i++) {
        atomic_init(&rings[i].head, 0);
        atomic_init(&rings[i].tail, 0);
        ps[i].ring = &rings[i];
        ps[i].count = total / np + (i < total % np ? 1 : 0);
        ps[i].seed = 2463534242u + (uint32_t)i * 747796405u;
        if (ps[i].seed == 0)
            ps[i].seed = 1;
        ps[i].start = &start;
        bench_thread_start(&ps[i].tid, produce, &ps[i]);
    }

    /* The main thread is the consumer. */
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    unsigned long long freed = 0;
    unsigned spins = 0;
    unsigned char acc = 0;
    while (freed < total) {
        int got = 0;
        for (unsigned long long i = 0; i < np; i++) {
            struct ring *rg = &rings[i];
            unsigned long head = atomic_load_explicit(&rg->head, memory_order_relaxed);
            unsigned long tail = atomic_load_explicit(&rg->tail, memory_order_acquire);
            if (head == tail)
                continue;
            while (head != tail) {
                void *b = rg->slot[head & (RING_SIZE - 1)];
                acc ^= *(volatile unsigned char *)b;
                free(b);
                head++;
                freed++;
            }
            atomic_store_explicit(&rg->head, head, memory_order_release);
            got = 1;
        }
        if (!got)
            backoff(&spins);
    }
    double secs = bench_now() - t0;
    bench_sink ^= acc;

    for (unsigned long long i = 0; i < np; i++)
        pthread_join(ps[i].tid, NULL);

    char extra[64];
    snprintf(extra, sizeof extra, " producers=%llu", np);
    bench_report("xthread", -1, 2ULL * total, secs, extra);

    pthread_barrier_destroy(&start);
    free(rings);
    free(ps);
    return 0;
}

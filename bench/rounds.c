/*
 * rounds - threads that come and go in rounds, allocate blocks of many
 * sizes with varied lifetimes, and hand some to other threads to free.
 *
 * Usage: rounds [rounds [threads [allocs [seed]]]]
 *        defaults 20 4 10000 521288629
 *
 * Each round starts `threads` new threads and waits for them to end;
 * thread t of a round makes (t % 4 + 1) * allocs allocations, so threads
 * end at different times.  Per step a thread allocates a short-lived block
 * (8 B << 0..4, appended to a list that grows by realloc) or, until half
 * its allocations are done, a block it keeps to the end (8 B << 0..6);
 * then with probability 2/3 it frees a random block of its list, and with
 * probability 1/4 swaps a random entry of its list with one of 1000 shared
 * slots (an atomic exchange), so a block may be freed by another thread of
 * the round, by a thread of a later round, or by the main thread.  1 % of
 * the blocks are 100 times bigger, 0.1 % a thousand times (up to 512 KiB).
 * A thread ends by freeing its list and kept blocks; after each round the
 * main thread frees the blocks of about half the shared slots, and after
 * the last round all of them.  Blocks come from calloc, are filled
 * (bench_fill, the size in word 0) and checked in full by whoever frees
 * them.  The timed region covers every round.
 * ops = calls of malloc, calloc, realloc and free, counted by each thread.
 */
#include "common.h"

#include <stdatomic.h>

#define SHARED 1000u
#define LIST_STEP 16384u /* entries the list grows by */

static _Atomic(void *) shared[SHARED];

struct worker {
    pthread_t tid;
    unsigned long long allocs;
    uint32_t seed;
    unsigned long long ops; /* allocator calls of this thread */
};

/* A filled block of 8 << (draw % shifts) bytes, 1 % of them 100 times
 * bigger and 0.1 % a thousand times. */
static void *make(uint32_t *x, unsigned shifts) {
    uint32_t r = bench_xorshift32(x);
    size_t size = (size_t)8 << (r % shifts);
    uint32_t odds = (r >> 8) % 1000;
    if (odds == 0)
        size *= 1000;
    else if (odds <= 10)
        size *= 100;
    void *p = calloc(1, size);
    if (p == NULL)
        bench_oom(size);
    bench_fill(p, size, size);
    return p;
}

static void unmake(void *p) {
    uint64_t size;
    memcpy(&size, p, sizeof size);
    if (size < 8 || size > 512 * 1000)
        bench_die("rounds: live block %p holds a bad size word %llu", p, (unsigned long long)size);
    bench_check_fill(p, (size_t)size, size, "rounds");
    free(p);
}

static void *run(void *arg) {
    struct worker *w = arg;
    uint32_t x = w->seed;
    unsigned long long left = w->allocs, keep_left = w->allocs / 2;
    void **list = NULL, **kept;
    size_t top = 0, cap = 0, nkept = 0;
    unsigned long long ops = 0;

    kept = malloc((size_t)keep_left * sizeof *kept);
    if (kept == NULL)
        bench_oom((size_t)keep_left * sizeof *kept);
    ops++;
    while (left > 0 || keep_left > 0) {
        uint32_t r = bench_xorshift32(&x);
        if (keep_left == 0 || (r % 2 == 0 && left > 0)) {
            if (top == cap) {
                cap += LIST_STEP;
                list = realloc(list, cap * sizeof *list);
                if (list == NULL)
                    bench_oom(cap * sizeof *list);
                ops++;
            }
            list[top++] = make(&x, 5);
            left--;
        } else {
            kept[nkept++] = make(&x, 7);
            keep_left--;
        }
        ops++;
        if (top > 0 && (r >> 8) % 3 != 0) {
            size_t i = bench_xorshift32(&x) % top;
            if (list[i] != NULL) {
                unmake(list[i]);
                list[i] = NULL;
                ops++;
            }
        }
        if (top > 0 && (r >> 16) % 4 == 0) {
            size_t i = bench_xorshift32(&x) % top;
            uint32_t j = bench_xorshift32(&x) % SHARED;
            list[i] = atomic_exchange_explicit(&shared[j], list[i], memory_order_acq_rel);
        }
    }
    for (size_t i = 0; i < nkept; i++) {
        unmake(kept[i]);
        ops++;
    }
    for (size_t i = 0; i < top; i++) {
        if (list[i] != NULL) {
            unmake(list[i]);
            ops++;
        }
    }
    free(kept);
    free(list);
    ops += 2;
    w->ops = ops;
    return NULL;
}

/* Frees the blocks of the shared slots: each with probability 1/2, or all. */
static unsigned long long free_shared(uint32_t *x, int all) {
    unsigned long long ops = 0;
    for (uint32_t j = 0; j < SHARED; j++) {
        if (!all && bench_xorshift32(x) % 2 != 0)
            continue;
        void *p = atomic_exchange_explicit(&shared[j], NULL, memory_order_acq_rel);
        if (p != NULL) {
            unmake(p);
            ops++;
        }
    }
    return ops;
}

int main(int argc, char **argv) {
    unsigned long long nrounds = bench_arg_u64(argc, argv, 1, 20);
    unsigned long long nthreads = bench_arg_u64(argc, argv, 2, 4);
    unsigned long long allocs = bench_arg_u64(argc, argv, 3, 10000ULL);
    unsigned long long seed = bench_arg_u64(argc, argv, 4, 521288629ULL);
    if (nthreads == 0 || nthreads > 1024)
        bench_die("threads must be in 1..1024");
    if (allocs < 2)
        bench_die("allocs must be at least 2");

    struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
    if (ws == NULL)
        bench_oom((size_t)nthreads * sizeof *ws);

    uint32_t x = bench_stream_seed((uint32_t)seed, ~0ULL);
    unsigned long long ops = 0;
    double t0 = bench_now();
    for (unsigned long long rd = 0; rd < nrounds; rd++) {
        for (unsigned long long t = 0; t < nthreads; t++) {
            ws[t].allocs = (t % 4 + 1) * allocs;
            ws[t].seed = bench_stream_seed((uint32_t)seed, rd * nthreads + t);
            bench_thread_start(&ws[t].tid, run, &ws[t]);
        }
        for (unsigned long long t = 0; t < nthreads; t++) {
            pthread_join(ws[t].tid, NULL);
            ops += ws[t].ops;
        }
        ops += free_shared(&x, rd + 1 == nrounds);
    }
    double secs = bench_now() - t0;

    char extra[64];
    snprintf(extra, sizeof extra, " threads=%llu rounds=%llu", nthreads, nrounds);
    bench_report("rounds", -1, ops, secs, extra);
    free(ws);
    return 0;
}

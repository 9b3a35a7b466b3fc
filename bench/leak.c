/*
 * leak - many rounds of short-lived threads that each leave a little
 * memory behind: what matters is how much memory the process keeps, and
 * what a thread's start and end cost.
 *
 * Usage: leak [rounds [threads [seed]]]      defaults 1000 10 88675123
 *
 * Each round starts `threads` new threads and waits for them to end.  A
 * thread allocates 8 blocks of 16..256 bytes, fills them (bench_fill) and
 * frees them, then callocs one block of 128 bytes that outlives it: it
 * swaps the block into a random one of threads * 100 shared slots and
 * frees the block it took out, which a thread that has ended allocated.
 * Every allocator keeps per-thread state, and many keep memory per thread
 * too; an allocator that does not hand a dead thread's memory to the next
 * grows with every round.  The main thread frees the shared slots at the
 * end.  The timed region covers every round.  ops = malloc + calloc + free
 * calls.
 */
#include "common.h"

#include <stdatomic.h>

#define TRANSIENT 8
#define KEPT_SIZE 128

static _Atomic(void *) *shared;
static uint32_t nshared;

struct worker {
    pthread_t tid;
    uint32_t seed;
};

static void check_kept(void *p) {
    bench_check_fill(p, KEPT_SIZE, (uintptr_t)p, "leak");
    free(p);
}

static void *run(void *arg) {
    struct worker *w = arg;
    uint32_t x = w->seed;
    void *block[TRANSIENT];
    size_t size[TRANSIENT];

    for (int i = 0; i < TRANSIENT; i++) {
        size[i] = 16 + bench_xorshift32(&x) % 241; /* 16..256 */
        block[i] = malloc(size[i]);
        if (block[i] == NULL)
            bench_oom(size[i]);
        bench_fill(block[i], size[i], x);
    }
    for (int i = 0; i < TRANSIENT; i++)
        free(block[i]);
    void *p = calloc(1, KEPT_SIZE);
    if (p == NULL)
        bench_oom(KEPT_SIZE);
    bench_fill(p, KEPT_SIZE, (uintptr_t)p);
    uint32_t j = bench_xorshift32(&x) % nshared;
    void *q = atomic_exchange_explicit(&shared[j], p, memory_order_acq_rel);
    if (q != NULL)
        check_kept(q);
    return NULL;
}

int main(int argc, char **argv) {
    unsigned long long nrounds = bench_arg_u64(argc, argv, 1, 1000);
    unsigned long long nthreads = bench_arg_u64(argc, argv, 2, 10);
    unsigned long long seed = bench_arg_u64(argc, argv, 3, 88675123ULL);
    if (nthreads == 0 || nthreads > 1024)
        bench_die("threads must be in 1..1024");

    nshared = (uint32_t)nthreads * 100;
    shared = calloc(nshared, sizeof *shared);
    struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
    if (shared == NULL || ws == NULL)
        bench_oom(nshared * sizeof *shared);

    double t0 = bench_now();
    for (unsigned long long rd = 0; rd < nrounds; rd++) {
        for (unsigned long long t = 0; t < nthreads; t++) {
            ws[t].seed = bench_stream_seed((uint32_t)seed, rd * nthreads + t);
            bench_thread_start(&ws[t].tid, run, &ws[t]);
        }
        for (unsigned long long t = 0; t < nthreads; t++)
            pthread_join(ws[t].tid, NULL);
    }
    unsigned long long live = 0;
    for (uint32_t j = 0; j < nshared; j++) {
        void *p = atomic_load_explicit(&shared[j], memory_order_relaxed);
        if (p != NULL) {
            check_kept(p);
            live++;
        }
    }
    double secs = bench_now() - t0;

    /* Each thread made TRANSIENT mallocs and frees and one calloc; every
     * kept block was freed, by a later thread or at the end. */
    unsigned long long ops = nrounds * nthreads * (2 * TRANSIENT + 2);
    char extra[96];
    snprintf(extra, sizeof extra, " threads=%llu rounds=%llu kept_at_end=%llu", nthreads, nrounds,
             live);
    bench_report("leak", -1, ops, secs, extra);
    free(ws);
    free(shared);
    return 0;
}

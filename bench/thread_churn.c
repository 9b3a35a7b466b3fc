/*
 * thread_churn - many short threads, each leaving half its blocks to the
 * main thread, which frees them later: how much memory the process keeps
 * as threads come and go.
 *
 * Usage: thread_churn [threads [blocks [lag [seed]]]]
 *        defaults 50000 300 100 3141592653
 *
 * Threads run one after another.  Each allocates `blocks` blocks of sizes
 * spread evenly over the powers of two from 16 B to 4 KiB (an octave drawn
 * at random, then a size within it), fills them (bench_fill), frees every
 * other one and hands the rest to the main thread, which checks and frees
 * them once `lag` more threads have ended.  The timed region covers every
 * thread and the main thread's frees.  RSS is read after thread 200
 * (rss_at_200_kb) and after the last thread, before the last lag threads'
 * blocks are freed (rss_end_kb): growth_kb is their difference, what the
 * allocator kept of the threads that came and went.  ops = mallocs + frees.
 */
#include "common.h"

#include <stdio.h>
#include <unistd.h>

#define MIN_SHIFT 4  /* 16 B */
#define MAX_SHIFT 12 /* 4 KiB */
#define RSS_AT 200

struct worker {
    uint32_t seed;
    unsigned nblocks;
    void **kept; /* nblocks / 2 blocks the main thread frees */
    size_t *size;
};

static size_t draw_size(uint32_t *x) {
    unsigned shift = MIN_SHIFT + bench_xorshift32(x) % (MAX_SHIFT - MIN_SHIFT);
    return ((size_t)1 << shift) + bench_xorshift32(x) % ((size_t)1 << shift);
}

static void *run(void *arg) {
    struct worker *w = arg;
    uint32_t x = w->seed;
    for (unsigned i = 0; i < w->nblocks; i++) {
        size_t n = draw_size(&x);
        void *p = malloc(n);
        if (p == NULL)
            bench_oom(n);
        bench_fill(p, n, (uintptr_t)p);
        if (i % 2 == 0) {
            free(p);
        } else {
            w->kept[i / 2] = p;
            w->size[i / 2] = n;
        }
    }
    return NULL;
}

static void release(struct worker *w) {
    for (unsigned i = 0; i < w->nblocks / 2; i++) {
        bench_check_fill(w->kept[i], w->size[i], (uintptr_t)w->kept[i], "thread_churn");
        free(w->kept[i]);
    }
}

int main(int argc, char **argv) {
    unsigned long long nthreads = bench_arg_u64(argc, argv, 1, 50000);
    unsigned long long nblocks = bench_arg_u64(argc, argv, 2, 300);
    unsigned long long lag = bench_arg_u64(argc, argv, 3, 100);
    unsigned long long seed = bench_arg_u64(argc, argv, 4, 3141592653ULL);
    if (nblocks < 2 || nblocks > 100000)
        bench_die("blocks must be in 2..100000");
    if (lag == 0 || lag > 10000)
        bench_die("lag must be in 1..10000");
    if (nthreads <= RSS_AT)
        bench_die("threads must be more than %d", RSS_AT);

    struct worker *ws = calloc((size_t)lag, sizeof *ws);
    if (ws == NULL)
        bench_oom(lag * sizeof *ws);
    for (unsigned long long i = 0; i < lag; i++) {
        ws[i].nblocks = (unsigned)nblocks;
        ws[i].kept = calloc((size_t)nblocks / 2, sizeof(void *));
        ws[i].size = calloc((size_t)nblocks / 2, sizeof(size_t));
        if (ws[i].kept == NULL || ws[i].size == NULL)
            bench_oom(nblocks * sizeof(void *));
    }

    long at200 = 0;
    double t0 = bench_now();
    for (unsigned long long t = 0; t < nthreads; t++) {
        struct worker *w = &ws[t % lag];
        if (t >= lag)
            release(w); /* the blocks of thread t - lag */
        w->seed = bench_stream_seed((uint32_t)seed, t);
        pthread_t tid;
        bench_thread_start(&tid, run, w);
        pthread_join(tid, NULL);
        if (t + 1 == RSS_AT)
            at200 = bench_rss_kb();
    }
    long end = bench_rss_kb();
    for (unsigned long long i = 0; i < lag && i < nthreads; i++)
        release(&ws[i]);
    double secs = bench_now() - t0;

    unsigned long long ops = nthreads * nblocks * 2;
    char extra[128];
    snprintf(extra, sizeof extra, " threads=%llu rss_at_200_kb=%ld rss_end_kb=%ld growth_kb=%ld",
             nthreads, at200, end, end - at200);
    bench_report("thread_churn", -1, ops, secs, extra);
    for (unsigned long long i = 0; i < lag; i++) {
        free(ws[i].kept);
        free(ws[i].size);
    }
    free(ws);
    return 0;
}

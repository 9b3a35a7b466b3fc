/*
 * simple - one thread allocating and freeing fixed small sizes in a tight
 * loop, in the manner of glibc's own simple malloc benchmark.
 *
 * Usage: simple [calls_per_case]      default 4000000
 *
 * Twelve cases: every size of 16, 32 and 64 bytes with every batch of 25,
 * 100, 400 and 1600 blocks.  A case repeats: malloc the batch, writing
 * every byte of each block, then free it in the order it was allocated
 * (the oldest block first), until it has made calls_per_case calls.  All
 * cases run three times, as glibc's benchmark runs them: in the main
 * thread, in a new thread, and in the main thread again once a second
 * thread has existed.  Before the RESULT line each case prints
 *   CASE pass=main|thread|main-again size=S batch=N seconds=T mops=M
 * The timed region covers all cases.  ops = malloc + free calls.
 */
#include "common.h"

#define MAX_BATCH 1600

static const size_t sizes[] = {16, 32, 64};
static const unsigned batches[] = {25, 100, 400, MAX_BATCH};

static unsigned long long calls;

/* Runs every case; returns the number of calls made, as a pointer so that
 * it can be a thread's result. */
static void *run_cases(void *arg) {
    const char *pass = arg;
    void *block[MAX_BATCH];
    uintptr_t ops = 0;

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            size_t size = sizes[s];
            unsigned n = batches[b];
            unsigned long long reps = calls / (2ULL * n);
            double t0 = bench_now();
            for (unsigned long long r = 0; r < reps; r++) {
                for (unsigned i = 0; i < n; i++) {
                    void *p = malloc(size);
                    if (p == NULL)
                        bench_oom(size);
                    memset(p, (int)i, size);
                    block[i] = p;
                }
                for (unsigned i = 0; i < n; i++)
                    free(block[i]);
            }
            double secs = bench_now() - t0;
            printf("CASE pass=%s size=%zu batch=%u seconds=%.6f mops=%.3f\n", pass, size, n, secs,
                   secs > 0.0 ? 2.0 * (double)(reps * n) / secs / 1e6 : 0.0);
            ops += 2 * reps * n;
        }
    }
    return (void *)ops;
}

int main(int argc, char **argv) {
    calls = bench_arg_u64(argc, argv, 1, 4000000ULL);

    double t0 = bench_now();
    uintptr_t ops = (uintptr_t)run_cases("main");
    pthread_t tid;
    void *thread_ops;
    bench_thread_start(&tid, run_cases, "thread");
    pthread_join(tid, &thread_ops);
    ops += (uintptr_t)thread_ops;
    ops += (uintptr_t)run_cases("main-again");
    double secs = bench_now() - t0;

    bench_report("simple", -1, ops, secs, NULL);
    return 0;
}

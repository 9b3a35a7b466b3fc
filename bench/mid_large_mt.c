/*
 * mid_large_mt - multi-threaded random malloc/free of mid-sized blocks.
 *
 * Usage: mid_large_mt [cycles_per_thread [threads]]   defaults 3000000 2
 *
 * Each thread owns 2048 slots and its own xorshift32 stream.  Per
 * iteration: draw r; slot = r % 2048; if occupied free it, otherwise
 * allocate a block of uniformly random size in [8 KiB, 35 KiB] and write
 * its first byte.  Threads start together on a barrier; the timed region
 * runs from the barrier until every thread has finished its loop and
 * freed its remaining blocks.  ops = cycles_per_thread * threads.
 */
#include "common.h"

#define SLOTS 2048
#define MIN_SIZE (8u * 1024u)
#define MAX_SIZE (35u * 1024u)

struct worker {
    pthread_t tid;
    unsigned long long cycles;
    uint32_t seed;
    void **slots;
    pthread_barrier_t *start;
};

static void *run(void *arg) {
    struct worker *w = arg;
    uint32_t x = w->seed;
    void **slots = w->slots;

    pthread_barrier_wait(w->start);
    for (unsigned long long i = 0; i < w->cycles; i++) {
        uint32_t r = bench_xorshift32(&x);
        uint32_t idx = r % SLOTS;
        if (slots[idx] != NULL) {
            free(slots[idx]);
            slots[idx] = NULL;
        } else {
            /* Second draw for the size so it is independent of the slot. */
            uint32_t s = bench_xorshift32(&x);
            size_t size = MIN_SIZE + (size_t)(s % (MAX_SIZE - MIN_SIZE + 1));
            void *p = malloc(size);
            if (p == NULL)
                bench_oom(size);
            bench_touch(p, (unsigned char)r);
            slots[idx] = p;
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        free(slots[i]);
        slots[i] = NULL;
    }
    return NULL;
}

int main(int argc, char **argv) {
    unsigned long long cycles = bench_arg_u64(argc, argv, 1, 3000000ULL);
    unsigned long long nthreads = bench_arg_u64(argc, argv, 2, 2);
    if (nthreads == 0 || nthreads > 1024)
        bench_die("threads must be in 1..1024");

    struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
    if (ws == NULL)
        bench_oom((size_t)nthreads * sizeof *ws);
    pthread_barrier_t start;
    bench_barrier_init(&start, (unsigned)nthreads + 1);

    for (unsigned long long t = 0; t < nthreads; t++) {
        ws[t].cycles = cycles;
        ws[t].seed = 0x9E3779B9u ^ (uint32_t)(t * 2654435761u + 1u);
        if (ws[t].seed == 0)
            ws[t].seed = 1;
        ws[t].slots = calloc(SLOTS, sizeof(void *));
        if (ws[t].slots == NULL)
            bench_oom(SLOTS * sizeof(void *));
        ws[t].start = &start;
        bench_thread_start(&ws[t].tid, run, &ws[t]);
    }

    pthread_barrier_wait(&start);
    double t0 = bench_now();
    for (unsigned long long t = 0; t < nthreads; t++)
        pthread_join(ws[t].tid, NULL);
    double secs = bench_now() - t0;

    char extra[64];
    snprintf(extra, sizeof extra, " threads=%llu", nthreads);
    bench_report("mid_large_mt", SLOTS, cycles * nthreads, secs, extra);

    for (unsigned long long t = 0; t < nthreads; t++)
        free(ws[t].slots);
    free(ws);
    pthread_barrier_destroy(&start);
    return 0;
}

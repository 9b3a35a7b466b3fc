/*
 * churn - a large array of live blocks in which every step replaces one.
 *
 * Usage: churn [steps_per_thread [threads [slots [max_size [seed]]]]]
 *        defaults 4000000 1 131072 65536 362436069
 *
 * Each thread owns `slots` slots and its own xorshift32 stream.  It fills
 * every slot, then per step picks a slot, checks and frees its block and
 * allocates a new one there; at the end it checks and frees them all.
 * Every block is filled when allocated and checked in full before it is
 * freed (bench_fill).
 *
 * Sizes are a Pareto mix (tail index 1) from 8 B to max_size (a power of
 * two, 16 B to 64 KiB): octave k, [8 << k, 16 << k), is drawn with
 * probability 2^-(k+1), the top octave (the one below max_size) taking the
 * rest, so half the blocks are under 16 B while every octave holds about
 * the same number of bytes.  (The allocator test that has this shape draws
 * up to 1 KiB: `churn 4000000 1 131072 1024`.)  Slots are picked 80/20 six levels
 * deep (pick_slot): a few hot slots get most of the steps, so their blocks
 * live briefly, while most of the array holds blocks that live for the
 * whole run.
 *
 * Threads start together on a barrier; the timed region runs from the
 * barrier until every thread has freed its last block.
 * ops = malloc + free calls = threads * 2 * (slots + steps).
 */
#include "common.h"

#define PARETO_LEVELS 6

struct worker {
    pthread_t tid;
    unsigned long long steps;
    uint32_t slots;
    unsigned top_octave;
    uint32_t seed;
    void **block;
    uint32_t *size;
    uint32_t *tag;
    pthread_barrier_t *start;
};

/* Six times over, a range is cut into its first fifth and the rest, and 4
 * in 5 picks go to the first fifth; the pick is uniform in the range left.
 * So 26 % of the steps land on 0.0064 % of the slots and 26 % of the
 * slots see 0.0064 % of the steps. */
static uint32_t pick_slot(uint32_t *x, uint32_t n) {
    uint32_t r = bench_xorshift32(x);
    uint32_t lo = 0, len = n;
    for (int level = 0; level < PARETO_LEVELS; level++, r /= 5) {
        uint32_t hot = (len + 4) / 5;
        if (r % 5 == 0 && len > hot) {
            lo += hot;
            len -= hot;
        } else {
            len = hot;
        }
    }
    return lo + bench_xorshift32(x) % len;
}

/* A new block for slot i. */
static void place(struct worker *w, uint32_t *x, uint32_t i) {
    uint32_t r = bench_xorshift32(x);
    /* The lowest set bit of a uniform draw is bit k with probability
     * 2^-(k+1); the bit of the top octave caps it. */
    unsigned k = (unsigned)__builtin_ctz(r | (1u << w->top_octave));
    size_t base = (size_t)8 << k;
    size_t size = base + (bench_xorshift32(x) & (base - 1));
    void *p = malloc(size);
    if (p == NULL)
        bench_oom(size);
    bench_fill(p, size, r);
    w->block[i] = p;
    w->size[i] = (uint32_t)size;
    w->tag[i] = r;
}

static void drop(struct worker *w, uint32_t i) {
    bench_check_fill(w->block[i], w->size[i], w->tag[i], "churn");
    free(w->block[i]);
}

static void *run(void *arg) {
    struct worker *w = arg;
    uint32_t x = w->seed;

    pthread_barrier_wait(w->start);
    for (uint32_t i = 0; i < w->slots; i++)
        place(w, &x, i);
    for (unsigned long long s = 0; s < w->steps; s++) {
        uint32_t i = pick_slot(&x, w->slots);
        drop(w, i);
        place(w, &x, i);
    }
    for (uint32_t i = 0; i < w->slots; i++)
        drop(w, i);
    return NULL;
}

int main(int argc, char **argv) {
    unsigned long long steps = bench_arg_u64(argc, argv, 1, 4000000ULL);
    unsigned long long nthreads = bench_arg_u64(argc, argv, 2, 1);
    unsigned long long slots = bench_arg_u64(argc, argv, 3, 131072);
    unsigned long long max_size = bench_arg_u64(argc, argv, 4, 65536);
    unsigned long long seed = bench_arg_u64(argc, argv, 5, 362436069ULL);
    if (nthreads == 0 || nthreads > 1024)
        bench_die("threads must be in 1..1024");
    if (slots == 0 || slots > (1ULL << 24))
        bench_die("slots must be in 1..2^24");
    if (max_size < 16 || max_size > 65536 || (max_size & (max_size - 1)) != 0)
        bench_die("max_size must be a power of two in 16..65536");

    struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
    if (ws == NULL)
        bench_oom((size_t)nthreads * sizeof *ws);
    pthread_barrier_t start;
    bench_barrier_init(&start, (unsigned)nthreads + 1);

    for (unsigned long long t = 0; t < nthreads; t++) {
        struct worker *w = &ws[t];
        w->steps = steps;
        w->slots = (uint32_t)slots;
        w->top_octave = (unsigned)__builtin_ctzll(max_size) - 4;
        w->seed = bench_stream_seed((uint32_t)seed, t);
        w->block = calloc((size_t)slots, sizeof *w->block);
        w->size = calloc((size_t)slots, sizeof *w->size);
        w->tag = calloc((size_t)slots, sizeof *w->tag);
        if (w->block == NULL || w->size == NULL || w->tag == NULL)
            bench_oom((size_t)slots * sizeof *w->block);
        w->start = &start;
        bench_thread_start(&w->tid, run, w);
    }

    pthread_barrier_wait(&start);
    double t0 = bench_now();
    for (unsigned long long t = 0; t < nthreads; t++)
        pthread_join(ws[t].tid, NULL);
    double secs = bench_now() - t0;

    char extra[64];
    snprintf(extra, sizeof extra, " threads=%llu max_size=%llu", nthreads, max_size);
    bench_report("churn", (long long)slots, nthreads * 2ULL * (slots + steps), secs, extra);

    for (unsigned long long t = 0; t < nthreads; t++) {
        free(ws[t].block);
        free(ws[t].size);
        free(ws[t].tag);
    }
    free(ws);
    pthread_barrier_destroy(&start);
    return 0;
}

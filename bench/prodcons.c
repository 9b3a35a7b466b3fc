/*
 * prodcons - producer threads allocate small blocks that consumer threads
 * free, as fast as they can.
 *
 * Usage: prodcons [batches_per_producer [producers [consumers [size]]]]
 *        defaults 2000 2 2 64
 *
 * A producer allocates a batch (one malloc'd array of 4096 pointers), fills
 * it with blocks of `size` bytes, writing up to 128 bytes of each, and
 * pushes it on a stack that all threads share (a mutex, two condition
 * variables, at most 100 batches, so the live data is bounded).  A
 * consumer pops the newest batch, reads the first byte of each block and
 * frees the blocks and the batch: every free is of a block another thread
 * allocated, and each consumer frees blocks of every producer.  Threads
 * wait on a condition variable while the stack is full (producers) or
 * empty (consumers).  The timed region runs from a start barrier until
 * the consumers have freed every batch.  ops = malloc + free calls.
 */
#include "common.h"

#define PER_BATCH 4096
#define MAX_QUEUED 100

struct batch {
    struct batch *next;
    void *block[PER_BATCH];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static struct batch *stack;
static unsigned queued;
static unsigned long long untaken; /* batches no consumer has popped yet */

static pthread_barrier_t start;
static unsigned long long per_producer;
static size_t block_size;

static void push(struct batch *b) {
    pthread_mutex_lock(&lock);
    while (queued >= MAX_QUEUED)
        pthread_cond_wait(&not_full, &lock);
    b->next = stack;
    stack = b;
    queued++;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&lock);
}

/* The newest batch, or NULL once every batch has been taken. */
static struct batch *pop(void) {
    pthread_mutex_lock(&lock);
    while (stack == NULL && untaken > 0)
        pthread_cond_wait(&not_empty, &lock);
    struct batch *b = stack;
    if (b != NULL) {
        stack = b->next;
        queued--;
        if (--untaken == 0)
            pthread_cond_broadcast(&not_empty); /* the other consumers end */
        pthread_cond_signal(&not_full);
    }
    pthread_mutex_unlock(&lock);
    return b;
}

static void *produce(void *arg) {
    (void)arg;
    size_t fill = block_size < 128 ? block_size : 128;

    pthread_barrier_wait(&start);
    for (unsigned long long n = 0; n < per_producer; n++) {
        struct batch *b = malloc(sizeof *b);
        if (b == NULL)
            bench_oom(sizeof *b);
        for (int i = 0; i < PER_BATCH; i++) {
            void *p = malloc(block_size);
            if (p == NULL)
                bench_oom(block_size);
            memset(p, i, fill);
            b->block[i] = p;
        }
        push(b);
    }
    return NULL;
}

static void *consume(void *arg) {
    (void)arg;
    unsigned char acc = 0;
    struct batch *b;

    pthread_barrier_wait(&start);
    while ((b = pop()) != NULL) {
        for (int i = 0; i < PER_BATCH; i++) {
            acc ^= *(volatile unsigned char *)b->block[i];
            free(b->block[i]);
        }
        free(b);
    }
    bench_sink ^= acc;
    return NULL;
}

int main(int argc, char **argv) {
    per_producer = bench_arg_u64(argc, argv, 1, 2000);
    unsigned long long np = bench_arg_u64(argc, argv, 2, 2);
    unsigned long long nc = bench_arg_u64(argc, argv, 3, 2);
    unsigned long long size = bench_arg_u64(argc, argv, 4, 64);
    if (np == 0 || np > 256 || nc == 0 || nc > 256)
        bench_die("producers and consumers must be in 1..256");
    if (size == 0 || size > (1ULL << 20))
        bench_die("size must be in 1..2^20");
    block_size = (size_t)size;
    untaken = np * per_producer;

    pthread_t *tids = calloc((size_t)(np + nc), sizeof *tids);
    if (tids == NULL)
        bench_oom((size_t)(np + nc) * sizeof *tids);
    bench_barrier_init(&start, (unsigned)(np + nc) + 1);
    for (unsigned long long i = 0; i < np; i++)
        bench_thread_start(&tids[i], produce, NULL);
    for (unsigned long long i = 0; i < nc; i++)
        bench_thread_start(&tids[np + i], consume, NULL);

    pthread_barrier_wait(&start);
    double t0 = bench_now();
    for (unsigned long long i = 0; i < np + nc; i++)
        pthread_join(tids[i], NULL);
    double secs = bench_now() - t0;

    char extra[96];
    snprintf(extra, sizeof extra, " producers=%llu consumers=%llu size=%llu", np, nc, size);
    bench_report("prodcons", -1, 2ULL * np * per_producer * (PER_BATCH + 1), secs, extra);

    pthread_barrier_destroy(&start);
    free(tids);
    return 0;
}

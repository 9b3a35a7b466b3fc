/*
 * aslimit - how much of an address-space limit an allocator hands out.
 *
 * Usage: aslimit [limit_mib [threads [block_kib [seed]]]]
 *        defaults 200 4 0 2654435761
 *
 * The threads are started first (256 KiB stacks), then the soft RLIMIT_AS
 * of the whole process is set to limit_mib (as `ulimit -v` would: what the
 * program, its libraries and the allocator had mapped before counts), and
 * every thread allocates until malloc returns NULL, which must come with
 * errno ENOMEM.  block_kib 0: sizes drawn at random, half of them from
 * 16 B to 4 KiB and half from 16 B to 256 KiB; otherwise every block is
 * block_kib KiB.  Each block is filled and, once the limit is lifted again,
 * checked and freed.  The timed region is the allocating and filling.
 * ops = blocks obtained.
 *
 * Extra RESULT keys: obtained_kb (bytes requested and obtained, all
 * threads) and limit_kb.
 */
#include "common.h"

#include <stdio.h>
#include <sys/resource.h>

#define STACK_BYTES ((size_t)256 << 10)

typedef struct {
    void *p;
    size_t size;
} block_t;

typedef struct {
    pthread_barrier_t *go;
    block_t *blocks;
    size_t cap, n, bytes;
    uint32_t seed;
    size_t block_bytes;
    int err;
} worker_t;

static size_t draw_size(uint32_t *x) {
    uint32_t r = bench_xorshift32(x);
    size_t top = (r & 1) ? (size_t)4 << 10 : (size_t)256 << 10;
    return 16 + (size_t)(bench_xorshift32(x) % (top - 15));
}

static void *run(void *arg) {
    worker_t *w = arg;
    uint32_t x = w->seed;
    pthread_barrier_wait(w->go);
    while (w->n < w->cap) {
        size_t size = w->block_bytes ? w->block_bytes : draw_size(&x);
        errno = 0;
        void *p = malloc(size);
        if (p == NULL) {
            w->err = errno;
            break;
        }
        bench_fill(p, size, (uint64_t)(uintptr_t)p ^ size);
        w->blocks[w->n++] = (block_t){p, size};
        w->bytes += size;
    }
    return NULL;
}

int main(int argc, char **argv) {
    unsigned long long limit_mib = bench_arg_u64(argc, argv, 1, 200ULL);
    unsigned long long nthreads = bench_arg_u64(argc, argv, 2, 4ULL);
    unsigned long long block_kib = bench_arg_u64(argc, argv, 3, 0ULL);
    unsigned long long seed = bench_arg_u64(argc, argv, 4, 2654435761ULL);
    if (nthreads == 0 || nthreads > 64)
        bench_die("threads must be 1..64");
    if ((uint32_t)seed == 0)
        bench_die("seed must be non-zero modulo 2^32");
    size_t limit = (size_t)limit_mib << 20;
    struct rlimit old;
    if (getrlimit(RLIMIT_AS, &old) != 0)
        bench_die("getrlimit: %s", strerror(errno));
    if (old.rlim_cur != RLIM_INFINITY || (old.rlim_max != RLIM_INFINITY && old.rlim_max < limit))
        bench_skip("RLIMIT_AS is already limited here");

    worker_t *ws = calloc(nthreads, sizeof *ws);
    if (ws == NULL)
        bench_oom(nthreads * sizeof *ws);
    pthread_barrier_t go;
    bench_barrier_init(&go, (unsigned)nthreads + 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK_BYTES);
    pthread_t *tids = calloc(nthreads, sizeof *tids);
    if (tids == NULL)
        bench_oom(nthreads * sizeof *tids);
    for (unsigned long long i = 0; i < nthreads; i++) {
        worker_t *w = &ws[i];
        w->go = &go;
        /* Room for every block one thread could get: the drawn sizes
         * average 65 KiB, and a table that fills up is reported. */
        w->cap = limit / (block_kib ? (size_t)block_kib << 10 : (size_t)16 << 10) + 1;
        w->blocks = calloc(w->cap, sizeof *w->blocks);
        if (w->blocks == NULL)
            bench_oom(w->cap * sizeof *w->blocks);
        w->seed = bench_stream_seed((uint32_t)seed, i);
        w->block_bytes = (size_t)block_kib << 10;
        int e = pthread_create(&tids[i], &attr, run, w);
        if (e != 0)
            bench_die("pthread_create: %s", strerror(e));
    }

    struct rlimit lim = {limit, old.rlim_max};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        bench_die("setrlimit: %s", strerror(errno));
    double t0 = bench_now();
    pthread_barrier_wait(&go);
    for (unsigned long long i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    double t1 = bench_now();
    if (setrlimit(RLIMIT_AS, &old) != 0)
        bench_die("setrlimit: %s", strerror(errno));

    unsigned long long blocks = 0;
    size_t bytes = 0;
    for (unsigned long long i = 0; i < nthreads; i++) {
        worker_t *w = &ws[i];
        if (w->n == w->cap)
            bench_die("thread %llu filled its table of %zu blocks", i, w->cap);
        if (w->err != ENOMEM)
            bench_die("thread %llu: malloc returned NULL with errno %d, not ENOMEM", i, w->err);
        for (size_t k = 0; k < w->n; k++) {
            block_t *b = &w->blocks[k];
            bench_check_fill(b->p, b->size, (uint64_t)(uintptr_t)b->p ^ b->size, "aslimit");
            free(b->p);
        }
        blocks += w->n;
        bytes += w->bytes;
        free(w->blocks);
    }
    free(tids);
    free(ws);
    char extra[96];
    snprintf(extra, sizeof extra, " obtained_kb=%zu limit_kb=%zu", bytes >> 10, limit >> 10);
    bench_report("aslimit", (long long)nthreads, blocks, t1 - t0, extra);
    return 0;
}

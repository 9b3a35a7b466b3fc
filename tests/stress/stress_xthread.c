/* Stress: threads allocate random sizes (1 B-64 KiB) and hand half their blocks to other threads to
 * free, verifying a byte pattern. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "pattern.h"

#define THREADS 4
#define OPS 250000
#define SLOTS 512
#define XCHG 4096

typedef struct blk {
    void *p;
    size_t n;
} blk_t;

/* The exchange: a mutex-protected pool any thread may take from. */
static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static blk_t xpool[XCHG];
static size_t xcount;
static unsigned long long handed, taken;

static void give(blk_t b) {
    pthread_mutex_lock(&xlock);
    if (xcount < XCHG) {
        xpool[xcount++] = b;
        handed++;
        b.p = NULL;
    }
    pthread_mutex_unlock(&xlock);
    if (b.p) { /* pool full: free it here */
        pat_check(b.p, b.n);
        free(b.p);
    }
}

static bool take(blk_t *out, uint64_t *seed) {
    pthread_mutex_lock(&xlock);
    bool ok = xcount > 0;
    if (ok) {
        size_t i = rnd(seed) % xcount;
        *out = xpool[i];
        xpool[i] = xpool[--xcount];
        taken++;
    }
    pthread_mutex_unlock(&xlock);
    return ok;
}

static void *worker(void *arg) {
    uint64_t seed = 0x1234567ull + (uintptr_t)arg * 0x9e3779b9ull;
    blk_t *mine = calloc(SLOTS, sizeof *mine);
    T_ASSERT(mine != NULL);
    for (int op = 0; op < OPS; op++) {
        size_t i = rnd(&seed) % SLOTS;
        if (mine[i].p) {
            /* Half of the blocks go to another thread, half are freed here. */
            if (rnd(&seed) & 1) {
                give(mine[i]);
            } else {
                pat_check(mine[i].p, mine[i].n);
                free(mine[i].p);
            }
            mine[i].p = NULL;
        }
        size_t n = rnd_size(&seed);
        void *p = malloc(n);
        if (p == NULL)
            T_FAIL("malloc(%zu) failed", n);
        pat_fill(p, n);
        mine[i] = (blk_t){p, n};
        blk_t b;
        if (op % 2 == 0 && take(&b, &seed)) {
            pat_check(b.p, b.n);
            free(b.p);
        }
    }
    for (size_t i = 0; i < SLOTS; i++)
        if (mine[i].p)
            give(mine[i]);
    free(mine);
    return NULL;
}

int main(void) {
    hak_test_require_backend();
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        T_ASSERT(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        T_ASSERT(pthread_join(t[i], NULL) == 0);
    /* Blocks left in the exchange are freed by the main thread, which
     * allocated none of them. */
    blk_t b;
    uint64_t seed = 42;
    while (take(&b, &seed)) {
        pat_check(b.p, b.n);
        free(b.p);
    }
    hak_stats_t s;
    hak_stats_get(&s);
    printf("PASS: %d threads x %d ops, %llu blocks crossed threads; %llu refills, %llu flushes\n",
           THREADS, OPS, taken, (unsigned long long)s.refills, (unsigned long long)s.flushes);
    T_ASSERT(taken == handed);
    return 0;
}

/* Stress: thread churn leaves no memory behind.  100 000 threads, two at a
 * time, each fill their cache (blocks of many classes allocated, then
 * freed into the thread's bins) and exit; afterwards RSS is at most
 * base + 8 MiB (RELIABILITY, "thread churn"). */
#include <pthread.h>

#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define THREADS 100000
#define PER_CLASS 24

static const size_t sizes[] = {8,   16,  32,   48,   64,   96,   128,  192,  256,   384,
                               512, 768, 1024, 1536, 2048, 3072, 4096, 8192, 16384, 32768};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void *fill_cache(void *arg) {
    (void)arg;
    void *p[NSIZES][PER_CLASS];
    for (size_t s = 0; s < NSIZES; s++)
        for (int i = 0; i < PER_CLASS; i++) {
            p[s][i] = malloc(sizes[s]);
            T_ASSERT(p[s][i] != NULL);
            memset(p[s][i], 0x5a, sizes[s] < 64 ? sizes[s] : 64);
        }
    for (size_t s = 0; s < NSIZES; s++)
        for (int i = 0; i < PER_CLASS; i++)
            free(p[s][i]);
    return NULL;
}

static void run(int n) {
    for (int i = 0; i < n; i += 2) {
        pthread_t a, b;
        T_ASSERT(pthread_create(&a, NULL, fill_cache, NULL) == 0);
        T_ASSERT(pthread_create(&b, NULL, fill_cache, NULL) == 0);
        T_ASSERT(pthread_join(a, NULL) == 0);
        T_ASSERT(pthread_join(b, NULL) == 0);
    }
}

int main(void) {
    hak_test_require_backend();
    run(64); /* the thread machinery (stacks, TLS) is in the base */
    size_t base = hak_test_rss();
    run(THREADS);
    size_t after = hak_test_rss();
    printf("%d threads: base %zu KiB, after %zu KiB\n", THREADS, base >> 10, after >> 10);
    T_ASSERT(after <= base + 8 * MIB);
    printf("PASS\n");
    return 0;
}

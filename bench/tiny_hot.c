/*
 * tiny_hot - the hottest small-object path: batches of 100 x 64-byte
 * allocations, each batch freed in reverse (LIFO) order.
 *
 * Usage: tiny_hot [batches]      default 400000
 * ops = number of malloc + free calls = batches * 200.
 */
#include "common.h"

#define BATCH 100
#define SIZE 64

int main(int argc, char **argv) {
    unsigned long long batches = bench_arg_u64(argc, argv, 1, 400000ULL);
    void *ptrs[BATCH];

    double t0 = bench_now();
    for (unsigned long long b = 0; b < batches; b++) {
        for (int i = 0; i < BATCH; i++) {
            void *p = malloc(SIZE);
            if (p == NULL)
                bench_oom(SIZE);
            bench_touch(p, (unsigned char)i);
            ptrs[i] = p;
        }
        for (int i = BATCH - 1; i >= 0; i--)
            free(ptrs[i]);
    }
    double secs = bench_now() - t0;

    bench_report("tiny_hot", BATCH, batches * 2ULL * BATCH, secs, NULL);
    return 0;
}

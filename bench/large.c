/*
 * large - random allocation and release of large blocks.
 *
 * Usage: large [ops [seed]]       defaults 300000 88172645
 *
 * 64 slots; per op draw r; slot = r % 64; if occupied free it, otherwise
 * allocate a block of uniformly random size in [64 KiB, 8 MiB] and write
 * one byte in its first and its last page.  The timed region includes the
 * final free of the remaining blocks.  ops = iterations.
 */
#include "common.h"

#define SLOTS 64
#define MIN_SIZE (64u * 1024u)
#define MAX_SIZE (8u * 1024u * 1024u)

int main(int argc, char **argv) {
    unsigned long long ops = bench_arg_u64(argc, argv, 1, 300000ULL);
    unsigned long long seed = bench_arg_u64(argc, argv, 2, 88172645ULL);
    if ((uint32_t)seed == 0)
        bench_die("seed must be non-zero modulo 2^32");

    static void *slots[SLOTS];
    static size_t sizes[SLOTS];
    uint32_t x = (uint32_t)seed;

    double t0 = bench_now();
    for (unsigned long long i = 0; i < ops; i++) {
        uint32_t r = bench_xorshift32(&x);
        uint32_t idx = r % SLOTS;
        if (slots[idx] != NULL) {
            unsigned char *p = slots[idx];
            if (p[0] != (unsigned char)idx || p[sizes[idx] - 1] != (unsigned char)idx)
                bench_die("large block %u was corrupted", idx);
            free(p);
            slots[idx] = NULL;
        } else {
            uint32_t s = bench_xorshift32(&x);
            size_t size = MIN_SIZE + (size_t)(s % (MAX_SIZE - MIN_SIZE + 1));
            unsigned char *p = malloc(size);
            if (p == NULL)
                bench_oom(size);
            p[0] = (unsigned char)idx;
            p[size - 1] = (unsigned char)idx;
            slots[idx] = p;
            sizes[idx] = size;
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        free(slots[i]);
        slots[i] = NULL;
    }
    double secs = bench_now() - t0;

    bench_report("large", SLOTS, ops, secs, NULL);
    return 0;
}

/*
 * random_mixed - random malloc/free over a fixed set of slots.
 *
 * Usage: random_mixed [cycles [ws [seed [min [max]]]]]
 *        defaults:     10000000 8192 1234567 16 1039
 *
 * Definition (kept exact so results are comparable across versions):
 *   x = seed; for each of `cycles` iterations:
 *     x ^= x << 13; x ^= x >> 17; x ^= x << 5;   (uint32_t)  r = x
 *     idx = r % ws
 *     if slot[idx] holds a block: free it and clear the slot
 *     else: size = clamp(16 + (r & 0x3FF), min, max);
 *           slot[idx] = malloc(size); write its first byte
 *   One iteration is one op.  The timed region is the loop plus the final
 *   free of every remaining block; throughput = cycles / seconds.
 */
#include "common.h"

int main(int argc, char **argv) {
    unsigned long long cycles = bench_arg_u64(argc, argv, 1, 10000000ULL);
    unsigned long long ws = bench_arg_u64(argc, argv, 2, 8192);
    unsigned long long seed = bench_arg_u64(argc, argv, 3, 1234567);
    unsigned long long min = bench_arg_u64(argc, argv, 4, 16);
    unsigned long long max = bench_arg_u64(argc, argv, 5, 1039);

    if (ws == 0 || ws > (1ULL << 31))
        bench_die("ws must be in 1..2^31");
    if ((uint32_t)seed == 0)
        bench_die("seed must be non-zero modulo 2^32");
    if (min > max || max == 0)
        bench_die("need 0 < max and min <= max");

    void **slots = calloc((size_t)ws, sizeof *slots);
    if (slots == NULL)
        bench_oom((size_t)ws * sizeof *slots);

    uint32_t x = (uint32_t)seed;
    const uint32_t w = (uint32_t)ws;
    const size_t lo = (size_t)min, hi = (size_t)max;

    double t0 = bench_now();
    for (unsigned long long i = 0; i < cycles; i++) {
        uint32_t r = bench_xorshift32(&x);
        uint32_t idx = r % w;
        if (slots[idx] != NULL) {
            free(slots[idx]);
            slots[idx] = NULL;
        } else {
            size_t size = 16 + (size_t)(r & 0x3FF);
            if (size < lo)
                size = lo;
            if (size > hi)
                size = hi;
            void *p = malloc(size);
            if (p == NULL)
                bench_oom(size);
            bench_touch(p, (unsigned char)r);
            slots[idx] = p;
        }
    }
    for (uint32_t i = 0; i < w; i++) {
        free(slots[i]);
        slots[i] = NULL;
    }
    double secs = bench_now() - t0;

    bench_report("random_mixed", (long long)ws, cycles, secs, NULL);
    free(slots);
    return 0;
}

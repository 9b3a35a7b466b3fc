/*
 * fragment - how much memory stays pinned after a fragmenting free.
 *
 * Usage: fragment [nsmall [seed]]     defaults 1000000 2654435769
 *
 * Phase 1: allocate `nsmall` blocks of random size 16..256 bytes.
 * Phase 2: free each of them with probability 90% (xorshift32).
 * Phase 3: allocate blocks of random size 1..4 KiB until the live
 *          (requested) byte total is back to the phase-1 total.
 * The RESULT line reports peak_rss_kb and live_kb (requested bytes live at
 * the end of phase 3, before cleanup), so peak_rss_kb / live_kb measures
 * the allocator's worst-case overhead for this pattern.  The timed region
 * covers all three phases and the final cleanup.  ops = mallocs + frees.
 */
#include "common.h"

int main(int argc, char **argv) {
    unsigned long long n = bench_arg_u64(argc, argv, 1, 1000000ULL);
    unsigned long long seed = bench_arg_u64(argc, argv, 2, 2654435769ULL);
    if ((uint32_t)seed == 0)
        bench_die("seed must be non-zero modulo 2^32");
    if (n == 0)
        bench_die("nsmall must be positive");

    void **small = calloc((size_t)n, sizeof *small);
    unsigned short *ssize = calloc((size_t)n, sizeof *ssize);
    /* Phase 3 needs at most total/1024 blocks; n is a safe upper bound. */
    void **big = calloc((size_t)n, sizeof *big);
    if (small == NULL || ssize == NULL || big == NULL)
        bench_oom((size_t)n * sizeof *small);

    uint32_t x = (uint32_t)seed;
    unsigned long long ops = 0, total = 0, live = 0;
    size_t nbig = 0;

    double t0 = bench_now();
    for (unsigned long long i = 0; i < n; i++) {
        size_t size = 16 + bench_xorshift32(&x) % 241; /* 16..256 */
        void *p = malloc(size);
        if (p == NULL)
            bench_oom(size);
        bench_touch(p, (unsigned char)i);
        small[i] = p;
        ssize[i] = (unsigned short)size;
        total += size;
        ops++;
    }
    live = total;
    for (unsigned long long i = 0; i < n; i++) {
        if (bench_xorshift32(&x) % 10 != 0) {
            free(small[i]);
            small[i] = NULL;
            live -= ssize[i];
            ops++;
        }
    }
    while (live < total && nbig < n) {
        size_t size = 1024 + bench_xorshift32(&x) % (3 * 1024 + 1);
        void *p = malloc(size);
        if (p == NULL)
            bench_oom(size);
        bench_touch(p, (unsigned char)size);
        big[nbig++] = p;
        live += size;
        ops++;
    }
    unsigned long long live_end = live;
    for (unsigned long long i = 0; i < n; i++) {
        if (small[i] != NULL) {
            free(small[i]);
            ops++;
        }
    }
    for (size_t i = 0; i < nbig; i++) {
        free(big[i]);
        ops++;
    }
    double secs = bench_now() - t0;

    char extra[96];
    snprintf(extra, sizeof extra, " live_kb=%llu", (live_end + 1023) / 1024);
    bench_report("fragment", (long long)n, ops, secs, extra);

    free(big);
    free(ssize);
    free(small);
    return 0;
}

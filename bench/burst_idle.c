/*
 * burst_idle - bursts of allocation with idle time between them.
 *
 * Usage: burst_idle [bursts [sleep_ms [hold_ms [idle_ms [seed]]]]]
 *        defaults 10 1000 100 3000 2654435761
 *
 * Each burst allocates blocks until 64 MiB are requested, of sizes spread
 * evenly over the powers of two from 16 B to 256 KiB (an octave drawn at
 * random, then a size within it), writes every byte of each, holds them
 * hold_ms, frees them all in the order they came, and sleeps sleep_ms.
 * After the last burst's free the program sleeps idle_ms more, making no
 * allocator call, and reads its resident set size.  The timed region is
 * the allocating, writing and freeing of the bursts (not the holds nor the
 * sleeps).  ops = mallocs + frees.
 *
 * Extra RESULT keys: ms_per_burst (mean), ms_first_burst, base_rss_kb
 * (before the first burst), freed_rss_kb (just after the last free) and
 * idle_rss_kb (idle_ms after it).
 */
#include "common.h"

#include <stdio.h>
#include <unistd.h>

#define BURST_BYTES ((size_t)64 << 20)
#define MIN_SHIFT 4  /* 16 B */
#define MAX_SHIFT 18 /* 256 KiB */
#define MAX_BLOCKS (1u << 20)

static void *blocks[MAX_BLOCKS];

static void sleep_ms(unsigned long long ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* 16 B .. 256 KiB: an octave [2^k, 2^(k+1)) at random, capped at the top. */
static size_t draw_size(uint32_t *x) {
    unsigned shift = MIN_SHIFT + bench_xorshift32(x) % (MAX_SHIFT - MIN_SHIFT);
    size_t n = ((size_t)1 << shift) + bench_xorshift32(x) % ((size_t)1 << shift);
    return n > ((size_t)1 << MAX_SHIFT) ? (size_t)1 << MAX_SHIFT : n;
}

int main(int argc, char **argv) {
    unsigned long long bursts = bench_arg_u64(argc, argv, 1, 10ULL);
    unsigned long long pause = bench_arg_u64(argc, argv, 2, 1000ULL);
    unsigned long long hold = bench_arg_u64(argc, argv, 3, 100ULL);
    unsigned long long idle = bench_arg_u64(argc, argv, 4, 3000ULL);
    unsigned long long seed = bench_arg_u64(argc, argv, 5, 2654435761ULL);
    if ((uint32_t)seed == 0)
        bench_die("seed must be non-zero modulo 2^32");
    if (bursts == 0)
        bench_die("bursts must be positive");

    uint32_t x = (uint32_t)seed;
    unsigned long long ops = 0;
    double total = 0.0, first = 0.0;
    long base = bench_rss_kb(), freed = 0;

    for (unsigned long long b = 0; b < bursts; b++) {
        size_t n = 0, bytes = 0;
        double t0 = bench_now();
        while (bytes < BURST_BYTES) {
            if (n == MAX_BLOCKS)
                bench_die("more than %u blocks in a burst", MAX_BLOCKS);
            size_t size = draw_size(&x);
            unsigned char *p = malloc(size);
            if (p == NULL)
                bench_oom(size);
            memset(p, (int)(n | 1), size);
            blocks[n++] = p;
            bytes += size;
        }
        double t1 = bench_now();
        sleep_ms(hold);
        double t2 = bench_now();
        for (size_t i = 0; i < n; i++) {
            if (*(unsigned char *)blocks[i] != (unsigned char)(i | 1))
                bench_die("block %zu of burst %llu was corrupted", i, b);
            free(blocks[i]);
        }
        double secs = (t1 - t0) + (bench_now() - t2);
        if (b == 0)
            first = secs;
        total += secs;
        ops += 2 * (unsigned long long)n;
        if (b + 1 < bursts)
            sleep_ms(pause);
    }
    freed = bench_rss_kb();
    sleep_ms(idle);
    long idle_rss = bench_rss_kb();

    char extra[160];
    snprintf(extra, sizeof extra,
             " ms_per_burst=%.3f ms_first_burst=%.3f base_rss_kb=%ld freed_rss_kb=%ld"
             " idle_rss_kb=%ld",
             total * 1000.0 / (double)bursts, first * 1000.0, base, freed, idle_rss);
    bench_report("burst_idle", -1, ops, total, extra);
    return 0;
}

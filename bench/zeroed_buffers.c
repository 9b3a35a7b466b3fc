/*
 * zeroed_buffers - big zero-initialised buffers, replaced at random.
 *
 * Usage: zeroed_buffers [iterations [seed]]      defaults 1000 2463534242
 *
 * 20 slots; per iteration draw r; slot = r % 20; if it holds a buffer, its
 * marks are checked and it is freed; then a buffer of uniformly random size
 * in [5 MiB, 25 MiB] takes the slot, zeroed as C++'s
 * std::make_unique<char[]>(n) or a calloc does: one iteration in two (by
 * another bit of r) calloc, else malloc and memset.  Every byte is checked
 * to be zero in one page in 64 (the whole buffer would cost as much as the
 * zeroing), then one byte per page written (the program uses its buffer),
 * which also makes a calloc'd buffer resident.  The timed region includes
 * the final free.
 *
 * ops = bytes zeroed (the sum of the sizes), so M ops/s is MB/s.
 */
#include "common.h"

#define SLOTS 20
#define MIN_SIZE ((size_t)5 << 20)
#define MAX_SIZE ((size_t)25 << 20)
#define PAGE 4096u

static void check_zero(const unsigned char *p, size_t n) {
    for (size_t off = 0; off < n; off += 64 * (size_t)PAGE) {
        size_t end = off + PAGE < n ? off + PAGE : n;
        for (size_t i = off; i < end; i++)
            if (p[i] != 0)
                bench_die("buffer of %zu bytes not zero at offset %zu", n, i);
    }
    if (p[n - 1] != 0)
        bench_die("buffer of %zu bytes not zero at its last byte", n);
}

int main(int argc, char **argv) {
    unsigned long long iters = bench_arg_u64(argc, argv, 1, 1000ULL);
    unsigned long long seed = bench_arg_u64(argc, argv, 2, 2463534242ULL);
    if ((uint32_t)seed == 0)
        bench_die("seed must be non-zero modulo 2^32");

    static unsigned char *slots[SLOTS];
    static size_t sizes[SLOTS];
    uint32_t x = (uint32_t)seed;
    unsigned long long bytes = 0;

    double t0 = bench_now();
    for (unsigned long long i = 0; i < iters; i++) {
        uint32_t r = bench_xorshift32(&x);
        uint32_t idx = r % SLOTS;
        unsigned char *p = slots[idx];
        if (p != NULL) {
            unsigned char mark = (unsigned char)(idx + 1);
            if (p[0] != mark || p[sizes[idx] - 1] != mark)
                bench_die("buffer %u was corrupted", idx);
            free(p);
        }
        size_t n = MIN_SIZE + (size_t)(bench_xorshift32(&x) % (MAX_SIZE - MIN_SIZE + 1));
        if (r & 0x80000000u) {
            p = calloc(1, n);
            if (p == NULL)
                bench_oom(n);
        } else {
            p = malloc(n);
            if (p == NULL)
                bench_oom(n);
            memset(p, 0, n);
        }
        check_zero(p, n);
        for (size_t off = PAGE / 2; off < n; off += PAGE)
            p[off] = (unsigned char)off | 1;
        p[0] = p[n - 1] = (unsigned char)(idx + 1);
        slots[idx] = p;
        sizes[idx] = n;
        bytes += n;
    }
    for (int i = 0; i < SLOTS; i++) {
        free(slots[i]);
        slots[i] = NULL;
    }
    double secs = bench_now() - t0;

    bench_report("zeroed_buffers", SLOTS, bytes, secs, NULL);
    return 0;
}

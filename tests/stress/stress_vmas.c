/* Stress: a 4 GiB mixed heap takes at most 1 000 mappings (VMAs) in
 * /proc/self/maps (RELIABILITY, "mappings"), while allocated, after half of
 * it is freed in random order, and after the rest is allocated again.
 * Small blocks (1 B .. 64 KiB) make up 128 MiB and are touched; the rest is
 * large blocks of 64 KiB .. 32 MiB, of which only the first page is. */
#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define SMALL_BYTES (128 * MIB)
#define TOTAL_BYTES ((size_t)4096 * MIB)
#define MAX_VMAS 1000
#define MAX_BLOCKS (1 << 20)

static void *blk[MAX_BLOCKS];
static size_t len[MAX_BLOCKS];
static size_t nblk;

static int vmas(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    T_ASSERT(f != NULL);
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* 64 KiB .. 32 MiB, spread evenly over the powers of two. */
static size_t large_size(uint64_t *s) {
    unsigned shift = 16 + (unsigned)(rnd(s) % 10);
    return ((size_t)1 << shift) + rnd(s) % ((size_t)1 << shift);
}

static void add(size_t n) {
    T_ASSERT(nblk < MAX_BLOCKS);
    void *p = malloc(n);
    T_ASSERT(p != NULL);
    memset(p, 0x5a, n < 4096 ? n : 4096);
    blk[nblk] = p;
    len[nblk++] = n;
}

static void check(const char *when) {
    int n = vmas();
    printf("%s: %zu blocks, %d mappings\n", when, nblk, n);
    if (n > MAX_VMAS)
        T_FAIL("%s: %d mappings (more than %d)", when, n, MAX_VMAS);
}

/* Allocates until `bytes` more are live, small blocks first. */
static void grow(uint64_t *seed, size_t small, size_t bytes) {
    size_t got = 0;
    while (got < small) {
        size_t n = rnd_size(seed);
        add(n);
        got += n;
    }
    while (got < bytes) {
        size_t n = large_size(seed);
        add(n);
        got += n;
    }
}

int main(void) {
    hak_test_require_backend();
    uint64_t seed = 12345;
    grow(&seed, SMALL_BYTES, TOTAL_BYTES);
    check("4 GiB allocated");
    /* Free half the blocks, picked at random, and compact the array. */
    size_t freed = 0;
    for (size_t i = 0; i < nblk;) {
        if (rnd(&seed) & 1) {
            free(blk[i]);
            freed += len[i];
            blk[i] = blk[--nblk];
            len[i] = len[nblk];
        } else {
            i++;
        }
    }
    check("half freed");
    grow(&seed, freed / 32, freed);
    check("allocated again");
    for (size_t i = 0; i < nblk; i++)
        free(blk[i]);
    nblk = 0;
    check("all freed");
    printf("PASS\n");
    return 0;
}

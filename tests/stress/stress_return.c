/* Stress: memory goes back to the OS.  After freeing 256 MiB of touched
 * 64 KiB blocks, RSS is at most base + 16 MiB without waiting, and
 * malloc_trim(0) takes it to base + 8 MiB; 256 MiB of 4 MiB blocks go back
 * with malloc_trim(0) too, and 256 MiB of 64 MiB blocks (each bigger than
 * the large path's whole cache budget) without waiting.  (The legacy backend never gives
 * small-block memory back: only the large blocks are checked there.) */
#include <malloc.h>
#include <stdint.h>

#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define TOTAL (256 * MIB)

static void *blocks[TOTAL / (64 << 10)];

/* Allocates TOTAL bytes in blocks of n, touching every page; frees them. */
static void fill_and_free(size_t n) {
    size_t k = TOTAL / n;
    for (size_t i = 0; i < k; i++) {
        blocks[i] = malloc(n);
        T_ASSERT(blocks[i] != NULL);
        memset(blocks[i], 0x5a, n);
    }
    for (size_t i = 0; i < k; i++)
        free(blocks[i]);
}

int main(void) {
    hak_test_require_backend();
    free(malloc(64 << 10));
    free(malloc(4 * MIB));
    size_t base = hak_test_rss();
    if (strcmp(hak_backend_name(), "legacy") != 0) {
        fill_and_free(64 << 10);
        size_t after = hak_test_rss();
        printf("64 KiB blocks: base %zu KiB, after free %zu KiB", base >> 10, after >> 10);
        T_ASSERT(after <= base + 16 * MIB);
        malloc_trim(0);
        printf(", after malloc_trim(0) %zu KiB\n", hak_test_rss() >> 10);
        T_ASSERT(hak_test_rss() <= base + 8 * MIB);
    }
    fill_and_free(4 * MIB);
    printf("4 MiB blocks: after free %zu KiB", hak_test_rss() >> 10);
    malloc_trim(0);
    printf(", after malloc_trim(0) %zu KiB\n", hak_test_rss() >> 10);
    T_ASSERT(hak_test_rss() <= base + 8 * MIB);
    fill_and_free(64 * MIB);
    printf("64 MiB blocks: after free %zu KiB\n", hak_test_rss() >> 10);
    T_ASSERT(hak_test_rss() <= base + 16 * MIB);
    printf("PASS\n");
    return 0;
}

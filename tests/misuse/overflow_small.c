/* Misuse: writing 1 to 8 bytes past the end of a small block into a free
 * neighbour must be reported by the malloc that would hand the neighbour
 * out, not followed or handed out; with "free", the overflowing block is
 * freed first, which HAKMEM_SECURE=1 reports (the neighbour waits in the
 * quarantine); with "unit" as well, the neighbour starts a 64 KiB unit,
 * the one after the overflowing block's (secure mode's free then looks
 * its class up; in the same unit it needs not).
 * Usage: overflow_small [bytes (1..8)] [free [unit]] */
#include "misuse.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define NBLOCKS 4096 /* 256 KiB: a few units, so some block starts one */
#define SIZE 64
#define UNIT ((uintptr_t)64 << 10)

int main(int argc, char **argv) {
    size_t over = argc > 1 ? strtoul(argv[1], NULL, 10) : 8;
    if (over < 1 || over > 8)
        return 2;
    bool then_free = argc > 2 && strcmp(argv[2], "free") == 0;
    bool unit = then_free && argc > 3 && strcmp(argv[3], "unit") == 0;
    MISUSE_BEGIN(unit ? "overflow of a 64-byte block into its free neighbour in the next "
                        "64 KiB unit, then its free"
                 : then_free
                     ? "overflow of a 64-byte block into its free neighbour, then its free"
                     : "overflow of a 64-byte block into its free neighbour, then malloc(64)");
    static char *b[NBLOCKS];
    char *culprit = NULL, *victim = NULL;
    int n = unit ? NBLOCKS : 64;
    for (int i = 0; i < n; i++)
        b[i] = malloc(SIZE);
    for (int i = 0; i < n && victim == NULL; i++)
        for (int j = 0; j < n; j++)
            if (b[j] == b[i] + SIZE && malloc_usable_size(b[i]) == SIZE &&
                (!unit || (uintptr_t)b[j] % UNIT == 0)) {
                culprit = b[i];
                victim = b[j];
                break;
            }
    if (victim == NULL) {
        printf("misuse: no two adjacent blocks\n");
        return 3;
    }
    free(victim);
    /* Each byte written differs from the one it overwrites (a fixed value
     * would be the one already there once in 256 runs: no damage to see). */
    char *past = launder(culprit) + SIZE;
    for (size_t i = 0; i < over; i++)
        past[i] ^= 0x41;
    if (then_free)
        free(culprit);
    for (int i = 0; i < 2; i++)
        printf("malloc gave %p\n", malloc(SIZE));
    MISUSE_SURVIVED();
}

/* Misuse: writing 1 to 8 bytes past the end of a small block into a free
 * neighbour must be reported by the malloc that would hand the neighbour
 * out, not followed or handed out; with "free", the overflowing block is
 * freed first, which HAKMEM_SECURE=1 reports (the neighbour waits in the
 * quarantine).  Usage: overflow_small [bytes (1..8)] [free] */
#include "misuse.h"

#include <malloc.h>
#include <stdbool.h>
#include <string.h>

#define NBLOCKS 64
#define SIZE 64

int main(int argc, char **argv) {
    size_t over = argc > 1 ? strtoul(argv[1], NULL, 10) : 8;
    if (over < 1 || over > 8)
        return 2;
    bool then_free = argc > 2 && strcmp(argv[2], "free") == 0;
    MISUSE_BEGIN(then_free
                     ? "overflow of a 64-byte block into its free neighbour, then its free"
                     : "overflow of a 64-byte block into its free neighbour, then malloc(64)");
    char *b[NBLOCKS], *culprit = NULL, *victim = NULL;
    for (int i = 0; i < NBLOCKS; i++)
        b[i] = malloc(SIZE);
    for (int i = 0; i < NBLOCKS && victim == NULL; i++)
        for (int j = 0; j < NBLOCKS; j++)
            if (b[j] == b[i] + SIZE && malloc_usable_size(b[i]) == SIZE) {
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

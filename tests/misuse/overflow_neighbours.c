/* Misuse: a program that writes past the end of its blocks into their free
 * neighbours: 61 blocks of 48 bytes in address order, every other one
 * freed (30 free neighbours), then 8 or 16 bytes of 0x41 written past the usable size
 * of each live block, then 128 mallocs of 48 bytes.  No damaged block may
 * be handed out: the first one met is reported.
 * Usage: overflow_neighbours [bytes (8 or 16)] */
#include <malloc.h>
#include <string.h>

#include "misuse.h"

#define N 61

static int by_address(const void *a, const void *b) {
    char *x = *(char *const *)a, *y = *(char *const *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t over = argc > 1 ? strtoul(argv[1], NULL, 10) : 8;
    if (over != 8 && over != 16)
        return 2;
    MISUSE_BEGIN("overflow of 30 live 48-byte blocks into their free neighbours, then malloc(48)");
    char *b[N];
    for (int i = 0; i < N; i++)
        b[i] = malloc(48);
    qsort(b, N, sizeof b[0], by_address);
    for (int i = 1; i < N; i += 2)
        free(b[i]);
    int damaged = 0;
    for (int i = 0; i + 1 < N; i += 2)
        if (b[i] + malloc_usable_size(b[i]) == b[i + 1]) {
            memset(launder(b[i]) + malloc_usable_size(b[i]), 0x41, over);
            damaged++;
        }
    if (damaged < 10) {
        printf("misuse: only %d blocks with a free neighbour after them\n", damaged);
        return 3;
    }
    for (int i = 0; i < 128; i++) {
        char *p = malloc(48);
        for (int k = 1; k < N; k += 2)
            if (p == b[k] && memcmp(p, "AAAAAAAA", 8) == 0) {
                printf("misuse: a damaged block was handed out\n");
                return 0;
            }
    }
    MISUSE_SURVIVED();
}

/* Misuse: a write into a freed small block must be reported by the malloc
 * that would hand the block out again, not followed or handed out: 8 bytes
 * at the given offset (0: where an overflow of the block before lands;
 * 8: where the free list's link is), then two mallocs of its size.
 * Usage: write_after_free_small [offset (0..40, a multiple of 8)] */
#include "misuse.h"

#include <string.h>

int main(int argc, char **argv) {
    size_t off = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
    if (off > 40 || off % 8 != 0)
        return 2;
    MISUSE_BEGIN("write 8 bytes into a freed 48-byte block, then malloc(48) twice");
    char *p = malloc(48);
    free(p);
    memset(launder(p) + off, 0x41, 8);
    void *q = malloc(48);
    void *r = malloc(48);
    printf("malloc gave %p and %p\n", q, r);
    MISUSE_SURVIVED();
}

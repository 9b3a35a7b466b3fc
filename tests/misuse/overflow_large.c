/* Misuse, with HAKMEM_SECURE=1: a large block ends in a guard page, so a
 * write one byte past its usable size faults at once (SIGSEGV), for a run
 * (100 000 bytes) and an extent (4 MiB).  The block's own bytes stay
 * writable, and a second block right after it is untouched.
 * Usage: overflow_large [bytes] */
#include "misuse.h"

#include <malloc.h>
#include <string.h>

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    MISUSE_BEGIN("a write one byte past the usable size of a large block");
    char *p = malloc(n), *q = malloc(n);
    if (p == NULL || q == NULL)
        return 3;
    size_t usable = malloc_usable_size(p);
    if (usable < n)
        return 4;
    memset(p, 1, usable);
    memset(q, 2, malloc_usable_size(q));
    ((volatile char *)launder(p))[usable] = 0x41;
    MISUSE_SURVIVED();
}

/* Misuse: free() of an interior pointer of a large block must abort with "hakmem: free(): invalid
 * pointer". */
#include <string.h>

#include "misuse.h"

int main(int argc, char **argv) {
    /* misuse.sh runs this twice: a page-aligned and an unaligned interior pointer. */
    size_t off = argc > 1 ? strtoul(argv[1], NULL, 0) : 8192;
    MISUSE_BEGIN("free of an interior pointer of a 1 MiB block");
    char *p = malloc(1 << 20);
    free(launder(p + off));
    free(p);
    MISUSE_SURVIVED();
}

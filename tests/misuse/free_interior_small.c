/* Misuse: free() of an interior pointer of a small block must abort with
 * "hakmem: free(): invalid pointer": by default when the thread cache hands
 * it back (here, at malloc_trim); with argument "now", under HAKMEM_SECURE=1,
 * at the free() itself, before a malloc could hand it out again. */
#include <malloc.h>
#include <string.h>

#include "misuse.h"

int main(int argc, char **argv) {
    int now = argc > 1 && strcmp(argv[1], "now") == 0;
    MISUSE_BEGIN(now ? "free of an interior pointer of a 100-byte block, then two mallocs"
                     : "free of an interior pointer of a 100-byte block, then malloc_trim");
    char *p = malloc(100);
    char *q = malloc(100);
    free(launder(p + 16));
    if (now) {
        /* Had the free been taken, one of these would overlap p. */
        char *a = malloc(100), *b = malloc(100);
        printf("misuse: malloc returned %p and %p for %p\n", (void *)a, (void *)b, (void *)p);
    } else {
        /* malloc_trim flushes this thread's cache to the backend, which
         * checks every block it takes back. */
        malloc_trim(0);
    }
    free(q);
    MISUSE_SURVIVED();
}

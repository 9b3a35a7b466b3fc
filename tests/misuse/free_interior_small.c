/* Misuse: free() of an interior pointer of a small block must abort with "hakmem: free(): invalid pointer" when the thread cache hands it back. */
#include <malloc.h>

#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("free of an interior pointer of a 100-byte block, then malloc_trim");
    char *p = malloc(100);
    char *q = malloc(100);
    free(launder(p + 16));
    /* malloc_trim flushes this thread's cache to the backend, which checks
     * every block it takes back. */
    malloc_trim(0);
    free(q);
    MISUSE_SURVIVED();
}

/* Misuse: under HAKMEM_SECURE=1, realloc() of an interior pointer of a
 * small block must abort with "hakmem: realloc(): invalid pointer" at that
 * call, before it copies from or frees the offset pointer. */
#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("realloc of an interior pointer of a 100-byte block");
    char *p = malloc(100);
    char *q = realloc(launder(p + 16), 200);
    printf("misuse: realloc returned %p for %p\n", (void *)q, (void *)p);
    MISUSE_SURVIVED();
}

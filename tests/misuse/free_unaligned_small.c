/* Misuse: free() of a small block's pointer plus 8 (not 16-byte aligned) must abort with "hakmem:
 * free(): invalid pointer" at that call. */
#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("free of a 100-byte block's pointer + 8");
    char *p = malloc(100);
    free(launder(p + 8));
    /* Had the free been taken, this malloc would return the bad pointer. */
    char *q = malloc(100);
    printf("misuse: malloc returned %p\n", (void *)q);
    MISUSE_SURVIVED();
}

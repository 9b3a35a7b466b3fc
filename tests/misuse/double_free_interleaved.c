/* Misuse: a double free of a small block with other frees and mallocs in between must abort with
 * "hakmem: free(): double free". */
#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("free(a); free(b); malloc; free(a) of 64-byte blocks");
    char *a = malloc(64);
    char *b = malloc(64);
    char *c = malloc(200);
    free(a);
    free(b);
    free(c);
    char *d = malloc(64); /* takes b back: the cache is LIFO */
    free(launder(a));
    free(d);
    MISUSE_SURVIVED();
}

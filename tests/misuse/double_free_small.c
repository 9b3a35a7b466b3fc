/* Misuse: immediate double free of a small block must abort with "hakmem: free(): double free". */
#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("double free of a 32-byte block");
    void *p = malloc(32);
    free(p);
    free(launder(p));
    MISUSE_SURVIVED();
}

/* Misuse: free((void *)1) must abort with "hakmem: free(): invalid pointer". */
#include <stdint.h>

#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("free((void *)1)");
    void *warm = malloc(16);
    free(launder((void *)(uintptr_t)1));
    free(warm);
    MISUSE_SURVIVED();
}

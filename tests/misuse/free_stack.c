/* Misuse: free() of a stack address must abort with "hakmem: free(): invalid pointer". */
#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("free of a stack address");
    void *warm = malloc(16); /* the allocator is initialised and the thread attached */
    char buf[64];
    free(launder(buf));
    free(warm);
    MISUSE_SURVIVED();
}

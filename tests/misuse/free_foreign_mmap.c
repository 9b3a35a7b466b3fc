/* Misuse: free() of memory from a foreign mmap must abort with "hakmem: free(): invalid pointer".
 */
#include <sys/mman.h>

#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("free of a page from mmap(2)");
    void *warm = malloc(16);
    void *m = mmap(NULL, 1 << 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 99;
    free(launder((char *)m + 4096));
    free(warm);
    MISUSE_SURVIVED();
}

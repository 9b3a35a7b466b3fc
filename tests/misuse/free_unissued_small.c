/* Misuse: under HAKMEM_SECURE=1, free() of a well-aligned block start in a
 * slab that no malloc handed out yet (the last block of the 64 KiB unit of
 * the first 100-byte block) must abort with "hakmem: free(): invalid
 * pointer" at that call. */
#include <malloc.h>
#include <stdint.h>

#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("free of a 100-byte block no malloc handed out yet");
    char *p = malloc(100);
    size_t size = malloc_usable_size(p);
    uintptr_t unit_end = ((uintptr_t)p | 0xffff) + 1;
    char *q = p + ((unit_end - (uintptr_t)p) / size - 1) * size;
    printf("misuse: freeing %p (block %zu bytes from %p)\n", (void *)q, size, (void *)p);
    free(launder(q));
    /* Had the free been taken, a malloc would hand q out twice. */
    MISUSE_SURVIVED();
}

/* Misuse: a write into a freed small block must be reported by the malloc
 * that would hand the block out again, not followed or handed out. */
#include "misuse.h"

#include <string.h>

int main(void) {
    MISUSE_BEGIN("write 8 bytes into a freed 48-byte block, then malloc(48)");
    char *p = malloc(48);
    free(p);
    memset(launder(p), 0x41, 8);
    void *q = malloc(48);
    printf("malloc gave %p\n", q);
    MISUSE_SURVIVED();
}

/* Misuse, with HAKMEM_SECURE=1: a write into a freed block past its first
 * 16 bytes, which only the quarantine sees: the block waits filled with a
 * pattern, and the free that pushes it out of the quarantine finds the
 * pattern changed.  300 more blocks are freed to push it out. */
#include "misuse.h"

#define N 300

int main(void) {
    MISUSE_BEGIN("write into byte 50 of a freed 100-byte block, then 300 frees");
    static char *more[N];
    for (int i = 0; i < N; i++)
        more[i] = malloc(100);
    char *p = malloc(100);
    free(p);
    ((volatile char *)launder(p))[50] = 1;
    for (int i = 0; i < N; i++)
        free(more[i]);
    MISUSE_SURVIVED();
}

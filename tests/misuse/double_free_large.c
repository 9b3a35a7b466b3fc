/* Misuse: double free of a large (1 MiB) block must abort with a "hakmem: free(): " report. */
#include "misuse.h"

int main(void) {
    MISUSE_BEGIN("double free of a 1 MiB block");
    void *keep = malloc(1 << 20); /* keeps the run chunk mapped */
    void *p = malloc(1 << 20);
    free(p);
    free(launder(p));
    free(keep);
    MISUSE_SURVIVED();
}

/* Misuse: a block freed by one thread and again by another must abort with "hakmem: free(): double
 * free". */
#include <pthread.h>

#include "misuse.h"

static void *free_it(void *p) {
    free(p);
    return NULL;
}

int main(void) {
    MISUSE_BEGIN("free of a 48-byte block by a second thread, then again by main");
    void *p = malloc(48);
    void *keep = malloc(48);
    pthread_t t;
    if (pthread_create(&t, NULL, free_it, p) != 0 || pthread_join(t, NULL) != 0)
        return 2;
    free(launder(p));
    free(keep);
    MISUSE_SURVIVED();
}

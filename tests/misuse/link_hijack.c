/* Misuse: the attack of a write after free on a free list's link.  64
 * blocks of 48 bytes are freed (by main, or by a thread that then exits, so
 * that they wait in the backend), then the first one freed gets the
 * address of a global in its first two words, as an attacker holding a
 * dangling pointer would write it; then 100 mallocs of 48 bytes.  None may
 * return the global: the damaged block must be reported.
 * Usage: link_hijack [main|thread] */
#include <pthread.h>
#include <string.h>

#include "misuse.h"

#define N 64

static char target[64] __attribute__((aligned(64)));
static void *blocks[N];

static void *free_all(void *arg) {
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    return arg;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "main";
    MISUSE_BEGIN("write a global's address into a freed 48-byte block, then malloc(48) 100 times");
    for (int i = 0; i < N; i++)
        blocks[i] = malloc(48);
    if (strcmp(mode, "thread") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, free_all, NULL) != 0 || pthread_join(t, NULL) != 0)
            return 2;
    } else {
        free_all(NULL);
    }
    uintptr_t *w = launder(blocks[0]);
    w[0] = w[1] = (uintptr_t)target;
    for (int i = 0; i < 100; i++) {
        void *p = malloc(48);
        if (p == (void *)target) {
            printf("misuse: malloc returned the global\n");
            return 0;
        }
    }
    MISUSE_SURVIVED();
}

/* Misuse: a double free hidden by a write after the first free, which
 * links the block into its list twice, a cycle: free(p); free(q);
 * *(long *)p = 0; free(p); then 200 mallocs of the class, or 200 frees of
 * it (the thread cache then flushes the cycle to the backend).  It must end
 * in a report, never a hang (misuse.sh bounds the time), a crash or one
 * block handed out twice.  Usage: double_free_cycle [mallocs|frees] */
#include <string.h>

#include "misuse.h"

#define N 200

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "mallocs";
    MISUSE_BEGIN("free(p); free(q); write into p; free(p); then 200 mallocs or frees");
    static void *more[N];
    for (int i = 0; i < N; i++)
        more[i] = malloc(48);
    char *p = malloc(48), *q = malloc(48);
    free(p);
    free(q);
    *(long *)launder(p) = 0;
    free(launder(p));
    if (strcmp(mode, "frees") == 0) {
        for (int i = 0; i < N; i++)
            free(more[i]);
    } else {
        for (int i = 0; i < N; i++) {
            void *r = malloc(48);
            for (int j = 0; j < i; j++)
                if (more[j] == r) {
                    printf("misuse: malloc handed out %p twice\n", r);
                    return 0;
                }
            more[i] = r;
        }
    }
    MISUSE_SURVIVED();
}

/* Helper for wrapper.sh and the preload tests: a program linked only against libc that allocates,
 * frees and prints its input sorted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads lines from stdin, sorts them and prints them: every line is a
 * malloc'd copy, and the array grows with realloc. */
int main(void) {
    size_t n = 0, cap = 0;
    char **lines = NULL, buf[4096];
    while (fgets(buf, sizeof buf, stdin)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(lines, cap * sizeof *lines);
            if (grown == NULL)
                return 2;
            lines = grown;
        }
        if ((lines[n++] = strdup(buf)) == NULL)
            return 2;
    }
    if (n > 1)
        qsort(lines, n, sizeof *lines, cmp);
    for (size_t i = 0; i < n; i++) {
        fputs(lines[i], stdout);
        free(lines[i]);
    }
    free(lines);
    void *big = malloc(1 << 20); /* one large block, so statistics show it */
    if (big == NULL)
        return 2;
    memset(big, 1, 1 << 20);
    free(big);
    return 0;
}

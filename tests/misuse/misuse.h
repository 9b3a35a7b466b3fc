/*
 * misuse.h - shared by the misuse programs: each checks the backend, says
 * on stdout what it is about to do (so a run that does not abort is easy
 * to read), does one misuse, and exits 0 only if the allocator let it pass
 * - which misuse.sh counts as a failure.
 */
#ifndef HAK_TEST_MISUSE_H
#define HAK_TEST_MISUSE_H

#include <stdio.h>
#include <stdlib.h>

#include "../testutil.h"

/* Keeps the compiler from seeing through the pointer games. */
static inline void *launder(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

#define MISUSE_BEGIN(what)                                                                         \
    do {                                                                                           \
        hak_test_require_backend();                                                                \
        printf("misuse: %s\n", what);                                                              \
        fflush(stdout);                                                                            \
    } while (0)

#define MISUSE_SURVIVED()                                                                          \
    do {                                                                                           \
        printf("misuse: not caught\n");                                                            \
        return 0;                                                                                  \
    } while (0)

#endif /* HAK_TEST_MISUSE_H */

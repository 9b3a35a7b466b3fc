/*
 * testutil.h - helpers for the plain-C tests (stress, misuse): fatal
 * assertions that name the file and line, the backend check, and the
 * process's resident set size.
 */
#ifndef HAK_TEST_TESTUTIL_H
#define HAK_TEST_TESTUTIL_H

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"

#define T_FAIL(...)                                                                                \
    do {                                                                                           \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                       \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

#define T_ASSERT(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            T_FAIL("assertion failed: %s", #cond);                                                 \
    } while (0)

/* Exits 99 unless the backend serving the process is the one each-backend
 * selected (the configure default when run by hand). */
static inline void hak_test_require_backend(void) {
    const char *want = getenv("HAKMEM_BACKEND");
    if (want == NULL || *want == '\0')
        want = HAK_DEFAULT_BACKEND;
    if (strcmp(hak_backend_name(), want) != 0) {
        fprintf(stderr, "FAIL: backend is %s, expected %s\n", hak_backend_name(), want);
        exit(99);
    }
}

/* The resident set size of the process, in bytes. */
static inline size_t hak_test_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL || fscanf(f, "%lu %lu", &size, &resident) != 2)
        T_FAIL("cannot read /proc/self/statm");
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif /* HAK_TEST_TESTUTIL_H */

/*
 * check_main.h - what every Check-based test program shares: the assertion
 * that the backend under test is the one each-backend selected, a main
 * that runs the program's suite and prints Check's summary line, and what
 * a program that runs itself as a child needs (its path, its output).
 */
#ifndef HAK_TEST_CHECK_MAIN_H
#define HAK_TEST_CHECK_MAIN_H

#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "hakmem.h"

/* Assertions for loops.  Check's ck_assert_* record the location of every
 * passing assertion through a pipe in fork mode (one write(2) each), which
 * makes a per-byte or per-size check take minutes; these cost nothing until
 * they fail. */
#define HAK_CHECK_MSG(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)
#define HAK_CHECK(cond) HAK_CHECK_MSG(cond, "Assertion '%s' failed", #cond)

/* The backend each-backend asked for, or the configure default when the
 * program is run by hand. */
static inline const char *hak_test_expected_backend(void) {
    const char *b = getenv("HAKMEM_BACKEND");
    return b && *b ? b : HAK_DEFAULT_BACKEND;
}

START_TEST(test_backend_is_selected) {
    ck_assert_str_eq(hak_backend_name(), hak_test_expected_backend());
}
END_TEST

/* Adds the backend check as the first case of s. */
static inline void hak_test_add_backend_case(Suite *s) {
    TCase *tc = tcase_create("backend");
    tcase_add_test(tc, test_backend_is_selected);
    suite_add_tcase(s, tc);
}

/* Runs s (CK_VERBOSITY and CK_FORK are honoured); exit status 0 iff every
 * test passed. */
static inline int hak_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Reads fd to its end, or cap - 1 bytes, into buf, NUL-terminated. */
static inline void hak_test_read_all(int fd, char *buf, size_t cap) {
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap &&
           ((r = read(fd, buf + len, cap - 1 - len)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0)
            len += (size_t)r;
    buf[len] = '\0';
}

/* The running program's path, into buf: false if /proc does not say. */
static inline bool hak_test_self(char *buf, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

#endif /* HAK_TEST_CHECK_MAIN_H */

/* Unit: the non-allocating formatter hak_format (platform/log.c). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../check_main.h"

static size_t fmt(char *buf, size_t cap, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    size_t n = hak_format(buf, cap, f, ap);
    va_end(ap);
    return n;
}

/* Formats with hak_format and with snprintf and compares. */
#define SAME(f, ...)                                                                               \
    do {                                                                                           \
        char a[256], b[256];                                                                       \
        size_t n = fmt(a, sizeof a, f, __VA_ARGS__);                                               \
        snprintf(b, sizeof b, f, __VA_ARGS__);                                                     \
        ck_assert_str_eq(a, b);                                                                    \
        ck_assert_uint_eq(n, strlen(b));                                                           \
    } while (0)

START_TEST(test_conversions_match_snprintf) {
    SAME("%s", "hello");
    SAME("<%s|%s>", "a", "");
    SAME("%d %d %d", 0, -1, 2147483647);
    SAME("%d", -2147483647 - 1);
    SAME("%u %u", 0u, 4294967295u);
    SAME("%zu", (size_t)SIZE_MAX);
    SAME("%lu", 1234567890123ul);
    SAME("%llu", 18446744073709551615ull);
    SAME("%x %x", 0u, 0xdeadbeefu);
    SAME("%c%c", 'o', 'k');
    SAME("100%% %s", "sure");
    SAME("%ld", -9000000000l);
}
END_TEST

START_TEST(test_pointer) {
    char a[64], b[64];
    void *p = (void *)(uintptr_t)0x7f12345678a0u;
    fmt(a, sizeof a, "%p", p);
    snprintf(b, sizeof b, "%p", p);
    ck_assert_str_eq(a, b);
    fmt(a, sizeof a, "%p", (void *)0x10);
    ck_assert_str_eq(a, "0x10");
}
END_TEST

START_TEST(test_null_string) {
    char a[32];
    fmt(a, sizeof a, "[%s]", (const char *)NULL);
    ck_assert_str_eq(a, "[(null)]");
}
END_TEST

START_TEST(test_unknown_conversion_printed_as_written) {
    char a[32];
    fmt(a, sizeof a, "a%qb");
    ck_assert_str_eq(a, "a%qb");
    size_t n = fmt(a, sizeof a, "end%");
    ck_assert_str_eq(a, "end%");
    ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(test_truncation_always_terminates) {
    char a[16];
    memset(a, 'Z', sizeof a);
    size_t n = fmt(a, 8, "%s", "0123456789");
    ck_assert_uint_eq(n, 7);
    ck_assert_str_eq(a, "0123456");
    ck_assert_int_eq(a[8], 'Z'); /* nothing written past cap */

    memset(a, 'Z', sizeof a);
    n = fmt(a, 5, "%zu", (size_t)123456789);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(strlen(a), 4);
    ck_assert_int_eq(a[5], 'Z');

    memset(a, 'Z', sizeof a);
    n = fmt(a, 6, "ab%p", (void *)0xabcdef);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(a, "ab0xa");

    n = fmt(a, 1, "anything %d", 5);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(a, "");

    a[0] = 'Q';
    n = fmt(a, 0, "x");
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(a[0], 'Q'); /* cap 0: untouched */

    memset(a, 'Z', sizeof a);
    n = fmt(a, 4, "%%%%%%%%");
    ck_assert_str_eq(a, "%%%");
    ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(test_write_all) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(hak_write_all(fds[1], "hello", 5), 0);
    char buf[8] = {0};
    ck_assert_int_eq(read(fds[0], buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "hello");
    close(fds[0]);
    close(fds[1]);
    errno = 0;
    ck_assert_int_eq(hak_write_all(-1, "x", 1), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

int main(void) {
    Suite *s = suite_create("format");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("hak_format");
    tcase_add_test(tc, test_conversions_match_snprintf);
    tcase_add_test(tc, test_pointer);
    tcase_add_test(tc, test_null_string);
    tcase_add_test(tc, test_unknown_conversion_printed_as_written);
    tcase_add_test(tc, test_truncation_always_terminates);
    tcase_add_test(tc, test_write_all);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

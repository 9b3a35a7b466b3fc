/* Integration: size overflow near SIZE_MAX and PTRDIFF_MAX across the whole malloc family (public
 * API). */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check_main.h"

/* Sizes no allocator can serve.  Read through a volatile so the compiler
 * sees neither the constant nor a reason to fold the call. */
static volatile size_t huge_sizes[] = {
    SIZE_MAX,
    SIZE_MAX - 1,
    SIZE_MAX - 15,
    SIZE_MAX - 4095,
    SIZE_MAX - 4096,
    SIZE_MAX - ((size_t)2 << 20),
    SIZE_MAX / 2,
    (size_t)PTRDIFF_MAX,
    (size_t)PTRDIFF_MAX + 1,
    (size_t)PTRDIFF_MAX - 1,
    (size_t)PTRDIFF_MAX - 4095,
    (size_t)PTRDIFF_MAX - ((size_t)2 << 20),
    (size_t)PTRDIFF_MAX / 2 + 1,
};
#define NHUGE (sizeof huge_sizes / sizeof huge_sizes[0])

#define EXPECT_ENOMEM(call, n)                                                                     \
    do {                                                                                           \
        errno = 0;                                                                                 \
        void *r_ = (call);                                                                         \
        int e_ = errno;                                                                            \
        HAK_CHECK_MSG(r_ == NULL, "%s with n=%zu returned %p", #call, (size_t)(n), r_);            \
        HAK_CHECK_MSG(e_ == ENOMEM, "%s with n=%zu: errno %d, not ENOMEM", #call, (size_t)(n),     \
                      e_);                                                                         \
    } while (0)

START_TEST(test_malloc) {
    for (size_t i = 0; i < NHUGE; i++)
        EXPECT_ENOMEM(malloc(huge_sizes[i]), huge_sizes[i]);
}
END_TEST

START_TEST(test_calloc) {
    for (size_t i = 0; i < NHUGE; i++) {
        EXPECT_ENOMEM(calloc(1, huge_sizes[i]), huge_sizes[i]);
        EXPECT_ENOMEM(calloc(huge_sizes[i], 1), huge_sizes[i]);
    }
    /* Products that overflow. */
    volatile size_t half = SIZE_MAX / 2 + 1, big = (size_t)1 << 33;
    EXPECT_ENOMEM(calloc(half, 2), half);
    EXPECT_ENOMEM(calloc(2, half), half);
    EXPECT_ENOMEM(calloc(big, big), big);
    EXPECT_ENOMEM(calloc(SIZE_MAX, SIZE_MAX), (size_t)SIZE_MAX);
    EXPECT_ENOMEM(calloc((SIZE_MAX / 16) + 1, 16), (size_t)16);
    /* A product that overflows to something small must not succeed. */
    EXPECT_ENOMEM(calloc(((size_t)1 << 32) + 1, (size_t)1 << 32), (size_t)1);
}
END_TEST

START_TEST(test_realloc) {
    for (size_t i = 0; i < NHUGE; i++) {
        EXPECT_ENOMEM(realloc(NULL, huge_sizes[i]), huge_sizes[i]);
        /* realloc(p, huge) fails and leaves p intact and freeable. */
        static const size_t olds[] = {1, 100, 5000, 40000, 3 << 20};
        for (size_t k = 0; k < sizeof olds / sizeof olds[0]; k++) {
            unsigned char *p = malloc(olds[k]);
            ck_assert_ptr_nonnull(p);
            memset(p, 0x6b, olds[k]);
            EXPECT_ENOMEM(realloc(p, huge_sizes[i]), huge_sizes[i]);
            for (size_t j = 0; j < olds[k]; j++)
                HAK_CHECK_MSG(p[j] == 0x6b, "old block of %zu changed at %zu", olds[k], j);
            free(p);
        }
    }
}
END_TEST

START_TEST(test_reallocarray) {
    volatile size_t half = SIZE_MAX / 2 + 1;
    EXPECT_ENOMEM(reallocarray(NULL, half, 2), half);
    EXPECT_ENOMEM(reallocarray(NULL, SIZE_MAX, SIZE_MAX), (size_t)SIZE_MAX);
    for (size_t i = 0; i < NHUGE; i++)
        EXPECT_ENOMEM(reallocarray(NULL, 1, huge_sizes[i]), huge_sizes[i]);
    unsigned char *p = reallocarray(NULL, 10, 10);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x11, 100);
    EXPECT_ENOMEM(reallocarray(p, half, 4), half);
    EXPECT_ENOMEM(reallocarray(p, 1, SIZE_MAX), (size_t)SIZE_MAX);
    for (int j = 0; j < 100; j++)
        ck_assert_int_eq(p[j], 0x11);
    free(p);
}
END_TEST

START_TEST(test_aligned_alloc) {
    for (size_t i = 0; i < NHUGE; i++)
        for (size_t a = 16; a <= ((size_t)4 << 20); a <<= 3)
            EXPECT_ENOMEM(aligned_alloc(a, huge_sizes[i]), huge_sizes[i]);
}
END_TEST

START_TEST(test_posix_memalign) {
    for (size_t i = 0; i < NHUGE; i++) {
        for (size_t a = sizeof(void *); a <= ((size_t)4 << 20); a <<= 3) {
            void *sentinel = (void *)(uintptr_t)0x5eed;
            void *p = sentinel;
            errno = 4321;
            int rc = posix_memalign(&p, a, huge_sizes[i]);
            HAK_CHECK_MSG(rc == ENOMEM, "align %zu size %zu: returned %d", a, huge_sizes[i], rc);
            HAK_CHECK_MSG(p == sentinel, "align %zu size %zu: *p changed", a, huge_sizes[i]);
            ck_assert_int_eq(errno, 4321);
        }
    }
}
END_TEST

START_TEST(test_memalign_valloc_pvalloc) {
    for (size_t i = 0; i < NHUGE; i++) {
        EXPECT_ENOMEM(memalign(64, huge_sizes[i]), huge_sizes[i]);
        EXPECT_ENOMEM(memalign(8192, huge_sizes[i]), huge_sizes[i]);
        EXPECT_ENOMEM(valloc(huge_sizes[i]), huge_sizes[i]);
        EXPECT_ENOMEM(pvalloc(huge_sizes[i]), huge_sizes[i]);
    }
}
END_TEST

START_TEST(test_hak_api) {
    for (size_t i = 0; i < NHUGE; i++) {
        EXPECT_ENOMEM(hak_malloc(huge_sizes[i]), huge_sizes[i]);
        EXPECT_ENOMEM(hak_calloc(1, huge_sizes[i]), huge_sizes[i]);
        EXPECT_ENOMEM(hak_realloc(NULL, huge_sizes[i]), huge_sizes[i]);
        EXPECT_ENOMEM(hak_aligned_alloc(64, huge_sizes[i]), huge_sizes[i]);
    }
}
END_TEST

START_TEST(test_failures_are_counted) {
    hak_stats_t a, b;
    hak_stats_get(&a);
    EXPECT_ENOMEM(malloc(huge_sizes[0]), huge_sizes[0]);
    EXPECT_ENOMEM(calloc(huge_sizes[0], 2), huge_sizes[0]);
    hak_stats_get(&b);
    ck_assert_uint_ge(b.alloc_failures, a.alloc_failures + 2);
    /* The allocator still works afterwards. */
    void *p = malloc(64);
    ck_assert_ptr_nonnull(p);
    free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("overflow");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("enomem");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malloc);
    tcase_add_test(tc, test_calloc);
    tcase_add_test(tc, test_realloc);
    tcase_add_test(tc, test_reallocarray);
    tcase_add_test(tc, test_aligned_alloc);
    tcase_add_test(tc, test_posix_memalign);
    tcase_add_test(tc, test_memalign_valloc_pvalloc);
    tcase_add_test(tc, test_hak_api);
    tcase_add_test(tc, test_failures_are_counted);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

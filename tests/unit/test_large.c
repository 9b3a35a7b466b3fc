/* Unit: the large-block path (large/large.c): alignment, usable size, zeroing, far blocks. */
#include "ace/ace.h"
#include "frontend/frontend.h"
#include "internal.h"

#include <string.h>

#include "../check_main.h"

static void setup(void) { hak_ensure_init(); }

static bool all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* Frees a large block the way free() does. */
static void large_free(void *p) {
    if (hak_chunk_owned((uintptr_t)p))
        hak_large_free(p);
    else
        ck_assert(hak_large_free_far(p));
}

static size_t large_usable(void *p) {
    return hak_chunk_owned((uintptr_t)p) ? hak_large_usable(p) : hak_large_usable_far(p);
}

START_TEST(test_page_aligned_and_usable) {
    static const size_t sizes[] = {32769,         40000,   65536,   100000,  1 << 20,
                                   (1 << 20) + 1, 3 << 20, 5000000, 16 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        hak_fail_t cause = HAK_FAIL_NONE;
        void *p = hak_large_alloc(sizes[i], 0, false, &cause);
        HAK_CHECK_MSG(p != NULL, "size %zu: cause %d", sizes[i], (int)cause);
        HAK_CHECK_MSG(((uintptr_t)p & (HAK_PAGE_SIZE - 1)) == 0, "size %zu: %p", sizes[i], p);
        ck_assert(hak_chunk_owned((uintptr_t)p));
        ck_assert_uint_eq(hak_page_code((uintptr_t)p), HAK_CODE_LARGE);
        size_t u = large_usable(p);
        HAK_CHECK_MSG(u >= sizes[i], "size %zu: usable %zu", sizes[i], u);
        memset(p, 0xee, u);
        large_free(p);
    }
}
END_TEST

START_TEST(test_zero_after_dirty_reuse) {
    /* Runs within a word of the dirty map and across words, extents. */
    static const size_t sizes[] = {40000, 200000, 300000, 1000000, 1 << 20, 4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int round = 0; round < 4; round++) {
            hak_fail_t cause;
            unsigned char *p = hak_large_alloc(n, 0, false, &cause);
            ck_assert_ptr_nonnull(p);
            memset(p, 0xa5, large_usable(p));
            large_free(p);
            unsigned char *q = hak_large_alloc(n, 0, true, &cause);
            ck_assert_ptr_nonnull(q);
            HAK_CHECK_MSG(all_zero(q, n), "size %zu round %d: zero=true gave dirty memory (%s)", n,
                          round, p == q ? "same block" : "other block");
            memset(q, 0x3c, n);
            large_free(q);
        }
    }
}
END_TEST

/* A zeroed run over pages partly dirty (a smaller block's, freed) and
 * partly never used. */
START_TEST(test_zero_partly_dirty) {
    hak_fail_t cause;
    for (size_t small = 4096; small <= 600000; small = small * 3 + 4096) {
        unsigned char *p = hak_large_alloc(small, 0, false, &cause);
        ck_assert_ptr_nonnull(p);
        memset(p, 0xa5, large_usable(p));
        large_free(p);
        unsigned char *q = hak_large_alloc(1000000, 0, true, &cause);
        ck_assert_ptr_nonnull(q);
        HAK_CHECK_MSG(all_zero(q, 1000000), "after %zu dirty bytes: zero=true gave dirty memory",
                      small);
        memset(q, 0x3c, 1000000);
        large_free(q);
    }
}
END_TEST

START_TEST(test_zero_after_trim) {
    hak_fail_t cause;
    unsigned char *p = hak_large_alloc(300000, 0, false, &cause);
    ck_assert_ptr_nonnull(p);
    memset(p, 0x77, 300000);
    large_free(p);
    (void)hak_large_trim(0);
    unsigned char *q = hak_large_alloc(300000, 0, true, &cause);
    ck_assert_ptr_nonnull(q);
    ck_assert(all_zero(q, 300000));
    large_free(q);
}
END_TEST

START_TEST(test_alignment_up_to_64mib) {
    for (size_t align = HAK_PAGE_SIZE; align <= ((size_t)64 << 20); align <<= 1) {
        static const size_t sizes[] = {1, 4096, 40000, 1 << 20, 3 << 20};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            hak_fail_t cause = HAK_FAIL_NONE;
            unsigned char *p = hak_large_alloc(sizes[i], align, i % 2 == 0, &cause);
            HAK_CHECK_MSG(p != NULL, "align %zu size %zu: cause %d", align, sizes[i], (int)cause);
            HAK_CHECK_MSG(((uintptr_t)p & (align - 1)) == 0, "align %zu size %zu: %p", align,
                          sizes[i], (void *)p);
            ck_assert(large_usable(p) >= sizes[i]);
            if (i % 2 == 0)
                ck_assert(all_zero(p, sizes[i]));
            p[0] = 1;
            p[sizes[i] - 1] = 2;
            large_free(p);
        }
    }
}
END_TEST

/* A 0-byte request still gets a block inside memory it owns, so free() and
 * malloc_usable_size() can find it, at any alignment. */
START_TEST(test_zero_size_aligned) {
    for (size_t align = HAK_PAGE_SIZE; align <= ((size_t)64 << 20); align <<= 1) {
        hak_fail_t cause = HAK_FAIL_NONE;
        void *p = hak_large_alloc(0, align, false, &cause);
        ck_assert_msg(p != NULL, "align %zu: cause %d", align, (int)cause);
        ck_assert_msg(((uintptr_t)p & (align - 1)) == 0, "align %zu: %p", align, p);
        HAK_CHECK_MSG(large_usable(p) > 0,
                      "hak_large_alloc(0, %zu) = %p: usable size 0 (block "
                      "outside its mapping)",
                      align, p);
        large_free(p);
    }
}
END_TEST

START_TEST(test_threshold_failure) {
    hak_fail_t cause = HAK_FAIL_NONE;
    ck_assert_ptr_null(hak_large_alloc(SIZE_MAX - HAK_PAGE_SIZE, 0, false, &cause));
    ck_assert_int_ne(cause, HAK_FAIL_NONE);
    ck_assert_str_eq(hak_fail_cause_name(HAK_FAIL_THRESHOLD), "Threshold");
    ck_assert_str_eq(hak_fail_cause_name(HAK_FAIL_EXHAUSTION), "Exhaustion");
    ck_assert_str_eq(hak_fail_cause_name(HAK_FAIL_MAPFAIL), "MapFail");
}
END_TEST

START_TEST(test_many_runs_share_chunks) {
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        hak_fail_t cause;
        size_t n = 32769 + (size_t)i * 5000;
        p[i] = hak_large_alloc(n, 0, false, &cause);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], i, n);
        for (int j = 0; j < i; j++)
            HAK_CHECK(p[i] != p[j]);
    }
    for (int i = 0; i < N; i += 2)
        large_free(p[i]);
    for (int i = 1; i < N; i += 2) {
        size_t n = 32769 + (size_t)i * 5000;
        unsigned char *b = p[i];
        HAK_CHECK_MSG(b[0] == (unsigned char)i && b[n - 1] == (unsigned char)i,
                      "block %d overwritten", i);
        large_free(p[i]);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("large");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("large");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_page_aligned_and_usable);
    tcase_add_test(tc, test_zero_after_dirty_reuse);
    tcase_add_test(tc, test_zero_partly_dirty);
    tcase_add_test(tc, test_zero_after_trim);
    tcase_add_test(tc, test_alignment_up_to_64mib);
    tcase_add_test(tc, test_zero_size_aligned);
    tcase_add_test(tc, test_threshold_failure);
    tcase_add_test(tc, test_many_runs_share_chunks);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

/* Unit: the size-class table (sizeclass.c) and hak_class_for_aligned. */
#include "frontend/frontend.h"
#include "internal.h"

#include "../check_main.h"

static void setup(void) { hak_ensure_init(); }

START_TEST(test_classes_are_16_multiples_and_monotonic) {
    ck_assert_uint_eq(hak_class_size[HAK_CODE_NONE], 0);
    ck_assert_uint_eq(hak_class_size[HAK_CODE_LARGE], 0);
    ck_assert_uint_eq(hak_class_size[1], 16);
    ck_assert_uint_eq(hak_class_size[HAK_NCLASSES], HAK_SMALL_MAX);
    /* Every 16 bytes up to 256 (the quarantine's fill counts on it). */
    for (unsigned c = 1; c <= 16; c++)
        ck_assert_uint_eq(hak_class_size[c], 16 * c);
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        HAK_CHECK_MSG(hak_class_size[c] >= 16, "class %u size %u", c, hak_class_size[c]);
        HAK_CHECK_MSG(hak_class_size[c] % 16 == 0, "class %u size %u", c, hak_class_size[c]);
        if (c > 1)
            HAK_CHECK_MSG(hak_class_size[c] > hak_class_size[c - 1], "class %u not above %u", c,
                          c - 1);
    }
}
END_TEST

START_TEST(test_table_maps_to_smallest_class) {
    for (size_t n = 0; n <= HAK_SMALL_MAX; n++) {
        unsigned c = hak_class_of(n);
        HAK_CHECK_MSG(c >= 1 && c <= HAK_NCLASSES, "n=%zu class %u", n, c);
        HAK_CHECK_MSG(hak_class_size[c] >= n, "n=%zu class %u size %u", n, c, hak_class_size[c]);
        if (c > 1)
            HAK_CHECK_MSG(hak_class_size[c - 1] < n, "n=%zu: class %u (size %u) would do", n, c - 1,
                          hak_class_size[c - 1]);
    }
}
END_TEST

/* The table fills a page of sizes at a time: a size of a page no request
 * reached reads 0 on the fast paths (which then miss), and one request
 * fills its whole page, no more.  Sizes above 60 KiB: no test of this
 * suite asks them before (the ones above fill the table in their own
 * process, under CK_FORK). */
START_TEST(test_table_fills_by_page) {
    size_t lo = HAK_SMALL_MAX - 2 * HAK_PAGE_SIZE, mid = lo + HAK_PAGE_SIZE;
    if (hak_class_fast(lo) != 0 || hak_class_fast(mid) != 0)
        return; /* filled already (CK_FORK=no): nothing to see */
    unsigned c = hak_class_of(lo + 100);
    ck_assert_uint_eq(hak_class_size[c], 61440);
    for (size_t n = lo; n < mid; n++)
        HAK_CHECK_MSG(hak_class_fast(n) != 0, "n=%zu: its page was not filled", n);
    HAK_CHECK_MSG(hak_class_fast(mid) == 0, "the fill of %zu reached the next page", lo + 100);
    HAK_CHECK(hak_class_of(HAK_SMALL_MAX) == HAK_NCLASSES);
}
END_TEST

START_TEST(test_waste_at_most_one_eighth_above_128) {
    for (size_t n = 129; n <= HAK_SMALL_MAX; n++) {
        size_t s = hak_class_size[hak_class_of(n)];
        HAK_CHECK_MSG((s - n) * 8 <= n, "n=%zu gets %zu: waste %zu > 12.5%%", n, s, s - n);
    }
}
END_TEST

/* A power of two from 1 KiB to 8 KiB plus a header of up to an eighth of
 * it (SQLite's 4096 + 272 B page-cache entries, 1024 + 8 B buffers) wastes
 * at most a 32nd of the power of two, not up to an eighth. */
START_TEST(test_power_of_two_plus_header_fits) {
    for (size_t b = 1024; b <= 8192; b *= 2)
        for (size_t n = b + 1; n <= b + b / 8; n++) {
            size_t s = hak_class_size[hak_class_of(n)];
            HAK_CHECK_MSG((s - n) * 32 <= b, "n=%zu gets %zu: waste %zu > %zu/32", n, s, s - n, b);
        }
    ck_assert_uint_eq(hak_class_size[hak_class_of(1032)], 1040);
    ck_assert_uint_eq(hak_class_size[hak_class_of(4368)], 4480);
}
END_TEST

START_TEST(test_class_align_divides_size) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        size_t a = hak_class_align(c);
        ck_assert(a >= 16 && (a & (a - 1)) == 0 && a <= HAK_PAGE_SIZE);
        ck_assert_uint_eq(hak_class_size[c] % a, 0);
    }
}
END_TEST

/* hak_span_aligned's divisibility test, at every offset a run of the
 * biggest span (HAK_POOL_MAX_UNITS units) has. */
START_TEST(test_span_aligned_is_divisibility) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        for (uint64_t off = 0; off < (uint64_t)HAK_POOL_MAX_UNITS << HAK_UNIT_SHIFT; off++)
            if (hak_span_aligned(off, hak_class_magic[c]) != (off % hak_class_size[c] == 0))
                ck_abort_msg("class %u (size %u), offset %llu", c, hak_class_size[c],
                             (unsigned long long)off);
}
END_TEST

START_TEST(test_class_for_aligned) {
    static const size_t sizes[] = {0,    1,    15,   16,    17,    100,   129,  255,
                                   256,  257,  1000, 1024,  3000,  4095,  4096, 4097,
                                   5000, 8191, 8192, 12288, 20000, 32767, 32768};
    for (size_t align = 16; align <= HAK_PAGE_SIZE; align <<= 1) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            unsigned c = hak_class_for_aligned(n, align);
            if (c == 0) {
                /* Only when rounding n up to align leaves the small range. */
                HAK_CHECK_MSG(((n + align - 1) & ~(align - 1)) > HAK_SMALL_MAX,
                              "n=%zu align=%zu refused", n, align);
                continue;
            }
            HAK_CHECK_MSG(c <= HAK_NCLASSES, "n=%zu align=%zu class %u", n, align, c);
            HAK_CHECK_MSG(hak_class_size[c] >= n, "n=%zu align=%zu class size %u", n, align,
                          hak_class_size[c]);
            HAK_CHECK_MSG(hak_class_size[c] % align == 0, "n=%zu align=%zu class size %u", n, align,
                          hak_class_size[c]);
        }
        /* Every size, not only the listed ones. */
        for (size_t n = 0; n <= HAK_SMALL_MAX; n += 3) {
            unsigned c = hak_class_for_aligned(n, align);
            if (c != 0)
                HAK_CHECK_MSG(hak_class_size[c] % align == 0 && hak_class_size[c] >= n,
                              "n=%zu align=%zu class size %u", n, align, hak_class_size[c]);
        }
    }
    ck_assert_uint_eq(hak_class_for_aligned(16, 2 * HAK_PAGE_SIZE), 0);
    ck_assert_uint_eq(hak_class_for_aligned(HAK_SMALL_MAX + 1, 16), 0);
    ck_assert_uint_eq(hak_class_for_aligned(SIZE_MAX, 64), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sizeclass");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_classes_are_16_multiples_and_monotonic);
    tcase_add_test(tc, test_table_maps_to_smallest_class);
    tcase_add_test(tc, test_table_fills_by_page);
    tcase_add_test(tc, test_waste_at_most_one_eighth_above_128);
    tcase_add_test(tc, test_power_of_two_plus_header_fits);
    tcase_add_test(tc, test_span_aligned_is_divisibility);
    tcase_add_test(tc, test_class_align_divides_size);
    tcase_add_test(tc, test_class_for_aligned);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

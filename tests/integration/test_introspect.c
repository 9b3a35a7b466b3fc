/* Integration: glibc's introspection calls (mallinfo2, mallinfo, malloc_stats, malloc_info,
 * mallopt), the __libc_* names and the per-class statistics, with HAKMEM's real figures. */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check_main.h"

#define MiB ((size_t)1 << 20)

/* glibc declares these only in its internal headers. */
void *__libc_malloc(size_t size);
void __libc_free(void *ptr);
void *__libc_calloc(size_t nmemb, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t alignment, size_t size);

static uint32_t rnd(uint32_t *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

/* Holds about target bytes live, in blocks of up to max_small bytes, and
 * with large set one block in eight between 64 KiB and 4 MiB, freeing a
 * random one now and then; checks that uordblks grew by the bytes held
 * (their usable sizes) to within 1 %, then frees them all. */
static void check_live(size_t target, bool large) {
    size_t cap = target / 512 + 1024, n = 0, held = 0;
    void **v = malloc(cap * sizeof *v);
    ck_assert_ptr_nonnull(v);
    size_t base = mallinfo2().uordblks;
    uint32_t seed = (uint32_t)target;
    while (held < target && n < cap) {
        uint32_t r = rnd(&seed);
        size_t size = large && r % 8 == 0 ? (64 << 10) + r % (4 * MiB) : 1 + r % 2048;
        void *p = malloc(size);
        HAK_CHECK(p != NULL);
        v[n++] = p;
        held += malloc_usable_size(p);
        if (r % 5 == 0) {
            size_t k = rnd(&seed) % n;
            held -= malloc_usable_size(v[k]);
            free(v[k]);
            v[k] = v[--n];
        }
    }
    struct mallinfo2 m = mallinfo2();
    double err = ((double)m.uordblks - (double)base - (double)held) / (double)held;
    HAK_CHECK_MSG(err < 0.01 && err > -0.01,
                  "target %zu: held %zu, uordblks %zu above a base of %zu (%.3f %% off)", target,
                  held, m.uordblks, base, err * 100);
    HAK_CHECK_MSG(m.arena >= m.uordblks && m.fordblks == m.arena - m.uordblks,
                  "arena %zu, uordblks %zu, fordblks %zu", m.arena, m.uordblks, m.fordblks);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    m = mallinfo2();
    err = ((double)m.uordblks - (double)base) / (double)held;
    HAK_CHECK_MSG(err < 0.01 && err > -0.01, "after the frees: uordblks %zu, base %zu", m.uordblks,
                  base);
    free(v);
}

START_TEST(test_uordblks_small) {
    check_live(MiB, false);
    check_live(64 * MiB, false);
}
END_TEST

START_TEST(test_uordblks_mixed) {
    check_live(MiB, true);
    check_live(64 * MiB, true);
    check_live(1024 * MiB, true);
}
END_TEST

START_TEST(test_large_blocks_fields) {
    struct mallinfo2 a = mallinfo2();
    void *p[3];
    size_t bytes = 0;
    for (int i = 0; i < 3; i++) {
        p[i] = malloc((size_t)(i + 1) * MiB);
        ck_assert_ptr_nonnull(p[i]);
        bytes += malloc_usable_size(p[i]);
    }
    struct mallinfo2 b = mallinfo2();
    hak_stats_t st;
    hak_stats_get(&st);
    ck_assert_uint_ge(st.active_bytes, st.large_live_bytes);
    ck_assert_uint_ge(st.large_live_bytes, bytes);
    ck_assert_uint_ge(st.peak_active_bytes, st.active_bytes);
    ck_assert_uint_ge(st.peak_live_bytes, st.live_bytes);
    ck_assert_uint_ge(st.peak_mapped_bytes, st.mapped_bytes);
    ck_assert_uint_eq(b.hblks, a.hblks + 3);
    ck_assert_uint_eq(b.hblkhd, a.hblkhd + bytes);
    ck_assert_uint_ge(b.usmblks, b.uordblks);
    /* The old interface (deprecated for its ints, still called): the same
     * figures while they fit. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo o = mallinfo();
#pragma GCC diagnostic pop
    ck_assert_int_eq(o.hblks, (int)b.hblks);
    ck_assert_int_eq(o.hblkhd, (int)b.hblkhd);
    ck_assert_int_eq(o.uordblks, (int)b.uordblks);
    for (int i = 0; i < 3; i++)
        free(p[i]);
    struct mallinfo2 c = mallinfo2();
    ck_assert_uint_eq(c.hblks, a.hblks);
    ck_assert_uint_eq(c.hblkhd, a.hblkhd);
}
END_TEST

/* Blocks freed stay in the thread cache: counted free (ordblks) and per
 * class as cached; while held, as live. */
START_TEST(test_classes) {
    hak_class_stats_t cls[128];
    size_t n = hak_stats_classes(cls, 128);
    ck_assert_uint_gt(n, 8);
    ck_assert_uint_le(n, 128);
    for (size_t i = 1; i < n; i++)
        ck_assert_uint_gt(cls[i].size, cls[i - 1].size);
    size_t k = 0;
    while (cls[k].size < 48)
        k++;
    size_t size = cls[k].size;
    void *p[100];
    for (int i = 0; i < 100; i++)
        p[i] = malloc(size);
    hak_stats_classes(cls, n);
    ck_assert_uint_ge(cls[k].live_blocks, 100);
    ck_assert_uint_ge(cls[k].refills, 1);
    uint64_t live = cls[k].live_blocks;
    struct mallinfo2 a = mallinfo2();
    for (int i = 0; i < 10; i++)
        free(p[i]);
    hak_stats_classes(cls, n);
    struct mallinfo2 b = mallinfo2();
    /* Exact, whether or not a free flushed part of the bin. */
    ck_assert_uint_eq(cls[k].live_blocks, live - 10);
    ck_assert_uint_eq(b.uordblks, a.uordblks - 10 * size);
    ck_assert_uint_ge(cls[k].cached_blocks, 1);
    ck_assert_uint_ge(b.ordblks, cls[k].cached_blocks);
    for (int i = 10; i < 100; i++)
        free(p[i]);
}
END_TEST

/* Runs malloc_stats with stderr going into a pipe; returns what it wrote. */
static void stats_output(char *out, size_t cap) {
    int fds[2], saved = dup(2);
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(dup2(fds[1], 2), 2);
    malloc_stats();
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    ssize_t r = read(fds[0], out, cap - 1);
    out[r > 0 ? r : 0] = '\0';
    close(fds[0]);
}

START_TEST(test_malloc_stats) {
    void *p = malloc(5 * MiB), *q = malloc(1000);
    char buf[1024];
    struct mallinfo2 m = mallinfo2();
    stats_output(buf, sizeof buf);
    unsigned long long sys0, use0, sys, use, regions, bytes;
    int got = sscanf(buf,
                     "Arena 0:\nsystem bytes     = %llu\nin use bytes     = %llu\n"
                     "Total (incl. mmap):\nsystem bytes     = %llu\nin use bytes     = %llu\n"
                     "max mmap regions = %llu\nmax mmap bytes   = %llu\n",
                     &sys0, &use0, &sys, &use, &regions, &bytes);
    HAK_CHECK_MSG(got == 6, "malloc_stats wrote:\n%s", buf);
    ck_assert_uint_eq(use, m.uordblks);
    ck_assert_uint_eq(use0, m.uordblks - m.hblkhd);
    ck_assert_uint_eq(sys, m.arena);
    ck_assert_uint_ge(regions, 1);
    ck_assert_uint_ge(bytes, 5 * MiB);
    /* glibc's columns: numbers right-aligned in ten. */
    const char *line = strstr(buf, "\nmax mmap regions = ");
    ck_assert_ptr_nonnull(line);
    line += strlen("\nmax mmap regions = ");
    ck_assert_int_eq(strchr(line, '\n') - line, 10);
    free(p);
    free(q);
}
END_TEST

/* Counts the elements of a document with no text between its tags, and
 * checks that each end tag closes the element open. */
static bool xml_well_formed(const char *doc, int *elements) {
    const char *open[16];
    size_t open_len[16];
    int depth = 0;
    *elements = 0;
    for (const char *c = doc; (c = strchr(c, '<')) != NULL;) {
        const char *end = strchr(c, '>');
        if (end == NULL)
            return false;
        if (c[1] == '/') {
            size_t len = strcspn(c + 2, " >");
            if (depth == 0 || len != open_len[depth - 1] ||
                strncmp(c + 2, open[depth - 1], len) != 0)
                return false;
            depth--;
        } else {
            (*elements)++;
            if (end[-1] != '/') {
                if (depth == 16)
                    return false;
                open[depth] = c + 1;
                open_len[depth++] = strcspn(c + 1, " >");
            }
        }
        for (const char *q = c + 1; q < end; q++)
            if (*q == '<')
                return false;
        c = end + 1;
    }
    return depth == 0;
}

START_TEST(test_malloc_info) {
    void *p[20];
    for (int i = 0; i < 20; i++)
        p[i] = malloc(200);
    for (int i = 0; i < 5; i++)
        free(p[i]);
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(malloc_info(0, f), 0);
    fclose(f);
    int elements;
    HAK_CHECK_MSG(xml_well_formed(doc, &elements), "not well-formed:\n%s", doc);
    ck_assert_int_ge(elements, 10);
    HAK_CHECK_MSG(strncmp(doc, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", 43) == 0, "%s",
                  doc);
    char want[128];
    snprintf(want, sizeof want, "to=\"%zu\" total=\"", malloc_usable_size(p[5]));
    const char *sz = strstr(doc, want);
    HAK_CHECK_MSG(sz != NULL, "no class of %s in:\n%s", want, doc);
    unsigned long long total, count, live;
    ck_assert_int_eq(
        sscanf(sz + strlen(want), "%llu\" count=\"%llu\" live=\"%llu\"", &total, &count, &live), 3);
    ck_assert_uint_ge(count, 5);
    ck_assert_uint_ge(live, 15);
    ck_assert_uint_eq(total, count * malloc_usable_size(p[5]));
    snprintf(want, sizeof want, "backend=\"%s\"", hak_backend_name());
    HAK_CHECK_MSG(strstr(doc, want) != NULL, "%s", doc);
    free(doc);
    errno = 0;
    ck_assert_int_eq(malloc_info(1, stdout), -1);
    ck_assert_int_eq(errno, EINVAL);
    for (int i = 5; i < 20; i++)
        free(p[i]);
}
END_TEST

START_TEST(test_mallopt) {
    ck_assert_int_eq(mallopt(M_MMAP_THRESHOLD, 1 << 20), 1);
    ck_assert_int_eq(mallopt(M_MMAP_THRESHOLD, 64 << 20), 0);
    ck_assert_int_eq(mallopt(M_TOP_PAD, 1 << 20), 1);
    ck_assert_int_eq(mallopt(M_MMAP_MAX, 1000), 1);
    ck_assert_int_eq(mallopt(M_ARENA_MAX, 2), 1);
    ck_assert_int_eq(mallopt(M_ARENA_MAX, 0), 0);
    ck_assert_int_eq(mallopt(M_ARENA_TEST, 8), 1);
    ck_assert_int_eq(mallopt(M_MXFAST, 64), 1);
    ck_assert_int_eq(mallopt(M_MXFAST, 1000), 0);
    ck_assert_int_eq(mallopt(M_CHECK_ACTION, 3), 1);
    ck_assert_int_eq(mallopt(M_PERTURB, 0x55), 0);
    ck_assert_int_eq(mallopt(12345, 1), 0);
    /* M_TRIM_THRESHOLD is HAKMEM's cache budget: with none, a freed block
     * bigger than the budget goes back to the OS at the free. */
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, 0), 1);
    char *p = malloc(8 * MiB);
    ck_assert_ptr_nonnull(p);
    memset(p, 1, 8 * MiB);
    hak_stats_t a, b;
    hak_stats_get(&a);
    free(p);
    hak_stats_get(&b);
    ck_assert_uint_ge(b.returned_bytes, a.returned_bytes + 8 * MiB);
    ck_assert_uint_le(b.resident_bytes + 8 * MiB, a.resident_bytes);
}
END_TEST

/* Blocks cross between glibc's own names and the standard ones. */
START_TEST(test_libc_names_cross) {
    char *p = __libc_malloc(100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(malloc_usable_size(p), hak_usable_size(p));
    free(p);
    p = malloc(200);
    __libc_free(p);
    p = __libc_calloc(10, 10);
    for (int i = 0; i < 100; i++)
        HAK_CHECK(p[i] == 0);
    p = __libc_realloc(p, 1 << 20);
    ck_assert_ptr_nonnull(p);
    p = realloc(p, 50);
    __libc_free(p);
    p = __libc_memalign(4096, 5000);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 4096, 0);
    free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("introspect");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("glibc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_uordblks_small);
    tcase_add_test(tc, test_uordblks_mixed);
    tcase_add_test(tc, test_large_blocks_fields);
    tcase_add_test(tc, test_classes);
    tcase_add_test(tc, test_malloc_stats);
    tcase_add_test(tc, test_malloc_info);
    tcase_add_test(tc, test_mallopt);
    tcase_add_test(tc, test_libc_names_cross);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

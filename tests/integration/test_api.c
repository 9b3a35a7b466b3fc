/* Integration: the API conformance table of RELIABILITY.md (public API): zero sizes, alignment,
 * calloc, usable size, free/errno. */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../check_main.h"

#define MiB ((size_t)1 << 20)

/* C23 names that glibc's headers may not declare yet. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

static bool all_zero(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0)
            return false;
    return true;
}

/* ---- the library really is the malloc ---- */

START_TEST(test_malloc_is_hakmem) {
    hak_stats_t a, b;
    hak_stats_get(&a);
    void *p = malloc(MiB);
    ck_assert_ptr_nonnull(p);
    hak_stats_get(&b);
    ck_assert_uint_eq(b.large_allocs, a.large_allocs + 1);
    ck_assert_uint_eq(malloc_usable_size(p), hak_usable_size(p));
    free(p);
    hak_stats_get(&a);
    ck_assert_uint_eq(a.large_frees, b.large_frees + 1);
}
END_TEST

/* ---- zero sizes ---- */

START_TEST(test_malloc0_unique) {
    enum { N = 200 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = i % 2 ? malloc(0) : realloc(NULL, 0);
        ck_assert_ptr_nonnull(p[i]);
        for (int j = 0; j < i; j++)
            HAK_CHECK(p[i] != p[j]);
    }
    for (int i = 0; i < N; i++)
        free(p[i]);
    void *h = hak_malloc(0);
    ck_assert_ptr_nonnull(h);
    hak_free(h);
    void *c = calloc(0, 0);
    ck_assert_ptr_nonnull(c);
    free(c);
}
END_TEST

START_TEST(test_realloc0_frees) {
    /* A large block shows the free in the counters. */
    void *p = malloc(MiB);
    ck_assert_ptr_nonnull(p);
    hak_stats_t a, b;
    hak_stats_get(&a);
    errno = 0;
    ck_assert_ptr_null(realloc(p, 0));
    hak_stats_get(&b);
    ck_assert_uint_eq(b.large_frees, a.large_frees + 1);
    /* A small block: realloc(p, 0) must not leak it or crash. */
    for (int i = 0; i < 10000; i++) {
        void *q = malloc(48);
        HAK_CHECK(q != NULL);
        HAK_CHECK(realloc(q, 0) == NULL);
    }
}
END_TEST

/* ---- alignment ---- */

START_TEST(test_bad_alignments) {
    static const size_t bad[] = {0,  3,  5,    6,    7,       12,       24,
                                 48, 96, 1000, 4097, 3 << 20, SIZE_MAX, (SIZE_MAX >> 1) + 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        HAK_CHECK_MSG(aligned_alloc(bad[i], 64) == NULL, "aligned_alloc(%zu) succeeded", bad[i]);
        HAK_CHECK_MSG(errno == EINVAL, "aligned_alloc(%zu): errno %d", bad[i], errno);
        errno = 0;
        ck_assert_ptr_null(hak_aligned_alloc(bad[i], 64));
        ck_assert_int_eq(errno, EINVAL);
        void *sentinel = (void *)(uintptr_t)0xabcd, *p = sentinel;
        HAK_CHECK_MSG(posix_memalign(&p, bad[i], 64) == EINVAL, "posix_memalign(%zu)", bad[i]);
        ck_assert_ptr_eq(p, sentinel);
    }
    /* posix_memalign: a power of two below sizeof(void *) is invalid too. */
    for (size_t a = 1; a < sizeof(void *); a <<= 1) {
        void *sentinel = (void *)(uintptr_t)0xabcd, *p = sentinel;
        ck_assert_int_eq(posix_memalign(&p, a, 64), EINVAL);
        ck_assert_ptr_eq(p, sentinel);
    }
}
END_TEST

static void check_aligned(void *p, size_t align, size_t n, const char *who) {
    HAK_CHECK_MSG(p != NULL, "%s(%zu, %zu) failed", who, align, n);
    HAK_CHECK_MSG(((uintptr_t)p & (align - 1)) == 0, "%s(%zu, %zu) = %p", who, align, n, p);
    HAK_CHECK_MSG(((uintptr_t)p & 15) == 0, "%s(%zu, %zu) = %p", who, align, n, p);
    ck_assert(malloc_usable_size(p) >= n);
    if (n <= MiB) {
        memset(p, 0xc3, n);
    } else { /* the ends are enough; do not fault in megabytes */
        ((unsigned char *)p)[0] = 1;
        ((unsigned char *)p)[n - 1] = 2;
    }
}

START_TEST(test_valid_alignments) {
    for (size_t a = 1; a <= 64 * MiB; a <<= 1) {
        size_t sizes[] = {1, a > 1 ? a - 1 : 1, a, a + 1, 3 * a + 5, 100, 40000};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            if (n > 8 * MiB && n != a)
                continue; /* keep the big alignments cheap */
            void *p = aligned_alloc(a, n);
            check_aligned(p, a, n, "aligned_alloc");
            free(p);
            if (a >= sizeof(void *)) {
                p = NULL;
                ck_assert_int_eq(posix_memalign(&p, a, n), 0);
                check_aligned(p, a, n, "posix_memalign");
                free(p);
            }
            p = memalign(a, n);
            check_aligned(p, a, n, "memalign");
            free(p);
            p = hak_aligned_alloc(a, n);
            check_aligned(p, a, n, "hak_aligned_alloc");
            hak_free(p);
        }
    }
}
END_TEST

/* Size 0 with every alignment: a unique block that free and
 * malloc_usable_size accept, lying inside memory HAKMEM owns. */
START_TEST(test_zero_size_alignments) {
    for (size_t a = 1; a <= 64 * MiB; a <<= 1) {
        void *p = aligned_alloc(a, 0);
        HAK_CHECK_MSG(p != NULL, "aligned_alloc(%zu, 0) failed", a);
        HAK_CHECK_MSG(((uintptr_t)p & (a - 1)) == 0, "aligned_alloc(%zu, 0) = %p", a, p);
        void *q = aligned_alloc(a, 0);
        ck_assert_ptr_nonnull(q);
        ck_assert_ptr_ne(p, q);
        (void)malloc_usable_size(p);
        (void)malloc_usable_size(q);
        free(q);
        free(p);
        if (a >= sizeof(void *)) {
            ck_assert_int_eq(posix_memalign(&p, a, 0), 0);
            HAK_CHECK_MSG(((uintptr_t)p & (a - 1)) == 0, "posix_memalign(%zu, 0) = %p", a, p);
            (void)malloc_usable_size(p);
            free(p);
        }
    }
}
END_TEST

/* Blocks aligned to 2 MiB or more keep their header outside the block's own
 * 2 MiB slot: realloc must not take the block's contents for a header.
 * Fill patterns include the byte values of chunk kinds. */
START_TEST(test_realloc_big_alignment) {
    enum { BIG = 128 * 1024 }; /* above the small classes: the large path */
    static const unsigned char fills[] = {0x00, 0x01, 0x02, 0x03, 0xff};
    static const size_t grow[] = {BIG + 4096, 800 * 1024, 5 * MiB};
    for (size_t a = 2 * MiB; a <= 8 * MiB; a <<= 1) {
        for (size_t f = 0; f < sizeof fills; f++) {
            for (size_t g = 0; g < sizeof grow / sizeof grow[0]; g++) {
                unsigned char *p = aligned_alloc(a, BIG);
                ck_assert_ptr_nonnull(p);
                memset(p, fills[f], BIG);
                unsigned char *q = realloc(p, grow[g]);
                ck_assert_ptr_nonnull(q);
                for (size_t i = 0; i < BIG; i++)
                    HAK_CHECK_MSG(q[i] == fills[f], "byte %zu changed (fill %#x)", i, fills[f]);
                /* Writable to the new size: an in-place "resize" that took
                 * the fill for a chunk header would fault here. */
                memset(q + BIG, 0x77, grow[g] - BIG);
                ck_assert_uint_ge(malloc_usable_size(q), grow[g]);
                free(q);
            }
        }
    }
}
END_TEST

START_TEST(test_valloc_pvalloc) {
    static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 40000, 3 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = valloc(sizes[i]);
        check_aligned(p, 4096, sizes[i], "valloc");
        free(p);
        p = pvalloc(sizes[i]);
        size_t rounded = sizes[i] ? (sizes[i] + 4095) & ~(size_t)4095 : 4096;
        check_aligned(p, 4096, rounded, "pvalloc");
        free(p);
    }
}
END_TEST

/* ---- calloc zeroes, also recycled memory ---- */

START_TEST(test_calloc_recycled_small) {
    for (size_t n = 1; n <= 32768; n = n < 512 ? n + 7 : n * 9 / 8) {
        void *held[8];
        for (int i = 0; i < 8; i++) {
            held[i] = malloc(n);
            ck_assert_ptr_nonnull(held[i]);
            memset(held[i], 0xff, malloc_usable_size(held[i]));
        }
        for (int i = 0; i < 8; i++)
            free(held[i]);
        for (int i = 0; i < 8; i++) {
            held[i] = calloc(1, n);
            ck_assert_ptr_nonnull(held[i]);
            HAK_CHECK_MSG(all_zero(held[i], n), "calloc(1, %zu) not zero", n);
        }
        for (int i = 0; i < 8; i++)
            free(held[i]);
    }
}
END_TEST

static void calloc_recycled(size_t n, bool trim) {
    for (int round = 0; round < 3; round++) {
        void *p = malloc(n);
        ck_assert_ptr_nonnull(p);
        memset(p, 0x99, malloc_usable_size(p));
        free(p);
        if (trim)
            (void)malloc_trim(0);
        void *q = calloc(n / 16, 16);
        ck_assert_ptr_nonnull(q);
        HAK_CHECK_MSG(all_zero(q, n), "calloc of %zu after %s not zero (%s block)", n,
                      trim ? "malloc_trim" : "free", p == q ? "same" : "other");
        memset(q, 0x42, n);
        free(q);
    }
}

START_TEST(test_calloc_recycled_large) {
    static const size_t sizes[] = {32784, 65536, 300000, MiB, 3 * MiB, 12 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        calloc_recycled(sizes[i], false);
        calloc_recycled(sizes[i], true);
    }
}
END_TEST

/* ---- usable size and minimum alignment ---- */

START_TEST(test_usable_size) {
    ck_assert_uint_eq(malloc_usable_size(NULL), 0);
    ck_assert_uint_eq(hak_usable_size(NULL), 0);
    for (size_t n = 0; n <= 70000; n += n < 4096 ? 1 : 61) {
        unsigned char *p = malloc(n);
        HAK_CHECK(p != NULL);
        size_t u = malloc_usable_size(p);
        HAK_CHECK_MSG(u >= n, "malloc(%zu): usable %zu", n, u);
        memset(p, 0xab, u); /* every usable byte is writable */
        HAK_CHECK(u == 0 || p[u - 1] == 0xab);
        free(p);
    }
}
END_TEST

/* A large block (above 64 KiB) is charged at most 1.125 times what the
 * program asked for, whatever bigger free memory it reuses. */
static void check_large_usable(void *p, size_t asked, const char *what) {
    size_t u = malloc_usable_size(p);
    HAK_CHECK_MSG(u >= asked && u <= asked + asked / 8, "%s(%zu): usable %zu (%.3fx)", what, asked,
                  u, (double)u / (double)asked);
}

/* realloc: a growth holds half again as much headroom, which is not
 * charged but grows in place: each next step of a buffer that grows by a
 * tenth stays where it is until the headroom runs out (with
 * HAKMEM_SECURE, whose guard page never moves, it moves each time).  The
 * block of from bytes grown to to bytes, then by four such steps. */
static char *grown_in_headroom(size_t from, size_t to) {
    const char *secure = getenv("HAKMEM_SECURE");
    bool moves = secure != NULL && strcmp(secure, "1") == 0;
    char *p = malloc(from);
    HAK_CHECK(p != NULL);
    p = realloc(p, to);
    HAK_CHECK(p != NULL);
    check_large_usable(p, to, "realloc growth");
    memset(p, 0x5a, to);
    size_t n = to;
    for (int step = 0; step < 4; step++) {
        n += n / 10;
        char *q = realloc(p, n);
        HAK_CHECK_MSG(moves || q == p, "realloc(%zu) moved within the headroom", n);
        check_large_usable(q, n, "realloc growth in the headroom");
        HAK_CHECK(q[to - 1] == 0x5a);
        memset(q, 0x5a, n);
        p = q;
    }
    return p;
}

START_TEST(test_usable_size_large_bound) {
    static const size_t sizes[] = {65537,   100000,  (1 << 20) - 1, 1 << 20, (1 << 20) + 1,
                                   3091601, 5000000, 8500000,       30 << 20};
    for (int round = 0; round < 2; round++) {
        /* Free memory bigger than every request, to be reused: */
        char *big = malloc(64 * MiB);
        HAK_CHECK(big != NULL);
        memset(big, 1, 64 * MiB);
        free(big);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *p = malloc(n);
            HAK_CHECK(p != NULL);
            check_large_usable(p, n, "malloc");
            free(p);
            p = calloc(1, n);
            HAK_CHECK(p != NULL && all_zero(p, n));
            check_large_usable(p, n, "calloc");
            free(p);
            HAK_CHECK(posix_memalign(&p, 65536, n) == 0);
            check_large_usable(p, n, "posix_memalign");
            free(p);
        }
    }
    char *big = malloc(8500000);
    HAK_CHECK(big != NULL);
    free(big);
    /* A run of pages and an extent of their own chunk: */
    char *p = grown_in_headroom(70000, 100000);
    free(p);
    p = grown_in_headroom(MiB, 3091601);
    /* A shrink gives back what is past the new size: */
    p = realloc(p, 2000000);
    HAK_CHECK(p != NULL);
    check_large_usable(p, 2000000, "realloc shrink");
    p = realloc(p, 200000);
    HAK_CHECK(p != NULL);
    check_large_usable(p, 200000, "realloc shrink");
    p = realloc(p, 100000);
    HAK_CHECK(p != NULL);
    check_large_usable(p, 100000, "realloc shrink");
    free(p);
}
END_TEST

START_TEST(test_min_alignment_every_size) {
    enum { BATCH = 64 };
    void *held[BATCH];
    int k = 0;
    for (size_t n = 0; n <= 70000; n++) {
        void *p = malloc(n);
        HAK_CHECK(p != NULL);
        HAK_CHECK_MSG(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p", n, p);
        held[k++] = p;
        if (k == BATCH) {
            while (k)
                free(held[--k]);
        }
    }
    while (k)
        free(held[--k]);
    for (size_t n = 0; n <= 70000; n += 13) {
        void *p = calloc(1, n);
        HAK_CHECK_MSG(((uintptr_t)p & 15) == 0, "calloc(1, %zu) = %p", n, p);
        void *q = realloc(p, n + 100);
        HAK_CHECK_MSG(((uintptr_t)q & 15) == 0, "realloc(%zu) = %p", n + 100, q);
        free(q);
    }
}
END_TEST

/* ---- realloc keeps contents ---- */

START_TEST(test_realloc_contents) {
    unsigned char *p = NULL;
    size_t have = 0;
    static const size_t steps[] = {1,       17,      200,   4000, 33000, 100000,
                                   2 * MiB, 5 * MiB, 70000, 300,  5};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = steps[i];
        unsigned char *q = realloc(p, n);
        ck_assert_ptr_nonnull(q);
        size_t keep = have < n ? have : n;
        for (size_t j = 0; j < keep; j++)
            HAK_CHECK_MSG(q[j] == (unsigned char)(j * 7), "realloc %zu -> %zu lost byte %zu", have,
                          n, j);
        for (size_t j = 0; j < n; j++)
            q[j] = (unsigned char)(j * 7);
        p = q;
        have = n;
    }
    free(p);
}
END_TEST

/* ---- free ---- */

START_TEST(test_free_null) {
    errno = 77;
    free(NULL);
    hak_free(NULL);
    free_sized(NULL, 0);
    free_aligned_sized(NULL, 64, 0);
    ck_assert_int_eq(errno, 77);
}
END_TEST

static void free_keeps_errno(void *p, int how) {
    HAK_CHECK(p != NULL);
    errno = 1234;
    if (how == 0)
        free(p);
    else if (how == 1)
        hak_free(p);
    else
        free_sized(p, 1);
    HAK_CHECK_MSG(errno == 1234, "free changed errno to %d", errno);
}

START_TEST(test_free_keeps_errno) {
    for (int how = 0; how < 3; how++) {
        free_keeps_errno(malloc(16), how);                  /* small */
        free_keeps_errno(malloc(5000), how);                /* small, bigger class */
        free_keeps_errno(malloc(MiB), how);                 /* large run */
        free_keeps_errno(malloc(20 * MiB), how);            /* huge: its own chunk, unmapped */
        free_keeps_errno(aligned_alloc(4 * MiB, 100), how); /* aligned beyond a chunk */
        free_keeps_errno(aligned_alloc(8192, 100), how);
    }
    /* Many small frees, so some flush to the backend. */
    void *p[3000];
    for (int i = 0; i < 3000; i++)
        p[i] = malloc(64);
    for (int i = 0; i < 3000; i++)
        free_keeps_errno(p[i], 0);
    void *q = aligned_alloc(64, 200);
    errno = 1234;
    free_aligned_sized(q, 64, 200);
    ck_assert_int_eq(errno, 1234);
}
END_TEST

START_TEST(test_trim) {
    void *p[64];
    for (int i = 0; i < 64; i++)
        p[i] = malloc(256 * 1024);
    for (int i = 0; i < 64; i++)
        free(p[i]);
    errno = 0;
    int r = malloc_trim(0);
    ck_assert(r == 0 || r == 1);
    r = hak_trim(1 << 20);
    ck_assert(r == 0 || r == 1);
    void *q = malloc(100);
    ck_assert_ptr_nonnull(q);
    free(q);
}
END_TEST

/* Whether v, read as an address, lies in a page mapped in this process. */
static bool mapped(uintptr_t v) {
    unsigned char vec;
    return mincore((void *)(v & ~(uintptr_t)4095), 4096, &vec) == 0;
}

/* A free block, and one handed out again, hold no address in their first
 * two words: not a heap pointer, not a library one (internal.h: the links
 * are encoded with secrets). */
START_TEST(test_no_address_in_blocks) {
    static uintptr_t *b[64];
    for (size_t size = 16; size <= 4096; size *= 4) {
        for (int i = 0; i < 64; i++)
            b[i] = malloc(size);
        for (int i = 0; i < 64; i++)
            free(b[i]);
        for (int i = 0; i < 64; i++) {
            uintptr_t w0 = ((volatile uintptr_t *)b[i])[0], w1 = ((volatile uintptr_t *)b[i])[1];
            HAK_CHECK_MSG(!mapped(w0) && !mapped(w1), "free %zu-byte block %p holds %#lx %#lx",
                          size, (void *)b[i], (unsigned long)w0, (unsigned long)w1);
        }
        for (int i = 0; i < 64; i++) {
            b[i] = malloc(size);
            HAK_CHECK_MSG(!mapped(b[i][0]) && !mapped(b[i][1]),
                          "new %zu-byte block %p holds %#lx %#lx", size, (void *)b[i],
                          (unsigned long)b[i][0], (unsigned long)b[i][1]);
        }
        for (int i = 0; i < 64; i++)
            free(b[i]);
    }
}
END_TEST

/* With HAKMEM_SECURE=1 a block freed is not handed out again at once:
 * it waits in the quarantine (hakmem(3), HAKMEM_SECURE) until 64 blocks
 * were freed after it, however many mallocs come meanwhile; the 64th free
 * lets it go to the thread cache, whose next malloc of the class (LIFO)
 * hands it out.  (No check is made before the end: Check's own calls
 * allocate and free.) */
START_TEST(test_secure_delays_reuse) {
    const char *secure = getenv("HAKMEM_SECURE");
    bool on = secure != NULL && strcmp(secure, "1") == 0;
    static void *b[200], *more[64];
    for (int i = 0; i < 64; i++)
        more[i] = malloc(64);
    void *p = malloc(64);
    free(p);
    int reused = 0;
    for (int i = 0; i < 100; i++) {
        b[i] = malloc(64);
        reused += b[i] == p;
    }
    for (int i = 0; i < 63; i++)
        free(more[i]);
    for (int i = 100; i < 200; i++) {
        b[i] = malloc(64);
        reused += b[i] == p;
    }
    free(more[63]);
    void *q = malloc(64);
    bool back = q == p;
    free(q);
    for (int i = 0; i < 200; i++)
        free(b[i]);
    if (on) {
        ck_assert_int_eq(reused, 0);
        ck_assert(back);
    } else {
        ck_assert_int_eq(reused, 1); /* LIFO: the first malloc gets it back */
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("api");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("conformance");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_malloc_is_hakmem);
    tcase_add_test(tc, test_malloc0_unique);
    tcase_add_test(tc, test_realloc0_frees);
    tcase_add_test(tc, test_bad_alignments);
    tcase_add_test(tc, test_valid_alignments);
    tcase_add_test(tc, test_zero_size_alignments);
    tcase_add_test(tc, test_realloc_big_alignment);
    tcase_add_test(tc, test_valloc_pvalloc);
    tcase_add_test(tc, test_calloc_recycled_small);
    tcase_add_test(tc, test_calloc_recycled_large);
    tcase_add_test(tc, test_usable_size);
    tcase_add_test(tc, test_usable_size_large_bound);
    tcase_add_test(tc, test_min_alignment_every_size);
    tcase_add_test(tc, test_realloc_contents);
    tcase_add_test(tc, test_free_null);
    tcase_add_test(tc, test_free_keeps_errno);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_no_address_in_blocks);
    tcase_add_test(tc, test_secure_delays_reuse);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

/*
 * Unit: every backend of the table (backends.def) driven directly through
 * the contract of backend.h, as the frontend drives it: its members, its
 * refills (exactly the count, blocks cached, of the class, aligned, apart,
 * whole and writable, within its bounds (HAK_CAP_BOUNDS)), its flushes, a torn-down
 * thread's (NULL state) calls, a block freed by another thread than the one
 * that got it, the calls that give memory back, fork's pair, a refill the
 * OS refuses memory for, and the small carve of a first refill.  The
 * process itself runs on the backend each-backend does not change (a test
 * of every backend runs once); the backend under test serves only the
 * calls made here.
 */
#include "backends/backend.h"
#include "frontend/frontend.h"
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../check_main.h"

static const struct {
    const char *name;
    const hak_backend_t *b;
} table[] = {
#define HAK_BACKEND(name, vtable) {#name, &vtable},
#include "backends/backends.def"
#undef HAK_BACKEND
};
#define NTABLE ((int)(sizeof table / sizeof table[0]))

/* Classes from the smallest to the largest, through every spacing. */
static const unsigned sizes[] = {16, 48, 256, 320, 1024, 4096, 12288, 40960, 65536};
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define WANT 32

static const hak_backend_t *under_test(int i) {
    hak_ensure_init(); /* keys, options and the ACE, as the frontend has them */
    const hak_backend_t *b = table[i].b;
    ck_assert_int_eq(b->init(), 0);
    return b;
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

/* Checks that list holds exactly n blocks of class c as the contract says,
 * fills each whole with its own byte and checks nothing overlapped; puts
 * the blocks in out[], and relinks them into a list for flush. */
static void *check_refilled(const hak_backend_t *b, unsigned c, void *list, unsigned n,
                            void **out) {
    size_t size = hak_class_size[c];
    unsigned k = 0;
    for (void *p = list; p != HAK_LIST_END; k++) {
        HAK_CHECK_MSG(k < n, "%s: class %u: the list holds more than the %u blocks counted",
                      b->name, c, n);
        HAK_CHECK_MSG(hak_block_cached(p), "%s: block %p is not cached", b->name, p);
        HAK_CHECK_MSG(hak_block_in_class(p, c), "%s: block %p lies in no memory of class %u",
                      b->name, p, c);
        HAK_CHECK_MSG(((uintptr_t)p & (hak_class_align(c) - 1)) == 0,
                      "%s: block %p is not aligned to %zu", b->name, p, hak_class_align(c));
        bool bounds = b->caps & HAK_CAP_BOUNDS;
        HAK_CHECK_MSG(!bounds || hak_pool_handed_out(p, c),
                      "%s: its bounds deny block %p it handed out", b->name, p);
        HAK_CHECK_MSG(!bounds || size <= 16 || !hak_pool_handed_out((char *)p + 16, c),
                      "%s: its bounds take %p, inside a block", b->name, (void *)((char *)p + 16));
        out[k] = p;
        p = hak_block_next(p);
    }
    HAK_CHECK_MSG(k == n, "%s: class %u: the list holds %u blocks, refill said %u", b->name, c, k,
                  n);
    qsort(out, n, sizeof *out, cmp_ptr);
    for (unsigned i = 1; i < n; i++)
        HAK_CHECK_MSG((char *)out[i] - (char *)out[i - 1] >= (ptrdiff_t)size,
                      "%s: blocks %p and %p overlap", b->name, out[i - 1], out[i]);
    for (unsigned i = 0; i < n; i++)
        memset(out[i], (int)(i + 1), size);
    for (unsigned i = 0; i < n; i++)
        for (size_t j = 0; j < size; j += 61)
            HAK_CHECK(((unsigned char *)out[i])[j] == (unsigned char)(i + 1));
    void *again = HAK_LIST_END;
    for (unsigned i = n; i-- > 0;)
        again = hak_block_push(out[i], again);
    return again;
}

START_TEST(test_members) {
    const hak_backend_t *b = under_test(_i);
    ck_assert_str_eq(b->name, table[_i].name);
    ck_assert_ptr_eq(hak_backend_named(table[_i].name), b);
    /* Required: every member but set_budget and decay
     * (backend.h). */
    ck_assert_ptr_nonnull((void *)b->init);
    ck_assert_ptr_nonnull((void *)b->thread_init);
    ck_assert_ptr_nonnull((void *)b->thread_exit);
    ck_assert_ptr_nonnull((void *)b->refill);
    ck_assert_ptr_nonnull((void *)b->flush);
    ck_assert_ptr_nonnull((void *)b->trim);
    ck_assert_ptr_nonnull((void *)b->fork_prepare);
    ck_assert_ptr_nonnull((void *)b->fork_release);
}
END_TEST

START_TEST(test_refill_flush) {
    const hak_backend_t *b = under_test(_i);
    void *state = b->thread_init();
    void *blocks[WANT];
    for (unsigned s = 0; s < NSIZES; s++) {
        unsigned c = hak_class_of(sizes[s]);
        for (int round = 0; round < 3; round++) {
            void *list = HAK_LIST_END;
            hak_fail_t cause = HAK_FAIL_NONE;
            /* The last round asks for one block, up to WANT: a list the
             * backend holds whole may come instead. */
            unsigned want = round == 2 ? 1 : WANT;
            unsigned n = b->refill(state, c, want, WANT, &list, &cause);
            HAK_CHECK_MSG(n >= 1 && n <= WANT, "%s: refill of class %u gave %u blocks", b->name, c,
                          n);
            b->flush(state, c, check_refilled(b, c, list, n, blocks), n);
        }
    }
    b->thread_exit(state);
}
END_TEST

/* A thread's first refill of a class carves at most HAK_CARVE_BYTES of its
 * fresh slab (at least one block), however many blocks it asks: each
 * carved block is written, so resident (pool/freelist.h).  Legacy does not
 * carve by the bump, so it is not asked. */
START_TEST(test_first_carve_is_small) {
    const hak_backend_t *b = under_test(_i);
    if (strcmp(b->name, "legacy") == 0)
        return;
    static const unsigned carved[] = {1024, 12288, 40960};
    void *state = b->thread_init();
    void *blocks[WANT];
    for (unsigned s = 0; s < sizeof carved / sizeof carved[0]; s++) {
        unsigned c = hak_class_of(carved[s]);
        size_t most = (HAK_CARVE_BYTES + carved[s] - 1) / carved[s];
        void *list = HAK_LIST_END;
        hak_fail_t cause = HAK_FAIL_NONE;
        unsigned n = b->refill(state, c, WANT, WANT, &list, &cause);
        HAK_CHECK_MSG(n >= 1 && n <= most, "%s: first refill of %u B blocks carved %u, not 1..%zu",
                      b->name, carved[s], n, most);
        b->flush(state, c, check_refilled(b, c, list, n, blocks), n);
    }
    b->thread_exit(state);
}
END_TEST

/* A thread torn down (NULL state) is still served. */
START_TEST(test_null_state) {
    const hak_backend_t *b = under_test(_i);
    void *blocks[WANT];
    unsigned c = hak_class_of(100);
    void *list = HAK_LIST_END;
    hak_fail_t cause = HAK_FAIL_NONE;
    unsigned n = b->refill(NULL, c, 8, 8, &list, &cause);
    ck_assert_uint_ge(n, 1);
    ck_assert_uint_le(n, 8);
    b->flush(NULL, c, check_refilled(b, c, list, n, blocks), n);
}
END_TEST

struct taker {
    const hak_backend_t *b;
    unsigned c, n;
    void *list;
};

static void *take(void *arg) {
    struct taker *t = arg;
    void *state = t->b->thread_init();
    hak_fail_t cause = HAK_FAIL_NONE;
    t->list = HAK_LIST_END;
    t->n = t->b->refill(state, t->c, WANT, WANT, &t->list, &cause);
    t->b->thread_exit(state); /* the blocks outlive the thread that got them */
    return NULL;
}

/* Blocks one thread got, flushed by another after the first one exited:
 * how cross-thread frees reach a backend. */
START_TEST(test_cross_thread) {
    const hak_backend_t *b = under_test(_i);
    void *blocks[WANT];
    struct taker t = {.b = b, .c = hak_class_of(512)};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, take, &t), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_uint_ge(t.n, 1);
    void *state = b->thread_init();
    b->flush(state, t.c, check_refilled(b, t.c, t.list, t.n, blocks), t.n);
    void *list = HAK_LIST_END;
    hak_fail_t cause = HAK_FAIL_NONE;
    unsigned n = b->refill(state, t.c, WANT, WANT, &list, &cause);
    ck_assert_uint_ge(n, 1);
    b->flush(state, t.c, check_refilled(b, t.c, list, n, blocks), n);
    b->thread_exit(state);
}
END_TEST

/* The calls that give memory back, and fork's pair, after use. */
START_TEST(test_release_and_fork) {
    const hak_backend_t *b = under_test(_i);
    void *state = b->thread_init();
    void *blocks[WANT];
    unsigned c = hak_class_of(2048);
    void *list = HAK_LIST_END;
    hak_fail_t cause = HAK_FAIL_NONE;
    unsigned n = b->refill(state, c, WANT, WANT, &list, &cause);
    ck_assert_uint_ge(n, 1);
    b->flush(state, c, check_refilled(b, c, list, n, blocks), n);
    hak_budget_t none = {.cached_bytes = 0};
    if (b->set_budget != NULL)
        b->set_budget(&none);
    (void)b->trim(0);
    if (b->decay != NULL)
        b->decay();
    b->fork_prepare();
    b->fork_release();
    /* Still serving afterwards. */
    list = HAK_LIST_END;
    n = b->refill(state, c, WANT, WANT, &list, &cause);
    ck_assert_uint_ge(n, 1);
    b->flush(state, c, check_refilled(b, c, list, n, blocks), n);
    b->thread_exit(state);
}
END_TEST

/* A sanitizer's runtime maps memory of its own, which the limit below
 * refuses too: it would abort before the backend is asked. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define HAK_TEST_RLIMIT 1
/* When the OS refuses memory, refill gives 0 blocks, cause MapFail and
 * errno ENOMEM, and serves again once memory is there.  (Check runs each
 * test in a child of its own, which the limit is set in.) */
START_TEST(test_refill_refused) {
    const hak_backend_t *b = under_test(_i);
    void *state = b->thread_init();
    unsigned c = hak_class_of(65536);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = 0; /* every new mapping fails */
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    hak_fail_t cause = HAK_FAIL_NONE;
    unsigned n = 0, got;
    void *lists[4096];
    unsigned counts[4096];
    /* Take until the memory mapped before the limit runs out. */
    do {
        lists[n] = HAK_LIST_END;
        errno = 0;
        got = b->refill(state, c, 1, 1, &lists[n], &cause);
        counts[n] = got;
    } while (got > 0 && ++n < 4096);
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(cause, HAK_FAIL_MAPFAIL);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    void *list = HAK_LIST_END;
    got = b->refill(state, c, 1, 1, &list, &cause);
    ck_assert_uint_eq(got, 1);
    b->flush(state, c, list, got);
    for (unsigned i = 0; i < n; i++)
        b->flush(state, c, lists[i], counts[i]);
    b->thread_exit(state);
}
END_TEST
#endif

int main(void) {
    Suite *s = suite_create("backend_conformance");
    TCase *tc = tcase_create("contract");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_members, 0, NTABLE);
    tcase_add_loop_test(tc, test_refill_flush, 0, NTABLE);
    tcase_add_loop_test(tc, test_first_carve_is_small, 0, NTABLE);
    tcase_add_loop_test(tc, test_null_state, 0, NTABLE);
    tcase_add_loop_test(tc, test_cross_thread, 0, NTABLE);
    tcase_add_loop_test(tc, test_release_and_fork, 0, NTABLE);
#ifdef HAK_TEST_RLIMIT
    tcase_add_loop_test(tc, test_refill_refused, 0, NTABLE);
#endif
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

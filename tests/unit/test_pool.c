/* Unit: the unit pool (pool/pool.c): runs of units taken and given back by
 * classes whose slabs differ in length, hints included. */
#include "frontend/frontend.h"
#include "pool/pool.h"

#include "../check_main.h"

static void setup(void) { hak_ensure_init(); }

typedef struct {
    hak_pool_chunk_t *ch;
    unsigned first, n, cls;
} run_t;

/* Whether the taken run r lies in its chunk, clear of the other runs
 * taken; one assertion per run, not per unit. */
static bool run_clear(const run_t *runs, unsigned count, const run_t *r) {
    if (r->first == 0 || r->first + r->n > HAK_POOL_UNITS)
        return false;
    for (unsigned i = 0; i < count; i++)
        if (runs[i].ch == r->ch && runs[i].first < r->first + r->n &&
            r->first < runs[i].first + runs[i].n)
            return false;
    return true;
}

/* A class's hint points where its last run began: a longer run of the
 * class must not be taken there when it would pass the chunk's end. */
START_TEST(test_hint_within_chunk) {
    static hak_pool_t pl = HAK_POOL_INIT;
    unsigned c = hak_class_of(40000), first;
    hak_pool_chunk_t *a = hak_pool_take(&pl, c, 1, &first);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(first, 1);
    for (unsigned u = 2; u < HAK_POOL_UNITS; u++) {
        ck_assert_ptr_eq(hak_pool_take(&pl, c, 1, &first), a);
        ck_assert_uint_eq(first, u);
    }
    hak_pool_release(&pl, a, HAK_POOL_UNITS - 1, 1, c, false);
    hak_pool_chunk_t *b = hak_pool_take(&pl, c, 4, &first);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(b, a); /* a has one free unit, at its end */
    ck_assert_uint_le(first + 4, HAK_POOL_UNITS);
    hak_pool_release(&pl, b, first, 4, c, false);
    for (unsigned u = 1; u < HAK_POOL_UNITS - 1; u++)
        hak_pool_release(&pl, a, u, 1, c, false);
    ck_assert(hak_pool_trim(&pl, 0));
}
END_TEST

/* Runs of 1 to HAK_POOL_MAX_UNITS units for a few classes, taken and
 * given back in a pseudo-random order: every run taken lies in its chunk
 * and overlaps no other. */
START_TEST(test_runs_never_overlap) {
    static hak_pool_t pl = HAK_POOL_INIT;
    static run_t runs[256];
    unsigned count = 0;
    uint64_t x = 88172645463325252u;
    for (unsigned step = 0; step < 20000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (count == 256 || (count > 0 && (x & 3) == 0)) {
            unsigned i = (unsigned)(x >> 8) % count;
            hak_pool_release(&pl, runs[i].ch, runs[i].first, runs[i].n, runs[i].cls, false);
            runs[i] = runs[--count];
            continue;
        }
        run_t r = {NULL, 0, 1 + (unsigned)(x >> 20) % HAK_POOL_MAX_UNITS,
                   hak_class_of(4096 + (size_t)(x >> 40) % 4 * 16384)};
        r.ch = hak_pool_take(&pl, r.cls, r.n, &r.first);
        ck_assert_ptr_nonnull(r.ch);
        HAK_CHECK_MSG(run_clear(runs, count, &r), "step %u: run of %u units at %u overlaps", step,
                      r.n, r.first);
        runs[count++] = r;
    }
    while (count > 0) {
        count--;
        hak_pool_release(&pl, runs[count].ch, runs[count].first, runs[count].n, runs[count].cls,
                         false);
    }
    ck_assert(hak_pool_trim(&pl, 0));
}
END_TEST

int main(void) {
    Suite *s = suite_create("pool");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_hint_within_chunk);
    tcase_add_test(tc, test_runs_never_overlap);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

/* Unit: the unit pool (pool/pool.c): runs of units taken and given back by
 * classes whose slabs differ in length, hints included; the squeeze; the
 * aging of free units and unused pages while the program runs; runs given
 * back purged. */
#include "frontend/frontend.h"
#include "pool/pool.h"

#include <string.h>
#include <sys/mman.h>

#include "../check_main.h"
#include "../testclock.h"

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

static bool page_mapped(const void *p) {
    unsigned char v;
    return mincore((void *)((uintptr_t)p & ~(HAK_PAGE_SIZE - 1)), HAK_PAGE_SIZE, &v) == 0;
}

static uint64_t mapped_now(void) {
    return atomic_load_explicit(&hak_os_stats.mapped, memory_order_relaxed);
}

/* A squeeze unmaps the free units, the header unit but its first page,
 * and what an owner unmapped of a taken unit's end stays so; a take maps
 * its units back, a release of the holed unit unmaps the rest of it, and
 * the mapped count comes back to where it was once the chunk goes. */
START_TEST(test_squeeze) {
    static hak_pool_t pl = HAK_POOL_INIT;
    unsigned c = hak_class_of(40000), first, second;
    (void)hak_pool_squeeze(&pl); /* the headers of the backend's chunks first */
    hak_pool_chunk_t *ch = hak_pool_take(&pl, c, 2, &first);
    ck_assert_ptr_nonnull(ch);
    /* Counted from the chunk mapped (the chunk map's leaf for it may have
     * been mapped with it). */
    uint64_t before = mapped_now() - HAK_CHUNK_SIZE;
    ck_assert_ptr_eq(hak_pool_take(&pl, c, 1, &second), ch);
    char *a = hak_pool_unit(ch, first), *b = hak_pool_unit(ch, second);
    memset(a, 1, 2 * HAK_UNIT_SIZE);
    hak_pool_unmap_tail(&pl, ch, second, 3); /* its pages 3 to 15 */
    ck_assert_uint_eq(hak_pool_unit_mapped(ch, second), 3 * HAK_PAGE_SIZE);
    ck_assert(hak_pool_squeeze(&pl));
    ck_assert(page_mapped(ch) && !page_mapped((char *)ch + HAK_PAGE_SIZE));
    ck_assert(page_mapped(a) && page_mapped(a + 2 * HAK_UNIT_SIZE - 1));
    ck_assert(page_mapped(b + 2 * HAK_PAGE_SIZE) && !page_mapped(b + 3 * HAK_PAGE_SIZE));
    char *free_unit = hak_pool_unit(ch, second + 1);
    ck_assert(!page_mapped(free_unit));
    ck_assert_uint_eq(mapped_now(),
                      before + 3 * HAK_UNIT_SIZE - 13 * HAK_PAGE_SIZE + HAK_PAGE_SIZE);
    unsigned third;
    ck_assert_ptr_eq(hak_pool_take(&pl, c, 1, &third), ch);
    char *t = hak_pool_unit(ch, third);
    memset(t, 2, HAK_UNIT_SIZE); /* mapped back */
    hak_pool_release(&pl, ch, second, 1, c, false);
    ck_assert(!page_mapped(b));
    hak_pool_release(&pl, ch, third, 1, c, false);
    hak_pool_release(&pl, ch, first, 2, c, false);
    ck_assert(hak_pool_trim(&pl, 0)); /* the chunk, empty, goes */
    ck_assert_uint_eq(mapped_now(), before);
}
END_TEST

/* Moves the frozen clock a purge delay on while the program keeps calling
 * (no idle stretch: a call every quarter of it), then makes the purge
 * clock's call to the pool. */
static void work_then_decay(hak_pool_t *pl) {
    for (unsigned t = 0; t < 4; t++) {
        hak_test_clock_advance(hak_opt.purge_delay / 4 + 1);
        hak_purge_active(hak_os_now_ms());
    }
    hak_pool_decay(pl);
}

static unsigned unit_resident(const hak_pool_chunk_t *ch, unsigned u) {
    unsigned char v[HAK_UNIT_SIZE >> HAK_PAGE_SHIFT];
    ck_assert_int_eq(mincore(hak_pool_unit(ch, u), HAK_UNIT_SIZE, v), 0);
    unsigned n = 0;
    for (size_t i = 0; i < sizeof v; i++)
        n += v[i] & 1;
    return n;
}

/* Takes a unit for class c, writes all of it, and gives it back. */
static hak_pool_chunk_t *take_touched(hak_pool_t *pl, unsigned c, unsigned *first) {
    hak_pool_chunk_t *ch = hak_pool_take(pl, c, 1, first);
    ck_assert_ptr_nonnull(ch);
    memset(hak_pool_unit(ch, *first), 0x5a, HAK_UNIT_SIZE);
    return ch;
}

/* The aging tests' start: the purge clock frozen, no quiet before them
 * counted, a delay of 1 s and pool pl's budget of 8 MiB; the class they
 * take units for. */
static unsigned aging_start(hak_pool_t *pl) {
    hak_test_clock_freeze();
    hak_purge_active(hak_os_now_ms());
    hak_opt.purge_delay = 1000;
    hak_pool_set_budget(pl, (size_t)8 << 20);
    return hak_class_of(40000);
}

/* While the program runs (never idle, so no idle return), a free unit
 * goes back once it stayed free from one aging pass to the next, a delay
 * apart; one taken back in between stays resident, and ages anew from its
 * next release. */
START_TEST(test_free_units_age) {
    static hak_pool_t pl = HAK_POOL_INIT;
    unsigned c = aging_start(&pl), a, b, k;
    hak_pool_chunk_t *ch = take_touched(&pl, c, &a);
    ck_assert_ptr_eq(take_touched(&pl, c, &b), ch);
    ck_assert_ptr_eq(take_touched(&pl, c, &k), ch);
    hak_pool_release(&pl, ch, a, 1, c, false);
    hak_pool_release(&pl, ch, b, 1, c, false);
    work_then_decay(&pl); /* the first pass: a and b free since */
    ck_assert_uint_eq(unit_resident(ch, a), 16);
    ck_assert_uint_eq(unit_resident(ch, b), 16);
    unsigned again;
    ck_assert_ptr_eq(hak_pool_take(&pl, c, 1, &again), ch); /* cycling: b */
    ck_assert_uint_eq(again, b);
    hak_pool_release(&pl, ch, b, 1, c, false);
    work_then_decay(&pl);
    ck_assert_uint_eq(unit_resident(ch, a), 0);
    ck_assert_uint_eq(unit_resident(ch, b), 16);
    hak_pool_release(&pl, ch, k, 1, c, false);
    work_then_decay(&pl);
    ck_assert_uint_eq(unit_resident(ch, b), 0);
    ck_assert_uint_eq(unit_resident(ch, k), 16);
    ck_assert(hak_pool_trim(&pl, 0));
}
END_TEST

/* A run given back with HAK_RELEASE_PURGE (what an exited thread left)
 * keeps no page resident and counts no dirty byte; one given back plainly
 * stays resident, within the budget.  Either is taken again. */
START_TEST(test_release_purged) {
    static hak_pool_t pl = HAK_POOL_INIT;
    unsigned c = aging_start(&pl), a, b, again;
    hak_pool_chunk_t *ch = take_touched(&pl, c, &a);
    ck_assert_ptr_eq(take_touched(&pl, c, &b), ch);
    hak_pool_release(&pl, ch, a, 1, c, 0);
    hak_pool_release(&pl, ch, b, 1, c, HAK_RELEASE_PURGE);
    ck_assert_uint_eq(unit_resident(ch, a), 16);
    ck_assert_uint_eq(unit_resident(ch, b), 0);
    ck_assert_uint_eq(pl.dirty_bytes, HAK_UNIT_SIZE);
    ck_assert_ptr_eq(hak_pool_take(&pl, c, 1, &again), ch); /* the hint: b */
    ck_assert_uint_eq(again, b);
    ck_assert_ptr_eq(hak_pool_take(&pl, c, 1, &again), ch);
    ck_assert_uint_eq(again, a);
    ck_assert_uint_eq(pl.dirty_bytes, 0);
    hak_pool_release(&pl, ch, a, 1, c, HAK_RELEASE_PURGE);
    hak_pool_release(&pl, ch, b, 1, c, HAK_RELEASE_PURGE);
    ck_assert(hak_pool_trim(&pl, 0));
}
END_TEST

/* One life of a carving backend's slab on unit u: taken (its stale pages
 * purged), carved to pages pages, which are written, and given back. */
static void carve_life(hak_pool_t *pl, hak_pool_chunk_t *ch, unsigned u, unsigned c, unsigned pages,
                       unsigned *resident_at_take) {
    unsigned first;
    ck_assert_ptr_eq(hak_pool_take(pl, c, 1, &first), ch);
    ck_assert_uint_eq(first, u);
    *resident_at_take = unit_resident(ch, u);
    char *start = hak_pool_unit(ch, u);
    hak_pool_set_bump(ch, u, start + (size_t)pages * HAK_PAGE_SIZE);
    memset(start, 0x5a, (size_t)pages * HAK_PAGE_SIZE);
    hak_pool_release(pl, ch, u, 1, c, false);
}

/* A carving backend's unit that served a slab of 16 pages, then slabs of
 * one: its other pages stay resident while a life used them within the
 * last two aging passes, and go when it is taken after that. */
START_TEST(test_unused_pages_age) {
    static hak_pool_t pl = HAK_POOL_INIT_CARVING;
    unsigned c = aging_start(&pl), u, resident;
    hak_pool_chunk_t *ch = hak_pool_take(&pl, c, 1, &u);
    ck_assert_ptr_nonnull(ch);
    hak_pool_release(&pl, ch, u, 1, c, false);
    carve_life(&pl, ch, u, c, 16, &resident);
    carve_life(&pl, ch, u, c, 1, &resident);
    ck_assert_uint_eq(resident, 16);
    work_then_decay(&pl);
    carve_life(&pl, ch, u, c, 1, &resident);
    ck_assert_uint_eq(resident, 16);
    work_then_decay(&pl);
    carve_life(&pl, ch, u, c, 1, &resident);
    ck_assert_uint_eq(resident, 16);
    work_then_decay(&pl);
    carve_life(&pl, ch, u, c, 1, &resident);
    ck_assert_uint_eq(resident, 1);
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
    tcase_add_test(tc, test_squeeze);
    tcase_add_test(tc, test_free_units_age);
    tcase_add_test(tc, test_release_purged);
    tcase_add_test(tc, test_unused_pages_age);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

/* Unit: how the ACE sizes a thread-cache bin (ace.c).  A bin grows on
 * refills up to ACE_BIN_BYTES; only a bin that also flushes (cycling) grows
 * on to ACE_CYCLING_BIN_BYTES; a bin that only flushes (draining) flushes
 * whole after ACE_DRAIN_FLUSHES flushes, and grows only to the small
 * ACE_DRAIN_BIN_BYTES bound; with HAKMEM_ACE=0 none moves; a bin is settled
 * (hak_ace_refill_settled) only where a refill would change nothing. */
#include "ace/ace.h"
#include "frontend/frontend.h"
#include "internal.h"

#include "../check_main.h"

static void setup(void) { hak_ensure_init(); }

/* The growth of the bins' thread so far: each test's bins have a thread
 * of their own, but test_growth_budget's, which share one. */
static size_t grown;

/* The bound the ACE must stop at for class c, from the documented rule:
 * bytes worth of blocks, at most max. */
static unsigned expect_bound(size_t bytes, size_t max, unsigned c) {
    size_t cap = bytes / hak_class_size[c];
    if (cap < ACE_MIN_CAP)
        cap = ACE_MIN_CAP;
    return cap > max ? (unsigned)max : (unsigned)cap;
}

/* One refill as the frontend does it: ask, add the growth to the room,
 * then take what was asked.  The growth is what the capacity gained. */
static void refill(hak_binctl_t *k, int32_t *room, unsigned c) {
    unsigned cap = k->cap;
    hak_ace_move_t m = hak_ace_refill_want(k, c, &grown);
    HAK_CHECK_MSG(m.grown == k->cap - cap, "grew by %u, capacity %u -> %u", m.grown, cap, k->cap);
    *room += (int32_t)m.grown;
    unsigned want = m.count;
    HAK_CHECK_MSG(want >= 1 && want <= k->cap, "want %u of cap %u", want, k->cap);
    HAK_CHECK_MSG(*room >= (int32_t)want, "room %d below want %u", *room, want);
    *room -= (int32_t)want;
}

/* One flush as the frontend does it: the bin is full; returns how many
 * blocks went back (at most what the bin held). */
static unsigned flush(hak_binctl_t *k, int32_t *room, unsigned c) {
    *room = 0;
    unsigned cap = k->cap;
    hak_ace_move_t m = hak_ace_flush_count(k, c, &grown);
    HAK_CHECK_MSG(m.grown == k->cap - cap, "grew by %u, capacity %u -> %u", m.grown, cap, k->cap);
    *room += (int32_t)m.grown;
    unsigned n = m.count;
    unsigned held = k->cap - (unsigned)*room;
    if (n > held)
        n = held;
    *room += (int32_t)n;
    return n;
}

/* The classes at both ends and some between. */
static const size_t sizes[] = {16, 48, 128, 256, 1024, 4096, 16384, HAK_SMALL_MAX};

START_TEST(test_new_bin) {
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned c = hak_class_of(sizes[i]);
        hak_binctl_t k;
        int32_t room = -5;
        room = (int32_t)hak_ace_bin_init(&k, c);
        grown = 0;
        ck_assert_uint_eq(k.cap, ACE_START_CAP);
        ck_assert_int_eq(room, ACE_START_CAP);
    }
}
END_TEST

START_TEST(test_refills_grow_to_the_bound) {
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned c = hak_class_of(sizes[i]);
        unsigned bound = expect_bound(ACE_BIN_BYTES, ACE_MAX_CAP, c);
        hak_binctl_t k;
        int32_t room;
        room = (int32_t)hak_ace_bin_init(&k, c);
        grown = 0;
        unsigned last = k.cap;
        for (int r = 0; r < 200; r++) {
            room = k.cap; /* the bin ran empty */
            refill(&k, &room, c);
            HAK_CHECK_MSG(k.cap == last || k.cap == 2 * last || k.cap == bound,
                          "class %u: cap went from %u to %u", c, last, k.cap);
            last = k.cap;
        }
        ck_assert_msg(k.cap == bound, "size %zu: cap %u after 200 refills, want %u", sizes[i],
                      k.cap, bound);
    }
}
END_TEST

START_TEST(test_growth_waits_for_refills) {
    unsigned c = hak_class_of(64);
    hak_binctl_t k;
    int32_t room;
    room = (int32_t)hak_ace_bin_init(&k, c);
    grown = 0;
    for (int r = 1; r < ACE_GROW_EVENTS; r++) {
        room = k.cap;
        refill(&k, &room, c);
        ck_assert_uint_eq(k.cap, ACE_START_CAP);
    }
    room = k.cap;
    int32_t before = room;
    refill(&k, &room, c);
    ck_assert_uint_eq(k.cap, 2 * ACE_START_CAP);
    /* The room grew by what the cap grew, less what the refill took. */
    ck_assert_int_eq(room, before + ACE_START_CAP - (int32_t)(k.cap / 2));
}
END_TEST

START_TEST(test_draining_bin) {
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned c = hak_class_of(sizes[i]);
        unsigned bound = expect_bound(ACE_DRAIN_BIN_BYTES, ACE_DRAIN_MAX_CAP, c);
        hak_binctl_t k;
        int32_t room;
        room = (int32_t)hak_ace_bin_init(&k, c);
        grown = 0;
        /* A few flushes in a row are a cycling bin's swing: half goes. */
        for (int r = 0; r < ACE_DRAIN_FLUSHES; r++) {
            ck_assert_uint_eq(flush(&k, &room, c), ACE_START_CAP / 2);
            ck_assert_uint_eq(k.cap, ACE_START_CAP);
        }
        /* Then it drains: whole, growing by doubling to its bound. */
        unsigned last = k.cap;
        for (int r = 0; r < 100; r++) {
            unsigned held = k.cap;
            ck_assert_uint_eq(flush(&k, &room, c), held);
            HAK_CHECK_MSG(k.cap == last || k.cap == 2 * last || k.cap == bound,
                          "size %zu: cap went from %u to %u", sizes[i], last, k.cap);
            last = k.cap;
        }
        ck_assert_msg(k.cap == bound, "size %zu: cap %u after 100 drains, want %u", sizes[i], k.cap,
                      bound);
        /* A refill ends it: the next flushes give back half again. */
        room = k.cap;
        refill(&k, &room, c);
        unsigned half = k.cap / 2;
        ck_assert_uint_eq(flush(&k, &room, c), half);
    }
}
END_TEST

/* A bin that refills and flushes in turn grows past ACE_BIN_BYTES, up to
 * ACE_CYCLING_BIN_BYTES, for the classes where the two differ. */
START_TEST(test_cycling_bin_grows_further) {
    int differ = 0;
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned c = hak_class_of(sizes[i]);
        unsigned bound = expect_bound(ACE_CYCLING_BIN_BYTES, ACE_CYCLING_MAX_CAP, c);
        differ += bound != expect_bound(ACE_BIN_BYTES, ACE_MAX_CAP, c);
        hak_binctl_t k;
        int32_t room;
        room = (int32_t)hak_ace_bin_init(&k, c);
        grown = 0;
        for (int r = 0; r < 400; r++) {
            room = k.cap;
            refill(&k, &room, c);
            flush(&k, &room, c);
            HAK_CHECK_MSG(k.cap <= bound, "size %zu: cap %u over %u", sizes[i], k.cap, bound);
        }
        ck_assert_msg(k.cap == bound, "size %zu: cap %u after 400 cycles, want %u", sizes[i], k.cap,
                      bound);
    }
    ck_assert_int_gt(differ, 0);
}
END_TEST

/* Once a cycling bin is past ACE_BIN_BYTES, refills alone (a producer) do
 * not take it further: it must flush again. */
START_TEST(test_growth_past_the_bound_needs_a_flush) {
    unsigned c = hak_class_of(1024);
    unsigned base = expect_bound(ACE_BIN_BYTES, ACE_MAX_CAP, c);
    ck_assert_uint_lt(base, expect_bound(ACE_CYCLING_BIN_BYTES, ACE_CYCLING_MAX_CAP, c));
    hak_binctl_t k;
    int32_t room;
    room = (int32_t)hak_ace_bin_init(&k, c);
    grown = 0;
    for (;;) {
        room = k.cap;
        refill(&k, &room, c);
        if (k.cap > base)
            break;
        flush(&k, &room, c);
    }
    unsigned cap = k.cap;
    for (int r = 0; r < 200; r++) {
        room = k.cap;
        refill(&k, &room, c);
    }
    ck_assert_uint_eq(k.cap, cap);
    flush(&k, &room, c);
    for (int r = 0; r < ACE_GROW_EVENTS; r++) {
        room = k.cap;
        refill(&k, &room, c);
    }
    ck_assert_uint_gt(k.cap, cap);
}
END_TEST

/* A thread's bins grow, all together, by ACE_THREAD_GROWN_BYTES at most:
 * cycling bins of big blocks, one after another, take the budget, and the
 * bin that finds it spent stays where it is. */
START_TEST(test_growth_budget) {
    unsigned c = hak_class_of(16384);
    size_t size = hak_class_size[c];
    unsigned bound = expect_bound(ACE_CYCLING_BIN_BYTES, ACE_CYCLING_MAX_CAP, c);
    ck_assert_uint_gt(bound, ACE_START_CAP);
    grown = 0;
    unsigned full = 0, bins = 0;
    while (bins < 64) {
        hak_binctl_t k;
        int32_t room;
        room = (int32_t)hak_ace_bin_init(&k, c);
        bins++;
        for (int r = 0; r < 400; r++) {
            room = k.cap;
            refill(&k, &room, c);
            flush(&k, &room, c);
        }
        HAK_CHECK_MSG(grown <= ACE_THREAD_GROWN_BYTES, "grown %zu", grown);
        if (k.cap == bound) {
            full++;
            continue;
        }
        /* The first bin short of its bound: the budget is spent, within
         * less than what one more doubling would have added. */
        ck_assert_uint_lt(ACE_THREAD_GROWN_BYTES - grown, (size_t)k.cap * size);
        break;
    }
    ck_assert_uint_eq(full, ACE_THREAD_GROWN_BYTES / ((bound - ACE_START_CAP) * size));
}
END_TEST

/* HAKMEM_ACE=0: refills, flushes and drains move no bin off its starting
 * capacity, each moving half of it, and count no growth. */
START_TEST(test_frozen) {
    hak_opt.ace = false;
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned c = hak_class_of(sizes[i]);
        hak_binctl_t k;
        int32_t room;
        room = (int32_t)hak_ace_bin_init(&k, c);
        grown = 0;
        for (int r = 0; r < 200; r++) {
            room = k.cap;
            refill(&k, &room, c);
            HAK_CHECK_MSG(room == ACE_START_CAP / 2, "size %zu: room %d after a refill", sizes[i],
                          room);
            if (r % 2)
                HAK_CHECK_MSG(flush(&k, &room, c) == ACE_START_CAP / 2, "size %zu", sizes[i]);
        }
        for (int r = 0; r < 50; r++) /* draining */
            HAK_CHECK_MSG(flush(&k, &room, c) == ACE_START_CAP / 2, "size %zu", sizes[i]);
        ck_assert_uint_eq(k.cap, ACE_START_CAP);
        ck_assert_uint_eq(grown, 0);
    }
    hak_opt.ace = true;
}
END_TEST

/* hak_ace_refill_settled holds exactly when a refill would change
 * nothing: not while the bin may still grow, then at its bound, and no
 * longer after a flush, which lets it grow a step further (cycling). */
START_TEST(test_settled) {
    unsigned c = hak_class_of(1024);
    hak_binctl_t k;
    int32_t room = (int32_t)hak_ace_bin_init(&k, c);
    grown = 0;
    ck_assert(!hak_ace_refill_settled(&k));
    unsigned bound = expect_bound(ACE_BIN_BYTES, ACE_MAX_CAP, c);
    for (int r = 0; r < 200 && !hak_ace_refill_settled(&k); r++) {
        ck_assert_uint_lt(k.cap, bound + 1);
        room = k.cap;
        refill(&k, &room, c);
    }
    ck_assert_uint_eq(k.cap, bound);
    ck_assert(hak_ace_refill_settled(&k));
    /* Settled: a refill leaves the capacity as it is. */
    room = k.cap;
    refill(&k, &room, c);
    ck_assert_uint_eq(k.cap, bound);
    ck_assert(hak_ace_refill_settled(&k));
    (void)flush(&k, &room, c);
    ck_assert(!hak_ace_refill_settled(&k));
    for (int r = 0; r < 200 && !hak_ace_refill_settled(&k); r++) {
        room = k.cap;
        refill(&k, &room, c);
    }
    /* It grew once for that flush (a cycling bin grows a step a flush). */
    ck_assert_uint_eq(k.cap, 2 * bound);
    ck_assert(hak_ace_refill_settled(&k));
}
END_TEST

int main(void) {
    Suite *s = suite_create("ace");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("bins");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_new_bin);
    tcase_add_test(tc, test_refills_grow_to_the_bound);
    tcase_add_test(tc, test_growth_waits_for_refills);
    tcase_add_test(tc, test_draining_bin);
    tcase_add_test(tc, test_cycling_bin_grows_further);
    tcase_add_test(tc, test_growth_past_the_bound_needs_a_flush);
    tcase_add_test(tc, test_growth_budget);
    tcase_add_test(tc, test_frozen);
    tcase_add_test(tc, test_settled);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

/* Unit: when cached free memory goes back to the OS: for the large path,
 * once it stayed unused for the purge delay (HAKMEM_PURGE_DELAY, stretched
 * for a program whose cycle is a little longer), and at once beyond its
 * budget, but for a workload that showed it takes that back; for the
 * backend, at once, but for what a cycling workload showed it will take
 * back, which waits for the clock. */
#include "internal.h"
#include "frontend/frontend.h"
#include "ace/ace.h"

#include <string.h>

#include "../check_main.h"
#include "../testclock.h"

/* The clock is frozen: a purge happens when the test moves the clock past
 * the delay, never because a busy machine ran a cycle slowly. */
static void setup(void) {
    hak_ensure_init();
    hak_test_clock_freeze();
}

static uint64_t madvises(void) { return atomic_load(&hak_os_stats.madvises); }
static uint64_t munmaps(void) { return atomic_load(&hak_os_stats.munmaps); }

/* Frees 48 MiB of large blocks, one page of each touched: three times the
 * cache budget. */
static void churn_large(void) {
    void *p[12];
    for (int i = 0; i < 12; i++) {
        p[i] = hak_malloc((size_t)4 << 20);
        ck_assert_ptr_nonnull(p[i]);
        memset(p[i], 0x5a, 4096);
    }
    for (int i = 0; i < 12; i++)
        hak_free(p[i]);
}

/* Frees 96 MiB of 2 KiB blocks, each touched: their slabs empty, and so
 * do about 48 regions, more than the backend keeps. */
#define NSMALL (96 << 10) / 2
static void *small[NSMALL];
static void churn_small(void) {
    for (int i = 0; i < NSMALL; i++) {
        small[i] = hak_malloc(2048);
        ck_assert_ptr_nonnull(small[i]);
        memset(small[i], 0x5a, 2048);
    }
    for (int i = 0; i < NSMALL; i++)
        hak_free(small[i]);
    hak_free(hak_malloc(2048)); /* a slow-path event after the last release */
}

/* Moves the clock past the delay, then runs a slow-path event, which must
 * purge. */
static void wait_and_tick(uint32_t delay) {
    hak_test_clock_advance(delay + 1);
    hak_ace_tick();
}

START_TEST(test_large_at_once_without_delay) {
    hak_opt.purge_delay = 0;
    uint64_t m0 = madvises();
    churn_large();
    ck_assert_uint_gt(madvises(), m0);
}
END_TEST

/* A one-time free beyond the budget goes back at once; a program that takes
 * that memory back within the delay cycles through it, and from then on
 * its cycles keep it all for the delay. */
START_TEST(test_large_waits_for_the_delay) {
    hak_opt.purge_delay = 3600000;
    uint64_t m0 = madvises();
    churn_large();
    ck_assert_uint_gt(madvises(), m0); /* beyond the budget: at once */
    uint64_t m1 = madvises();
    churn_large();           /* takes back what went: the boost */
    uint64_t u1 = munmaps(); /* mapping chunks may unmap the slack of an aligned map */
    churn_large();           /* the cached blocks are reused: no system call */
    churn_large();
    hak_ace_tick();          /* the deadline is an hour away */
    ck_assert_uint_eq(madvises(), m1);
    ck_assert_uint_eq(munmaps(), u1);
    ck_assert(hak_trim(0)); /* trim does not wait */
    ck_assert_uint_gt(madvises() + munmaps(), m1 + u1);
}
END_TEST

/* Free memory goes back once it stayed unused for the delay, also what the
 * budget would keep. */
START_TEST(test_large_when_the_delay_ran_out) {
    hak_opt.purge_delay = 20;
    churn_large();
    uint64_t m1 = madvises();
    wait_and_tick(20);
    ck_assert_uint_gt(madvises(), m1);
}
END_TEST

/* A program that takes memory back soon after some went for staying
 * unused for the delay cycles a little slower than that: the large path
 * waits twice as long from then on. */
START_TEST(test_large_delay_stretches) {
    hak_opt.purge_delay = 100;
    churn_large(); /* the budget's worth stays */
    uint64_t m0 = madvises();
    wait_and_tick(100);
    ck_assert_uint_gt(madvises(), m0);
    churn_large(); /* taken back at once */
    uint64_t m1 = madvises();
    wait_and_tick(100);
    ck_assert_uint_eq(madvises(), m1);
    wait_and_tick(100);
    ck_assert_uint_gt(madvises(), m1);
}
END_TEST

/* 32 MiB of 32 KiB blocks, every byte written, then freed: the thread's
 * bin keeps some, and with them parts of their slabs. */
#define NIDLE 1024
static void *idle_blocks[NIDLE];
static void churn_idle(void) {
    for (int i = 0; i < NIDLE; i++) {
        idle_blocks[i] = hak_malloc(32768);
        ck_assert_ptr_nonnull(idle_blocks[i]);
        memset(idle_blocks[i], 0x5a, 32768);
    }
    for (int i = 0; i < NIDLE; i++)
        hak_free(idle_blocks[i]);
}

/* Idle return (superslab): small-block memory taken back within the purge
 * delay stays resident; once the program's heap made no call for a delay,
 * its free memory goes back, the free pages of slabs still in use too, at
 * the next look (the purge thread's, here the test's tick). */
START_TEST(test_small_idle_returns) {
    if (hak_backend->decay == NULL)
        return;
    hak_opt.purge_delay = 1000;
    churn_idle();
    hak_test_clock_advance(600);
    churn_idle(); /* within the delay */
    size_t r0 = hak_chunk_resident();
    hak_test_clock_advance(600);
    hak_ace_tick(); /* the first flush's deadline */
    size_t r1 = hak_chunk_resident();
    HAK_CHECK_MSG(r1 + ((size_t)1 << 20) >= r0, "cycling: resident %zu, then %zu", r0, r1);
    wait_and_tick(1000);
    wait_and_tick(1000);
    size_t r2 = hak_chunk_resident();
    HAK_CHECK_MSG(r2 + ((size_t)16 << 20) <= r1 && r2 <= ((size_t)2 << 20),
                  "idle: resident %zu, then %zu", r1, r2);
}
END_TEST

/* HAKMEM_ACE=0: however the program takes memory back, the large path
 * keeps its budget and its delay as given, and the backend its budget. */
START_TEST(test_frozen) {
    hak_opt.ace = false;
    hak_opt.purge_delay = 100;
    churn_large();
    uint64_t m0 = madvises();
    wait_and_tick(100);
    ck_assert_uint_gt(madvises(), m0);
    for (int i = 0; i < 3; i++) { /* beyond the budget: at once, each time */
        uint64_t m1 = madvises();
        churn_large();
        ck_assert_uint_gt(madvises(), m1);
    }
    uint64_t m2 = madvises();
    wait_and_tick(100); /* not stretched */
    ck_assert_uint_gt(madvises(), m2);
    if (hak_backend->decay != NULL)
        for (int i = 0; i < 4; i++) {
            uint64_t m3 = madvises();
            churn_small();
            ck_assert_uint_gt(madvises(), m3);
        }
    hak_opt.ace = true;
}
END_TEST

/* The backend does not wait for a one-time free: beyond its budget, its free
 * memory goes back in the call that freed it, whatever the delay. */
START_TEST(test_small_at_once_whatever_the_delay) {
    if ((hak_backend->caps & HAK_CAP_RETURNS_SMALL) == 0)
        return;
    hak_opt.purge_delay = 3600000;
    uint64_t m0 = madvises(), u0 = munmaps();
    churn_small();
    ck_assert_uint_gt(madvises(), m0);
    ck_assert_uint_ge(munmaps() - u0, 8); /* empty regions beyond those kept */
}
END_TEST

/* A workload that frees and allocates the same memory again and again
 * would fault every page back in after each purge: a backend that keeps
 * memory on the purge clock (superslab) learns from the pages it took back
 * purged and keeps them, until the memory stays unused for the delay. */
START_TEST(test_small_cycles_keep_memory) {
    if (hak_backend->decay == NULL)
        return;
    hak_opt.purge_delay = 1000;
    uint64_t m0 = madvises();
    churn_small();
    ck_assert_uint_gt(madvises(), m0); /* once: at once */
    churn_small();
    churn_small();
    uint64_t m1 = madvises(), u1 = munmaps();
    churn_small();
    ck_assert_uint_eq(madvises(), m1);
    ck_assert_uint_eq(munmaps(), u1);
    wait_and_tick(1000);
    ck_assert_uint_gt(madvises(), m1);
}
END_TEST

/* The same with the purge thread (HAKMEM_PURGE_THREAD=1): a flush starts
 * it (pthread_create allocates, so no lock of the allocator may be held
 * then), and it ends the raise with no further call from the program. */
START_TEST(test_small_cycles_purge_thread) {
    if (hak_backend->decay == NULL)
        return;
    hak_opt.purge_delay = 1000;
    hak_opt.purge_thread = true;
    for (int i = 0; i < 4; i++)
        churn_small();
    uint64_t m1 = madvises();
    hak_test_clock_advance(1001);
    ck_assert_msg(hak_test_wait_change(&hak_os_stats.madvises, m1),
                  "no purge within 120 s of the purge delay's end");
}
END_TEST

int main(void) {
    Suite *s = suite_create("purge");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("clock");
    tcase_set_timeout(tc, 300); /* the cycles, and the wait, under sanitizers */
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_large_at_once_without_delay);
    tcase_add_test(tc, test_large_waits_for_the_delay);
    tcase_add_test(tc, test_large_when_the_delay_ran_out);
    tcase_add_test(tc, test_large_delay_stretches);
    tcase_add_test(tc, test_small_at_once_whatever_the_delay);
    tcase_add_test(tc, test_small_cycles_keep_memory);
    tcase_add_test(tc, test_small_cycles_purge_thread);
    tcase_add_test(tc, test_frozen);
    tcase_add_test(tc, test_small_idle_returns);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

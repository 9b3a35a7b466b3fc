/* Unit: when cached free memory goes back to the OS: for the large path,
 * once it stayed unused for the purge delay (HAKMEM_PURGE_DELAY, stretched
 * for a program whose cycle is a little longer), and beyond its budget
 * after a grace, but for a workload that showed it takes that back, both
 * counting the program's activity, not an idle stretch; for the backend,
 * at once, but for what a cycling workload showed it will take back,
 * which waits for the clock. */
#include "ace/ace.h"
#include "frontend/frontend.h"
#include "internal.h"

#include <pthread.h>
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
 * do about 48 chunks, more than the backend keeps. */
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
 * purge, but for what the large path keeps through an idle stretch. */
static void wait_and_tick(uint32_t delay) {
    hak_test_clock_advance(delay + 1);
    hak_purge_tick();
}

/* Moves the clock past the delay while the program keeps calling: a
 * slow-path event every quarter of it, never an idle stretch. */
static void work_past(uint32_t delay) {
    for (uint32_t t = 0; t <= delay; t += delay / 4 + 1) {
        hak_test_clock_advance(delay / 4 + 1);
        hak_purge_tick();
    }
}

START_TEST(test_large_at_once_without_delay) {
    hak_opt.purge_delay = 0;
    uint64_t m0 = madvises();
    churn_large();
    ck_assert_uint_gt(madvises(), m0);
}
END_TEST

/* A one-time free beyond the budget goes back after the grace, an eighth
 * of the delay; a program that takes that memory back within the delay
 * cycles through it, and from then on its cycles keep it all for the
 * delay. */
START_TEST(test_large_waits_for_the_delay) {
    hak_opt.purge_delay = 3600000;
    uint64_t m0 = madvises();
    churn_large();
    hak_purge_tick();
    ck_assert_uint_eq(madvises(), m0); /* the grace */
    hak_test_clock_advance(3600000 / 8);
    hak_purge_tick();
    ck_assert_uint_gt(madvises(), m0); /* beyond the budget, after it */
    uint64_t m1 = madvises();
    churn_large();           /* takes back what went: the boost */
    uint64_t u1 = munmaps(); /* mapping chunks may unmap the slack of an aligned map */
    churn_large();           /* the cached blocks are reused: no system call */
    churn_large();
    hak_purge_tick(); /* the deadline is an hour away */
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
    work_past(20);
    ck_assert_uint_gt(madvises(), m1);
}
END_TEST

/* A program that made no call for the delay and calls again finds its
 * free memory resident: what waited goes once it stays unused for the
 * delay of the program's activity. */
START_TEST(test_large_idle_stretch) {
    hak_opt.purge_delay = 100;
    churn_large();
    uint64_t m0 = madvises();
    wait_and_tick(100); /* idle, then a call */
    ck_assert_uint_eq(madvises(), m0);
    work_past(100);
    ck_assert_uint_gt(madvises(), m0);
}
END_TEST

/* A program that takes memory back soon after some went for staying
 * unused for the delay cycles a little slower than that: the large path
 * waits twice as long from then on. */
START_TEST(test_large_delay_stretches) {
    hak_opt.purge_delay = 100;
    churn_large();
    uint64_t m0 = madvises();
    work_past(100);
    ck_assert_uint_gt(madvises(), m0);
    churn_large(); /* taken back at once */
    uint64_t m1 = madvises();
    work_past(100);
    ck_assert_uint_eq(madvises(), m1);
    work_past(100);
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

/* Whether the backend gives back what stayed unused for the delay, and
 * collects exited threads' slabs: superslab's idle return (hybrid's decay
 * ends only its cycling boost, down to half its budget). */
static bool idle_returns(void) { return strcmp(hak_backend->name, "superslab") == 0; }

/* Idle return (superslab): small-block memory taken back within the purge
 * delay stays resident; once the program's heap made no call for a delay,
 * its free memory goes back, the free pages of slabs still in use too, at
 * the next look (the purge thread's, here the test's tick). */
START_TEST(test_small_idle_returns) {
    if (!idle_returns())
        return;
    hak_opt.purge_delay = 1000;
    churn_idle();
    hak_test_clock_advance(600);
    churn_idle(); /* within the delay */
    size_t r0 = hak_chunk_resident();
    hak_test_clock_advance(600);
    hak_purge_tick(); /* the first flush's deadline */
    size_t r1 = hak_chunk_resident();
    HAK_CHECK_MSG(r1 + ((size_t)1 << 20) >= r0, "cycling: resident %zu, then %zu", r0, r1);
    wait_and_tick(1000);
    wait_and_tick(1000);
    size_t r2 = hak_chunk_resident();
    HAK_CHECK_MSG(r2 + ((size_t)16 << 20) <= r1 && r2 <= ((size_t)2 << 20),
                  "idle: resident %zu, then %zu", r1, r2);
}
END_TEST

/* The purge thread waits for the program's quiet: HAK_PURGE_QUIET_DELAYS
 * delays after its last call the clock saw, at once with HAKMEM_ACE=0. */
START_TEST(test_purge_thread_waits_for_quiet) {
    hak_opt.purge_delay = 1000;
    hak_test_clock_advance(10);
    uint64_t now = hak_os_now_ms();
    hak_purge_active(now);
    ck_assert_uint_eq(hak_purge_thread_at(), now + HAK_PURGE_QUIET_DELAYS * 1000);
    hak_opt.ace = false;
    ck_assert_uint_eq(hak_purge_thread_at(), 0);
    hak_opt.ace = true;
}
END_TEST

/* Idle return at the purge thread's first look after a long quiet: what
 * the heap did came by the program's last call, so it is idle at once,
 * not one look and a delay later (a program read its RSS 3 s after its
 * last free and found its small-block memory still there). */
START_TEST(test_small_idle_first_look) {
    if (!idle_returns())
        return;
    hak_opt.purge_delay = 1000;
    churn_idle();
    hak_purge_tick(); /* the program's last call the clock sees */
    size_t r0 = hak_chunk_resident();
    hak_test_clock_advance(HAK_PURGE_QUIET_DELAYS * 1000 + 1);
    hak_backend->decay(); /* the thread's look: no call of the program */
    size_t r1 = hak_chunk_resident();
    HAK_CHECK_MSG(r1 + ((size_t)3 << 20) <= r0 && r1 <= ((size_t)2 << 20),
                  "idle: resident %zu, then %zu", r0, r1);
}
END_TEST

/* Short threads, one after another, each leaving half of 300 blocks of 16
 * B to 4 KiB for the main thread, which frees them LAG threads later. */
#define CHURN_THREADS 1500
#define CHURN_BLOCKS 300
#define LAG 50
static void *left[LAG][CHURN_BLOCKS / 2];

static void *leaving_thread(void *arg) {
    void **out = arg;
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15u | 1;
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = ((size_t)16 << (x % 8)) + (x >> 8) % ((size_t)16 << (x % 8));
        void *p = hak_malloc(n);
        ck_assert_ptr_nonnull(p);
        memset(p, 0x5a, n);
        if (i % 2)
            out[i / 2] = p;
        else
            hak_free(p);
    }
    return NULL;
}

/* The slabs that exited threads leave (orphans) and the main thread then
 * empties go back: as it frees (once a class's orphans got a slab's worth
 * of blocks back), and the rest at the next look after the delay, with no
 * trim; what stays resident is about what the main thread caches, and
 * the slabs of those blocks. */
START_TEST(test_orphans_return) {
    if (!idle_returns())
        return;
    hak_opt.purge_delay = 1000;
    for (int t = 0; t < CHURN_THREADS + LAG; t++) {
        void **out = left[t % LAG];
        if (t >= LAG)
            for (int i = 0; i < CHURN_BLOCKS / 2; i++)
                hak_free(out[i]);
        if (t >= CHURN_THREADS)
            continue;
        pthread_t tid;
        ck_assert_int_eq(pthread_create(&tid, NULL, leaving_thread, out), 0);
        ck_assert_int_eq(pthread_join(tid, NULL), 0);
    }
    wait_and_tick(1000);
    wait_and_tick(1000);
    hak_stats_t s;
    hak_stats_get(&s);
    size_t resident = hak_chunk_resident();
    /* The blocks the main thread caches keep a slab each, 64 KiB for the
     * 64 classes in use: 4 MiB, and some.  Orphans never collected keep
     * 7 MiB resident here, and more the more threads come and go. */
    HAK_CHECK_MSG(resident <= s.cached_bytes + ((size_t)5 << 20),
                  "resident %zu, active %llu, cached %llu", resident,
                  (unsigned long long)s.active_bytes, (unsigned long long)s.cached_bytes);
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
    ck_assert_uint_ge(munmaps() - u0, 8); /* empty chunks beyond those kept */
}
END_TEST

/* A workload that frees and allocates the same memory again and again
 * would fault every page back in after each purge: a backend that keeps
 * memory on the purge clock (superslab, hybrid) learns from the pages it took back
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
 * then), and it ends the raise with no further call from the program, once
 * the program was quiet for two delays (purge.h). */
START_TEST(test_small_cycles_purge_thread) {
    if (hak_backend->decay == NULL)
        return;
    hak_opt.purge_delay = 1000;
    hak_opt.purge_thread = true;
    for (int i = 0; i < 4; i++)
        churn_small();
    uint64_t m1 = madvises();
    hak_test_clock_advance(HAK_PURGE_QUIET_DELAYS * 1000 + 1);
    ck_assert_msg(hak_test_wait_change(&hak_os_stats.madvises, m1),
                  "no purge within 120 s of the purge delay's end");
}
END_TEST

/* A thread that leaves a block of 2000 bytes, and one that runs fn. */
static void *leave_one(void *arg) {
    *(void **)arg = hak_malloc(2000);
    ck_assert_ptr_nonnull(*(void **)arg);
    return NULL;
}
static void run_thread(void *(*fn)(void *), void *arg) {
    pthread_t tid;
    ck_assert_int_eq(pthread_create(&tid, NULL, fn, arg), 0);
    ck_assert_int_eq(pthread_join(tid, NULL), 0);
}

/* Threads that exit together, each with an empty active slab in each of
 * PARK_CLASSES classes (a 1 KiB-8 KiB block allocated and freed). */
#define PARK_THREADS 8
#define PARK_CLASSES 24
static pthread_barrier_t park_barrier;
static void *parking_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < PARK_CLASSES; i++) {
        void *p = hak_malloc(1024 + (size_t)i * 320);
        ck_assert_ptr_nonnull(p);
        memset(p, 0x5a, 64);
        hak_free(p);
    }
    pthread_barrier_wait(&park_barrier);
    return NULL;
}
static uint64_t active_bytes(void) { return atomic_load(&hak_active_bytes); }

static void run_parking_threads(void) {
    pthread_t tid[PARK_THREADS];
    pthread_barrier_init(&park_barrier, NULL, PARK_THREADS);
    for (int t = 0; t < PARK_THREADS; t++)
        ck_assert_int_eq(pthread_create(&tid[t], NULL, parking_thread, NULL), 0);
    for (int t = 0; t < PARK_THREADS; t++)
        ck_assert_int_eq(pthread_join(tid[t], NULL), 0);
    pthread_barrier_destroy(&park_barrier);
}

/* superslab: an exited thread's heap keeps its empty active slabs for the
 * next thread, at most 64 units of them over every waiting heap; they go
 * back when idle, and the heaps then serve new threads as any other. */
START_TEST(test_parked_slabs_bounded) {
    if (!idle_returns())
        return;
    hak_opt.purge_delay = 1000;
    uint64_t a0 = active_bytes();
    run_parking_threads();
    uint64_t a1 = active_bytes();
    /* 8 x 24 empty slabs of a unit each came back; 64 units at most stay. */
    HAK_CHECK_MSG(a1 > a0 && a1 - a0 <= (uint64_t)64 << HAK_UNIT_SHIFT,
                  "active %llu before, %llu after the threads", (unsigned long long)a0,
                  (unsigned long long)a1);
    wait_and_tick(1000);
    wait_and_tick(1000);
    HAK_CHECK_MSG(active_bytes() <= a0, "active %llu before, %llu after the idle",
                  (unsigned long long)a0, (unsigned long long)active_bytes());
    void *kept = NULL;
    run_thread(leave_one, &kept); /* an orphan of a class they had parked */
    run_parking_threads();
    hak_free(kept);
}
END_TEST

/* A block another thread left: its slab, an orphan, serves its class
 * before the slab that an exited thread parked for the next thread.  The
 * parker has its heap before the leaver starts, and exits last, so the
 * next thread gets the parker's heap. */
static pthread_barrier_t parker_go;
static void *park_one(void *arg) {
    (void)arg;
    hak_free(hak_malloc(2000));
    pthread_barrier_wait(&parker_go); /* its heap made */
    pthread_barrier_wait(&parker_go); /* the leaver gone */
    return NULL;
}
START_TEST(test_orphans_before_parked) {
    if (!idle_returns())
        return;
    void *kept = NULL, *taken = NULL;
    pthread_t parker;
    pthread_barrier_init(&parker_go, NULL, 2);
    ck_assert_int_eq(pthread_create(&parker, NULL, park_one, NULL), 0);
    pthread_barrier_wait(&parker_go);
    run_thread(leave_one, &kept); /* its slab: an orphan */
    pthread_barrier_wait(&parker_go);
    ck_assert_int_eq(pthread_join(parker, NULL), 0);
    pthread_barrier_destroy(&parker_go);
    run_thread(leave_one, &taken);
    HAK_CHECK_MSG((uintptr_t)kept >> HAK_UNIT_SHIFT == (uintptr_t)taken >> HAK_UNIT_SHIFT,
                  "left %p in one unit, took %p in another", kept, taken);
    hak_free(taken);
    hak_free(kept);
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
    tcase_add_test(tc, test_large_idle_stretch);
    tcase_add_test(tc, test_large_delay_stretches);
    tcase_add_test(tc, test_small_at_once_whatever_the_delay);
    tcase_add_test(tc, test_small_cycles_keep_memory);
    tcase_add_test(tc, test_small_cycles_purge_thread);
    tcase_add_test(tc, test_frozen);
    tcase_add_test(tc, test_small_idle_returns);
    tcase_add_test(tc, test_purge_thread_waits_for_quiet);
    tcase_add_test(tc, test_small_idle_first_look);
    tcase_add_test(tc, test_orphans_return);
    tcase_add_test(tc, test_parked_slabs_bounded);
    tcase_add_test(tc, test_orphans_before_parked);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

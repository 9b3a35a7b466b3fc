/* Stress: blocks that cross threads, through the hak_* API of the static
 * core (Check, like the unit tests) so that the sanitizer builds watch the
 * allocator itself: blocks freed by a thread other than the one that
 * allocated them (remote frees), blocks that outlive their thread
 * (orphans, adopted by later threads), threads that allocate and free the
 * same classes at once while trading blocks, and the purge thread
 * (HAKMEM_PURGE_THREAD) at work beside large-block users, a consumer's
 * batches passed whole to its producer (the transfer cache), and blocks
 * freed by one thread while their owner makes no call or is gone.
 * Every block carries a tag derived from its address and size, checked
 * before it is freed, so a block handed out twice, or written by the
 * allocator while live, fails the test. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "frontend/frontend.h"
#include "internal.h"

#include "../check_main.h"
#include "../testclock.h"

/* ---- tagged blocks, and failures reported from any thread ---- */

static atomic_int failures;
static char first_failure[160];
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;

static void report(const char *what, const void *p, size_t n) {
    pthread_mutex_lock(&failure_lock);
    if (atomic_fetch_add(&failures, 1) == 0)
        snprintf(first_failure, sizeof first_failure, "%s: block %p of %zu bytes", what, p, n);
    pthread_mutex_unlock(&failure_lock);
}

static unsigned char tag_byte(const void *p, size_t n) {
    return (unsigned char)(((uintptr_t)p >> 4) ^ n ^ 0xa5);
}

/* A block of n >= 16 bytes: its address and size in the first two words,
 * every other byte the tag. */
static void *tagged_alloc(size_t n) {
    uintptr_t *p = hak_malloc(n);
    if (p == NULL) {
        report("hak_malloc returned NULL", NULL, n);
        return NULL;
    }
    memset(p + 2, tag_byte(p, n), n - 2 * sizeof *p);
    p[0] = ~(uintptr_t)p;
    p[1] = n;
    return p;
}

static void tagged_free(void *block) {
    uintptr_t *p = block;
    size_t n = p[1];
    if (p[0] != ~(uintptr_t)p || n < 16 || n > (1u << 20)) {
        report("header overwritten", p, n);
        return; /* not ours to free any more */
    }
    const unsigned char *b = (const unsigned char *)(p + 2), t = tag_byte(p, n);
    for (size_t i = 0; i < n - 2 * sizeof *p; i++)
        if (b[i] != t) {
            report("body overwritten", p, n);
            break;
        }
    hak_free(p);
}

static uint32_t next_rand(uint32_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Mostly small classes, now and then a large block (the large path). */
static size_t random_size(uint32_t *x) {
    uint32_t r = next_rand(x);
    return (r & 255) == 0 ? 65536 + (r >> 16) : 16 + (r >> 8) % 2048;
}

static void check_no_failures(void) {
    ck_assert_msg(atomic_load(&failures) == 0, "%d failures, the first: %s", atomic_load(&failures),
                  first_failure);
}

/* ---- a bounded queue between threads ---- */

#define QUEUE_SLOTS 256
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    void *slot[QUEUE_SLOTS];
    unsigned head, count, producers_left;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0};

static void queue_put(void *p) {
    pthread_mutex_lock(&queue.lock);
    while (queue.count == QUEUE_SLOTS)
        pthread_cond_wait(&queue.changed, &queue.lock);
    queue.slot[(queue.head + queue.count++) % QUEUE_SLOTS] = p;
    pthread_cond_broadcast(&queue.changed);
    pthread_mutex_unlock(&queue.lock);
}

/* The next block, or NULL once the queue is empty and every producer done. */
static void *queue_take(void) {
    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0 && queue.producers_left > 0)
        pthread_cond_wait(&queue.changed, &queue.lock);
    void *p = NULL;
    if (queue.count > 0) {
        p = queue.slot[queue.head];
        queue.head = (queue.head + 1) % QUEUE_SLOTS;
        queue.count--;
        pthread_cond_broadcast(&queue.changed);
    }
    pthread_mutex_unlock(&queue.lock);
    return p;
}

/* ---- producers and consumers: every block is freed by another thread ---- */

#define PRODUCED 20000

static void *producer(void *arg) {
    uint32_t x = (uint32_t)(uintptr_t)arg;
    for (unsigned i = 0; i < PRODUCED; i++) {
        void *p = tagged_alloc(random_size(&x));
        if (p != NULL)
            queue_put(p);
    }
    pthread_mutex_lock(&queue.lock);
    queue.producers_left--;
    pthread_cond_broadcast(&queue.changed);
    pthread_mutex_unlock(&queue.lock);
    return NULL;
}

/* Frees what it takes; allocates and frees a little of its own between. */
static void *consumer(void *arg) {
    uint32_t x = (uint32_t)(uintptr_t)arg;
    void *p;
    while ((p = queue_take()) != NULL) {
        tagged_free(p);
        if ((next_rand(&x) & 7) == 0) {
            void *own = tagged_alloc(random_size(&x));
            if (own != NULL)
                tagged_free(own);
        }
    }
    return NULL;
}

START_TEST(test_remote_frees) {
    pthread_t t[4];
    queue.producers_left = 2;
    for (uintptr_t i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, producer, (void *)(i + 11)), 0);
    for (uintptr_t i = 2; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, consumer, (void *)(i + 11)), 0);
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_eq(queue.count, 0);
    check_no_failures();
}
END_TEST

/* ---- orphans: blocks outlive the thread that allocated them ---- */

#define ORPHAN_THREADS 4
#define ORPHANS 2000
static void *orphans[ORPHAN_THREADS][ORPHANS];

/* Allocates its row and exits with every block still live. */
static void *orphan_maker(void *arg) {
    uintptr_t row = (uintptr_t)arg;
    uint32_t x = (uint32_t)row + 101;
    for (unsigned i = 0; i < ORPHANS; i++)
        orphans[row][i] = tagged_alloc(random_size(&x));
    return NULL;
}

/* Frees every other block of a row, allocating (adopting) as it goes. */
static void *orphan_reaper(void *arg) {
    uintptr_t row = (uintptr_t)arg;
    uint32_t x = (uint32_t)row + 202;
    for (unsigned i = row & 1; i < ORPHANS; i += 2) {
        if (orphans[row][i] != NULL)
            tagged_free(orphans[row][i]);
        orphans[row][i] = tagged_alloc(random_size(&x));
    }
    return NULL;
}

START_TEST(test_orphans) {
    pthread_t t[ORPHAN_THREADS];
    for (uintptr_t i = 0; i < ORPHAN_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, orphan_maker, (void *)i), 0);
    for (unsigned i = 0; i < ORPHAN_THREADS; i++)
        pthread_join(t[i], NULL);
    /* Their makers are gone: new threads free half and allocate anew, two
     * rows at a time, then the main thread frees the rest. */
    for (uintptr_t i = 0; i < ORPHAN_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, orphan_reaper, (void *)i), 0);
    for (unsigned i = 0; i < ORPHAN_THREADS; i++)
        pthread_join(t[i], NULL);
    for (unsigned r = 0; r < ORPHAN_THREADS; r++)
        for (unsigned i = 0; i < ORPHANS; i++)
            if (orphans[r][i] != NULL)
                tagged_free(orphans[r][i]);
    check_no_failures();
}
END_TEST

/* ---- the same classes at once, trading blocks through exchange slots ---- */

#define MIXERS 4
#define MIX_SLOTS 256
#define MIX_OPS 40000
static _Atomic(void *) exchange[MIXERS];

static void *mixer(void *arg) {
    uintptr_t me = (uintptr_t)arg;
    uint32_t x = (uint32_t)me * 7919 + 1;
    void *slots[MIX_SLOTS] = {0};
    for (unsigned op = 0; op < MIX_OPS; op++) {
        uint32_t r = next_rand(&x);
        void **s = &slots[r % MIX_SLOTS];
        if (*s != NULL) {
            tagged_free(*s);
            *s = NULL;
        } else {
            *s = tagged_alloc(16 + (r >> 8) % 512);
        }
        /* Now and then hand a live block to the next mixer and take one
         * from the previous: whoever takes a block frees it. */
        if ((op & 63) == 0 && *s != NULL) {
            void *unclaimed = atomic_exchange(&exchange[(me + 1) % MIXERS], *s);
            *s = atomic_exchange(&exchange[me], NULL); /* the previous mixer's */
            if (unclaimed != NULL)
                tagged_free(unclaimed);
        }
    }
    for (unsigned i = 0; i < MIX_SLOTS; i++)
        if (slots[i] != NULL)
            tagged_free(slots[i]);
    return NULL;
}

START_TEST(test_mixers) {
    pthread_t t[MIXERS];
    for (uintptr_t i = 0; i < MIXERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, mixer, (void *)i), 0);
    for (unsigned i = 0; i < MIXERS; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < MIXERS; i++) {
        void *p = atomic_exchange(&exchange[i], NULL);
        if (p != NULL)
            tagged_free(p);
    }
    check_no_failures();
}
END_TEST

/* ---- the purge thread beside threads that use the large path ---- */

#define LARGE_USERS 4
#define LARGE_ROUNDS 200

/* Keeps up to 8 blocks of 1-4 MiB, freeing and allocating at random: the
 * large cache goes past its budget again and again. */
static void *large_user(void *arg) {
    uint32_t x = (uint32_t)(uintptr_t)arg + 303;
    unsigned char *held[8] = {0};
    size_t sizes[8];
    for (unsigned i = 0; i < LARGE_ROUNDS; i++) {
        unsigned k = next_rand(&x) % 8;
        if (held[k] != NULL) {
            if (held[k][0] != (unsigned char)k || held[k][sizes[k] - 1] != (unsigned char)k)
                report("large block overwritten", held[k], sizes[k]);
            hak_free(held[k]);
        }
        sizes[k] = ((size_t)1 << 20) + next_rand(&x) % ((size_t)3 << 20);
        held[k] = hak_malloc(sizes[k]);
        if (held[k] == NULL) {
            report("hak_malloc returned NULL", NULL, sizes[k]);
            continue;
        }
        held[k][0] = held[k][sizes[k] - 1] = (unsigned char)k;
    }
    for (unsigned k = 0; k < 8; k++)
        hak_free(held[k]);
    return NULL;
}

START_TEST(test_purge_thread) {
    /* As HAKMEM_PURGE_THREAD=1 HAKMEM_PURGE_DELAY=20 would, before any
     * thread but this one exists. */
    hak_opt.purge_thread = true;
    hak_opt.purge_delay = 20;
    hak_test_clock_freeze();
    pthread_t t[LARGE_USERS];
    for (uintptr_t i = 0; i < LARGE_USERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, large_user, (void *)i), 0);
    for (unsigned i = 0; i < LARGE_USERS; i++)
        pthread_join(t[i], NULL);
    check_no_failures();
    /* The last frees left the cache past its budget: with no allocator call
     * from here on, only the purge thread can give those pages back, once
     * the program was quiet for long enough (purge.h). */
    uint64_t before = atomic_load(&hak_os_stats.madvises);
    hak_test_clock_advance(HAK_PURGE_QUIET_DELAYS * 20 + 1);
    ck_assert_msg(hak_test_wait_change(&hak_os_stats.madvises, before),
                  "no purge within 120 s of the purge delay's end");
}
END_TEST

/* ---- the transfer cache: a consumer's batches reach the producer whole ---- */

#define HANDOFF_ROUNDS 48
#define HANDOFF_BLOCKS 512
#define HANDOFF_SIZE 48
static void *handoff[HANDOFF_BLOCKS];
static pthread_barrier_t handoff_turn;

/* Fills the shelf each round; the consumer empties it in between. */
static void *handoff_producer(void *arg) {
    (void)arg;
    for (unsigned r = 0; r < HANDOFF_ROUNDS; r++) {
        for (unsigned i = 0; i < HANDOFF_BLOCKS; i++)
            handoff[i] = tagged_alloc(HANDOFF_SIZE);
        pthread_barrier_wait(&handoff_turn);
        pthread_barrier_wait(&handoff_turn);
    }
    return NULL;
}

static void *handoff_consumer(void *arg) {
    (void)arg;
    for (unsigned r = 0; r < HANDOFF_ROUNDS; r++) {
        pthread_barrier_wait(&handoff_turn);
        for (unsigned i = 0; i < HANDOFF_BLOCKS; i++)
            if (handoff[i] != NULL)
                tagged_free(handoff[i]);
        pthread_barrier_wait(&handoff_turn);
    }
    return NULL;
}

START_TEST(test_transfer) {
    hak_stats_t st;
    hak_stats_get(&st);
    uint64_t before = st.transfers;
    pthread_t t[2];
    ck_assert_int_eq(pthread_barrier_init(&handoff_turn, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&t[0], NULL, handoff_producer, NULL), 0);
    ck_assert_int_eq(pthread_create(&t[1], NULL, handoff_consumer, NULL), 0);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&handoff_turn);
    check_no_failures();
    hak_stats_get(&st);
    /* 24576 frees by a thread that never allocates the class: once its
     * bin drains, in batches of up to 341 (16 KiB), the producer, whose bin
     * grows past that, takes one or two a round (71 of 72 batches here);
     * a backend without HAK_CAP_TRANSFER takes them all back itself. */
    if (!(hak_backend->caps & HAK_CAP_TRANSFER)) {
        ck_assert_uint_eq(st.transfers, before);
        return;
    }
    ck_assert_msg(st.transfers - before >= HANDOFF_ROUNDS,
                  "%llu batches passed through the transfer cache",
                  (unsigned long long)(st.transfers - before));
}
END_TEST

/* ---- blocks freed by another thread while their owner makes no call ---- */

#define IDLE_BLOCKS 32768 /* of 1000 bytes: 32 MiB, four times the backend's budget */
static void *idle_blocks[IDLE_BLOCKS];
static pthread_barrier_t idle_turn;

/* Allocates, hands everything over, then stays alive without a call. */
static void *idle_owner(void *arg) {
    (void)arg;
    for (unsigned i = 0; i < IDLE_BLOCKS; i++)
        idle_blocks[i] = tagged_alloc(1000);
    pthread_barrier_wait(&idle_turn);
    pthread_barrier_wait(&idle_turn);
    return NULL;
}

START_TEST(test_idle_owner) {
    if ((hak_backend->caps & HAK_CAP_RETURNS_SMALL) == 0)
        return; /* legacy keeps small-block memory by design */
    pthread_t t;
    ck_assert_int_eq(pthread_barrier_init(&idle_turn, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, idle_owner, NULL), 0);
    pthread_barrier_wait(&idle_turn);
    hak_stats_t full, freed, trimmed;
    hak_stats_get(&full);
    for (unsigned i = 0; i < IDLE_BLOCKS; i++)
        if (idle_blocks[i] != NULL)
            tagged_free(idle_blocks[i]);
    hak_stats_get(&freed);
    ck_assert_int_eq(hak_trim(0), 1);
    hak_stats_get(&trimmed);
    pthread_barrier_wait(&idle_turn);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&idle_turn);
    check_no_failures();
    /* The owner made no call: whoever freed its blocks gave the memory
     * back, past the budget at once, and the trim unmapped what was left. */
    ck_assert_msg(freed.madvise_calls > full.madvise_calls,
                  "32 MiB freed by another thread stayed resident");
    ck_assert_msg(trimmed.mapped_bytes + (16u << 20) <= full.mapped_bytes,
                  "mapped %llu bytes with every block live, %llu after the trim",
                  (unsigned long long)full.mapped_bytes, (unsigned long long)trimmed.mapped_bytes);
}
END_TEST

/* Blocks of a class nobody else allocates, left by a thread that exited:
 * freed later by this one, their slabs have no owner to collect them. */
#define ORPHAN_BLOCKS 6144 /* of 2800 bytes: 16 MiB */
static void *orphaned[ORPHAN_BLOCKS];

static void *orphan_owner(void *arg) {
    (void)arg;
    for (unsigned i = 0; i < ORPHAN_BLOCKS; i++)
        orphaned[i] = tagged_alloc(2800);
    return NULL;
}

START_TEST(test_trim_orphans) {
    if ((hak_backend->caps & HAK_CAP_RETURNS_SMALL) == 0)
        return;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, orphan_owner, NULL), 0);
    pthread_join(t, NULL);
    hak_stats_t full, trimmed;
    hak_stats_get(&full);
    for (unsigned i = 0; i < ORPHAN_BLOCKS; i++)
        if (orphaned[i] != NULL)
            tagged_free(orphaned[i]);
    ck_assert_int_eq(hak_trim(0), 1);
    hak_stats_get(&trimmed);
    check_no_failures();
    ck_assert_msg(trimmed.mapped_bytes + (8u << 20) <= full.mapped_bytes,
                  "mapped %llu bytes with every block live, %llu after the trim",
                  (unsigned long long)full.mapped_bytes, (unsigned long long)trimmed.mapped_bytes);
}
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_remote_frees);
    tcase_add_test(tc, test_orphans);
    tcase_add_test(tc, test_mixers);
    tcase_add_test(tc, test_purge_thread);
    tcase_add_test(tc, test_transfer);
    tcase_add_test(tc, test_idle_owner);
    tcase_add_test(tc, test_trim_orphans);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

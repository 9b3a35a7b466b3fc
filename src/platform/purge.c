/*
 * purge.c - the purge clock and the purge thread (purge.h): one deadline
 * for every client that keeps free memory waiting, and the decay calls of
 * those clients when it runs out.
 */
#include "platform/purge.h"

#include <signal.h>
#include <time.h>

static _Atomic uint64_t deadline; /* ms; 0 while nothing waits */

/* The program's last allocator call the clock saw (active_at), and its
 * last idle stretch, when no call came for the purge delay: its end (the
 * call after it) << IDLE_LEN_BITS | its length, capped, in one word so
 * that a reader never sees half of a new one.  A capped length starts the
 * stretch late, which only counts more of it as active. */
#define IDLE_LEN_BITS 24
static _Atomic uint64_t active_at, idle;

/* The clients' decay calls, registered at init (before any thread but the
 * first runs: read without a lock). */
#define PURGE_CLIENTS 4
static void (*clients[PURGE_CLIENTS])(void);
static unsigned nclients;

/* The purge thread: purger_lock guards its sleep; purger_wake tells it the
 * deadline moved earlier.  Lock order: the large path's lock, or a unit
 * pool's or a superslab heap's, then this. */
static hak_lock_t purger_lock = HAK_LOCK_INIT;
static pthread_cond_t purger_wake;
static _Atomic bool purger_started;

/* The decay calls, once the deadline ran out by now. */
static void purge_run(uint64_t now);

uint64_t hak_purge_quiet_since(uint64_t now) {
    uint64_t last = atomic_load_explicit(&active_at, memory_order_relaxed);
    return hak_opt.ace && last != 0 && last < now ? last : now;
}

uint64_t hak_purge_thread_at(void) {
    uint64_t last = atomic_load_explicit(&active_at, memory_order_relaxed);
    return hak_opt.ace && last != 0 ? last + HAK_PURGE_QUIET_DELAYS * hak_opt.purge_delay : 0;
}

/* Sleeps until the deadline (or, with none, until one is armed) and the
 * end of the quiet it waits for (hak_purge_thread_at), then does what
 * hak_purge_tick does for a slow path, but for marking the program
 * active. */
static void *purger_main(void *arg) {
    (void)arg;
    hak_lock(&purger_lock);
    for (;;) {
        uint64_t d = atomic_load_explicit(&deadline, memory_order_relaxed);
        uint64_t now = hak_os_now_ms(), quiet = hak_purge_thread_at();
        if (d != 0 && d < quiet)
            d = quiet;
        if (d == 0) {
            pthread_cond_wait(&purger_wake, &purger_lock);
        } else if (now < d) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (d - now) * 1000000u;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&purger_wake, &purger_lock, &ts);
        } else {
            hak_unlock(&purger_lock);
            purge_run(now);
            hak_lock(&purger_lock);
        }
    }
    return NULL;
}

/* At process start, and again in a fork's child, where no thread waits. */
void hak_purge_init(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&purger_wake, &ca);
    pthread_condattr_destroy(&ca);
}

static void purger_start(void) {
    /* No signal of the program's lands on it; it cannot be joined. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &a, purger_main, NULL) == 0)
        pthread_setname_np(t, "hakmem-purge");
    else
        hak_log("HAKMEM_PURGE_THREAD: cannot start the purge thread; purging at allocator calls");
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void hak_purger_poke(void) {
    if (HAK_LIKELY(!hak_opt.purge_thread) ||
        atomic_load_explicit(&purger_started, memory_order_relaxed) ||
        atomic_load_explicit(&deadline, memory_order_relaxed) == 0)
        return;
    bool no = false;
    if (atomic_compare_exchange_strong_explicit(&purger_started, &no, true, memory_order_relaxed,
                                                memory_order_relaxed))
        purger_start();
}

void hak_purge_clock_moved(void) {
    hak_lock(&purger_lock);
    pthread_cond_signal(&purger_wake);
    hak_unlock(&purger_lock);
}

void hak_purge_fork_prepare(void) { hak_lock(&purger_lock); }
void hak_purge_fork_release(void) { hak_unlock(&purger_lock); }
void hak_purge_fork_child(void) {
    /* The thread did not follow: the next poke starts another. */
    atomic_store_explicit(&purger_started, false, memory_order_relaxed);
    hak_purge_init();
}

void hak_purge_at(uint64_t at) {
    uint64_t d = atomic_load_explicit(&deadline, memory_order_relaxed);
    while ((d == 0 || at < d) && !atomic_compare_exchange_weak_explicit(
                                     &deadline, &d, at, memory_order_relaxed, memory_order_relaxed))
        ;
    if ((d == 0 || at < d) && atomic_load_explicit(&purger_started, memory_order_relaxed)) {
        hak_lock(&purger_lock);
        pthread_cond_signal(&purger_wake);
        hak_unlock(&purger_lock);
    }
}

bool hak_purge_due(uint64_t *over_since, size_t dirty, size_t budget) {
    if (dirty <= budget) {
        *over_since = 0;
        return false;
    }
    if (hak_opt.purge_delay == 0)
        return true;
    uint64_t now = hak_os_now_ms();
    if (*over_since == 0)
        *over_since = now;
    if (now - *over_since >= hak_opt.purge_delay) {
        *over_since = 0;
        return true;
    }
    hak_purge_at(*over_since + hak_opt.purge_delay);
    return false;
}

void hak_purge_register(void (*decay)(void)) {
    for (unsigned i = 0; i < nclients; i++)
        if (clients[i] == decay)
            return;
    if (nclients < PURGE_CLIENTS)
        clients[nclients++] = decay;
}

void hak_purge_active(uint64_t now) {
    uint64_t last = atomic_load_explicit(&active_at, memory_order_relaxed);
    if (now <= last) /* this millisecond's, or another thread's newer */
        return;
    atomic_store_explicit(&active_at, now, memory_order_relaxed);
    if (last != 0 && hak_opt.purge_delay > 0 && now - last >= hak_opt.purge_delay) {
        uint64_t len = now - last, cap = ((uint64_t)1 << IDLE_LEN_BITS) - 1;
        atomic_store_explicit(&idle, now << IDLE_LEN_BITS | (len < cap ? len : cap),
                              memory_order_relaxed);
    }
}

uint64_t hak_purge_elapsed(uint64_t then, uint64_t now) {
    uint64_t v = atomic_load_explicit(&idle, memory_order_relaxed);
    uint64_t to = v >> IDLE_LEN_BITS, from = to - (v & (((uint64_t)1 << IDLE_LEN_BITS) - 1));
    if (now <= then)
        return 0;
    if (!hak_opt.ace || v == 0 || then >= to || now < to)
        return now - then;
    return (then < from ? from - then : 0) + (now - to);
}

static void purge_run(uint64_t now) {
    uint64_t d = atomic_load_explicit(&deadline, memory_order_relaxed);
    if (d == 0 || now < d)
        return;
    /* One thread does the work; a client not yet due arms again. */
    if (!atomic_compare_exchange_strong_explicit(&deadline, &d, 0, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    for (unsigned i = 0; i < nclients; i++)
        clients[i]();
}

void hak_purge_tick(void) {
    uint64_t d = atomic_load_explicit(&deadline, memory_order_relaxed);
    if (HAK_LIKELY(d == 0))
        return;
    /* Only while something waits does the clock need to know. */
    uint64_t now = hak_os_now_ms();
    hak_purge_active(now);
    purge_run(now);
}

/*
 * ace.c - thread-cache sizing and failure tracing.
 *
 * A bin starts small, so a thread that touches a class once holds little.
 * A bin whose thread keeps allocating from it (it misses on malloc again
 * and again) doubles its capacity every few refills, up to a byte bound per
 * bin.  Refills fetch and flushes return half the capacity, so a bin sits
 * mid-way after either.
 *
 * A bin that flushes again and again with no refill between is draining:
 * its thread frees the class and does not allocate it (the consumer of a
 * producer/consumer pair).  It keeps nothing it will use, so it flushes
 * whole, and each flush is a batch that the transfer cache can hand in one
 * piece to the thread that allocates the class (transfer.c).  A bin of 8
 * blocks would make a flush of every 8 frees, so a draining bin grows at
 * each flush, but only to a small byte bound: what it holds is memory its
 * producer cannot reuse yet.
 *
 * A bin that misses both ways, flushing as well as refilling, is cycling:
 * its thread's own live count of the class swings wider than the bin, and
 * every swing is a round trip to the backend that hands back the blocks
 * just freed, cache-hot, and fetches colder ones.  Such a bin may grow on
 * to a larger bound, enough to hold the swing.  It holds nothing the thread
 * did not free itself, and a producer (refills only) never qualifies.
 *
 * No bin shrinks, so a thread that cycled through many classes would hold
 * all their bins at their bounds: the growth of a thread's bins together
 * has a budget, and the bins that grow first take it.
 */
#include "ace/ace.h"

#include <signal.h>
#include <time.h>

/* Free memory kept mapped: the backend's is all touched, and a program that
 * frees a lot should see RSS fall (to within 8 MiB); the large path's is
 * mostly untouched address space, and waits for the purge clock too. */
#define ACE_BACKEND_CACHED_BYTES ((size_t)8 << 20)
#define ACE_LARGE_CACHED_BYTES ((size_t)16 << 20)

/* A bin's bound: [0] for any, [1] for a cycling one. */
static uint16_t ace_max_cap[2][HAK_NCODES];
static uint16_t ace_drain_cap[HAK_NCODES];
static _Atomic uint64_t ace_deadline; /* ms; 0 while nothing is over budget */
static const hak_backend_t *ace_backend;
_Static_assert(ACE_MIN_CAP >= 2 && ACE_START_CAP >= ACE_MIN_CAP,
               "half a capacity is at least one block");

static uint16_t bound(size_t bytes, size_t max, unsigned cls) {
    size_t cap = bytes / hak_class_size[cls];
    if (cap < ACE_MIN_CAP)
        cap = ACE_MIN_CAP;
    if (cap > max)
        cap = max;
    return (uint16_t)cap;
}

/* The purge thread: purger_lock guards its sleep; purger_wake tells it the
 * deadline moved earlier.  Lock order: the large path's lock, or the
 * backend's pool lock or a heap's lock (superslab's purge clock), then
 * this. */
static hak_lock_t purger_lock = HAK_LOCK_INIT;
static pthread_cond_t purger_wake;
static _Atomic bool purger_started;

/* Sleeps until the deadline (or, with none, until one is armed), then does
 * what hak_ace_tick does for a slow path. */
static void *purger_main(void *arg) {
    (void)arg;
    hak_lock(&purger_lock);
    for (;;) {
        uint64_t d = atomic_load_explicit(&ace_deadline, memory_order_relaxed);
        uint64_t now = hak_os_now_ms();
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
            hak_ace_tick();
            hak_lock(&purger_lock);
        }
    }
    return NULL;
}

/* At process start, and again in a fork's child, where no thread waits. */
static void purger_init(void) {
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

void hak_ace_purger_poke(void) {
    if (HAK_LIKELY(!hak_opt.purge_thread) ||
        atomic_load_explicit(&purger_started, memory_order_relaxed) ||
        atomic_load_explicit(&ace_deadline, memory_order_relaxed) == 0)
        return;
    bool no = false;
    if (atomic_compare_exchange_strong_explicit(&purger_started, &no, true, memory_order_relaxed,
                                                memory_order_relaxed))
        purger_start();
}

void hak_ace_clock_moved(void) {
    hak_lock(&purger_lock);
    pthread_cond_signal(&purger_wake);
    hak_unlock(&purger_lock);
}

void hak_ace_fork_prepare(void) { hak_lock(&purger_lock); }
void hak_ace_fork_release(void) { hak_unlock(&purger_lock); }
void hak_ace_fork_child(void) {
    /* The thread did not follow: the next poke starts another. */
    atomic_store_explicit(&purger_started, false, memory_order_relaxed);
    purger_init();
}

void hak_ace_init(const hak_backend_t *backend) {
    ace_backend = backend;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        ace_max_cap[0][c] = bound(ACE_BIN_BYTES, ACE_MAX_CAP, c);
        ace_max_cap[1][c] = bound(ACE_CYCLING_BIN_BYTES, ACE_CYCLING_MAX_CAP, c);
        ace_drain_cap[c] = bound(ACE_DRAIN_BIN_BYTES, ACE_DRAIN_MAX_CAP, c);
    }
    hak_ace_set_cached(ACE_BACKEND_CACHED_BYTES, ACE_LARGE_CACHED_BYTES);
    purger_init();
}

void hak_ace_set_cached(size_t backend_bytes, size_t large_bytes) {
    hak_budget_t budget = {.cached_bytes = backend_bytes};
    if (ace_backend->set_budget)
        ace_backend->set_budget(&budget);
    hak_large_set_budget(large_bytes);
}

void hak_ace_bin_init(hak_binctl_t *k, int32_t *room, unsigned cls) {
    unsigned cap = ace_max_cap[0][cls] < ACE_START_CAP ? ace_max_cap[0][cls] : ACE_START_CAP;
    k->cap = (uint16_t)cap;
    k->events = 0;
    k->flushed = false;
    k->drains = 0;
    *room = (int32_t)cap;
}

/* Doubles bin k of class cls, up to max blocks, or as far toward that as
 * the thread's growth budget (*grown, bytes) allows; returns whether it
 * grew. */
static bool ace_grow(hak_binctl_t *k, int32_t *room, unsigned cls, unsigned max, size_t *grown) {
    if (k->cap >= max)
        return false;
    unsigned cap = k->cap * 2u < max ? k->cap * 2u : max;
    size_t size = hak_class_size[cls];
    size_t left = *grown < ACE_THREAD_GROWN_BYTES ? (ACE_THREAD_GROWN_BYTES - *grown) / size : 0;
    if (cap - k->cap > left)
        cap = k->cap + (unsigned)left;
    if (cap <= k->cap)
        return false;
    *grown += (cap - k->cap) * size;
    *room += (int32_t)(cap - k->cap);
    k->cap = (uint16_t)cap;
    return true;
}

/* Counts a refill, and grows the bin after every ACE_GROW_EVENTS. */
static void ace_refilled(hak_binctl_t *k, int32_t *room, unsigned cls, size_t *grown) {
    if (k->events < ACE_GROW_EVENTS)
        k->events++;
    if (k->events == ACE_GROW_EVENTS &&
        ace_grow(k, room, cls, ace_max_cap[k->flushed][cls], grown)) {
        k->events = 0;
        k->flushed = false;
    }
}

/* With HAKMEM_ACE=0 a bin keeps its starting capacity and moves half of
 * it each time: it never grows, and never drains whole. */
unsigned hak_ace_refill_want(hak_binctl_t *k, int32_t *room, unsigned cls, size_t *grown) {
    if (!hak_opt.ace)
        return k->cap / 2u;
    k->drains = 0;
    ace_refilled(k, room, cls, grown);
    return k->cap / 2u;
}

unsigned hak_ace_flush_count(hak_binctl_t *k, int32_t *room, unsigned cls, size_t *grown) {
    if (!hak_opt.ace)
        return k->cap / 2u;
    k->flushed = true;
    /* A bin whose thread's live count of the class swings wider than the
     * bin flushes a few times in a row too: only a longer run drains. */
    if (k->drains < ACE_DRAIN_FLUSHES) {
        k->drains++;
        return k->cap / 2u;
    }
    ace_grow(k, room, cls, ace_drain_cap[cls], grown);
    return k->cap;
}

static void ace_arm(uint64_t at) {
    uint64_t d = atomic_load_explicit(&ace_deadline, memory_order_relaxed);
    while ((d == 0 || at < d) &&
           !atomic_compare_exchange_weak_explicit(&ace_deadline, &d, at, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    if ((d == 0 || at < d) && atomic_load_explicit(&purger_started, memory_order_relaxed)) {
        hak_lock(&purger_lock);
        pthread_cond_signal(&purger_wake);
        hak_unlock(&purger_lock);
    }
}

bool hak_ace_purge_due(uint64_t *over_since, size_t dirty, size_t budget) {
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
    ace_arm(*over_since + hak_opt.purge_delay);
    return false;
}

void hak_ace_purge_at(uint64_t at) { ace_arm(at); }

void hak_ace_tick(void) {
    uint64_t d = atomic_load_explicit(&ace_deadline, memory_order_relaxed);
    if (HAK_LIKELY(d == 0) || hak_os_now_ms() < d)
        return;
    /* One thread does the work; a subsystem not yet due arms again. */
    if (!atomic_compare_exchange_strong_explicit(&ace_deadline, &d, 0, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    hak_large_decay();
    if (ace_backend != NULL && ace_backend->decay != NULL)
        ace_backend->decay();
}

const char *hak_ace_cause_name(hak_fail_t cause) {
    switch (cause) {
    case HAK_FAIL_THRESHOLD:
        return "Threshold";
    case HAK_FAIL_EXHAUSTION:
        return "Exhaustion";
    case HAK_FAIL_MAPFAIL:
        return "MapFail";
    default:
        return "None";
    }
}

static _Atomic(hak_failure_hook_t) ace_hook;
static __thread bool ace_in_hook __attribute__((tls_model("initial-exec")));

HAK_EXPORT hak_failure_hook_t hak_set_failure_hook(hak_failure_hook_t fn) {
    return atomic_exchange_explicit(&ace_hook, fn, memory_order_acq_rel);
}

void hak_ace_trace_fail(hak_fail_t cause, size_t size, size_t align, unsigned tried) {
    if (HAK_UNLIKELY(hak_opt.ace_trace)) {
        static const char *const paths[] = {"transfer", "backend", "large", "release"};
        char list[64] = "none";
        size_t len = 0;
        for (unsigned i = 0; i < sizeof paths / sizeof paths[0]; i++)
            if (tried >> i & 1)
                len +=
                    hak_format_str(list + len, sizeof list - len, "%s%s", len ? "," : "", paths[i]);
        hak_log("ace: allocation failed: cause=%s size=%zu align=%zu tried=%s",
                hak_ace_cause_name(cause), size, align, list);
    }
    hak_failure_hook_t fn = atomic_load_explicit(&ace_hook, memory_order_acquire);
    if (fn != NULL && !ace_in_hook) {
        hak_failure_t f = {.size = size,
                           .alignment = align,
                           .cause = (int)cause,
                           .cause_name = hak_ace_cause_name(cause)};
        ace_in_hook = true;
        fn(&f);
        ace_in_hook = false;
    }
}

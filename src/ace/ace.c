/*
 * ace.c - thread-cache sizing and the budgets of free memory kept cached.
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
 * whole, and each flush is a batch that the backend takes back in one
 * call, or the transfer cache hands in one piece to the thread that
 * allocates the class (transfer.c, with a backend that asks for it).  A
 * bin of 8 blocks would make a flush of every 8 frees, so a draining bin
 * grows at each flush, but only to a small byte bound: what it holds is
 * memory its producer cannot reuse yet.
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

/* Free memory kept mapped: the backend's is all touched, and a program that
 * frees a lot should see RSS fall (to within 8 MiB); the large path's is
 * mostly untouched address space, and waits for the purge clock too. */
#define ACE_BACKEND_CACHED_BYTES ((size_t)8 << 20)
#define ACE_LARGE_CACHED_BYTES ((size_t)16 << 20)

/* A bin's bound: [0] for any, [1] for a cycling one. */
static uint16_t ace_max_cap[2][HAK_NCODES];
static uint16_t ace_drain_cap[HAK_NCODES];
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

void hak_ace_init(const hak_backend_t *backend) {
    ace_backend = backend;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        ace_max_cap[0][c] = bound(ACE_BIN_BYTES, ACE_MAX_CAP, c);
        ace_max_cap[1][c] = bound(ACE_CYCLING_BIN_BYTES, ACE_CYCLING_MAX_CAP, c);
        ace_drain_cap[c] = bound(ACE_DRAIN_BIN_BYTES, ACE_DRAIN_MAX_CAP, c);
    }
    hak_ace_set_cached(ACE_BACKEND_CACHED_BYTES, ACE_LARGE_CACHED_BYTES);
}

void hak_ace_set_cached(size_t backend_bytes, size_t large_bytes) {
    hak_budget_t budget = {.cached_bytes = backend_bytes};
    if (ace_backend->set_budget)
        ace_backend->set_budget(&budget);
    hak_large_set_budget(large_bytes);
}

unsigned hak_ace_bin_init(hak_binctl_t *k, unsigned cls) {
    unsigned cap = ace_max_cap[0][cls] < ACE_START_CAP ? ace_max_cap[0][cls] : ACE_START_CAP;
    /* Not settled, even with HAKMEM_ACE=0 (hak_ace_refill_want is cheap
     * then). */
    *k = (hak_binctl_t){.cap = (uint16_t)cap};
    return cap;
}

/* Doubles bin k of class cls, up to max blocks, or as far toward that as
 * the thread's growth budget (*grown, bytes) allows; returns by how many
 * blocks it grew. */
HAK_INLINE unsigned ace_grow(hak_binctl_t *k, unsigned cls, unsigned max, size_t *grown) {
    if (k->cap >= max)
        return 0;
    unsigned cap = k->cap * 2u < max ? k->cap * 2u : max;
    size_t size = hak_class_size[cls];
    size_t left = *grown < ACE_THREAD_GROWN_BYTES ? (ACE_THREAD_GROWN_BYTES - *grown) / size : 0;
    if (cap - k->cap > left)
        cap = k->cap + (unsigned)left;
    if (cap <= k->cap)
        return 0;
    unsigned more = cap - k->cap;
    *grown += more * size;
    k->cap = (uint16_t)cap;
    return more;
}

/* Counts a refill, and grows the bin after every ACE_GROW_EVENTS; by how
 * many blocks it grew. */
static unsigned ace_refilled(hak_binctl_t *k, unsigned cls, size_t *grown) {
    if (k->events < ACE_GROW_EVENTS)
        k->events++;
    if (k->events < ACE_GROW_EVENTS)
        return 0;
    unsigned more = ace_grow(k, cls, ace_max_cap[k->flushed][cls], grown);
    if (more > 0) {
        k->events = 0;
        k->flushed = false;
    }
    /* Nothing to count, nothing to grow: at its bound, or the thread's
     * budget spent (it only fills), until a first flush raises the bound
     * (hak_ace_flush_count). */
    k->settled = more == 0;
    return more;
}

/* With HAKMEM_ACE=0 a bin keeps its starting capacity and moves half of
 * it each time: it never grows, and never drains whole. */
hak_ace_move_t hak_ace_refill_want(hak_binctl_t *k, unsigned cls, size_t *grown) {
    if (!hak_opt.ace)
        return (hak_ace_move_t){k->cap / 2u, 0};
    k->drains = 0;
    unsigned more = ace_refilled(k, cls, grown);
    return (hak_ace_move_t){k->cap / 2u, more};
}

hak_ace_move_t hak_ace_flush_count(hak_binctl_t *k, unsigned cls, size_t *grown) {
    if (!hak_opt.ace)
        return (hak_ace_move_t){k->cap / 2u, 0};
    if (!k->flushed)
        k->settled = false;
    k->flushed = true;
    /* A bin whose thread's live count of the class swings wider than the
     * bin flushes a few times in a row too: only a longer run drains. */
    if (k->drains < ACE_DRAIN_FLUSHES) {
        k->drains++;
        return (hak_ace_move_t){k->cap / 2u, 0};
    }
    unsigned more = ace_grow(k, cls, ace_drain_cap[cls], grown);
    return (hak_ace_move_t){k->cap, more};
}

/*
 * transfer.c - the transfer cache: whole batches of free blocks, passed from
 * the thread that frees a class more than it allocates it (a consumer) to
 * the next thread that allocates it (a producer).
 *
 * A draining bin (ace.c) flushes everything it holds.  That batch, a list
 * and its length, goes into one of its class's slots here when one is free
 * and the batch is small enough, else to the backend as before.  A bin that
 * misses on malloc takes a batch that fits its room before it asks the
 * backend.  Both are O(1), a compare-and-swap each: no block is read or
 * written on the way.  That is the point: the backend's refill walks every
 * block it hands out, and when another core freed the block last, each step
 * of that walk waits for a cache line to come over.  Through here, a line
 * moves only when malloc hands its block out, and the program's own work
 * hides that.  The backend counts the blocks here as out, as it counts those
 * in thread caches; trimming, and the OS refusing memory, give them back.
 *
 * Only for a backend that asks for it (HAK_CAP_TRANSFER: hybrid).  The
 * superslab backend no longer walks what it hands out, and its slabs,
 * given their blocks back, empty and are carved again: a batch passed here
 * instead kept its slab from emptying, and its producer popped the blocks
 * one cache miss after another.
 */
#include "frontend/frontend.h"

#include <limits.h>

/* Batches per class: the consumer may run two batches ahead.  A batch of
 * more than ACE_DRAIN_BIN_BYTES (of big blocks, or from a bin that was
 * bigger before it drained) goes to the backend. */
#define XFER_SLOTS 2

/* A slot is one packed word (hak_pack): a batch and its length, 0 when
 * empty.  Put moves a slot from 0, get back to 0, each with one
 * compare-and-swap: no lock, so nothing for fork to take, and a word that
 * comes back holds a whole batch again (no ABA hazard). */

typedef struct xfer {
    _Alignas(64) _Atomic uint64_t slot[XFER_SLOTS];
} xfer_t;

static xfer_t xfer[HAK_NCODES];

bool hak_xfer_put(unsigned c, void *list, unsigned n) {
    if (!(hak_backend->caps & HAK_CAP_TRANSFER) ||
        (size_t)n * hak_class_size[c] > ACE_DRAIN_BIN_BYTES)
        return false;
    uint64_t w = hak_pack(list, n);
    for (unsigned i = 0; i < XFER_SLOTS; i++) {
        uint64_t empty = 0;
        if (atomic_load_explicit(&xfer[c].slot[i], memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(&xfer[c].slot[i], &empty, w,
                                                    memory_order_release, memory_order_relaxed))
            return true;
    }
    return false;
}

unsigned hak_xfer_get(unsigned c, unsigned max, void **list) {
    for (unsigned i = 0; i < XFER_SLOTS; i++) {
        uint64_t w = atomic_load_explicit(&xfer[c].slot[i], memory_order_relaxed);
        unsigned n = hak_pack_count(w);
        if (w == 0 || n > max ||
            !atomic_compare_exchange_strong_explicit(&xfer[c].slot[i], &w, 0, memory_order_acquire,
                                                     memory_order_relaxed))
            continue;
        *list = hak_pack_list(w);
        atomic_fetch_add_explicit(&hak_stat_transfers, 1, memory_order_relaxed);
        return n;
    }
    return 0;
}

bool hak_xfer_flush(void) {
    bool any = false;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        void *list;
        unsigned n;
        while ((n = hak_xfer_get(c, UINT_MAX, &list)) != 0) {
            hak_backend->flush(NULL, c, list, n);
            hak_stats_count_out(NULL, c, -(int64_t)n);
            any = true;
        }
    }
    return any;
}

unsigned hak_xfer_held(unsigned c) {
    unsigned n = 0;
    for (unsigned i = 0; i < XFER_SLOTS; i++)
        n += hak_pack_count(atomic_load_explicit(&xfer[c].slot[i], memory_order_relaxed));
    return n;
}

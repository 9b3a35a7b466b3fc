/*
 * backend.h - the backend contract.  A backend owns small-block memory; the
 * frontend reaches it only on its slow path, through one const
 * hak_backend_t, and never asks which backend it is talking to.
 *
 * Memory.  A backend takes runs of 64 KiB units from a unit pool of its
 * own (pool/pool.h: a hak_pool_t, whose chunk header its records extend),
 * which marks the units with the class code while they serve it
 * (hak_chunk_set_units: the chunk's page_code[] and the window's unit
 * table, which the frontend reads without a lock to route free()), and
 * gives them back when they hold no live block; the pool keeps free units
 * within the budget and returns them when idle.  (A backend may map its
 * own chunks with hak_chunk_map_new and mark their units itself; one that
 * writes page_code[] alone is still correct: its frees then all take the
 * slow path.)
 *
 * Blocks.  A block of class c is hak_class_size[c] bytes, aligned to
 * hak_class_align(c), and is passed between frontend and backend as a
 * list ended by HAK_LIST_END, of exactly the count passed with it, every
 * block cached and linked to the next (hak_block_push, hak_block_next in
 * pool/freelist.h).  A backend holds its blocks kept (hak_block_keep), or cached
 * in lists of known length that a refill may take whole, unread: the
 * thread cache checks each block as malloc takes it.  It checks each block
 * before it follows its link: one handed to flush with hak_block_flushed,
 * one of its own lists to be in the state it holds them in and to lie
 * where its blocks do; a check that fails is reported (hak_list_corrupt),
 * never followed.  Walks are bounded by the counts, so a cycle ends in the
 * report too.  Fresh blocks need not be zero.
 *
 * Threads.  Each thread that allocates has a backend state (thread_init);
 * refill and flush take it.  A NULL state means "a thread that has already
 * been torn down": the backend must still serve it, correctly if slowly.
 * Flush may be handed blocks of any thread's origin: cross-thread frees
 * arrive that way.
 *
 * Errors.  refill returns how many blocks it produced; 0 means it could not
 * produce one, with *cause set to the HAK_FAIL_* reason and errno ENOMEM
 * (hak_map_fail_cause when a chunk could not be mapped).
 *
 * Fork.  fork_prepare takes every lock the backend owns; fork_release
 * releases them, in the parent and in the child alike (there the forking
 * thread, the only one left, still holds them).
 */
#ifndef HAK_BACKEND_H
#define HAK_BACKEND_H

#include "internal.h"
#include "pool/freelist.h"

/* Capability bits. */
#define HAK_CAP_RETURNS_SMALL 1u /* gives empty small-block memory back to the OS */
#define HAK_CAP_THREAD_LOCAL 2u  /* per-thread heaps: refill/flush take no lock */
/* Its slabs are runs of its unit pool, whose blocks it carves from the
 * run's start up, moving the run's bump in the pool's records
 * (hak_pool_set_bump): HAKMEM_SECURE then checks at every free that the
 * pointer is the start of a block the run handed out (hak_pool_handed_out),
 * with no call into the backend.  Without it, HAKMEM_SECURE checks frees
 * as by default, and says so at start. */
#define HAK_CAP_BOUNDS 4u
/* A draining bin's batch goes to the transfer cache (frontend/transfer.c),
 * whole to the next thread that allocates the class, before the backend.
 * Without it, the backend takes it back: the superslab backend's blocks
 * then return to their slabs, which empty and are carved again (stores to
 * known addresses, many cache lines in flight), where the producer popped
 * a batch's blocks one by one, each link a miss on the line the consumer
 * last wrote (bench/prodcons 6000: 130 -> 159 M ops/s without it, legacy
 * 58 -> 69; hybrid's 89 fell to 82). */
#define HAK_CAP_TRANSFER 8u

/* Budgets the ACE hands down; a backend keeps at most this much memory
 * cached (free but still mapped and dirty) before giving it back. */
typedef struct hak_budget {
    size_t cached_bytes;
} hak_budget_t;

/* Every member is required but two, which may be NULL: set_budget (the
 * backend caches nothing, or within no budget) and decay (nothing of its
 * memory waits on the purge clock).
 * tests/unit/test_backend_conformance drives every backend of the table
 * through all of them. */
typedef struct hak_backend {
    const char *name; /* its name in backends.def */
    unsigned caps;    /* HAK_CAP_* bits */
    /* Once per process, before anything else (and again harmlessly); 0 or
     * an errno value. */
    int (*init)(void);
    /* Optional: the ACE's budget, at init and whenever it changes. */
    void (*set_budget)(const hak_budget_t *budget);
    /* Per-thread state, or NULL when there is none to make (the backend then
     * serves the thread as a torn-down one). */
    void *(*thread_init)(void);
    /* Gives the thread's memory to others; the state is dead afterwards.
     * Blocks the thread got stay valid, and may be flushed by any thread. */
    void (*thread_exit)(void *state);
    /* At least 1 and about want blocks of class cls onto *list, never more
     * than max (1 <= want <= max): how many, or 0 with *cause set and errno
     * ENOMEM.  A list the backend holds whole, of at most max blocks, may
     * go without a walk. */
    unsigned (*refill)(void *state, unsigned cls, unsigned want, unsigned max, void **list,
                       hak_fail_t *cause);
    /* Takes back the n blocks of class cls on list, each checked. */
    void (*flush)(void *state, unsigned cls, void *list, unsigned n);
    /* Returns cached free memory to the OS, keeping at most pad bytes;
     * whether it returned any. */
    bool (*trim)(size_t pad);
    /* Optional: when the OS refused memory, gives back the address space
     * of what it holds free but mapped (never-used parts of slabs, free
     * units), so that any request may map it; whether it gave any. */
    bool (*squeeze)(void);
    /* Optional: registered with the purge clock (platform/purge.h) at
     * init and called when its deadline runs out. */
    void (*decay)(void);
    void (*fork_prepare)(void);
    void (*fork_release)(void);
} hak_backend_t;

/* The backends (backends.def), and the one named name or NULL (init.c). */
#define HAK_BACKEND(name, vtable) HAK_HIDDEN extern const hak_backend_t vtable;
#include "backends/backends.def"
#undef HAK_BACKEND
HAK_HIDDEN const hak_backend_t *hak_backend_named(const char *name);

#endif /* HAK_BACKEND_H */

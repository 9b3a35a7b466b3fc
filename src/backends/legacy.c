/*
 * legacy.c - the reference backend: the simplest correct design, kept so
 * the others can be tested against it.  One lock; per class a free list and
 * a bump range in the class's newest slab.  Slabs are runs of units taken
 * from the unit pool (src/pool) and stay with their class for the life of
 * the process: small-block memory is reused, never returned to the OS.
 */
#include "backends/backend.h"
#include "pool/pool.h"

#define LEG_MIN_BLOCKS 8

typedef struct leg_class {
    void *free;       /* freed blocks */
    char *bump, *end; /* never-used tail of the newest slab */
} leg_class_t;

static hak_lock_t leg_lock = HAK_LOCK_INIT;
static leg_class_t leg_classes[HAK_NCODES];
static hak_pool_t leg_pool = HAK_POOL_INIT;

static int leg_init(void) { return 0; }
static void *leg_thread_init(void) { return NULL; }
static void leg_thread_exit(void *state) { (void)state; }

/* A new slab for class c: enough whole units for LEG_MIN_BLOCKS blocks. */
static bool leg_new_slab(unsigned c, hak_fail_t *cause) {
    size_t size = hak_class_size[c];
    unsigned units = hak_pool_class_units(c, LEG_MIN_BLOCKS), first;
    hak_pool_chunk_t *ch = hak_pool_take(&leg_pool, c, units, &first);
    if (ch == NULL) {
        *cause = hak_map_fail_cause();
        return false;
    }
    char *start = hak_pool_unit(ch, first);
    leg_classes[c].bump = start;
    leg_classes[c].end = start + (((size_t)units << HAK_UNIT_SHIFT) / size) * size;
    return true;
}

static unsigned leg_refill(void *state, unsigned c, unsigned want, unsigned max, void **list,
                           hak_fail_t *cause) {
    (void)state;
    (void)max;
    leg_class_t *k = &leg_classes[c];
    size_t size = hak_class_size[c];
    void *head = HAK_LIST_END;
    unsigned got = 0;
    hak_lock(&leg_lock);
    while (got < want) {
        void *p;
        if (k->free) {
            p = k->free;
            if (!hak_block_in_class(p, c) || !hak_block_kept(p))
                hak_list_corrupt(p, "refill: a block written after its free, or a damaged link");
            k->free = hak_block_kept_next(p);
        } else if (k->bump < k->end || leg_new_slab(c, cause)) {
            p = k->bump;
            k->bump += size;
        } else {
            break;
        }
        head = hak_block_push(p, head);
        got++;
    }
    hak_unlock(&leg_lock);
    *list = head;
    return got;
}

static void leg_flush(void *state, unsigned c, void *list, unsigned n) {
    (void)state;
    leg_class_t *k = &leg_classes[c];
    hak_lock(&leg_lock);
    void *p = list;
    for (unsigned i = 0; i < n; i++) {
        void *next = hak_block_flushed(p, c);
        hak_block_keep(p, k->free);
        k->free = p;
        p = next;
    }
    if (p != HAK_LIST_END)
        hak_list_corrupt(p, "flush: a list longer than its count");
    hak_unlock(&leg_lock);
}

static bool leg_trim(size_t pad) {
    (void)pad;
    return false;
}

static void leg_fork_prepare(void) {
    hak_lock(&leg_lock);
    hak_pool_fork_prepare(&leg_pool);
}
static void leg_fork_release(void) {
    hak_pool_fork_release(&leg_pool);
    hak_unlock(&leg_lock);
}

const hak_backend_t hak_backend_legacy = {
    .name = "legacy",
    .caps = 0,
    .init = leg_init,
    .set_budget = NULL,
    .thread_init = leg_thread_init,
    .thread_exit = leg_thread_exit,
    .refill = leg_refill,
    .flush = leg_flush,
    .trim = leg_trim,
    .fork_prepare = leg_fork_prepare,
    .fork_release = leg_fork_release,
};

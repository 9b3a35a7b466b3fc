/*
 * meta.c - memory for HAKMEM's own bookkeeping (thread caches, backend
 * heaps).  It cannot come from malloc, which is us.  Objects are rounded to a
 * power of two, carved from mapped blocks and recycled through a free list
 * per size; the volume is a few objects per thread, so one lock suffices.
 */
#include "internal.h"

#include <string.h>

#define META_MIN_SHIFT 6  /* 64 B */
#define META_MAX_SHIFT 16 /* 64 KiB */
#define META_BLOCK ((size_t)256 << 10)

typedef struct meta_free {
    struct meta_free *next;
} meta_free_t;

static hak_lock_t meta_lock = HAK_LOCK_INIT;
static meta_free_t *meta_bins[META_MAX_SHIFT + 1];
static char *meta_cur, *meta_end;

static unsigned meta_shift(size_t size) {
    unsigned s = META_MIN_SHIFT;
    while (((size_t)1 << s) < size)
        s++;
    return s;
}

void *hak_meta_alloc(size_t size) {
    unsigned s = meta_shift(size);
    if (s > META_MAX_SHIFT)
        return NULL;
    size_t sz = (size_t)1 << s;
    void *p;
    hak_lock(&meta_lock);
    if (meta_bins[s] != NULL) {
        p = meta_bins[s];
        meta_bins[s] = meta_bins[s]->next;
        hak_unlock(&meta_lock);
        memset(p, 0, size); /* what was asked: the rest of the slot stays as it is */
        return p;
    }
    if ((size_t)(meta_end - meta_cur) < sz) {
        /* The tail of the old block is abandoned: at most 64 KiB, rarely. */
        char *blk = hak_os_map(META_BLOCK, HAK_PAGE_SIZE);
        if (blk == NULL) {
            hak_unlock(&meta_lock);
            errno = ENOMEM;
            return NULL;
        }
        meta_cur = blk;
        meta_end = blk + META_BLOCK;
    }
    p = meta_cur; /* fresh mapping: already zero */
    meta_cur += sz;
    hak_unlock(&meta_lock);
    return p;
}

void hak_meta_free(void *p, size_t size) {
    if (p == NULL)
        return;
    unsigned s = meta_shift(size);
    meta_free_t *f = p;
    hak_lock(&meta_lock);
    f->next = meta_bins[s];
    meta_bins[s] = f;
    hak_unlock(&meta_lock);
}

void hak_meta_fork_prepare(void) { hak_lock(&meta_lock); }
void hak_meta_fork_release(void) { hak_unlock(&meta_lock); }

/*
 * pool.c - the unit pool (pool.h).  Units are tracked in three bit masks
 * per chunk, so free neighbours coalesce by themselves and a purge covers
 * each stretch of neighbours with one madvise.  Free units that held data
 * stay dirty within the ACE's budget; beyond it they are purged down to
 * half the budget at once, so that a program that frees a lot finds its RSS
 * down without waiting, and the next gives cost no system call.  But a
 * workload that frees and takes the same memory in cycles would fault every
 * page back in after each purge: units taken back purged after use raise
 * the budget by as much (the boost, ace.h), and the raise lasts until free
 * memory stays over the plain budget for the purge delay.  While the
 * program runs, free units that stayed unused from one aging pass to the
 * next (a purge delay of its activity apart) go back, and so do the pages
 * of a unit taken again that no life used for two passes; all free units
 * go once it idles (hak_pool_decay).  Without the aging, a program that
 * never idles keeps every unit in rotation wholly resident, though each of
 * its slabs reaches only a few pages of it (thread_churn).
 */
#include "pool/pool.h"

static uint32_t units_bits(unsigned first, unsigned n) { return ((1u << n) - 1) << first; }
static size_t units_bytes(uint32_t bits) {
    return (size_t)__builtin_popcount(bits) << HAK_UNIT_SHIFT;
}

/* First run of n free units in mask, or -1. */
static int units_find(uint32_t mask, unsigned n) {
    uint32_t m = mask;
    for (unsigned i = 1; i < n; i++)
        m &= mask >> i;
    return m ? __builtin_ctz(m) : -1;
}

bool hak_idle_check(hak_idle_t *t, uint64_t now, uint64_t *next) {
    if (t->count != t->seen) {
        /* The events came by the program's last call: a purge thread that
         * looks first after a long quiet finds them as old as that. */
        t->seen = t->count;
        t->seen_at = hak_purge_quiet_since(now);
        if (now - t->seen_at >= hak_opt.purge_delay)
            return true;
    } else if (now - t->seen_at >= hak_opt.purge_delay) {
        return true;
    }
    if (t->seen_at + hak_opt.purge_delay < *next)
        *next = t->seen_at + hak_opt.purge_delay;
    return false;
}

void hak_idle_arm(bool *armed) {
    if (*armed || hak_opt.purge_delay == 0)
        return;
    *armed = true;
    hak_purge_at(hak_os_now_ms() + hak_opt.purge_delay);
}

/* ------------------------------------------------------------------ */
/* Under the pool's lock                                               */

/* Calls fn on each stretch of neighbours among the units of bits in ch;
 * false as soon as a call is. */
static bool units_each(hak_pool_chunk_t *ch, uint32_t bits, bool (*fn)(char *, size_t)) {
    for (unsigned u = 0; u < HAK_POOL_UNITS; u++) {
        if (!(bits >> u & 1))
            continue;
        unsigned e = u;
        while (e < HAK_POOL_UNITS && (bits >> e & 1))
            e++;
        if (!fn(hak_pool_unit(ch, u), (size_t)(e - u) << HAK_UNIT_SHIFT))
            return false;
        u = e;
    }
    return true;
}

static bool stretch_purge(char *p, size_t size) {
    hak_os_purge(p, size);
    return true;
}

/* Purges the units of bits in ch, neighbours in one madvise. */
static void units_purge(hak_pool_t *pl, hak_pool_chunk_t *ch, uint32_t bits) {
    (void)units_each(ch, bits, stretch_purge);
    pl->dirty_bytes -= units_bytes(bits);
    ch->dirty_units &= ~bits;
    ch->purged_units |= bits;
}

/* Purges free units, a chunk at a time, until at most target bytes are
 * dirty.  Purging down to half the budget, not to the budget, leaves room
 * for the next gives before any more system calls. */
static void purge_down(hak_pool_t *pl, size_t target) {
    for (hak_pool_chunk_t *ch = pl->avail; ch && pl->dirty_bytes > target; ch = ch->next)
        if (ch->dirty_units)
            units_purge(pl, ch, ch->dirty_units);
}

#define PAGE_LAST ((unsigned)(HAK_UNIT_SIZE >> HAK_PAGE_SHIFT) - 1)

/* The last page of unit u of ch that a run whose bump is at bump reached,
 * 0 if none (page 0 is always counted: used_page has no "none"). */
static unsigned page_reached(const hak_pool_chunk_t *ch, unsigned u, const char *bump) {
    const char *start = hak_pool_unit(ch, u);
    if (bump <= start)
        return 0;
    size_t last = (size_t)(bump - start - 1) >> HAK_PAGE_SHIFT;
    return last < PAGE_LAST ? (unsigned)last : PAGE_LAST;
}

/* A carving backend's run from first, of n units, given back: its blocks
 * reached its bump, and the pages past it went unused in its life. */
static void pages_used(hak_pool_chunk_t *ch, unsigned first, unsigned n) {
    const char *bump = hak_pool_bump(ch, first);
    for (unsigned u = first; u < first + n; u++) {
        unsigned last = page_reached(ch, u, bump);
        if (last > (ch->used_page[u] & 0xfu))
            ch->used_page[u] = (uint16_t)((ch->used_page[u] & ~0xfu) | last);
        if (last > ch->reach_page[u])
            ch->reach_page[u] = (uint8_t)last;
    }
}

/* For the units of bits in ch, dirty and being taken, lowers their reach to
 * the last page a life used within the last two aging periods, and sets in
 * stale[u] the first page past it (0: none) for the caller to purge. */
static void pages_stale(hak_pool_chunk_t *ch, uint32_t bits, uint8_t *stale) {
    for (unsigned u = 0; u < HAK_POOL_UNITS; u++) {
        stale[u] = 0;
        if (!(bits >> u & 1))
            continue;
        unsigned keep = 0;
        for (unsigned v = ch->used_page[u]; v != 0; v >>= 4)
            keep = (v & 0xfu) > keep ? (v & 0xfu) : keep;
        if (ch->reach_page[u] > keep) {
            stale[u] = (uint8_t)(keep + 1);
            ch->reach_page[u] = (uint8_t)keep;
        }
    }
}

/* An aging pass, once the purge delay of the program's activity
 * (hak_purge_elapsed) passed since the last: purges the dirty free units
 * that were so at the last pass and were not taken since, each chunk's
 * neighbours in one madvise, then marks those dirty now for the next, and
 * lowers *next to when that is due.  A cycling workload takes its units
 * back within the delay, resident; a unit that waited from one pass to the
 * next is one the workload no longer cycles through, resident for nothing,
 * and the oldest go first (each at between one and two delays). */
static void pool_age(hak_pool_t *pl, uint64_t now, uint64_t *next) {
    if (pl->aging_at == 0)
        return;
    uint64_t elapsed = hak_purge_elapsed(pl->aged_at, now);
    if (elapsed < hak_opt.purge_delay) {
        pl->aging_at = now + (hak_opt.purge_delay - elapsed);
    } else {
        for (hak_pool_chunk_t *ch = pl->avail; ch; ch = ch->next) {
            if (ch->aging_units & ch->dirty_units)
                units_purge(pl, ch, ch->aging_units & ch->dirty_units);
            ch->aging_units = ch->dirty_units;
            for (unsigned u = 0; u < HAK_POOL_UNITS; u++)
                ch->used_page[u] = (uint16_t)(ch->used_page[u] << 4 & 0xfffu);
        }
        pl->aged_at = now;
        pl->aging_at = pl->dirty_bytes > 0 ? now + hak_opt.purge_delay : 0;
    }
    if (pl->aging_at != 0 && pl->aging_at < *next)
        *next = pl->aging_at;
}

/* Keeps dirty memory within the budget, and the boost while it lasts. */
static void pool_purge(hak_pool_t *pl) {
    size_t keep = hak_boost_budget(&pl->boost, pl->dirty_bytes, pl->budget_bytes);
    if (pl->dirty_bytes > keep)
        purge_down(pl, keep / 2);
}

static hak_pool_chunk_t *chunk_new(hak_pool_t *pl) {
    hak_pool_chunk_t *ch = (hak_pool_chunk_t *)hak_chunk_map_new(HAK_CHUNK_SIZE, HAK_CHUNK_SLABS);
    if (ch == NULL)
        return NULL;
    ch->free_units = HAK_POOL_ALL_UNITS;
    HAK_DLIST_PUSH(&pl->avail, ch);
    pl->empty_chunks++;
    return ch;
}

/* Forgets the hints into a chunk about to be unmapped. */
static void hints_forget(hak_pool_t *pl, const hak_pool_chunk_t *ch) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        for (unsigned i = 0; i < HAK_POOL_HINTS; i++)
            if (pl->hints[c][i].chunk == ch)
                pl->hints[c][i].chunk = NULL;
}

/* Unmaps an empty chunk. */
static void chunk_unmap(hak_pool_t *pl, hak_pool_chunk_t *ch) {
    HAK_DLIST_UNLINK(&pl->avail, ch);
    pl->dirty_bytes -= units_bytes(ch->dirty_units);
    hints_forget(pl, ch);
    size_t holes = units_bytes(ch->unmapped_units) + ((size_t)ch->tail_hole[0] << HAK_PAGE_SHIFT);
    if (holes)
        hak_os_count_hole(holes);
    hak_chunk_unmap(&ch->base);
}

static bool stretch_unmap(char *p, size_t len) {
    hak_os_unmap(p, len);
    return true;
}

static bool stretch_map(char *p, size_t len) {
    int err;
    void *q = hak_os_map_at(p, len, &err);
    if (q != p && q != NULL)
        hak_os_unmap(q, len);
    return q == p;
}

/* Maps back the squeezed units of bits in ch; false (some may stay
 * unmapped) if the OS refuses. */
static bool units_remap(hak_pool_chunk_t *ch, uint32_t bits) {
    uint32_t want = ch->unmapped_units & bits;
    for (unsigned u = 0; u < HAK_POOL_UNITS; u++) {
        if (!(want >> u & 1))
            continue;
        if (!stretch_map(hak_pool_unit(ch, u), HAK_UNIT_SIZE))
            return false;
        ch->unmapped_units &= ~(1u << u);
    }
    return true;
}

/* A hinted run of n units for class c that is all still free (and within
 * its chunk: the class's runs may have been shorter). */
static hak_pool_chunk_t *hint_take(hak_pool_t *pl, unsigned c, unsigned n, int *first) {
    for (unsigned i = 0; i < HAK_POOL_HINTS; i++) {
        hak_pool_hint_t *h = &pl->hints[c][(pl->hint_next[c] - 1 - i) % HAK_POOL_HINTS];
        hak_pool_chunk_t *ch = h->chunk;
        if (ch == NULL || h->first + n > HAK_POOL_UNITS)
            continue;
        uint32_t bits = units_bits(h->first, n);
        h->chunk = NULL;
        if ((ch->free_units & bits) == bits) {
            *first = (int)h->first;
            return ch;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The pool's calls                                                    */

hak_pool_chunk_t *hak_pool_take(hak_pool_t *pl, unsigned c, unsigned n, unsigned *first) {
    int at = -1;
    hak_lock(&pl->lock);
    hak_pool_chunk_t *ch = hint_take(pl, c, n, &at);
    for (hak_pool_chunk_t *q = pl->avail; ch == NULL && q; q = q->next)
        if ((at = units_find(q->free_units, n)) >= 0)
            ch = q;
    if (ch == NULL) {
        ch = chunk_new(pl);
        if (ch == NULL) {
            hak_unlock(&pl->lock);
            return NULL;
        }
        at = 1;
    }
    uint32_t bits = units_bits((unsigned)at, n);
    if (HAK_UNLIKELY(ch->unmapped_units & bits) && !units_remap(ch, bits)) {
        hak_unlock(&pl->lock);
        errno = ENOMEM;
        return NULL;
    }
    pl->idle.count++;
    if (ch->free_units == HAK_POOL_ALL_UNITS)
        pl->empty_chunks--;
    uint8_t stale[HAK_POOL_UNITS];
    if (pl->carves) {
        pages_stale(ch, ch->dirty_units & bits, stale);
        for (unsigned u = 0; u < HAK_POOL_UNITS; u++)
            if ((bits & ~ch->dirty_units) >> u & 1)
                ch->reach_page[u] = 0;
    }
    pl->dirty_bytes -= units_bytes(ch->dirty_units & bits);
    hak_boost_took(&pl->boost, units_bytes(ch->purged_units & bits));
    ch->dirty_units &= ~bits;
    ch->purged_units &= ~bits;
    ch->aging_units &= ~bits;
    ch->free_units &= ~bits;
    if (ch->free_units == 0)
        HAK_DLIST_UNLINK(&pl->avail, ch);
    hak_unlock(&pl->lock);
    /* The units are the caller's now: their records need no lock. */
    for (unsigned u = (unsigned)at; u < (unsigned)at + n; u++) {
        ch->first[u] = (uint8_t)at;
        if (pl->carves && stale[u] != 0)
            hak_os_purge(hak_pool_unit(ch, u) + ((size_t)stale[u] << HAK_PAGE_SHIFT),
                         (size_t)(PAGE_LAST + 1 - stale[u]) << HAK_PAGE_SHIFT);
    }
    hak_pool_set_bump(ch, (unsigned)at, hak_pool_unit(ch, (unsigned)at));
    hak_chunk_set_units(&ch->base, (unsigned)at, n, c);
    *first = (unsigned)at;
    return ch;
}

void hak_pool_unmap_tail(hak_pool_t *pl, hak_pool_chunk_t *ch, unsigned u, unsigned page) {
    const unsigned pages = (unsigned)(HAK_UNIT_SIZE >> HAK_PAGE_SHIFT);
    unsigned hole = pages - page;
    hak_lock(&pl->lock);
    if (page > 0 && hole > ch->tail_hole[u]) {
        char *at = hak_pool_unit(ch, u) + ((size_t)page << HAK_PAGE_SHIFT);
        hak_os_unmap(at, (size_t)(hole - ch->tail_hole[u]) << HAK_PAGE_SHIFT);
        ch->tail_hole[u] = (uint8_t)hole;
        ch->holed_units |= 1u << u;
    }
    hak_unlock(&pl->lock);
}

/* Unmaps what stays mapped of the holed units of bits in ch (released):
 * they become unmapped free units. */
static uint32_t holes_unmap(hak_pool_chunk_t *ch, uint32_t bits) {
    uint32_t holed = ch->holed_units & bits;
    for (unsigned u = 0; u < HAK_POOL_UNITS; u++) {
        if (holed >> u & 1) {
            hak_os_unmap(hak_pool_unit(ch, u), hak_pool_unit_mapped(ch, u));
            ch->tail_hole[u] = 0;
        }
    }
    ch->holed_units &= ~holed;
    return holed;
}

void hak_pool_release(hak_pool_t *pl, hak_pool_chunk_t *ch, unsigned first, unsigned n, unsigned c,
                      unsigned how) {
    hak_chunk_set_units(&ch->base, first, n, HAK_CODE_NONE);
    uint32_t bits = units_bits(first, n);
    hak_lock(&pl->lock);
    if (pl->carves)
        pages_used(ch, first, n);
    if (!(how & HAK_RELEASE_IDLE))
        pl->idle.count++;
    hak_idle_arm(&pl->armed);
    pl->hints[c][pl->hint_next[c]++ % HAK_POOL_HINTS] = (hak_pool_hint_t){ch, first};
    if (ch->free_units == 0)
        HAK_DLIST_PUSH(&pl->avail, ch);
    ch->free_units |= bits;
    if (HAK_UNLIKELY(ch->holed_units & bits)) {
        uint32_t holed = holes_unmap(ch, bits);
        ch->unmapped_units |= holed;
        bits &= ~holed;
    }
    if (how & HAK_RELEASE_PURGE) {
        /* Not counted as purged: a take of them is no sign that the
         * budget purges memory a workload takes back (the boost). */
        (void)units_each(ch, bits, stretch_purge);
        bits = 0;
    }
    ch->dirty_units |= bits;
    pl->dirty_bytes += units_bytes(bits);
    if (bits != 0 && pl->aging_at == 0 && hak_opt.purge_delay != 0) {
        pl->aged_at = hak_os_now_ms();
        pl->aging_at = pl->aged_at + hak_opt.purge_delay;
        hak_purge_at(pl->aging_at);
    }
    if (ch->free_units == HAK_POOL_ALL_UNITS) {
        if (pl->empty_chunks >= HAK_POOL_EMPTY_CHUNKS + pl->boost.bytes / HAK_CHUNK_SIZE) {
            chunk_unmap(pl, ch);
            hak_unlock(&pl->lock);
            return;
        }
        pl->empty_chunks++;
    }
    pool_purge(pl);
    hak_unlock(&pl->lock);
}

void hak_pool_set_budget(hak_pool_t *pl, size_t bytes) {
    hak_lock(&pl->lock);
    pl->budget_bytes = bytes;
    hak_unlock(&pl->lock);
}

/* Unmaps ch, on avail, if all its units are free; whether it did. */
static bool chunk_unmap_empty(hak_pool_t *pl, hak_pool_chunk_t *ch) {
    if (ch->free_units != HAK_POOL_ALL_UNITS)
        return false;
    chunk_unmap(pl, ch);
    pl->empty_chunks--;
    return true;
}

bool hak_pool_trim(hak_pool_t *pl, size_t pad) {
    bool released = false;
    hak_lock(&pl->lock);
    for (hak_pool_chunk_t *ch = pl->avail, *next; ch; ch = next) {
        next = ch->next;
        released |= chunk_unmap_empty(pl, ch);
    }
    pl->boost = (hak_boost_t){0};
    if (pl->dirty_bytes > pad) {
        purge_down(pl, pad);
        released = true;
    }
    hak_unlock(&pl->lock);
    return released;
}

/* Unmaps the pages of a chunk's header unit after its first, which holds
 * the header (backends assert it fits): once, at a squeeze (the pool's
 * lock held, so no other squeeze does it too). */
static bool header_trimmed;
static void header_trim(hak_chunk_t *c) {
    hak_pool_chunk_t *ch = (hak_pool_chunk_t *)c;
    if (ch->tail_hole[0] != 0)
        return;
    hak_os_unmap((char *)ch + HAK_PAGE_SIZE, HAK_UNIT_SIZE - HAK_PAGE_SIZE);
    ch->tail_hole[0] = (uint8_t)((HAK_UNIT_SIZE - HAK_PAGE_SIZE) >> HAK_PAGE_SHIFT);
    header_trimmed = true;
}

bool hak_pool_squeeze(hak_pool_t *pl) {
    hak_lock(&pl->lock);
    header_trimmed = false;
    hak_chunk_each(HAK_CHUNK_SLABS, header_trim);
    bool released = header_trimmed;
    for (hak_pool_chunk_t *ch = pl->avail, *next; ch; ch = next) {
        next = ch->next;
        if (chunk_unmap_empty(pl, ch)) {
            released = true;
            continue;
        }
        uint32_t bits = ch->free_units & ~ch->unmapped_units;
        if (bits == 0)
            continue;
        (void)units_each(ch, bits, stretch_unmap);
        pl->dirty_bytes -= units_bytes(ch->dirty_units & bits);
        ch->dirty_units &= ~bits;
        ch->purged_units &= ~bits;
        ch->unmapped_units |= bits;
        released = true;
    }
    hak_unlock(&pl->lock);
    return released;
}

void hak_pool_decay(hak_pool_t *pl) {
    uint64_t next = UINT64_MAX, now = hak_os_now_ms();
    hak_lock(&pl->lock);
    pool_purge(pl);
    if (hak_opt.purge_delay != 0 && pl->armed && hak_idle_check(&pl->idle, now, &next)) {
        pl->boost = (hak_boost_t){0};
        purge_down(pl, 0);
        pl->armed = false;
    }
    if (hak_opt.purge_delay != 0)
        pool_age(pl, now, &next);
    hak_unlock(&pl->lock);
    if (next != UINT64_MAX)
        hak_purge_at(next);
}

void hak_pool_fork_prepare(hak_pool_t *pl) { hak_lock(&pl->lock); }
void hak_pool_fork_release(hak_pool_t *pl) { hak_unlock(&pl->lock); }

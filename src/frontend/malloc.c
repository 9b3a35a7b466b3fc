/*
 * malloc.c - the frontend's slow paths: a small block when its bin is
 * empty (refill from the transfer cache or the backend), a large block,
 * free when the fast path declines, and the one place that classifies a
 * pointer handed back.  The rest of the family is in family.c, thread
 * caches in thread.c, init and fork in init.c; exported names are at the
 * bottom; the libc names live in override.c.
 */
#include "frontend/frontend.h"

#include <string.h>

bool hak_prof_kept_free(void) {
    void *kept[HAK_PROF_KEPT_MAX];
    unsigned n = hak_prof_kept_drain(kept);
    for (unsigned i = 0; i < n; i++)
        hak_large_free(kept[i]);
    return n > 0;
}

/* Frees the profiler's kept blocks, hands the transfer cache's batches to
 * the backend, and gives the memory the backend and the large path cache
 * (free but mapped) back to the OS, keeping at most pad bytes of each;
 * true if it did any. */
bool hak_trim_cached(size_t pad) {
    bool released = hak_prof_kept_free();
    released |= hak_xfer_flush();
    released |= hak_backend->trim(pad);
    released |= hak_large_trim(pad);
    return released;
}

/* Whether memory HAKMEM caches may stand between a request and the memory
 * it was refused, the OS's (RLIMIT_AS, strict overcommit) or the heap
 * limit's: then all of it goes back and the request is tried again. */
static bool map_refused(hak_fail_t cause) {
    return cause == HAK_FAIL_MAPFAIL || cause == HAK_FAIL_EXHAUSTION;
}

/* After a refusal and a trim: the calling thread's cache goes back to the
 * backend, and the address space of what the backend holds free but
 * mapped goes back to the OS (backend.h, squeeze), so that a request of
 * any size may map it; true if any did (*tried tells). */
static bool squeeze(unsigned *tried) {
    /* The caller's cache first: blocks the backend may then find free. */
    hak_thread_t *t = hak_self;
    if (t != HAK_THREAD_EMPTY && t != HAK_THREAD_DEAD)
        hak_thread_flush(t);
    bool released = hak_prof_kept_free();
    released |= hak_backend->squeeze != NULL && hak_backend->squeeze();
    released |= hak_large_squeeze();
    if (!released)
        return false;
    *tried |= HAK_TRIED_SQUEEZE;
    return true;
}

/* Asks the backend for about want blocks of class c, at most max, for
 * thread t (NULL: one without a cache), once more after a refusal
 * (map_refused), adding to *tried what it did.  The large path does the
 * same (hak_alloc_large). */
static unsigned refill(hak_thread_t *t, unsigned c, unsigned want, unsigned max, void **list,
                       hak_fail_t *cause, unsigned *tried) {
    void *bstate = t ? t->bstate : NULL;
    *tried |= HAK_TRIED_BACKEND;
    unsigned got = hak_backend->refill(bstate, c, want, max, list, cause);
    if (got == 0 && map_refused(*cause) && hak_trim_cached(0)) {
        *tried |= HAK_TRIED_TRIM;
        got = hak_backend->refill(bstate, c, want, max, list, cause);
    }
    if (got == 0 && map_refused(*cause) && squeeze(tried))
        got = hak_backend->refill(bstate, c, want, max, list, cause);
    if (got > 0)
        hak_stats_count_out(t, c, got);
    return got;
}

/* Gives the list of n blocks of class c back to the backend, for thread t
 * (NULL: one without a cache). */
void hak_flush(hak_thread_t *t, unsigned c, void *list, unsigned n) {
    hak_backend->flush(t ? t->bstate : NULL, c, list, n);
    hak_stats_count_out(t, c, -(int64_t)n);
}

/* Takes the first block off *list, once its check shows that nothing
 * wrote to it since it was freed (pool/freelist.h, "A free small block").
 * Inline: small_alloc and shadow_quick end with it. */
HAK_INLINE void *block_take(void **list) {
    void *p = *list;
    if (HAK_UNLIKELY(!hak_block_cached(p)))
        hak_fatal("malloc(): corrupted free block: %p (written after free, or overflowed into)", p);
    *list = hak_block_next(p);
    hak_block_unmark(p);
    return p;
}

/* With HAKMEM_SECURE, the n blocks of class c of a refill in random
 * order, so that the block after a program's block in a fresh slab is not
 * the one it gets next (each checked before its link is followed: a list
 * may come whole from the backend or the transfer cache). */
static void *shuffle(hak_thread_t *t, unsigned c, void *list, unsigned n) {
    void *b[ACE_MAX_CAP];
    if (n < 2 || n > ACE_MAX_CAP)
        return list;
    if (t->rng == 0)
        t->rng = hak_tables.key_check ^ (uintptr_t)t ^ 1;
    for (unsigned i = 0; i < n; i++) {
        if (!hak_block_in_class(list, c))
            hak_list_corrupt(list, "refill: a link to no block of its class");
        if (!hak_block_cached(list))
            hak_list_corrupt(list, "refill: a block written after its free");
        b[i] = list;
        list = hak_block_next(list);
    }
    for (unsigned i = n - 1; i > 0; i--) { /* Fisher-Yates, xorshift64 */
        t->rng ^= t->rng << 13;
        t->rng ^= t->rng >> 7;
        t->rng ^= t->rng << 17;
        /* j in [0, i]: the top 32 bits scaled, no division. */
        unsigned j = (unsigned)(((t->rng >> 32) * (i + 1)) >> 32);
        void *x = b[i];
        b[i] = b[j];
        b[j] = x;
    }
    for (unsigned i = 0; i < n; i++)
        list = hak_block_push(b[i], list);
    return list;
}

/* With the profiler on, how many blocks of class c thread t may hand out
 * before the next sample point: 0 when this request is the one that
 * crosses it (internal.h, HAK_SHADOW; prof.h).  Not bounded here: a take
 * from the shadow bin moves as many as the bin has room for (its whole
 * list, unwalked, when they fit), a refill at most ACE_MAX_CAP. */
static uint64_t prof_allowance(hak_thread_t *t, unsigned c) {
    uint64_t *left = &t->prof.left[c];
    if (*left == 0)
        *left = hak_prof_draw(&t->prof);
    return (*left - 1) / hak_class_size[c];
}

/* Whether the held blocks of a shadow bin are enough for a refill that
 * wants want: then the slow path takes them, not the backend's. */
HAK_INLINE bool shadow_enough(unsigned held, unsigned want) { return held >= want / 2 && held > 0; }

/* Moves the first max blocks (at least one) of s, a shadow bin, onto
 * list, which is empty: the whole bin when it fits, else its first
 * max blocks, cut from the rest, each checked before its link is followed
 * (the fast path checks each block again as it takes it); returns how
 * many it moved.  No block is relinked but the last, and the most
 * recently freed, cache-hot ones come first. */
static unsigned shadow_take(hak_bin_t s, unsigned max, void **list) {
    unsigned moved = hak_bin_held(s);
    *list = *s.head;
    if (moved <= max) {
        *s.head = HAK_LIST_END;
    } else {
        moved = max;
        void *last = *s.head;
        for (unsigned i = 1;; i++) {
            if (!hak_block_cached(last))
                hak_list_corrupt(last, "thread cache: a block written after its free");
            if (i == max)
                break;
            last = hak_block_next(last);
        }
        *s.head = hak_block_next(last);
        hak_block_link(last, HAK_LIST_END);
    }
    *s.room += (int32_t)moved;
    return moved;
}

/* The request of n bytes that crossed thread t's sample point *left,
 * sampled as size bytes: a large block, so that its free reaches the slow
 * path (a kept one when it needs no zeroing nor alignment: prof.h,
 * hak_prof_freed), recorded; *left is drawn anew. */
static void *prof_sample(hak_thread_t *t, uint64_t *left, size_t n, size_t align, bool zero,
                         size_t size);

/* A small block of class c for the calling thread, asked for n bytes. */
static void *small_alloc(unsigned c, size_t n) {
    hak_thread_t *t = hak_thread_get();
    void *list;
    hak_fail_t cause = HAK_FAIL_NONE;
    unsigned tried = 0;
    if (t == HAK_THREAD_DEAD) {
        if (refill(NULL, c, 1, 1, &list, &cause, &tried) == 0) {
            hak_fail(cause, hak_class_size[c], 0, tried);
            return NULL;
        }
        return block_take(&list);
    }
    hak_thread_prof_sync(t);
    if (hak_config_stats)
        t->stats.mallocs++;
    hak_slot_t *b = hak_slot(c);
    if (b->head == HAK_LIST_END) {
        /* A list taken whole (from the backend or the transfer cache) is
         * not walked: its blocks are checked as they are taken, and its
         * length here, where it ends. */
        if (b->room != (int32_t)t->ctl[c].cap)
            hak_list_corrupt(NULL, b->room > (int32_t)t->ctl[c].cap
                                       ? "thread cache: a list longer than its count"
                                       : "thread cache: a list shorter than its count");
        bool prof = t->prof.epoch & 1;
        uint64_t limit = prof ? prof_allowance(t, c) : UINT64_MAX;
        if (limit == 0)
            return prof_sample(t, &t->prof.left[c], n, 0, false, hak_class_size[c]);
        unsigned want = hak_bin_move(c, hak_ace_refill_want(&t->ctl[c], c, &t->grown));
        if (want > (unsigned)b->room)
            want = b->room;
        if (want > limit)
            want = (unsigned)limit;
        if (want > ACE_MAX_CAP)
            want = ACE_MAX_CAP;
        unsigned got = 0;
        list = HAK_LIST_END;
        if (prof) {
            /* The blocks freed since when they are enough, else a refill
             * (the shadow bin fills on).  A group bin is sorted only when
             * the shadow bin alone is not enough: it sorts more blocks a
             * call, less often.  With nothing to take (a refill from the
             * backend's way), the shadow bin only grows, if it must, so
             * that the frees to come find room. */
            bool group =
                c > HAK_SHADOW_CLASSES && hak_slot(HAK_SHADOW_GROUP(c))->head != HAK_LIST_END;
            if (!group && *hak_shadow_head(t, c) == HAK_LIST_END) {
                if (t->prof.shadow_cap[c] < t->ctl[c].cap)
                    (void)hak_shadow_bin(t, c);
            } else {
                hak_bin_t s = hak_shadow_bin(t, c);
                if (group && !shadow_enough(hak_bin_held(s), want)) {
                    hak_thread_group_sort(t, c);
                    s = hak_shadow_bin(t, c);
                }
                if (shadow_enough(hak_bin_held(s), want)) {
                    unsigned room = (unsigned)b->room;
                    got = shadow_take(s, room < limit ? room : (unsigned)limit, &list);
                }
            }
        }
        if (got == 0) {
            /* A whole list of up to the bin's room may come, but for the
             * sampler's allowance and the shuffle's bound. */
            unsigned room = (unsigned)b->room;
            if (room > limit)
                room = (unsigned)limit;
            got = hak_xfer_get(c, room, &list);
            if (got == 0)
                got = refill(t, c, want, hak_opt.secure ? want : room, &list, &cause, &tried);
            if (got == 0) {
                hak_fail(cause, hak_class_size[c], 0, HAK_TRIED_TRANSFER | tried);
                return NULL;
            }
            hak_count(&t->stats.cls[c].refills, 1);
            hak_purge_tick();
        }
        if (prof)
            t->prof.left[c] -= (uint64_t)got * hak_class_size[c];
        if (hak_opt.secure)
            list = shuffle(t, c, list, got);
        b->head = list;
        b->room -= got;
    }
    void *p = block_take(&b->head);
    b->room++;
    return p;
}

/* A large block; a request beyond PTRDIFF_MAX, or bigger than the heap
 * limit itself (no memory given back could make room for it), fails at
 * once with cause Threshold. */
static void *large_alloc(size_t n, size_t align, bool zero) {
    hak_fail_t cause = HAK_FAIL_THRESHOLD;
    unsigned tried = 0;
    void *p = NULL;
    hak_ensure_init();
    uint64_t limit = hak_os_limit();
    if (n <= PTRDIFF_MAX && align <= ((size_t)PTRDIFF_MAX >> 1) && (limit == 0 || n <= limit)) {
        tried = HAK_TRIED_LARGE;
        p = hak_large_alloc(n, align, zero, &cause);
        if (p == NULL && map_refused(cause) && hak_trim_cached(0)) {
            tried |= HAK_TRIED_TRIM;
            p = hak_large_alloc(n, align, zero, &cause);
        }
        if (p == NULL && map_refused(cause) && squeeze(&tried))
            p = hak_large_alloc(n, align, zero, &cause);
    }
    if (p == NULL) {
        hak_fail(cause, n, align, tried);
        return NULL;
    }
    unsigned c = 0;
    enum hak_ptr_kind k = hak_ptr_classify(p, &c, "malloc()");
    hak_stats_count_large(1, hak_ptr_usable(p, k, c, "malloc()"));
    return p;
}

static void *prof_sample(hak_thread_t *t, uint64_t *left, size_t n, size_t align, bool zero,
                         size_t size) {
    *left = hak_prof_draw(&t->prof);
    void *p = n <= HAK_SMALL_MAX && align == 0 && !zero ? hak_prof_kept_take(n) : NULL;
    if (p != NULL)
        hak_stats_count_large(1, hak_large_usable(p));
    else
        p = large_alloc(n, align, zero);
    if (p != NULL)
        hak_prof_sampled(p, n, size);
    return p;
}

/* Every large request is seen here, so it is sampled here: against the
 * thread's count of bytes for requests above the classes. */
void *hak_alloc_large(size_t n, size_t align, bool zero) {
    hak_ensure_init();
    if (HAK_UNLIKELY(hak_prof_epoch_now() & 1)) {
        hak_thread_t *t = hak_thread_get();
        if (t != HAK_THREAD_DEAD) {
            uint64_t *left = &t->prof.left[0];
            if (*left == 0)
                *left = hak_prof_draw(&t->prof);
            if (*left <= n)
                return prof_sample(t, left, n, align, zero, n);
            *left -= n;
        }
    }
    return large_alloc(n, align, zero);
}

/* The rest of the malloc slow path, apart from shadow_quick's first
 * tests, so that the registers they save are saved on their way only. */
static HAK_NOINLINE void *malloc_small_slow(unsigned c, size_t n) {
    hak_ensure_init();
    return small_alloc(c, n);
}
static HAK_NOINLINE void *malloc_large_slow(size_t n) {
    hak_ensure_init();
    return hak_alloc_large(n, 0, false);
}

/*
 * The profiler's common case of the malloc slow path, ahead of small_alloc,
 * which does the same and more: bin c of thread t, which samples, is
 * empty, its shadow bin holds enough blocks for a refill (shadow_enough),
 * all before the sample point, and the ACE has nothing to change
 * (hak_ace_refill_settled): the shadow bin's list becomes the bin's, whole
 * and unwalked, counted against the sampler's allowance.  Else small_alloc
 * (which reports a damaged bin).  A shadow take comes every few dozen
 * mallocs of a sampling thread, so this path keeps to a few dozen
 * instructions and no call; hak_malloc_slow has made its first tests.
 */
static HAK_NOINLINE void *shadow_quick(hak_thread_t *t, unsigned c, size_t n) {
    /* The shadow bin as hak_shadow_bin gives it, when it need not grow. */
    unsigned cap = t->ctl[c].cap;
    hak_slot_t *b = hak_slot(c);
    if (b->room != (int32_t)cap || t->prof.shadow_cap[c] != cap)
        return malloc_small_slow(c, n);
    void **shead = hak_shadow_head(t, c);
    int32_t *sroom =
        c <= HAK_SHADOW_CLASSES ? &hak_slot(HAK_SHADOW(c))->room : &t->prof.side_room[c];
    int32_t room = *sroom;
    unsigned held = cap - (unsigned)room, want = cap / 2u < ACE_MAX_CAP ? cap / 2u : ACE_MAX_CAP;
    uint64_t bytes = (uint64_t)held * hak_class_size[c];
    /* left > bytes: the allowance, (left - 1) / size, covers them all. */
    if (!shadow_enough(held, want) || room < 0 || t->prof.left[c] <= bytes ||
        !hak_ace_refill_settled(&t->ctl[c]))
        return malloc_small_slow(c, n);
    if (hak_config_stats)
        t->stats.mallocs++;
    t->prof.left[c] -= bytes;
    b->head = *shead;
    *shead = HAK_LIST_END;
    *sroom = (int32_t)cap;
    b->room = (int32_t)(cap - held + 1);
    return block_take(&b->head);
}

/* No init check before shadow_quick: a thread with a cache, the only one
 * it serves, exists only after init.  Its tests that fail on the way to
 * a refill from the backend come first, here, with no register saved. */
HAK_NOINLINE void *hak_malloc_slow(size_t n) {
    if (n > HAK_SMALL_MAX)
        return malloc_large_slow(n);
    unsigned c = hak_class_of(n);
    hak_thread_t *t = hak_self;
    unsigned e = t->prof.epoch; /* 0 in the sentinels */
    if (HAK_LIKELY(!(e & 1)) || e != hak_prof_epoch_now() || hak_opt.secure ||
        hak_slot(c)->head != HAK_LIST_END || *hak_shadow_head(t, c) == HAK_LIST_END)
        return malloc_small_slow(c, n);
    return shadow_quick(t, c, n);
}

static __attribute__((noreturn)) void not_ours(const void *p, const char *who) {
    hak_fatal("%s: invalid pointer: %p (not allocated by hakmem)", who, p);
}

/* The usable size of p, of kind k and class c. */
size_t hak_ptr_usable(const void *p, enum hak_ptr_kind k, unsigned c, const char *who) {
    if (k == HAK_PTR_SMALL)
        return hak_class_size[c];
    if (k == HAK_PTR_LARGE)
        return hak_large_usable(p);
    size_t n = hak_large_usable_far(p);
    if (n == 0)
        not_ours(p, who);
    return n;
}

/* Frees p, a large or far block of usable bytes (for a far one the large
 * path finds them; usable is then unused). */
void hak_ptr_free_large(void *p, enum hak_ptr_kind k, size_t usable) {
    if (atomic_load_explicit(&hak_prof_live, memory_order_relaxed) != 0 &&
        hak_prof_freed(p, k == HAK_PTR_LARGE && usable <= HAK_SMALL_MAX ? usable : 0)) {
        hak_stats_count_large(-1, usable); /* kept, no longer the program's */
        return;
    }
    if (k == HAK_PTR_FAR) {
        usable = hak_large_free_far(p);
        if (usable == 0)
            not_ours(p, "free()");
    } else {
        /* The size is read first: once freed, the run may serve another
         * thread. */
        hak_large_free(p);
    }
    hak_stats_count_large(-1, usable);
}

/* free() of any p but one hak_secure_free takes. */
static HAK_NOINLINE void free_any(void *p) {
    if (p == NULL)
        return;
    unsigned c = 0;
    enum hak_ptr_kind k = hak_ptr_classify(p, &c, "free()");
    if (k == HAK_PTR_SMALL) {
        hak_small_free(p, c);
        return;
    }
    int saved = errno;
    hak_ptr_free_large(p, k, k == HAK_PTR_LARGE ? hak_large_usable(p) : 0);
    errno = saved;
}

/* The secure path's block goes on before any call (free_any's), so no
 * register is saved on its way.  Its table is read first in either mode
 * (empty by default): one test of the mode fewer on its way. */
HAK_NOINLINE void hak_free_slow(void *p) {
    uintptr_t u = hak_window_unit(p);
    if (u < HAK_WINDOW_UNITS) {
        unsigned c = hak_tables.unit_class[u];
        if (c != HAK_CODE_NONE) {
            hak_secure_free(p, c);
            return;
        }
        hak_slot_restore(hak_slot(hak_tables.unit_code[u]));
    } else {
        /* With HAKMEM_SECURE, a pointer above the window reached the fast
         * path's table, which is empty: it took code 0's room from 0 (by
         * default that room is 0 here). */
        hak_slot_restore(hak_slot(HAK_CODE_NONE));
    }
    free_any(p);
}

void hak_small_free(void *p, unsigned c) {
    int saved = errno;
    hak_thread_t *t = hak_thread_get();
    if (hak_block_marked(p))
        hak_fatal("free(): double free: %p", p);
    if (t == HAK_THREAD_DEAD) {
        hak_flush(NULL, c, hak_block_push(p, HAK_LIST_END), 1);
    } else {
        hak_thread_prof_sync(t);
        if (hak_config_stats)
            t->stats.frees++;
        hak_cache_free(t, c, p);
    }
    errno = saved;
}

void hak_free_sized_slow(void *p, size_t size, bool exact, const char *who) {
    if (p != NULL) {
        unsigned c = 0;
        enum hak_ptr_kind k = hak_ptr_classify(p, &c, who);
        size_t have = hak_ptr_usable(p, k, c, who);
        /* A plain request of a small size gets a block of its class, of a
         * bigger size a large block. */
        bool small = have <= HAK_SMALL_MAX;
        /* A sampled block is a large one whatever its size (prof.h). */
        if (exact && k == HAK_PTR_LARGE && small && hak_prof_has(p))
            exact = false;
        if (size > have || (exact && (small != (size <= HAK_SMALL_MAX) ||
                                      (small && hak_class_size[hak_class_of(size)] != have))))
            hak_fatal("%s: size mismatch: %p holds %zu bytes, freed as %zu", who, p, have, size);
    }
    hak_free_slow(p);
}

size_t hak_impl_usable_size(const void *p) {
    if (p == NULL)
        return 0;
    /* A small block's unit, read as free's fast path reads it: where it
     * holds a class code (not a profiler's shadow code, nor HAKMEM_SECURE's
     * empty table), hak_ptr_classify would find that class in the chunk's
     * header and check nothing more.  Programs that keep their own count
     * of memory call this at every malloc and free (Redis). */
    uintptr_t u = hak_fast_unit(p);
    if (HAK_LIKELY(u < HAK_WINDOW_UNITS)) {
        unsigned c = hak_tables.unit_code[u];
        if (HAK_LIKELY(c - 1 < HAK_NCLASSES))
            return hak_class_size[c];
    }
    unsigned c = 0;
    enum hak_ptr_kind k = hak_ptr_classify(p, &c, "malloc_usable_size()");
    return hak_ptr_usable(p, k, c, "malloc_usable_size()");
}

/* ------------------------------------------------------------------ */
/* The hak_* API                                                       */

HAK_EXPORT void *hak_malloc(size_t size) { return hak_fast_malloc(size); }
HAK_EXPORT void hak_free(void *ptr) { hak_fast_free(ptr); }
HAK_EXPORT void *hak_calloc(size_t nmemb, size_t size) { return hak_impl_calloc(nmemb, size); }
HAK_EXPORT void *hak_realloc(void *ptr, size_t size) { return hak_impl_realloc(ptr, size); }
HAK_EXPORT void *hak_aligned_alloc(size_t alignment, size_t size) {
    return hak_impl_aligned_alloc(alignment, size);
}
HAK_EXPORT size_t hak_usable_size(const void *ptr) { return hak_impl_usable_size(ptr); }
HAK_EXPORT int hak_trim(size_t pad) { return hak_impl_trim(pad); }
HAK_EXPORT size_t hak_set_heap_limit(size_t bytes) {
    hak_ensure_init(); /* so that HAKMEM_HEAP_LIMIT, read at init, comes first */
    return (size_t)hak_os_set_limit(bytes);
}

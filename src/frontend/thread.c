/*
 * thread.c - thread caches: a thread's attach (its cold half, its backend
 * state, its place in the registry), the bins' flushes, HAKMEM_SECURE's
 * quarantine, and the teardown at thread exit, which gives everything
 * back; and the registry of live threads that statistics and fork read.
 */
#include "frontend/frontend.h"

#include <string.h>

const hak_thread_t hak_thread_empty, hak_thread_dead;

__thread hak_thread_t *hak_self __attribute__((tls_model("initial-exec"))) = HAK_THREAD_EMPTY;
__thread hak_tcache_t hak_tc
    __attribute__((tls_model("initial-exec"))) = {.head = {[0 ... HAK_NBINS - 1] = HAK_LIST_END}};

hak_lock_t hak_threads_lock = HAK_LOCK_INIT;
hak_thread_t *hak_threads;
hak_thread_stats_t hak_stats_retired;

/* Its destructor tears a thread's cache down at thread exit. */
static pthread_key_t thread_key;
static void thread_detach(void *arg);

void hak_thread_key_init(void) { pthread_key_create(&thread_key, thread_detach); }

HAK_COLD hak_thread_t *hak_thread_attach(void) {
    hak_ensure_init();
    hak_thread_t *t = hak_meta_alloc(sizeof *t);
    if (t == NULL)
        return HAK_THREAD_DEAD;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        hak_tc.room[c] = (int32_t)hak_ace_bin_init(&t->ctl[c], c);
        t->prof.side_head[c] = HAK_LIST_END;
    }
    t->tc = &hak_tc;
    t->bstate = hak_backend->thread_init();
    hak_lock(&hak_threads_lock);
    HAK_DLIST_PUSH(&hak_threads, t);
    hak_unlock(&hak_threads_lock);
    hak_self = t;
    pthread_setspecific(thread_key, t);
    return t;
}

/* Hands the n coldest blocks of bin b of class c (the tail of its LIFO
 * list) to the backend, keeping the recently freed, cache-hot ones; a
 * whole bin with pass set goes to the transfer cache when it takes it.
 * The bins are the calling thread's: t is its cold half. */
static void bin_flush(hak_thread_t *t, unsigned c, hak_bin_t b, unsigned n, bool pass) {
    unsigned held = hak_bin_held(b);
    void *list;
    if (n >= held) {
        list = *b.head;
        *b.head = HAK_LIST_END;
        n = held;
    } else {
        /* The blocks kept are checked on the way, so a damaged link is
         * reported, not followed; the backend checks the rest. */
        pass = false;
        void *last = *b.head;
        for (unsigned i = 1; i < held - n; i++) {
            if (!hak_block_cached(last))
                hak_list_corrupt(last, "thread cache: a block written after its free");
            last = hak_block_next(last);
            if (!hak_block_in_class(last, c))
                hak_list_corrupt(last, "thread cache: a link to no block of its class");
        }
        if (!hak_block_cached(last))
            hak_list_corrupt(last, "thread cache: a block written after its free");
        list = hak_block_next(last);
        hak_block_link(last, HAK_LIST_END);
    }
    *b.room += (int32_t)n;
    hak_count(&t->stats.cls[c].flushes, 1);
    if (!pass || !hak_xfer_put(c, list, n))
        hak_flush(t, c, list, n);
    hak_purge_tick();
}

static void groups_sort(hak_thread_t *t) {
    for (unsigned g = 0; g < HAK_NGROUPS; g++)
        hak_thread_group_sort(t, HAK_SHADOW_CLASSES + 1 + g * HAK_GROUP_CLASSES);
}

/* Hands every block the cache of t holds back to the backend. */
static void cache_flush_all(hak_thread_t *t) {
    groups_sort(t);
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        hak_bin_t b = hak_bin(t, c), s = hak_shadow_bin(t, c);
        if (*b.head != HAK_LIST_END)
            bin_flush(t, c, b, hak_bin_held(b), false);
        if (*s.head != HAK_LIST_END)
            bin_flush(t, c, s, hak_bin_held(s), false);
    }
}

/* Puts p, a block of class c freed by the thread of t, in its cache: in
 * the shadow bin while the profiler samples, which flushes as the bin
 * would (the ACE sizes both). */
static void cache_push(hak_thread_t *t, unsigned c, void *p) {
    bool shadow = t->prof.epoch & 1;
    if (shadow && c > HAK_SHADOW_CLASSES && hak_tc.room[HAK_SHADOW_GROUP(c)] <= 0)
        hak_thread_group_sort(t, c); /* full: the fast path sent p here */
    hak_bin_t b = shadow ? hak_shadow_bin(t, c) : hak_bin(t, c);
    if (*b.room == 0) {
        unsigned n = hak_bin_move(c, hak_ace_flush_count(&t->ctl[c], c, &t->grown));
        /* The flush count may grow the bin, and with it the shadow bin. */
        b = shadow ? hak_shadow_bin(t, c) : hak_bin(t, c);
        bin_flush(t, c, b, n, true);
    }
    *b.head = hak_block_push(p, *b.head);
    (*b.room)--;
}

void hak_thread_group_sort(hak_thread_t *t, unsigned c) {
    unsigned g = HAK_GROUP(c), b = HAK_GROUP_BIN(g);
    unsigned lo = HAK_SHADOW_CLASSES + 1 + g * HAK_GROUP_CLASSES;
    void *p = hak_tc.head[b];
    hak_tc.head[b] = HAK_LIST_END;
    hak_tc.room[b] = t->prof.epoch & 1 ? HAK_GROUP_CAP : 0;
    while (p != HAK_LIST_END) {
        /* A link is checked as bin_flush checks one, against the classes
         * of the group. */
        unsigned pc = hak_page_code((uintptr_t)p);
        if (!hak_block_cached(p))
            hak_list_corrupt(p, "thread cache: a block written after its free");
        void *next = hak_block_next(p);
        if (next != HAK_LIST_END &&
            (((uintptr_t)next & (HAK_MIN_ALIGN - 1)) != 0 || !hak_chunk_owned((uintptr_t)next) ||
             hak_page_code((uintptr_t)next) - lo >= HAK_GROUP_CLASSES))
            hak_list_corrupt(next, "thread cache: a link to no block of its class");
        hak_bin_t s = hak_shadow_bin(t, pc);
        if (*s.room <= 0)
            bin_flush(t, pc, s, hak_bin_move(pc, hak_ace_flush_count(&t->ctl[pc], pc, &t->grown)),
                      true);
        *s.head = hak_block_push(p, *s.head);
        (*s.room)--;
        p = next;
    }
}

void hak_thread_prof_switch(hak_thread_t *t, unsigned epoch) {
    groups_sort(t);
    for (unsigned g = 0; g < HAK_NGROUPS; g++)
        hak_tc.room[HAK_GROUP_BIN(g)] = epoch & 1 ? HAK_GROUP_CAP : 0;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        hak_bin_t s = hak_shadow_bin(t, c), b = hak_bin(t, c);
        if (*s.head != HAK_LIST_END)
            bin_flush(t, c, s, hak_bin_held(s), true);
        unsigned cap = epoch & 1 ? b.cap : 0, held = hak_bin_held(b);
        t->prof.shadow_cap[c] = (uint16_t)cap;
        *s.room = (int32_t)cap;
        if (cap > 0 && held > 0) {
            /* Not yet counted by the sampler: its slow path takes them
             * back, counted. */
            *s.head = *b.head;
            *s.room -= (int32_t)held;
            *b.head = HAK_LIST_END;
            *b.room += (int32_t)held;
        }
    }
    t->prof.epoch = epoch;
}

/*
 * HAKMEM_SECURE's quarantine: a small block freed waits, marked free with
 * a link of its own (quarantined(q): a second free is still caught, and a
 * block found there twice too) and filled with a pattern from byte 16 up to
 * byte HAK_JUNK_END, until HAK_QUARANTINE_BLOCKS blocks or
 * HAK_QUARANTINE_BYTES came after it; then its fill is checked, so a write
 * after free into its start meanwhile is reported, and it goes to the
 * thread cache.  A dangling pointer then no longer reaches the block's
 * next owner at once.  (Filling and checking the whole block would cost
 * ten times the free itself for big blocks.)
 */
#define HAK_JUNK ((uint64_t)0xdbdbdbdbdbdbdbdbu)
#define HAK_JUNK_END 64

/* The fill lies in words 2 up to n of a block: n is HAK_JUNK_END / 8 for
 * every class of 64 bytes or more, a count the compiler knows there, so
 * the fill and its check take a few vector moves. */
HAK_INLINE void junk_fill_words(uint64_t *w, size_t n) {
#pragma GCC unroll 6
    for (size_t k = 2; k < n; k++)
        w[k] = HAK_JUNK;
}
HAK_INLINE uint64_t junk_changed_words(const uint64_t *w, size_t n) {
    uint64_t changed = 0;
#pragma GCC unroll 6
    for (size_t k = 2; k < n; k++)
        changed |= w[k] ^ HAK_JUNK;
    return changed;
}
static void junk_fill(uint64_t *w, unsigned c) {
    if (HAK_LIKELY(hak_class_size[c] >= HAK_JUNK_END))
        junk_fill_words(w, HAK_JUNK_END / 8);
    else
        junk_fill_words(w, hak_class_size[c] / 8);
}
static bool junk_intact(const uint64_t *w, unsigned c) {
    if (HAK_LIKELY(hak_class_size[c] >= HAK_JUNK_END))
        return junk_changed_words(w, HAK_JUNK_END / 8) == 0;
    return junk_changed_words(w, hak_class_size[c] / 8) == 0;
}

/* The link of a block in quarantine q: no block's address (bit 1 set), the
 * quarantine's own (a block in another thread's quarantine has another),
 * and its check word is the block's own, so free's check still sees it
 * free. */
static void *quarantined(const hak_quarantine_t *q) { return (void *)((uintptr_t)q | 2); }

static void quarantine_check(const hak_quarantine_t *q, const void *p, unsigned c) {
    const uint64_t *w = p;
    bool intact = hak_block_marked(p);
    if (intact && hak_block_next(p) != quarantined(q))
        /* In a list since: a write hid a second free of it, which put it
         * in quarantine twice, and the first to leave went on. */
        hak_fatal("free(): double free: %p", p);
    if (!intact || !junk_intact(w, c))
        hak_fatal("free(): write after free: %p (changed in quarantine)", p);
}

/* The oldest block out of q, checked. */
static void *quarantine_take(hak_quarantine_t *q) {
    unsigned i = q->head;
    void *p = q->block[i];
    unsigned c = q->cls[i];
    q->head = (i + 1) % HAK_QUARANTINE_BLOCKS;
    q->len--;
    q->bytes -= hak_class_size[c];
    q->held[c]--;
    quarantine_check(q, p, c);
    return p;
}

/* The block after p, of class c, when it waits in quarantine q (the
 * calling thread's, which no other thread changes): its check word is the
 * one of a block of q at its address, which no block out of q keeps
 * (whatever takes a block out relinks it, and the program cannot write it
 * without the secrets), and no other memory has.  Then a word 0 changed is
 * an overflow of up to 8 bytes from p, reported at p's free.  (Memory of
 * class c is mapped, 16 bytes from n on one page: no backend need say
 * whether n starts a block.)  A block out of q may be another thread's,
 * which writes it meanwhile: what is read there never matches q's words. */
HAK_RACY_READS static void neighbour_check(const hak_quarantine_t *q, const void *p, unsigned c) {
    const uintptr_t *n = (const void *)((const char *)p + hak_class_size[c]);
    if (q == NULL || !hak_block_in_class(n, c))
        return;
    uintptr_t word0 = (uintptr_t)quarantined(q) ^ hak_tables.key_link;
    if (n[1] == hak_block_check_word(n, word0) && n[0] != word0)
        hak_fatal("free(): heap overflow: %p overran the freed block %p", p, (const void *)n);
}

/* Puts p, of class c, in the quarantine of t; returns the block that
 * leaves it for the thread cache, or NULL. */
static void *quarantine(hak_thread_t *t, unsigned c, void *p) {
    hak_quarantine_t *q = t->quarantine;
    neighbour_check(q, p, c);
    if (q == NULL && (q = t->quarantine = hak_meta_alloc(sizeof *q)) == NULL)
        return p; /* no memory for it: no delay */
    size_t size = hak_class_size[c];
    junk_fill(p, c);
    hak_block_link(p, quarantined(q));
    unsigned i = (q->head + q->len) % HAK_QUARANTINE_BLOCKS;
    q->block[i] = p;
    q->cls[i] = (uint8_t)c;
    q->len++;
    q->bytes += size;
    q->held[c]++;
    if (q->len < HAK_QUARANTINE_BLOCKS && q->bytes <= HAK_QUARANTINE_BYTES)
        return NULL;
    unsigned oc = q->cls[q->head];
    void *old = quarantine_take(q);
    if (oc == c)
        return old;
    cache_push(t, oc, old);
    return NULL;
}

/* At exit: the blocks still in the calling thread's quarantine, checked,
 * so that a write after free is reported even when no free pushed the
 * block out. */
void hak_quarantine_check_exit(void) {
    hak_thread_t *t = hak_self;
    if (t == HAK_THREAD_EMPTY || t == HAK_THREAD_DEAD || t->quarantine == NULL)
        return;
    const hak_quarantine_t *q = t->quarantine;
    for (unsigned k = 0; k < q->len; k++) {
        unsigned i = (q->head + k) % HAK_QUARANTINE_BLOCKS;
        quarantine_check(q, q->block[i], q->cls[i]);
        /* A block there twice: a write hid its second free. */
        for (unsigned l = k + 1; l < q->len; l++)
            if (q->block[(q->head + l) % HAK_QUARANTINE_BLOCKS] == q->block[i])
                hak_fatal("free(): double free: %p", q->block[i]);
    }
}

/* Empties the quarantine of t (the calling thread's) into its cache. */
static void quarantine_flush(hak_thread_t *t) {
    hak_quarantine_t *q = t->quarantine;
    while (q != NULL && q->len > 0) {
        unsigned c = q->cls[q->head];
        cache_push(t, c, quarantine_take(q));
    }
}

static void thread_detach(void *arg) {
    hak_thread_t *t = arg;
    quarantine_flush(t);
    cache_flush_all(t);
    hak_self = HAK_THREAD_DEAD;
    for (unsigned b = 0; b < HAK_NBINS; b++) {
        hak_tc.head[b] = HAK_LIST_END;
        hak_tc.room[b] = 0;
    }
    hak_backend->thread_exit(t->bstate);
    hak_stats_publish(NULL, t->unpublished);
    hak_lock(&hak_threads_lock);
    HAK_DLIST_UNLINK(&hak_threads, t);
    hak_thread_stats_add(&hak_stats_retired, &t->stats);
    hak_unlock(&hak_threads_lock);
    if (t->quarantine != NULL)
        hak_meta_free(t->quarantine, sizeof *t->quarantine);
    hak_meta_free(t, sizeof *t);
}

void hak_cache_free(hak_thread_t *t, unsigned c, void *p) {
    if (hak_opt.secure)
        p = quarantine(t, c, p);
    if (p != NULL)
        cache_push(t, c, p);
}

void hak_thread_flush(hak_thread_t *t) {
    quarantine_flush(t);
    cache_flush_all(t);
}

void hak_threads_fork_child(void) {
    /* Only the forking thread lives on; the others' caches stay allocated
     * (their blocks are lost to the child, as glibc's arenas are) but leave
     * the registry so statistics count live threads.  Their counters stay
     * (the blocks they held count as live). */
    hak_thread_t *t = hak_self;
    for (hak_thread_t *o = hak_threads; o; o = o->next)
        if (o != t)
            hak_thread_stats_add(&hak_stats_retired, &o->stats);
    if (t != HAK_THREAD_EMPTY && t != HAK_THREAD_DEAD) {
        t->next = t->prev = NULL;
        hak_threads = t;
    } else {
        hak_threads = NULL;
    }
}

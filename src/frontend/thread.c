/*
 * thread.c - thread caches: a thread's attach (its cold half, its backend
 * state, its place in the registry), the bins' flushes, HAKMEM_SECURE's
 * quarantine, and the teardown at thread exit, which gives everything
 * back; and the registry of live threads that statistics and fork read.
 */
#include "frontend/frontend.h"

#include <errno.h>
#include <string.h>

const hak_thread_t hak_thread_empty, hak_thread_dead;

__thread hak_thread_t *hak_self __attribute__((tls_model("initial-exec"))) = HAK_THREAD_EMPTY;
hak_slot_t hak_slot_none = {HAK_LIST_END, 0};
__thread hak_tcache_t hak_tc
    __attribute__((tls_model("initial-exec"))) = {.bin = {[0 ... HAK_NBINS - 1] = &hak_slot_none}};

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
    for (unsigned b = 0; b < HAK_NBINS; b++) {
        t->slot[b].head = HAK_LIST_END;
        hak_tc.bin[b] = &t->slot[b];
    }
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        t->slot[c].room = (int32_t)hak_ace_bin_init(&t->ctl[c], c);
        t->prof.side_head[c] = HAK_LIST_END;
    }
    /* Born in the profiler's epoch, without hak_thread_prof_switch's walk
     * of every bin: there is no block to move, and each shadow bin, of
     * capacity 0 here, grows to its bin's when first used
     * (hak_shadow_bin); its group bins take frees at once. */
    t->prof.epoch = hak_prof_epoch_now();
    for (unsigned g = 0; g < HAK_NGROUPS; g++)
        t->slot[HAK_GROUP_BIN(g)].room = t->prof.epoch & 1 ? HAK_GROUP_CAP : 0;
    t->bstate = hak_backend->thread_init();
    hak_lock(&hak_threads_lock);
    HAK_DLIST_PUSH(&hak_threads, t);
    hak_unlock(&hak_threads_lock);
    hak_self = t;
    pthread_setspecific(thread_key, t);
    return t;
}

/* The n-th block (n >= 1) of a thread-cache list of class c from head,
 * each block checked before its link is followed, the n-th too: its link
 * may then be cut or followed. */
static void *list_nth(void *head, unsigned n, unsigned c) {
    void *last = head;
    for (unsigned i = 1; i < n; i++) {
        if (!hak_block_cached(last))
            hak_list_corrupt(last, "thread cache: a block written after its free");
        last = hak_block_next(last);
        if (!hak_block_in_class(last, c))
            hak_list_corrupt(last, "thread cache: a link to no block of its class");
    }
    if (!hak_block_cached(last))
        hak_list_corrupt(last, "thread cache: a block written after its free");
    return last;
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
        void *last = list_nth(*b.head, held - n, c);
        list = hak_block_next(last);
        hak_block_link(last, HAK_LIST_END);
    }
    *b.room += (int32_t)n;
    hak_count(&t->stats.cls[c].flushes, 1);
    int saved = errno; /* for free(), which may flush without saving it */
    if (!pass || !hak_xfer_put(c, list, n))
        hak_flush(t, c, list, n);
    hak_purge_tick();
    errno = saved;
}

static void groups_sort(hak_thread_t *t) {
    for (unsigned g = 0; g < HAK_NGROUPS; g++)
        hak_thread_group_sort(t, HAK_SHADOW_CLASSES + 1 + g * HAK_GROUP_CLASSES);
}

/* Puts the blocks of shadow bin s of class c in front of those of bin b,
 * so that one flush hands both lists back (a flush costs the backend's
 * lock and its walk: far more than this walk of the shadow list, whose
 * blocks are each checked before a link is followed: list_nth).
 * Bin b may then hold more than its capacity: its room is negative until
 * the flush. */
static void shadow_join(unsigned c, hak_bin_t b, hak_bin_t s) {
    unsigned n = hak_bin_held(s);
    void *last = list_nth(*s.head, n, c);
    hak_block_link(last, *b.head);
    *b.head = *s.head;
    *s.head = HAK_LIST_END;
    *b.room -= (int32_t)n;
    *s.room += (int32_t)n;
}

/* Hands every block the cache of t holds back to the backend. */
static void cache_flush_all(hak_thread_t *t) {
    groups_sort(t);
    for (unsigned c = 1; c <= HAK_NCLASSES; c++) {
        hak_bin_t b = hak_bin(t, c);
        /* The shadow bin's head first: hak_shadow_bin would grow the
         * capacity of every empty one. */
        if (*hak_shadow_head(t, c) != HAK_LIST_END) {
            hak_bin_t s = hak_shadow_bin(t, c);
            if (*b.head == HAK_LIST_END)
                b = s;
            else
                shadow_join(c, b, s);
        }
        if (*b.head != HAK_LIST_END)
            bin_flush(t, c, b, hak_bin_held(b), false);
    }
}

/* Puts p in the calling thread's bin of class c, which has room. */
HAK_INLINE void bin_push(unsigned c, void *p) {
    hak_slot_t *s = hak_slot(c);
    s->head = hak_block_push(p, s->head);
    s->room--;
}

/* Puts p, a block of class c freed by the thread of t, in its cache: in
 * the shadow bin while the profiler samples, which flushes as the bin
 * would (the ACE sizes both). */
static HAK_NOINLINE void cache_push_slow(hak_thread_t *t, unsigned c, void *p) {
    bool shadow = t->prof.epoch & 1;
    if (shadow && c > HAK_SHADOW_CLASSES && hak_slot(HAK_SHADOW_GROUP(c))->room <= 0)
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
/* The same, where the bin has room and the profiler is off. */
HAK_INLINE void cache_push(hak_thread_t *t, unsigned c, void *p) {
    if (HAK_UNLIKELY((t->prof.epoch & 1) || hak_slot(c)->room <= 0)) {
        cache_push_slow(t, c, p);
        return;
    }
    bin_push(c, p);
}

/* Makes room for one block in the full shadow bin of class c, above
 * HAK_SHADOW_CLASSES, whose room the group sort took already: grows it
 * (hak_shadow_bin), else flushes it.  Out of the sort's loop, which keeps
 * its registers for the walk. */
static HAK_NOINLINE void side_full(hak_thread_t *t, unsigned c) {
    t->prof.side_room[c]++;
    hak_bin_t s = hak_shadow_bin(t, c);
    if (*s.room <= 0)
        bin_flush(t, c, s, hak_bin_move(c, hak_ace_flush_count(&t->ctl[c], c, &t->grown)), true);
    t->prof.side_room[c]--;
}

void hak_thread_group_sort(hak_thread_t *t, unsigned c) {
    unsigned g = HAK_GROUP(c), b = HAK_GROUP_BIN(g);
    unsigned lo = HAK_SHADOW_CLASSES + 1 + g * HAK_GROUP_CLASSES;
    /* The shadow bins of the group's classes, indexed from its first. */
    void **heads = &t->prof.side_head[lo];
    int32_t *rooms = &t->prof.side_room[lo];
    void *p = hak_slot(b)->head;
    hak_slot(b)->head = HAK_LIST_END;
    hak_slot(b)->room = t->prof.epoch & 1 ? HAK_GROUP_CAP : 0;
    hak_keys_t keys = hak_keys();
    while (p != HAK_LIST_END) {
        /* Only the free fast path pushes onto a group bin, a block it
         * found in a window unit of the group's classes: so the bin's head
         * is such a block, and so is the link of a block whose check holds
         * (the check is made for that link).  The link is then followed
         * without bin_flush's test of the chunk map; the class read from
         * the page is still checked against the group's, and p's words
         * before p moves. */
        unsigned k = hak_page_code((uintptr_t)p) - lo;
        if (k >= HAK_GROUP_CLASSES)
            hak_list_corrupt(p, "thread cache: a link to no block of its class");
        /* Classes above HAK_SHADOW_CLASSES: their shadow bins are in the
         * cold half; one is grown only when full.  The room is taken
         * first: one test per block. */
        if (HAK_UNLIKELY(--rooms[k] < 0))
            side_full(t, lo + k);
        void *next;
        if (!hak_block_move(p, heads[k], &next, keys))
            hak_list_corrupt(p, "thread cache: a block written after its free");
        heads[k] = p;
        p = next;
    }
}

/* Brings the shadow bin of class c in line with the profiler's epoch
 * (hak_thread_prof_switch). */
HAK_INLINE void shadow_switch(hak_thread_t *t, unsigned c, unsigned epoch) {
    hak_bin_t s = hak_shadow_bin(t, c), b = hak_bin(t, c);
    if (*s.head != HAK_LIST_END)
        bin_flush(t, c, s, hak_bin_held(s), true);
    unsigned cap = epoch & 1 ? b.cap : 0, held = hak_bin_held(b);
    t->prof.shadow_cap[c] = (uint16_t)cap;
    *s.room = (int32_t)cap;
    if (cap > 0 && held > 0) {
        /* Not yet counted by the sampler: its slow path takes them back,
         * counted. */
        *s.head = *b.head;
        *s.room -= (int32_t)held;
        *b.head = HAK_LIST_END;
        *b.room += (int32_t)held;
    }
}

void hak_thread_prof_switch(hak_thread_t *t, unsigned epoch) {
    groups_sort(t);
    for (unsigned g = 0; g < HAK_NGROUPS; g++)
        hak_slot(HAK_GROUP_BIN(g))->room = epoch & 1 ? HAK_GROUP_CAP : 0;
    /* Two loops, so that each knows where its shadow bins are (in the hot
     * half or the cold one).  Only a start or a stop of the profiler gets
     * here: a thread is born in the epoch (hak_thread_attach). */
    for (unsigned c = 1; c <= HAK_SHADOW_CLASSES; c++)
        shadow_switch(t, c, epoch);
    for (unsigned c = HAK_SHADOW_CLASSES + 1; c <= HAK_NCLASSES; c++)
        shadow_switch(t, c, epoch);
    t->prof.epoch = epoch;
    hak_tc.quarantine = epoch & 1 ? NULL : t->quarantine;
    /* Profiling stopped: no sample will take the blocks it kept. */
    if (!(epoch & 1))
        (void)hak_prof_kept_free();
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

/* The fill lies in bytes 16 up to the smaller of HAK_JUNK_END and the
 * block's size, in 16-byte pieces (a block is 16-byte aligned and a
 * multiple of 16 bytes): piece k, from 1 to 3, in a block of class c when
 * c > k (class c is 16 * c bytes up to 256 bytes: sizeclass.c, checked by
 * test_sizeclass).  Three vector stores, or three loads and XORs, for
 * every class of 64 bytes or more; the three smaller classes test each
 * piece, without a loop, whose code would take registers the common path
 * then saves. */
typedef uint64_t junk_v __attribute__((vector_size(16)));
#define HAK_JUNK_V ((junk_v){HAK_JUNK, HAK_JUNK})
#define HAK_JUNK_PIECES (HAK_JUNK_END / 16)
HAK_INLINE void junk_fill(void *p, unsigned c) {
    junk_v *v = p;
#pragma GCC unroll 3
    for (unsigned k = 1; k < HAK_JUNK_PIECES; k++)
        if (HAK_LIKELY(c >= HAK_JUNK_PIECES) || k < c)
            v[k] = HAK_JUNK_V;
}
HAK_INLINE bool junk_intact(const void *p, unsigned c) {
    const junk_v *v = p;
    junk_v changed = {0, 0};
#pragma GCC unroll 3
    for (unsigned k = 1; k < HAK_JUNK_PIECES; k++)
        if (HAK_LIKELY(c >= HAK_JUNK_PIECES) || k < c)
            changed |= v[k] ^ HAK_JUNK_V;
    return (changed[0] | changed[1]) == 0;
}

/* The link of a block in quarantine q: no block's address (bit 1 set), the
 * quarantine's own (a block in another thread's quarantine has another),
 * and its check word is the block's own, so free's check still sees it
 * free.  q keeps the word 0 it gives, and the check word's part that is
 * not the block's address (pool/freelist.h). */
static void *quarantined(const hak_quarantine_t *q) { return (void *)((uintptr_t)q | 2); }

/* The quarantine of t, the calling thread's. */
static hak_quarantine_t *quarantine_new(hak_thread_t *t) {
    hak_quarantine_t *q = t->quarantine = hak_meta_alloc(sizeof *q);
    if (q != NULL) {
        q->word0 = (uintptr_t)quarantined(q) ^ hak_tables.key_link;
        q->word1 = q->word0 + hak_tables.key_check;
        q->empty = HAK_QUARANTINE_BLOCKS;
        hak_tc.quarantine = t->prof.epoch & 1 ? NULL : q;
    }
    return q;
}

/* Whether p, of class c, is as quarantine q left it: its words q's, and
 * its fill intact. */
HAK_INLINE bool quarantine_intact(const hak_quarantine_t *q, const void *p, unsigned c) {
    const uintptr_t *w = p;
    return w[0] == q->word0 && w[1] == (q->word1 ^ (uintptr_t)p) && junk_intact(p, c);
}

/* Reports p, which left quarantine q not as it came in.  Not HAK_COLD:
 * GCC then moves the whole path of a block leaving out of line. */
static HAK_NOINLINE __attribute__((noreturn)) void quarantine_report(const hak_quarantine_t *q,
                                                                     const void *p) {
    bool intact = hak_block_marked(p);
    if (intact && hak_block_next(p) != quarantined(q))
        /* In a list since: a write hid a second free of it, which put it
         * in quarantine twice, and the first to leave went on. */
        hak_fatal("free(): double free: %p", p);
    hak_fatal("free(): write after free: %p (changed in quarantine)", p);
}

HAK_INLINE void quarantine_check(const hak_quarantine_t *q, const void *p, unsigned c) {
    if (HAK_UNLIKELY(!quarantine_intact(q, p, c)))
        quarantine_report(q, p);
}

/* The oldest block out of q (which holds one), checked; *c gets its
 * class.  Its slot is left empty. */
static void *quarantine_take(hak_quarantine_t *q, unsigned *c) {
    unsigned i = (q->in + q->empty++) % HAK_QUARANTINE_BLOCKS;
    void *p = q->block[i];
    q->block[i] = NULL;
    *c = q->cls[i];
    quarantine_check(q, p, *c);
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
HAK_RACY_INLINE void neighbour_check(const hak_quarantine_t *q, const void *p, unsigned c) {
    const uintptr_t *n = (const void *)((const char *)p + hak_class_size[c]);
    if (((uintptr_t)n ^ (uintptr_t)p) >> HAK_UNIT_SHIFT != 0) { /* else in p's unit */
        unsigned nc = hak_secure_class(n);
        if (nc != c && (nc != HAK_CODE_NONE || !hak_block_in_class(n, c)))
            return;
    }
    /* n waits in q (its check word is 0 off) and its word 0 changed, in
     * one test: whether n waits is the program's pattern of frees, a
     * branch no predictor learns. */
    uintptr_t off = n[1] ^ q->word1 ^ (uintptr_t)n;
    if (HAK_UNLIKELY((off | (uintptr_t)(n[0] == q->word0)) == 0))
        hak_fatal("free(): heap overflow: %p overran the freed block %p", p, (const void *)n);
}

/* Puts p, of class c, whose neighbour was checked, in slot i of quarantine
 * q, the next put's, which holds no block now (its bytes not counted). */
HAK_INLINE void quarantine_enter(hak_quarantine_t *q, unsigned i, unsigned c, void *p) {
    uintptr_t *w = p;
    junk_fill(p, c);
    w[0] = q->word0;
    w[1] = q->word1 ^ (uintptr_t)p;
    q->in++;
    q->block[i] = p;
    q->cls[i] = (uint8_t)c;
}

/* The same where slot i holds a block, the oldest: returns it, checked,
 * of class *oc, for the thread cache. */
HAK_INLINE void *quarantine_swap(hak_quarantine_t *q, unsigned i, unsigned c, void *p,
                                 unsigned *oc) {
    neighbour_check(q, p, c);
    void *old = q->block[i];
    *oc = q->cls[i];
    quarantine_check(q, old, *oc);
    quarantine_enter(q, i, c, p);
    return old;
}

/* Puts p, of class c, in quarantine q; returns the block that leaves it
 * for the thread cache, of class *oc, or NULL.  The oldest leaves first,
 * once HAK_QUARANTINE_BLOCKS blocks, or more than HAK_QUARANTINE_BYTES,
 * wait: so a block leaves at the HAK_QUARANTINE_BLOCKS-th free after its
 * own at the latest (the one that reaches its slot), and not before the
 * bytes bound's. */
HAK_INLINE void *quarantine_put(hak_quarantine_t *q, unsigned c, void *p, unsigned *oc) {
    unsigned i = q->in % HAK_QUARANTINE_BLOCKS;
    /* Empty only while a thread's first frees come, or for big blocks. */
    if (HAK_LIKELY(q->block[i] != NULL))
        return quarantine_swap(q, i, c, p, oc);
    neighbour_check(q, p, c);
    void *old = NULL;
    if (q->bytes > HAK_QUARANTINE_BYTES) {
        old = quarantine_take(q, oc); /* before slot i counts as taken */
        q->bytes -= hak_class_size[*oc];
    }
    q->empty--;
    q->bytes += hak_class_size[c];
    quarantine_enter(q, i, c, p);
    return old;
}

HAK_RACY_READS void hak_quarantine_held(const hak_thread_t *t, uint64_t *held) {
    const hak_quarantine_t *q = ((hak_quarantine_t *volatile const *)&t->quarantine)[0];
    if (q == NULL)
        return;
    for (unsigned i = 0; i < HAK_QUARANTINE_BLOCKS; i++)
        if (((void *volatile const *)q->block)[i] != NULL)
            held[((volatile const uint8_t *)q->cls)[i]]++;
}

/* At exit: the blocks still in the calling thread's quarantine, checked,
 * so that a write after free is reported even when no free pushed the
 * block out. */
void hak_quarantine_check_exit(void) {
    hak_thread_t *t = hak_self;
    if (t == HAK_THREAD_EMPTY || t == HAK_THREAD_DEAD || t->quarantine == NULL)
        return;
    const hak_quarantine_t *q = t->quarantine;
    for (unsigned i = 0; i < HAK_QUARANTINE_BLOCKS; i++) {
        if (q->block[i] == NULL)
            continue;
        quarantine_check(q, q->block[i], q->cls[i]);
        /* A block there twice: a write hid its second free. */
        for (unsigned l = i + 1; l < HAK_QUARANTINE_BLOCKS; l++)
            if (q->block[l] == q->block[i])
                hak_fatal("free(): double free: %p", q->block[i]);
    }
}

/* Empties the quarantine of t (the calling thread's) into its cache. */
static void quarantine_flush(hak_thread_t *t) {
    hak_quarantine_t *q = t->quarantine;
    if (q == NULL)
        return;
    while (q->empty != HAK_QUARANTINE_BLOCKS) {
        unsigned c;
        void *p = quarantine_take(q, &c);
        cache_push(t, c, p);
    }
    q->bytes = 0;
}

static void thread_detach(void *arg) {
    hak_thread_t *t = arg;
    quarantine_flush(t);
    cache_flush_all(t);
    hak_self = HAK_THREAD_DEAD;
    hak_tc.quarantine = NULL;
    for (unsigned b = 0; b < HAK_NBINS; b++)
        hak_tc.bin[b] = &hak_slot_none;
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
    hak_quarantine_t *q = t->quarantine;
    /* No memory for a quarantine: no delay. */
    if (hak_opt.secure && (q != NULL || (q = quarantine_new(t)) != NULL))
        p = quarantine_put(q, c, p, &c);
    if (p != NULL)
        cache_push(t, c, p);
}

/* The way of a block is one straight path: where it would need a call
 * (the first frees of a thread and big blocks, whose slot in the
 * quarantine is empty; a profiler's epoch of sampling),
 * hak_small_free's path takes the block, and a bin without room calls
 * cache_push_slow last, both as tail calls, so that few registers are
 * saved on the way. */
void hak_secure_free(void *p, unsigned c) {
    /* The backend keeps block bounds (hak_secure_bounds): no need to ask,
     * as hak_secure_block_check does. */
    if (HAK_UNLIKELY(!hak_pool_handed_out(p, c)))
        hak_invalid_block("free()", p);
    if (hak_block_marked(p))
        hak_fatal("free(): double free: %p", p);
    hak_quarantine_t *q = hak_tc.quarantine;
    if (HAK_UNLIKELY(q == NULL || q->block[q->in % HAK_QUARANTINE_BLOCKS] == NULL)) {
        hak_small_free(p, c);
        return;
    }
    if (hak_config_stats)
        hak_self->stats.frees++;
    p = quarantine_swap(q, q->in % HAK_QUARANTINE_BLOCKS, c, p, &c);
    if (HAK_LIKELY(hak_slot(c)->room > 0))
        bin_push(c, p);
    else
        cache_push_slow(hak_self, c, p);
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

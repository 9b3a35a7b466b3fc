/*
 * malloc.c - the frontend's slow paths: process init and backend choice,
 * thread caches (attach, refill, flush, teardown), fork, and the malloc
 * family beyond the two fast paths.  Exported names are at the bottom; the
 * libc names live in override.c.
 */
#include "frontend/frontend.h"

#include <string.h>
#include <unistd.h>

const hak_thread_t hak_thread_empty, hak_thread_dead;
#define THREAD_EMPTY ((hak_thread_t *)&hak_thread_empty)
#define THREAD_DEAD ((hak_thread_t *)&hak_thread_dead)

__thread hak_thread_t *hak_tls __attribute__((tls_model("initial-exec"))) = THREAD_EMPTY;
__thread hak_tcache_t hak_tc __attribute__((tls_model("initial-exec"))) = {
    .head = {[0 ... HAK_NCODES - 1] = HAK_LIST_END}};

const hak_backend_t *hak_backend = &hak_backend_superslab;

/* ------------------------------------------------------------------ */
/* Process init                                                        */

static const hak_backend_t *const backends[] = {&hak_backend_superslab, &hak_backend_legacy,
                                                &hak_backend_hybrid};
#define NBACKENDS (sizeof backends / sizeof backends[0])

_Atomic int hak_init_state;
static hak_lock_t init_lock = HAK_LOCK_INIT;
static pthread_key_t thread_key;

extern char **environ;

static const hak_backend_t *backend_named(const char *name) {
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

static void fork_prepare(void);
static void fork_release(void);
static void fork_child(void);
static void thread_detach(void *arg);

static void init_locked(void) {
    hak_keys_init();
    hak_options_parse(environ);
    hak_sizeclass_init();
    const hak_backend_t *def = backend_named(HAK_DEFAULT_BACKEND);
    const hak_backend_t *b = def;
    if (hak_opt.backend.s[0] != '\0') {
        b = backend_named(hak_opt.backend.s);
        if (b == NULL) {
            hak_log("HAKMEM_BACKEND=%s: unknown backend; using %s", hak_opt.backend.s, def->name);
            b = def;
        }
    }
    if (b->init() != 0 && b != def) {
        hak_log("backend %s failed to start; using %s", b->name, def->name);
        b = def;
        (void)b->init();
    }
    hak_backend = b;
    if (hak_opt.secure && b->owns_block == NULL)
        hak_log("HAKMEM_SECURE=1: backend %s keeps no block bounds; free() checks as by default",
                b->name);
    hak_ace_init(b);
    hak_stats_output_init();
    pthread_key_create(&thread_key, thread_detach);
}

/* Nothing before HAK_INIT_DONE may allocate; what may allocate
 * (pthread_atfork) comes after, so a nested malloc finds the allocator
 * ready. */
HAK_COLD void hak_init_slow(void) {
    hak_lock(&init_lock);
    if (atomic_load_explicit(&hak_init_state, memory_order_relaxed) == HAK_INIT_NONE) {
        atomic_store_explicit(&hak_init_state, HAK_INIT_RUNNING, memory_order_relaxed);
        init_locked();
        atomic_store_explicit(&hak_init_state, HAK_INIT_DONE, memory_order_release);
        hak_unlock(&init_lock);
        pthread_atfork(fork_prepare, fork_release, fork_child);
        hak_stats_interval_start();
        if (hak_opt.verbose) {
            unsigned caps = hak_backend->caps;
            hak_log("version %s, backend %s (configure default %s), stats %s, debug %s",
                    PACKAGE_VERSION, hak_backend->name, HAK_DEFAULT_BACKEND,
                    hak_config_stats ? "on" : "off", hak_config_debug ? "on" : "off");
            hak_log("backend %s: %s heaps, %s small-block memory to the OS", hak_backend->name,
                    caps & HAK_CAP_THREAD_LOCAL ? "per-thread" : "shared, locked",
                    caps & HAK_CAP_RETURNS_SMALL ? "returns" : "keeps");
            hak_options_print();
        }
        return;
    }
    hak_unlock(&init_lock);
}

/* Initialises at load time, so HAKMEM_VERBOSE reports even for a program
 * that never allocates; an allocation from an earlier constructor simply
 * initialises first. */
__attribute__((constructor)) static void at_load(void) { hak_ensure_init(); }

static void quarantine_check_all(void);

/* Checks the exiting thread's quarantine and prints statistics at exit
 * when HAKMEM_STATS asks for them.  A destructor, not atexit(): registering
 * with atexit may allocate. */
__attribute__((destructor)) static void at_exit(void) {
    quarantine_check_all();
    hak_stats_at_exit();
}

/* ------------------------------------------------------------------ */
/* Thread caches                                                       */

/* Hands the transfer cache's batches to the backend, and gives the memory
 * the backend and the large path cache (free but mapped) back to the OS,
 * keeping at most pad bytes of each; true if it did any. */
static bool release_cached(size_t pad) {
    bool released = hak_xfer_release();
    released |= hak_backend->trim(pad);
    released |= hak_large_trim(pad);
    return released;
}

/* Asks the backend for up to want blocks of class c for thread t (NULL:
 * one without a cache).  When the OS refuses memory, what HAKMEM caches
 * may be what stands in the way (RLIMIT_AS, strict overcommit): all of it
 * goes back and the backend is asked again.  The large path does the same
 * (large_alloc). */
static unsigned refill(hak_thread_t *t, unsigned c, unsigned want, void **list, hak_fail_t *cause) {
    void *bstate = t ? t->bstate : NULL;
    unsigned got = hak_backend->refill(bstate, c, want, list, cause);
    if (got == 0 && *cause == HAK_FAIL_MAPFAIL && release_cached(0))
        got = hak_backend->refill(bstate, c, want, list, cause);
    if (got > 0)
        hak_stats_count_out(t, c, got);
    return got;
}

/* Gives the list of n blocks of class c back to the backend, for thread t
 * (NULL: one without a cache). */
static void flush(hak_thread_t *t, unsigned c, void *list, unsigned n) {
    hak_backend->flush(t ? t->bstate : NULL, c, list, n);
    hak_stats_count_out(t, c, -(int64_t)n);
}

static void fail(hak_fail_t cause, size_t size, size_t align) {
    atomic_fetch_add_explicit(&hak_stat_failures, 1, memory_order_relaxed);
    hak_ace_trace_fail(cause, size, align);
    errno = ENOMEM;
}

/* Gives a thread a real cache.  Returns THREAD_DEAD when metadata memory is
 * exhausted: the thread is then served without a cache. */
static hak_thread_t *thread_attach(void) {
    hak_ensure_init();
    hak_thread_t *t = hak_meta_alloc(sizeof *t);
    if (t == NULL)
        return THREAD_DEAD;
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        hak_ace_bin_init(&t->ctl[c], &hak_tc.room[c], c);
    t->tc = &hak_tc;
    t->bstate = hak_backend->thread_init();
    hak_lock(&hak_threads_lock);
    HAK_DLIST_PUSH(&hak_threads, t);
    hak_unlock(&hak_threads_lock);
    hak_tls = t;
    pthread_setspecific(thread_key, t);
    return t;
}

static hak_thread_t *thread_get(void) {
    hak_thread_t *t = hak_tls;
    return t == THREAD_EMPTY ? thread_attach() : t;
}

/* Hands the n coldest blocks of bin c (the tail of its LIFO list) to the
 * backend, keeping the recently freed, cache-hot ones; a whole bin with
 * pass set goes to the transfer cache when it takes it.  The bins are the
 * calling thread's: t is its cold half. */
static unsigned bin_held(const hak_thread_t *t, unsigned c) { return t->ctl[c].cap - hak_tc.room[c]; }

static void bin_flush(hak_thread_t *t, unsigned c, unsigned n, bool pass) {
    unsigned held = bin_held(t, c);
    void *list;
    if (n >= held) {
        list = hak_tc.head[c];
        hak_tc.head[c] = HAK_LIST_END;
        n = held;
    } else {
        /* The blocks kept are checked on the way, so a damaged link is
         * reported, not followed; the backend checks the rest. */
        pass = false;
        void *last = hak_tc.head[c];
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
    hak_tc.room[c] += n;
    hak_count(&t->stats.cls[c].flushes, 1);
    if (!pass || !hak_xfer_put(c, list, n))
        flush(t, c, list, n);
    hak_ace_tick();
}

/* Hands every block the cache of t holds back to the backend. */
static void cache_flush_all(hak_thread_t *t) {
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        if (hak_tc.head[c] != HAK_LIST_END)
            bin_flush(t, c, bin_held(t, c), false);
}

/* Puts p, a block of class c freed by the thread of t, in its cache. */
static void cache_push(hak_thread_t *t, unsigned c, void *p) {
    if (hak_tc.room[c] == 0)
        bin_flush(t, c, hak_ace_flush_count(&t->ctl[c], &hak_tc.room[c], c, &t->grown), true);
    hak_tc.head[c] = hak_block_push(p, hak_tc.head[c]);
    hak_tc.room[c]--;
}

/*
 * HAKMEM_SECURE's quarantine: a small block freed waits, marked free with
 * a link of its own (HAK_QUARANTINED: a second free is still caught, and a
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

static size_t junk_words(unsigned c) {
    size_t end = hak_class_size[c] < HAK_JUNK_END ? hak_class_size[c] : HAK_JUNK_END;
    return end / 8;
}

/* The link of a block in quarantine: no address, and its check word is
 * the block's own, so free's check still sees it free. */
#define HAK_QUARANTINED ((void *)(uintptr_t)2)

static void quarantine_check(const void *p, unsigned c) {
    const uint64_t *w = p;
    bool intact = hak_block_marked(p);
    if (intact && hak_block_next(p) != HAK_QUARANTINED)
        /* In a list since: a write hid a second free of it, which put it
         * in quarantine twice, and the first to leave went on. */
        hak_fatal("free(): double free: %p", p);
    for (size_t i = 2; i < junk_words(c); i++)
        intact &= w[i] == HAK_JUNK;
    if (!intact)
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
    quarantine_check(p, c);
    return p;
}

/* Puts p, of class c, in the quarantine of t; returns the block that
 * leaves it for the thread cache, or NULL. */
static void *quarantine(hak_thread_t *t, unsigned c, void *p) {
    hak_quarantine_t *q = t->quarantine;
    if (q == NULL && (q = t->quarantine = hak_meta_alloc(sizeof *q)) == NULL)
        return p; /* no memory for it: no delay */
    size_t size = hak_class_size[c];
    for (size_t k = 2; k < junk_words(c); k++)
        ((uint64_t *)p)[k] = HAK_JUNK;
    hak_block_link(p, HAK_QUARANTINED);
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
static void quarantine_check_all(void) {
    hak_thread_t *t = hak_tls;
    if (t == THREAD_EMPTY || t == THREAD_DEAD || t->quarantine == NULL)
        return;
    const hak_quarantine_t *q = t->quarantine;
    for (unsigned k = 0; k < q->len; k++) {
        unsigned i = (q->head + k) % HAK_QUARANTINE_BLOCKS;
        quarantine_check(q->block[i], q->cls[i]);
        /* A block there twice: a write hid its second free. */
        for (unsigned l = k + 1; l < q->len; l++)
            if (q->block[(q->head + l) % HAK_QUARANTINE_BLOCKS] == q->block[i])
                hak_fatal("free(): double free: %p", q->block[i]);
    }
}

/* Empties the quarantine of t (the calling thread's) into its cache. */
static void quarantine_drain(hak_thread_t *t) {
    hak_quarantine_t *q = t->quarantine;
    while (q != NULL && q->len > 0) {
        unsigned c = q->cls[q->head];
        cache_push(t, c, quarantine_take(q));
    }
}

static void thread_detach(void *arg) {
    hak_thread_t *t = arg;
    quarantine_drain(t);
    cache_flush_all(t);
    hak_tls = THREAD_DEAD;
    for (unsigned c = 0; c < HAK_NCODES; c++) {
        hak_tc.head[c] = HAK_LIST_END;
        hak_tc.room[c] = 0;
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

/* Takes the first block off *list, once its check shows that nothing
 * wrote to it since it was freed (internal.h, "A free small block"). */
static void *block_take(void **list) {
    void *p = *list;
    if (!hak_block_cached(p))
        hak_fatal("malloc(): corrupted free block: %p (written after free, or overflowed into)",
                  p);
    *list = hak_block_next(p);
    hak_block_unmark(p);
    return p;
}

/* With HAKMEM_SECURE, the n blocks of a refill in random order, so that
 * the block after a program's block in a fresh slab is not the one it gets
 * next (a list the backend just made: its links need no check). */
static void *shuffle(hak_thread_t *t, void *list, unsigned n) {
    void *b[ACE_MAX_CAP];
    if (n < 2 || n > ACE_MAX_CAP)
        return list;
    if (t->rng == 0)
        t->rng = hak_tables.key_check ^ (uintptr_t)t ^ 1;
    for (unsigned i = 0; i < n; i++) {
        b[i] = list;
        list = hak_block_next(list);
    }
    for (unsigned i = n - 1; i > 0; i--) { /* Fisher-Yates, xorshift64 */
        t->rng ^= t->rng << 13;
        t->rng ^= t->rng >> 7;
        t->rng ^= t->rng << 17;
        unsigned j = (unsigned)(t->rng % (i + 1));
        void *x = b[i];
        b[i] = b[j];
        b[j] = x;
    }
    for (unsigned i = 0; i < n; i++)
        list = hak_block_push(b[i], list);
    return list;
}

/* A small block of class c for the calling thread. */
static void *small_alloc(unsigned c) {
    hak_thread_t *t = thread_get();
    void *list;
    hak_fail_t cause = HAK_FAIL_NONE;
    if (t == THREAD_DEAD) {
        if (refill(NULL, c, 1, &list, &cause) == 0) {
            fail(cause, hak_class_size[c], 0);
            return NULL;
        }
        return block_take(&list);
    }
    if (hak_config_stats)
        t->stats.mallocs++;
    if (hak_tc.head[c] == HAK_LIST_END) {
        unsigned want = hak_ace_refill_want(&t->ctl[c], &hak_tc.room[c], c, &t->grown);
        if (want > (unsigned)hak_tc.room[c])
            want = hak_tc.room[c];
        unsigned got = hak_xfer_get(c, hak_tc.room[c], &list);
        if (got == 0)
            got = refill(t, c, want, &list, &cause);
        if (got == 0) {
            fail(cause, hak_class_size[c], 0);
            return NULL;
        }
        hak_count(&t->stats.cls[c].refills, 1);
        hak_ace_tick();
        if (hak_opt.secure)
            list = shuffle(t, list, got);
        hak_tc.head[c] = list;
        hak_tc.room[c] -= got;
    }
    void *p = block_take(&hak_tc.head[c]);
    hak_tc.room[c]++;
    return p;
}

static size_t usable_size(const void *p, const char *who);

static void *large_alloc(size_t n, size_t align, bool zero) {
    hak_fail_t cause = HAK_FAIL_THRESHOLD;
    void *p = NULL;
    if (n <= PTRDIFF_MAX && align <= ((size_t)PTRDIFF_MAX >> 1)) {
        hak_ensure_init();
        p = hak_large_alloc(n, align, zero, &cause);
        if (p == NULL && cause == HAK_FAIL_MAPFAIL && release_cached(0))
            p = hak_large_alloc(n, align, zero, &cause);
    }
    if (p == NULL) {
        fail(cause, n, align);
        return NULL;
    }
    hak_stats_count_large(1, usable_size(p, "malloc()"));
    return p;
}

HAK_NOINLINE void *hak_malloc_slow(size_t n) {
    hak_ensure_init();
    if (n <= HAK_SMALL_MAX)
        return small_alloc(hak_class_of(n));
    return large_alloc(n, 0, false);
}

/*
 * What a pointer handed to free, realloc or malloc_usable_size is: the one
 * place that tells, for all three.  PTR_SMALL: a small block of class
 * *cls (aligned, in a slab, and with HAKMEM_SECURE the start of a block
 * the backend handed out); PTR_LARGE: a large block in a chunk of its own
 * or a run (its start is checked by the large path); PTR_FAR: outside any
 * chunk's map entry, so a block aligned to 2 MiB or more, or no block of
 * HAKMEM's, which only the large path's list of far blocks can tell.  A
 * pointer that can be no block is reported here; who names the call.
 */
enum ptr_kind { PTR_SMALL, PTR_LARGE, PTR_FAR };

static enum ptr_kind classify(const void *p, unsigned *cls, const char *who) {
    uintptr_t a = (uintptr_t)p;
    if (!hak_chunk_owned(a))
        return PTR_FAR;
    unsigned c = hak_page_code(a);
    if (c == HAK_CODE_LARGE && (a & (HAK_PAGE_SIZE - 1)) == 0)
        return PTR_LARGE;
    if (c == HAK_CODE_LARGE || c == HAK_CODE_NONE || (a & (HAK_MIN_ALIGN - 1)) != 0 ||
        (hak_opt.secure && hak_backend->owns_block && !hak_backend->owns_block(p, c)))
        hak_fatal("%s: invalid pointer: %p (not the start of a block)", who, p);
    *cls = c;
    return PTR_SMALL;
}

static __attribute__((noreturn)) void not_ours(const void *p, const char *who) {
    hak_fatal("%s: invalid pointer: %p (not allocated by hakmem)", who, p);
}

/* The usable size of p, of kind k and class c. */
static size_t usable_of(const void *p, enum ptr_kind k, unsigned c, const char *who) {
    if (k == PTR_SMALL)
        return hak_class_size[c];
    if (k == PTR_LARGE)
        return hak_large_usable(p);
    size_t n = hak_large_usable_far(p);
    if (n == 0)
        not_ours(p, who);
    return n;
}

/* Frees p, a large or far block of usable bytes (for a far one the large
 * path finds them; usable is then unused). */
static void large_free(void *p, enum ptr_kind k, size_t usable) {
    if (k == PTR_FAR) {
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

HAK_NOINLINE void hak_free_slow(void *p) {
    uintptr_t u = hak_window_unit(p);
    if (u < HAK_WINDOW_UNITS) {
        int32_t *room = &hak_tc.room[hak_tables.unit_code[u]];
        if (*room < 0)
            *room = 0; /* the fast path took it from 0 */
    }
    if (p == NULL)
        return;
    int saved = errno;
    unsigned c = 0;
    enum ptr_kind k = classify(p, &c, "free()");
    if (k != PTR_SMALL) {
        large_free(p, k, k == PTR_LARGE ? hak_large_usable(p) : 0);
        errno = saved;
        return;
    }
    hak_thread_t *t = thread_get();
    if (hak_block_marked(p))
        hak_fatal("free(): double free: %p", p);
    if (t == THREAD_DEAD) {
        flush(NULL, c, hak_block_push(p, HAK_LIST_END), 1);
        errno = saved;
        return;
    }
    if (hak_config_stats)
        t->stats.frees++;
    if (hak_opt.secure)
        p = quarantine(t, c, p);
    if (p != NULL)
        cache_push(t, c, p);
    errno = saved;
}

/* ------------------------------------------------------------------ */
/* The rest of the family                                              */

void hak_free_sized_slow(void *p, size_t size, bool exact, const char *who) {
    if (p != NULL) {
        unsigned c = 0;
        enum ptr_kind k = classify(p, &c, who);
        size_t have = usable_of(p, k, c, who);
        /* A plain request of a small size gets a block of its class, of a
         * bigger size a large block. */
        bool small = have <= HAK_SMALL_MAX;
        if (size > have || (exact && (small != (size <= HAK_SMALL_MAX) ||
                                      (small && hak_class_size[hak_class_of(size)] != have))))
            hak_fatal("%s: size mismatch: %p holds %zu bytes, freed as %zu", who, p, have, size);
    }
    hak_free_slow(p);
}

static size_t usable_size(const void *p, const char *who) {
    unsigned c = 0;
    enum ptr_kind k = classify(p, &c, who);
    return usable_of(p, k, c, who);
}

size_t hak_impl_usable_size(const void *p) {
    return p == NULL ? 0 : usable_size(p, "malloc_usable_size()");
}

void *hak_impl_calloc(size_t nmemb, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        fail(HAK_FAIL_THRESHOLD, SIZE_MAX, 0);
        return NULL;
    }
    if (n > HAK_SMALL_MAX)
        return large_alloc(n, 0, true);
    void *p = hak_fast_malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *hak_impl_realloc(void *p, size_t n) {
    if (p == NULL)
        return hak_fast_malloc(n);
    if (n == 0) { /* as glibc: frees and returns NULL */
        hak_fast_free(p);
        return NULL;
    }
    unsigned c = 0;
    enum ptr_kind k = classify(p, &c, "realloc()");
    size_t have = usable_of(p, k, c, "realloc()");
    if (k == PTR_LARGE) {
        if (n > HAK_SMALL_MAX && n <= PTRDIFF_MAX && hak_large_resize(p, n)) {
            hak_stats_count_large(0, hak_large_usable(p) - have);
            return p;
        }
    } else if (n <= have && (n > have / 2 || have <= 64)) {
        return p; /* still fits without wasting half of the block */
    }
    /* A large block that grows by realloc tends to grow again (buffers,
     * vectors): give it half again as many pages, so the next steps resize
     * in place.  Pages the program never writes cost no memory. */
    size_t want = n;
    if (n > have && n > HAK_SMALL_MAX && n <= PTRDIFF_MAX / 2)
        want = n + n / 2;
    int saved = errno;
    void *q = hak_fast_malloc(want);
    if (q == NULL && want != n) { /* no room for the headroom: just n */
        q = hak_fast_malloc(n);
        if (q != NULL)
            errno = saved;
    }
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    memcpy(q, p, n < have ? n : have);
    if (k == PTR_SMALL)
        hak_fast_free(p);
    else
        large_free(p, k, have);
    return q;
}

void *hak_impl_reallocarray(void *p, size_t nmemb, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        fail(HAK_FAIL_THRESHOLD, SIZE_MAX, 0);
        return NULL;
    }
    return hak_impl_realloc(p, n);
}

/* align is a power of two. */
static void *aligned(size_t align, size_t n) {
    if (align <= HAK_MIN_ALIGN)
        return hak_fast_malloc(n);
    unsigned c = hak_class_for_aligned(n, align);
    if (c != 0)
        return hak_fast_malloc(hak_class_size[c]);
    return large_alloc(n, align, false);
}

static bool pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

void *hak_impl_aligned_alloc(size_t align, size_t n) {
    if (!pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(align, n);
}

void *hak_impl_memalign(size_t align, size_t n) {
    /* As glibc: a non-power-of-two alignment is rounded up. */
    if (align > ((size_t)1 << (sizeof(size_t) * 8 - 1))) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = HAK_MIN_ALIGN;
    while (a < align)
        a <<= 1;
    return aligned(a, n);
}

int hak_impl_posix_memalign(void **out, size_t align, size_t n) {
    if (!pow2(align) || align < sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = aligned(align, n);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *hak_impl_pvalloc(size_t n) {
    size_t r;
    if (__builtin_add_overflow(n, HAK_PAGE_SIZE - 1, &r)) {
        fail(HAK_FAIL_THRESHOLD, n, HAK_PAGE_SIZE);
        return NULL;
    }
    r &= ~(HAK_PAGE_SIZE - 1);
    return aligned(HAK_PAGE_SIZE, r ? r : HAK_PAGE_SIZE);
}

int hak_impl_trim(size_t pad) {
    hak_ensure_init();
    hak_thread_t *t = hak_tls;
    if (t != THREAD_EMPTY && t != THREAD_DEAD) {
        quarantine_drain(t);
        cache_flush_all(t);
    }
    return release_cached(pad);
}

/* ------------------------------------------------------------------ */
/* Fork: every lock is taken in one order before fork and released after,
 * in the parent and in the child (whose only thread, the forking one, holds
 * them all), so the child of a multi-threaded parent finds the allocator
 * consistent. */

static void fork_prepare(void) {
    hak_lock(&hak_threads_lock);
    hak_backend->fork_prepare();
    hak_large_fork_prepare();
    hak_ace_fork_prepare();
    hak_meta_fork_prepare();
    hak_chunk_fork_prepare();
}

static void fork_release(void) {
    hak_chunk_fork_release();
    hak_meta_fork_release();
    hak_ace_fork_release();
    hak_large_fork_release();
    hak_backend->fork_release();
    hak_unlock(&hak_threads_lock);
}

static void fork_child(void) {
    fork_release();
    hak_ace_fork_child();
    /* Only the forking thread lives on; the others' caches stay allocated
     * (their blocks are lost to the child, as glibc's arenas are) but leave
     * the registry so statistics count live threads.  Their counters stay
     * (the blocks they held count as live). */
    hak_thread_t *t = hak_tls;
    for (hak_thread_t *o = hak_threads; o; o = o->next)
        if (o != t)
            hak_thread_stats_add(&hak_stats_retired, &o->stats);
    if (t != THREAD_EMPTY && t != THREAD_DEAD) {
        t->next = t->prev = NULL;
        hak_threads = t;
    } else {
        hak_threads = NULL;
    }
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
HAK_EXPORT const char *hak_backend_name(void) {
    hak_ensure_init();
    return hak_backend->name;
}
HAK_EXPORT const char *hak_version(void) { return PACKAGE_VERSION; }

/*
 * chunk.c - 2 MiB-aligned chunks, the bitmap that makes pointer ownership
 * an O(1), lock-free, syscall-free question, and the small-block window
 * (see internal.h) that lets the free fast path skip the bitmap.
 */
#include "internal.h"

#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

_Atomic uint64_t *_Atomic hak_chunk_map[HAK_CHUNK_LEAVES];
uintptr_t hak_window_base, hak_window_fast_base;
bool hak_secure_bounds;

/* Window slots: the next never-used one, and a stack of returned ones. */
#define WINDOW_SLOTS (HAK_WINDOW_SIZE >> HAK_CHUNK_SHIFT)
#define WINDOW_FREE_MAX 64
static hak_lock_t window_lock = HAK_LOCK_INIT;
static uintptr_t window_next = WINDOW_SLOTS; /* none until the base is set */
static uintptr_t window_free[WINDOW_FREE_MAX];
static unsigned window_nfree;

/* Every chunk mapped, for statistics: chunks_lock is taken only to link,
 * unlink or walk (under any other lock but never around one). */
static hak_lock_t chunks_lock = HAK_LOCK_INIT;
static hak_chunk_t *chunks;
/* hak_chunk_shadow's state, under chunks_lock. */
static bool shadow_on;

/* The window table's code for units of the class code. */
static unsigned window_code(unsigned code) {
    if (!shadow_on || code < 1 || code > HAK_NCLASSES)
        return code;
    return code <= HAK_SHADOW_CLASSES ? HAK_SHADOW(code) : HAK_SHADOW_GROUP(code);
}
_Atomic uint64_t hak_active_bytes, hak_active_peak;

void hak_active_add(int64_t delta) {
    uint64_t now =
        atomic_fetch_add_explicit(&hak_active_bytes, (uint64_t)delta, memory_order_relaxed) +
        (uint64_t)delta;
    hak_atomic_max(&hak_active_peak, now);
}

void hak_chunk_track(hak_chunk_t *c, bool on) {
    hak_lock(&chunks_lock);
    if (on) {
        c->all_prev = NULL;
        c->all_next = chunks;
        if (chunks)
            chunks->all_prev = c;
        chunks = c;
    } else {
        if (c->all_prev)
            c->all_prev->all_next = c->all_next;
        else
            chunks = c->all_next;
        if (c->all_next)
            c->all_next->all_prev = c->all_prev;
    }
    hak_unlock(&chunks_lock);
}

size_t hak_chunk_resident(void) {
    unsigned char vec[HAK_CHUNK_PAGES];
    size_t pages = 0;
    hak_lock(&chunks_lock);
    for (const hak_chunk_t *c = chunks; c; c = c->all_next)
        for (size_t off = 0; off < c->map_size; off += HAK_CHUNK_SIZE) {
            size_t len = c->map_size - off < HAK_CHUNK_SIZE ? c->map_size - off : HAK_CHUNK_SIZE;
            /* A chunk of the unit pool may have units unmapped (a squeeze):
             * then each unit is asked about alone. */
            size_t step = mincore((char *)c + off, len, vec) == 0 ? len : HAK_UNIT_SIZE;
            for (size_t at = 0; at < len; at += step) {
                if (step != len && mincore((char *)c + off + at, step, vec) != 0)
                    continue;
                for (size_t i = 0; i < step >> HAK_PAGE_SHIFT; i++)
                    pages += vec[i] & 1;
            }
        }
    hak_unlock(&chunks_lock);
    return pages << HAK_PAGE_SHIFT;
}

void hak_chunk_each(unsigned kind, void (*fn)(hak_chunk_t *c)) {
    hak_lock(&chunks_lock);
    for (hak_chunk_t *c = chunks; c; c = c->all_next)
        if (c->kind == kind && c->magic == HAK_CHUNK_MAGIC)
            fn(c);
    hak_unlock(&chunks_lock);
}

void hak_chunk_fork_prepare(void) { hak_lock(&chunks_lock); }
void hak_chunk_fork_release(void) { hak_unlock(&chunks_lock); }

/* Makes the leaf of the map for top, unless another thread did meanwhile;
 * the leaf, or NULL when there is no memory for it. */
static _Atomic uint64_t *leaf_make(_Atomic uint64_t *_Atomic *top) {
    _Atomic uint64_t *leaf = NULL;
    _Atomic uint64_t *mine = hak_meta_alloc(HAK_CHUNK_LEAF_WORDS * sizeof *mine);
    if (mine == NULL)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(top, &leaf, mine, memory_order_acq_rel,
                                                memory_order_acquire))
        return mine;
    hak_meta_free(mine, HAK_CHUNK_LEAF_WORDS * sizeof *mine);
    return leaf;
}

/* The word of the map that holds a's bit; its leaf made first when make
 * (NULL when it cannot be, for want of memory). */
static _Atomic uint64_t *map_word(uintptr_t a, bool make) {
    _Atomic uint64_t *_Atomic *top = &hak_chunk_map[a >> HAK_CHUNK_LEAF_SHIFT];
    _Atomic uint64_t *leaf = atomic_load_explicit(top, memory_order_acquire);
    if (HAK_UNLIKELY(leaf == NULL) && make && (leaf = leaf_make(top)) == NULL)
        return NULL;
    return &leaf[(a >> (HAK_CHUNK_SHIFT + 6)) & (HAK_CHUNK_LEAF_WORDS - 1)];
}

/* Sets or clears the bit of the chunk at a, whose leaf exists (the chunk
 * was mapped, and leaves are kept). */
static void map_set(uintptr_t a, bool on) {
    _Atomic uint64_t *w = map_word(a, false);
    uint64_t bit = (uint64_t)1 << ((a >> HAK_CHUNK_SHIFT) & 63);
    if (on)
        atomic_fetch_or_explicit(w, bit, memory_order_release);
    else
        atomic_fetch_and_explicit(w, ~bit, memory_order_release);
}

static bool in_window(uintptr_t a) { return a - hak_window_base < HAK_WINDOW_SIZE; }

/* Picks the window base once: 16 TiB up, plus a random number of GiB from
 * the kernel's AT_RANDOM bytes (no syscall, no allocation), so heap
 * addresses are not predictable from one run to the next.  Where it
 * cannot, the base stays 0: chunks the OS maps in the low 64 GiB (as under
 * valgrind) are still in the window. */
static uintptr_t window_pick(void) {
#ifdef HAK_TSAN
    /* ThreadSanitizer keeps its shadow and metadata around 16 TiB and
     * aborts on any mapping there: no window, every free is routed by the
     * chunk map instead (correct, only slower). */
    return 0;
#endif
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    uintptr_t gib = r ? ((uintptr_t)r[0] | (uintptr_t)r[1] << 8) & 0x3fff : 0;
    uintptr_t base = ((uintptr_t)1 << 44) + (gib << 30);
    /* The stack sits at the top of the user address space: a window above
     * it (a 39-bit or 42-bit address space) could never be mapped, and
     * then every free takes the slow path, correct but slower. */
    char top;
    if ((base + HAK_WINDOW_SIZE) >> HAK_VA_BITS || (uintptr_t)&top < base + HAK_WINDOW_SIZE)
        return 0;
    return base;
}

/* Once, at process init, before any thread but the first runs: the fast
 * paths read both bases without a lock. */
void hak_chunk_init(void) {
    hak_window_base = window_pick();
    hak_window_fast_base = hak_window_base + (hak_opt.secure ? HAK_WINDOW_SIZE : 0);
    if (hak_window_base != 0)
        window_next = 0;
}

/* Maps one chunk in the window, or returns NULL to map it elsewhere. */
static void *window_map(void) {
    hak_lock(&window_lock);
    for (unsigned tries = 0; tries < 64; tries++) {
        uintptr_t slot;
        if (window_nfree)
            slot = window_free[--window_nfree];
        else if (window_next < WINDOW_SLOTS)
            slot = window_next++;
        else
            break;
        void *want = (void *)(hak_window_base + (slot << HAK_CHUNK_SHIFT));
        int err;
        void *p = hak_os_map_at(want, HAK_CHUNK_SIZE, &err);
        if (p == want) {
            hak_unlock(&window_lock);
            return p;
        }
        if (p != NULL) { /* an old kernel took the address as a hint only */
            hak_os_unmap(p, HAK_CHUNK_SIZE);
            window_next = WINDOW_SLOTS;
            break;
        }
        if (err != EEXIST) {
            /* The OS refuses this range: out of memory for now (keep the
             * slot for later), or an address space too small for the
             * window (give it up: every chunk then maps elsewhere). */
            if (err == ENOMEM && window_nfree < WINDOW_FREE_MAX)
                window_free[window_nfree++] = slot;
            else
                window_next = WINDOW_SLOTS;
            break;
        }
        /* Occupied by someone else: try the next slot. */
    }
    hak_unlock(&window_lock);
    return NULL;
}

static void window_release(uintptr_t a) {
    hak_lock(&window_lock);
    if (window_nfree < WINDOW_FREE_MAX)
        window_free[window_nfree++] = (a - hak_window_base) >> HAK_CHUNK_SHIFT;
    hak_unlock(&window_lock);
}

hak_chunk_t *hak_chunk_map_new(size_t size, unsigned kind) {
    size = (size + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1);
    hak_chunk_t *c = NULL;
    if (kind == HAK_CHUNK_SLABS && size == HAK_CHUNK_SIZE)
        c = window_map();
    if (c == NULL)
        c = hak_os_map(size, HAK_CHUNK_SIZE);
    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    /* Outside the map, or no memory for its leaf: refuse. */
    if (((uintptr_t)c >> HAK_VA_BITS) != 0 || map_word((uintptr_t)c, true) == NULL) {
        hak_os_unmap(c, size);
        errno = ENOMEM;
        return NULL;
    }
    /* Fresh anonymous memory is zero: only the non-zero fields are set. */
    c->magic = HAK_CHUNK_MAGIC;
    c->kind = (uint8_t)kind;
    c->map_size = size;
    hak_chunk_track(c, true);
    map_set((uintptr_t)c, true);
    return c;
}

void hak_chunk_forget(hak_chunk_t *c) {
    map_set((uintptr_t)c, false);
    c->magic = 0;
}

void hak_chunk_recall(hak_chunk_t *c, unsigned kind) {
    memset(c->page_code, 0, sizeof c->page_code);
    c->magic = HAK_CHUNK_MAGIC;
    c->kind = (uint8_t)kind;
    map_set((uintptr_t)c, true);
}

hak_chunk_t *hak_chunk_split(hak_chunk_t *c, size_t off) {
    hak_chunk_t *t = (hak_chunk_t *)((char *)c + off);
    memset(t, 0, sizeof *t);
    t->map_size = c->map_size - off;
    c->map_size = off;
    hak_chunk_track(t, true);
    return t;
}

void hak_chunk_join(hak_chunk_t *c, hak_chunk_t *next) {
    hak_chunk_track(next, false);
    c->map_size = (size_t)((char *)next - (char *)c) + next->map_size;
}

void hak_chunk_unmap(hak_chunk_t *c) {
    uintptr_t a = (uintptr_t)c;
    bool window_slot = in_window(a) && c->kind == HAK_CHUNK_SLABS;
    map_set(a, false);
    hak_chunk_track(c, false);
    c->magic = 0;
    hak_os_unmap(c, c->map_size);
    if (window_slot)
        window_release(a);
}

void hak_chunk_set_units(hak_chunk_t *c, unsigned first, unsigned n, unsigned code) {
    HAK_ASSERT(first >= 1 && first + n <= HAK_CHUNK_UNITS);
    const unsigned pages_per_unit = (unsigned)(HAK_UNIT_SIZE >> HAK_PAGE_SHIFT);
    int64_t units = 0; /* how many more serve blocks */
    for (unsigned u = first; u < first + n; u++)
        units += (code != HAK_CODE_NONE) - (c->page_code[u * pages_per_unit] != HAK_CODE_NONE);
    if (units != 0)
        hak_active_add(units * (int64_t)HAK_UNIT_SIZE);
    memset(&c->page_code[first * pages_per_unit], (int)code, (size_t)n * pages_per_unit);
    uintptr_t a = (uintptr_t)c + ((uintptr_t)first << HAK_UNIT_SHIFT);
    /* HAKMEM_SECURE leaves the fast path's table empty, which sends every
     * free() to the slow path, where each block is checked, and fills
     * unit_class instead when the backend keeps block bounds, which the
     * slow path reads (always the class: the shadow codes are the fast
     * path's); without, the chunk map tells.  chunks_lock orders this
     * write with hak_chunk_shadow's. */
    if (in_window(a)) {
        size_t u = (a - hak_window_base) >> HAK_UNIT_SHIFT;
        hak_lock(&chunks_lock);
        if (!hak_opt.secure)
            memset(&hak_tables.unit_code[u], (int)window_code(code), n);
        else if (hak_secure_bounds)
            memset(&hak_tables.unit_class[u], (int)code, n);
        hak_unlock(&chunks_lock);
    }
}

void hak_chunk_shadow(bool on) {
    const unsigned pages_per_unit = (unsigned)(HAK_UNIT_SIZE >> HAK_PAGE_SHIFT);
    hak_lock(&chunks_lock);
    shadow_on = on;
    for (const hak_chunk_t *c = chunks; c; c = c->all_next) {
        uintptr_t a = (uintptr_t)c;
        if (!in_window(a) || c->kind != HAK_CHUNK_SLABS || hak_opt.secure)
            continue;
        /* A free in flight may still read the old code: both are bins of
         * the unit's class (platform/chunk.h). */
        uint8_t *code = &hak_tables.unit_code[(a - hak_window_base) >> HAK_UNIT_SHIFT];
        for (unsigned u = 1; u < HAK_CHUNK_UNITS; u++)
            code[u] = (uint8_t)window_code(c->page_code[u * pages_per_unit]);
    }
    hak_unlock(&chunks_lock);
}

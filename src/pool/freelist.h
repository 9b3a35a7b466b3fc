/*
 * freelist.h - the one free-list module: how a free small block is linked
 * and checked wherever it waits (thread caches, the transfer cache, every
 * backend's lists), the checks every walk makes before it follows a link,
 * the block check against a slab's span, the packed list+count word, and
 * carving fresh blocks.  Below the frontend and the backends; both include
 * it, it includes only internal.h.
 */
#ifndef HAK_FREELIST_H
#define HAK_FREELIST_H

#include "internal.h"

/*
 * A free small block, wherever it waits, starts with two words.  Word 0
 * is its link, the next block of its list (or the list's end), XOR the
 * process's secret key_link; word 1 is a check word, (word 0 + key_check)
 * XOR the block's own address.  Read through a dangling pointer, a free
 * block shows neither a heap nor a library address, and its words copied
 * to another block do not check there.  A write through a dangling
 * pointer to either word, or a 1-8 byte overflow of the block before it
 * into word 0, breaks the check: the block is reported, its link never
 * followed.  The two secrets come from the OS at init (hak_keys_init).
 *
 * A block is in one of two states, both marked (their check holds).
 * Cached: in a thread cache, the transfer cache, or a list passed between
 * frontend and backend (hak_block_link).  Kept: in a backend's own lists
 * (hak_block_keep, hak_block_kept), where the link's bit 0, which no block
 * address has, is set.  malloc checks the block it hands out; free checks
 * that the block is not marked, so a second free is caught at the call,
 * wherever the block waits; a backend that takes a block back checks that
 * it is cached and keeps it, so a block handed back twice is caught however
 * the lists were damaged.  Whoever hands a block to a program clears its
 * link (the check word left is no address, and fails: the link it was
 * made for is gone); whoever links one into a list writes both.
 */
/* The end of a thread-cache bin, and of every list of free blocks passed
 * between frontend and backend: a read-only pair of zero words, which
 * fails the check (hak_keys_init sees to it), so malloc's fast path needs
 * no test for an empty bin.  (A backend's own lists may end with NULL.) */
HAK_HIDDEN extern const uintptr_t hak_list_end[2];
#define HAK_LIST_END ((void *)hak_list_end)
/* The check word of p whose word 0 is word0, under the secret check. */
HAK_INLINE uintptr_t hak_block_check_with(const void *p, uintptr_t word0, uintptr_t check) {
    return (word0 + check) ^ (uintptr_t)p;
}
HAK_INLINE uintptr_t hak_block_check_word(const void *p, uintptr_t word0) {
    return hak_block_check_with(p, word0, hak_tables.key_check);
}
HAK_INLINE bool hak_block_marked(const void *p) {
    const uintptr_t *w = p;
    return hak_block_check_word(p, w[0]) == w[1];
}
/* The link of p: only once p itself was checked, and p cached. */
HAK_INLINE void *hak_block_next(const void *p) {
    return (void *)(((const uintptr_t *)p)[0] ^ hak_tables.key_link);
}
HAK_INLINE bool hak_block_kept(const void *p) {
    return hak_block_marked(p) && ((uintptr_t)hak_block_next(p) & 1);
}
/* The link of p, kept: only once p itself was checked. */
HAK_INLINE void *hak_block_kept_next(const void *p) {
    return (void *)((uintptr_t)hak_block_next(p) & ~(uintptr_t)1);
}
/* Clears p's link for the program (its check word, now stale, fails). */
HAK_INLINE void hak_block_unmark(void *p) { ((uintptr_t *)p)[0] = 0; }
HAK_INLINE bool hak_block_cached(const void *p) {
    return hak_block_marked(p) && !((uintptr_t)hak_block_next(p) & 1);
}
/* Writes both words of p for a link with its state bit. */
HAK_INLINE void hak_block_set(void *p, uintptr_t link) {
    uintptr_t *w = p;
    w[0] = link ^ hak_tables.key_link;
    w[1] = hak_block_check_word(p, w[0]);
}
/* Sets p's link, cached. */
HAK_INLINE void hak_block_link(void *p, void *next) { hak_block_set(p, (uintptr_t)next); }
/* Sets p's link, kept by a backend. */
HAK_INLINE void hak_block_keep(void *p, void *next) { hak_block_set(p, (uintptr_t)next | 1); }
/* Marks p cached and puts it in front of list; returns p, the new list. */
HAK_INLINE void *hak_block_push(void *p, void *list) {
    hak_block_link(p, list);
    return p;
}

/* The two secrets, as a walk that rewrites many blocks reads them once:
 * a store to a block's words may alias hak_tables, so the compiler reads
 * the secrets again after each one it finds there. */
typedef struct hak_keys {
    uintptr_t link, check;
} hak_keys_t;
HAK_INLINE hak_keys_t hak_keys(void) {
    return (hak_keys_t){hak_tables.key_link, hak_tables.key_check};
}
/* Checks that p is cached and, when it is, links it in front of list and
 * sets *next to the link it had, the one its check was made for; returns
 * whether it was.  Each word of p is read once and both are written from
 * registers: a walk that moves every block of a list to other lists (the
 * group sort, thread.c) so reads and writes each block once.  k holds the
 * secrets (hak_keys). */
HAK_INLINE bool hak_block_move(void *p, void *list, void **next, hak_keys_t k) {
    uintptr_t *w = p, w0 = w[0], link = w0 ^ k.link;
    if (hak_block_check_with(p, w0, k.check) != w[1] || (link & 1))
        return false;
    uintptr_t n0 = (uintptr_t)list ^ k.link;
    w[0] = n0;
    w[1] = hak_block_check_with(p, n0, k.check);
    *next = (void *)link;
    return true;
}

/* Sets the secrets of hak_tables from the OS's random bytes; once, at
 * init, before any block is free (freelist.c). */
HAK_HIDDEN void hak_keys_init(void);

/* Whether q may be a free block of class c found through a link: aligned,
 * in a chunk HAKMEM maps, on a page serving class c, so that its words
 * can be read without a fault.  The check every walk of a list makes
 * before it follows a link, short of the backend's own, exact one (the
 * block's start in its slab or span). */
HAK_INLINE bool hak_block_in_class(const void *q, unsigned c) {
    uintptr_t a = (uintptr_t)q;
    return (a & (HAK_MIN_ALIGN - 1)) == 0 && hak_chunk_owned(a) && hak_page_code(a) == c;
}
/* Reports a list of free blocks that a walk found damaged at p (why says
 * how) and aborts; nothing is followed or re-marked. */
HAK_HIDDEN __attribute__((noreturn, cold)) void hak_list_corrupt(const void *p, const char *why);

/* The link of p, the next block of a list handed to flush, p being known
 * to lie in memory of class c: once p is checked cached, not kept (a block
 * the backend already has back was freed twice). */
HAK_INLINE void *hak_block_flushed_next(const void *p) {
    if (!hak_block_cached(p))
        hak_list_corrupt(p, hak_block_kept(p) ? "flush: a block freed twice"
                                              : "flush: a block written after its free");
    return hak_block_next(p);
}
/* The same of any p: first checked in memory of class c
 * (hak_block_in_class).  The backend still checks that p is a block it
 * handed out. */
HAK_INLINE void *hak_block_flushed(const void *p, unsigned c) {
    if (!hak_block_in_class(p, c))
        hak_list_corrupt(p, "flush: a link to no block of its class");
    return hak_block_flushed_next(p);
}

/* A refill carves never-used blocks (writing each, so making its pages
 * resident) HAK_CARVE_BYTES, or HAK_CARVE_BLOCKS blocks, at a time at most:
 * memory becomes resident as it is used, not a bin's capacity ahead.  The
 * first carve of a slab (first: the bump is still at its start) takes
 * HAK_CARVE_BYTES only, at least one block, however big the blocks: a
 * program asks a few blocks of many classes (bench/containers one or two
 * of each of 30 classes above 1 KiB), and each class's first slab then
 * keeps a page or a block resident, not four blocks' pages (about 14 KiB
 * a class); a class in use carves HAK_CARVE_BLOCKS from its second carve
 * on, as few refills as before. */
#define HAK_CARVE_BYTES 4096
#define HAK_CARVE_BLOCKS 4
HAK_INLINE size_t hak_carve_bytes(size_t size, bool first) {
    size_t blocks = first ? 1 : HAK_CARVE_BLOCKS;
    return HAK_CARVE_BYTES > blocks * size ? HAK_CARVE_BYTES : blocks * size;
}

/* Carves at most max never-used blocks of size bytes, those starting from
 * *bump up to stop (a block boundary or further), onto *list, and moves
 * *bump past them; returns how many.  The highest goes on first, so the
 * list hands them out in rising address order: a program that walks its
 * blocks in the order it got them then walks memory forwards, as hardware
 * prefetchers expect (falling order cost a third more time reading them). */
HAK_INLINE unsigned hak_carve(char **bump, const char *stop, size_t size, unsigned max,
                              void **list) {
    size_t n = stop > *bump ? ((size_t)(stop - *bump) + size - 1) / size : 0;
    if (n > max)
        n = max;
    for (size_t i = n; i-- > 0;)
        *list = hak_block_push(*bump + i * size, *list);
    *bump += n * size;
    return (unsigned)n;
}

/* The blocks a slab or span of class c handed out so far: capacity blocks
 * of the class end at end, and those below bump went out at least once. */
typedef struct hak_span {
    const char *start, *limit;
    size_t size;
    uint64_t magic;
} hak_span_t;
HAK_INLINE hak_span_t hak_span(unsigned c, const char *end, unsigned capacity, const char *bump) {
    size_t size = hak_class_size[c];
    return (hak_span_t){end - (size_t)capacity * size, bump, size, hak_class_magic[c]};
}
/* Whether off, below 2^32, is a multiple of the size whose reciprocal
 * (hak_class_magic) is magic: one multiplication instead of a division.
 * The product modulo 2^64 is the fraction off / size (scaled by 2^64, a
 * little above it), below magic exactly when that fraction has no part
 * (Lemire, Kaser and Kurz, "Faster remainder by direct computation",
 * 2019). */
HAK_INLINE bool hak_span_aligned(uint64_t off, uint64_t magic) { return off * magic < magic; }
/* Whether p is the start of one of the blocks of span a: the check a
 * backend makes on every block handed back, which the fast path cannot
 * afford, so that interior and stale pointers never reach a free list. */
HAK_INLINE bool hak_span_has(const hak_span_t *a, const void *p) {
    uint64_t off = (uint64_t)((const char *)p - a->start);
    return (const char *)p >= a->start && (const char *)p < a->limit &&
           hak_span_aligned(off, a->magic);
}

/* A list and its length in one word, for a compare-and-swap: the first
 * block's address in the low HAK_PACK_PTR_BITS bits, the count above. */
#define HAK_PACK_PTR_BITS 48
_Static_assert(HAK_VA_BITS <= HAK_PACK_PTR_BITS, "block addresses fit a packed word");
HAK_INLINE uint64_t hak_pack(const void *list, unsigned n) {
    return (uint64_t)(uintptr_t)list | (uint64_t)n << HAK_PACK_PTR_BITS;
}
HAK_INLINE void *hak_pack_list(uint64_t w) {
    return (void *)(uintptr_t)(w & (((uint64_t)1 << HAK_PACK_PTR_BITS) - 1));
}
HAK_INLINE unsigned hak_pack_count(uint64_t w) { return (unsigned)(w >> HAK_PACK_PTR_BITS); }

#endif /* HAK_FREELIST_H */

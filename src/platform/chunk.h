/*
 * chunk.h - chunks, the chunk map that answers "is this pointer ours" in O(1), and
 * the small-block window (chunk.c).
 */
#ifndef HAK_CHUNK_H
#define HAK_CHUNK_H

#include "platform/sizeclass.h"

/* ------------------------------------------------------------------ */
/* Chunks and the chunk map (platform/chunk.c)                         */
/*
 * Every block HAKMEM hands out lies in a chunk: a 2 MiB-aligned mapping whose
 * first page starts with a hak_chunk_t.  A bit per 2 MiB of address space
 * says whether a chunk header starts there, so free() learns in three loads
 * and no syscall whether a pointer is ours and which class it has.  The
 * bits lie in leaves of one page, each for 64 GiB of address space, made
 * when a chunk first lands in their range (hak_meta_alloc) and kept: a
 * process pays a page per 64 GiB it uses, not the 8 MiB of address space
 * (counted by RLIMIT_AS) that a flat map of 47 bits would take.  The top
 * table lives in .bss and needs no init.
 */
#define HAK_CHUNK_LEAF_SHIFT 36 /* address bits a leaf covers */
#define HAK_CHUNK_LEAF_WORDS ((size_t)1 << (HAK_CHUNK_LEAF_SHIFT - HAK_CHUNK_SHIFT - 6))
#define HAK_CHUNK_LEAVES ((size_t)1 << (HAK_VA_BITS - HAK_CHUNK_LEAF_SHIFT))
HAK_HIDDEN extern _Atomic uint64_t *_Atomic hak_chunk_map[HAK_CHUNK_LEAVES];

enum hak_chunk_kind {
    HAK_CHUNK_SLABS = 1, /* small-block slabs of a backend */
    HAK_CHUNK_RUNS = 2,  /* page runs of the large path */
    HAK_CHUNK_HUGE = 3,  /* one block of more than half a run chunk, alone */
};

#define HAK_CHUNK_MAGIC 0x48414b4du /* "HAKM" */

typedef struct hak_chunk {
    /* Per page: the class code of blocks starting on it.  First, so the
     * free fast path indexes the chunk base directly. */
    uint8_t page_code[HAK_CHUNK_PAGES];
    uint32_t magic;
    uint8_t kind;                          /* enum hak_chunk_kind */
    size_t map_size;                       /* bytes mapped from this header on */
    struct hak_chunk *all_next, *all_prev; /* every chunk mapped (chunk.c) */
} hak_chunk_t;

HAK_INLINE bool hak_chunk_owned(uintptr_t a) {
    uintptr_t i = a >> HAK_CHUNK_LEAF_SHIFT;
    if (HAK_UNLIKELY(i >= HAK_CHUNK_LEAVES))
        return false;
    /* Acquire: the leaf's zeroes are seen before its address. */
    _Atomic uint64_t *leaf = atomic_load_explicit(&hak_chunk_map[i], memory_order_acquire);
    if (leaf == NULL)
        return false;
    uint64_t bits = atomic_load_explicit(
        &leaf[(a >> (HAK_CHUNK_SHIFT + 6)) & (HAK_CHUNK_LEAF_WORDS - 1)], memory_order_relaxed);
    return (bits >> ((a >> HAK_CHUNK_SHIFT) & 63)) & 1;
}

HAK_INLINE hak_chunk_t *hak_chunk_of(uintptr_t a) {
    return (hak_chunk_t *)(a & ~(uintptr_t)HAK_CHUNK_MASK);
}

HAK_INLINE unsigned hak_page_code(uintptr_t a) {
    return hak_chunk_of(a)->page_code[(a >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1)];
}

/*
 * The small-block window.  Slab chunks are placed, when the OS lets us, in
 * one 64 GiB window of address space at a random base, and a table keeps
 * the class code of every 64 KiB unit in it.  The free fast path then needs
 * one subtraction, a rotate and one byte load to know that a pointer is
 * ours, 16-byte aligned, and of which class; anything outside the window,
 * not aligned, or on a unit whose code is 0 (a hole, a chunk header, a
 * foreign mapping), takes the slow path, which asks the chunk map.  Nothing is reserved: the window
 * is only where chunks are asked to go.  Before the first chunk the base is 0 and every code 0.
 */
#define HAK_UNIT_SIZE ((size_t)1 << HAK_UNIT_SHIFT)
#define HAK_CHUNK_UNITS (HAK_CHUNK_SIZE >> HAK_UNIT_SHIFT)
#define HAK_WINDOW_SIZE ((uintptr_t)1 << HAK_WINDOW_SHIFT)
HAK_HIDDEN extern uintptr_t hak_window_base;
/* Picks the window, at process init once the options are read, before
 * the backend maps anything. */
HAK_HIDDEN void hak_chunk_init(void);
/* The base the free fast path subtracts: the window's, but with
 * HAKMEM_SECURE its end, so that a pointer into the window misses at the
 * fast path's range check, before it reads a table that mode leaves empty
 * (a pointer above the window reads it, and misses there). */
HAK_HIDDEN extern uintptr_t hak_window_fast_base;
/* HAKMEM_SECURE with a backend that keeps block bounds (HAK_CAP_BOUNDS),
 * set by init before any chunk: only then is the window's unit_class
 * table filled, which leads a free() to hak_secure_free. */
HAK_HIDDEN extern bool hak_secure_bounds;

/* Calls fn on every chunk of kind, chunks_lock held (fn takes no lock). */
HAK_HIDDEN void hak_chunk_each(unsigned kind, void (*fn)(hak_chunk_t *c));

/* chunk.c */
/* Maps size bytes at a 2 MiB boundary, zeroed, with its header initialised
 * and registered in the map; a slab chunk of HAK_CHUNK_SIZE goes in the
 * window when it can.  Returns NULL with errno = ENOMEM when the OS refuses. */
HAK_HIDDEN hak_chunk_t *hak_chunk_map_new(size_t size, unsigned kind);
/* Unregisters and unmaps a chunk. */
HAK_HIDDEN void hak_chunk_unmap(hak_chunk_t *c);
/* The large path's spare memory: a chunk that forget unregisters (no
 * pointer into it is ours any more) stays mapped and tracked, its header
 * the spare's; recall registers it again, of kind, its page codes cleared;
 * split makes the part of c's mapping from off (a 2 MiB multiple) a chunk
 * of its own, tracked, not registered; join makes c's mapping reach to the
 * end of next's (which starts at or after c's end, the gap between mapped),
 * and next no chunk. */
HAK_HIDDEN void hak_chunk_forget(hak_chunk_t *c);
HAK_HIDDEN void hak_chunk_recall(hak_chunk_t *c, unsigned kind);
HAK_HIDDEN hak_chunk_t *hak_chunk_split(hak_chunk_t *c, size_t off);
HAK_HIDDEN void hak_chunk_join(hak_chunk_t *c, hak_chunk_t *next);
/* Sets the class code of whole units [first, first+n) of a slab chunk, in
 * its header (every page but the header page) and in the window table
 * (the shadow code there while hak_chunk_shadow is on).  Unit 0 holds the
 * header and never serves blocks. */
HAK_HIDDEN void hak_chunk_set_units(hak_chunk_t *c, unsigned first, unsigned n, unsigned code);
/* Gives every unit in the window its class's shadow or group code (on), or
 * its class code again (off), now and in every later hak_chunk_set_units
 * (see HAK_SHADOW). */
HAK_HIDDEN void hak_chunk_shadow(bool on);
/* Adds a chunk mapped without hak_chunk_map_new (a far block's) to, or
 * takes it off, the list of every chunk, which hak_chunk_resident walks. */
HAK_HIDDEN void hak_chunk_track(hak_chunk_t *c, bool on);
/* Bytes of every chunk's pages now resident in memory, as the kernel says
 * (mincore(2)): measured, not estimated, in a walk over every chunk. */
HAK_HIDDEN size_t hak_chunk_resident(void);
/* Bytes serving blocks: slab units with a class code set on them, and
 * the pages of live large blocks (the frontend adds those); and their
 * high-water mark.  hak_active_add moves both. */
HAK_HIDDEN extern _Atomic uint64_t hak_active_bytes, hak_active_peak;
HAK_HIDDEN void hak_active_add(int64_t delta);
HAK_HIDDEN void hak_chunk_fork_prepare(void);
HAK_HIDDEN void hak_chunk_fork_release(void);

#endif /* HAK_CHUNK_H */

/*
 * sizeclass.c - the one size-class table.  Spacing is 16 B up to 256 B and
 * then eight classes per doubling, so internal waste stays at most 12.5 %
 * above 128 B (the old HAKMEM rounded 520 B up to 1 KiB).  From 1 KiB to
 * 16 KiB the first eighth above each power of two has four classes more:
 * "a power of two plus a small header" is a common request (a page or
 * buffer with its header: SQLite's page cache asks 4096 + 272 B, and 1024 +
 * 8 B blocks), and rounding it to b + b/8 wasted 12 % of every one.  There
 * the waste is at most b/32 (3 %).  Code 0 and HAK_CODE_LARGE are not
 * classes: their size is 0.
 */
#include "internal.h"

/* Every class as X(code, smallest request, largest request = its size):
 * sixteen 16 bytes apart, then eight per doubling of b; from 1 KiB to
 * 16 KiB (HEADED) b + b/64, b + b/32, b + b/16 and b + 3b/32 before them. */
/* clang-format off */
#define SPACED(X, c) X(c, 16 * (c)-15, 16 * (c))
#define STEP(X, c, b, k) X((c) + (k), (b) + (k) * (b) / 8 + 1, (b) + ((k) + 1) * (b) / 8)
#define DOUBLING(X, c, b)                                                      \
    STEP(X, c, b, 0) STEP(X, c, b, 1) STEP(X, c, b, 2) STEP(X, c, b, 3)        \
        STEP(X, c, b, 4) STEP(X, c, b, 5) STEP(X, c, b, 6) STEP(X, c, b, 7)
#define FINE(X, c, b, lo, k) X(c, (b) + (lo) * (b) / 64 + 1, (b) + (k) * (b) / 64)
#define HEADED(X, c, b)                                                        \
    FINE(X, c, b, 0, 1) FINE(X, (c) + 1, b, 1, 2) FINE(X, (c) + 2, b, 2, 4)    \
        FINE(X, (c) + 3, b, 4, 6) FINE(X, (c) + 4, b, 6, 8)                    \
            STEP(X, (c) + 4, b, 1) STEP(X, (c) + 4, b, 2) STEP(X, (c) + 4, b, 3) \
                STEP(X, (c) + 4, b, 4) STEP(X, (c) + 4, b, 5)                  \
                    STEP(X, (c) + 4, b, 6) STEP(X, (c) + 4, b, 7)
#define HAK_CLASSES(X)                                                         \
    X(1, 0, 16)                                                                \
    SPACED(X, 2) SPACED(X, 3) SPACED(X, 4) SPACED(X, 5) SPACED(X, 6)           \
        SPACED(X, 7) SPACED(X, 8) SPACED(X, 9) SPACED(X, 10) SPACED(X, 11)     \
            SPACED(X, 12) SPACED(X, 13) SPACED(X, 14) SPACED(X, 15)            \
                SPACED(X, 16) DOUBLING(X, 17, 256) DOUBLING(X, 25, 512)        \
                    HEADED(X, 33, 1024) HEADED(X, 45, 2048)                    \
                        HEADED(X, 57, 4096) HEADED(X, 69, 8192)                \
                            DOUBLING(X, 81, 16384) DOUBLING(X, 89, 32768)
/* clang-format on */

#define CLASS_SIZE(c, lo, hi) [c] = (hi),
const uint32_t hak_class_size[HAK_NCODES] = {HAK_CLASSES(CLASS_SIZE)};
#define CLASS_MAGIC(c, lo, hi) [c] = UINT64_MAX / (hi) + 1,
const uint64_t hak_class_magic[HAK_NCODES] = {HAK_CLASSES(CLASS_MAGIC)};

/* Filled as requests come, not constant: a constant table would lie in
 * the library's read-only pages, of which the kernel maps the cached ones
 * around each page touched (fault-around, 64 KiB), so all of its 64 KiB
 * would count in every process's RSS; here only the pages of the sizes a
 * program asks for do (one for every size up to 4 KiB). */
uint8_t hak_size_class[HAK_SMALL_MAX + 1];

/* The classes' largest requests, for the fill. */
#define CLASS_HI(c, lo, hi) (hi),
static const uint32_t class_hi[] = {HAK_CLASSES(CLASS_HI)};

unsigned hak_class_fill(size_t n) {
    size_t lo = n & ~(size_t)(HAK_PAGE_SIZE - 1), hi = lo + HAK_PAGE_SIZE;
    if (hi > HAK_SMALL_MAX + 1)
        hi = HAK_SMALL_MAX + 1;
    unsigned k = 0; /* class_hi[k] is the size of class k + 1 */
    while (class_hi[k] < lo)
        k++;
    /* Two threads may fill a page at once: each writes the same bytes. */
    for (size_t m = lo; m < hi; m++) {
        if (class_hi[k] < m)
            k++;
        __atomic_store_n(&hak_size_class[m], (uint8_t)(k + 1), __ATOMIC_RELAXED);
    }
    return hak_class_fast(n);
}

_Static_assert(89 + 7 == HAK_NCLASSES, "class count");

/* The window's unit codes are set by hak_chunk_set_units; the secrets by
 * hak_keys_init. */
hak_tables_t hak_tables;

unsigned hak_class_for_aligned(size_t n, size_t align) {
    if (align > HAK_PAGE_SIZE || n > HAK_SMALL_MAX)
        return 0;
    /* round_up(n, align) is itself a class size whenever align is at least
     * the spacing at that size; otherwise the next class is a multiple of
     * the spacing, hence of align.  Either way the class is aligned. */
    size_t r = (n + align - 1) & ~(align - 1);
    if (r == 0)
        r = align;
    if (r > HAK_SMALL_MAX)
        return 0;
    unsigned c = hak_class_of(r);
    HAK_ASSERT(hak_class_size[c] % align == 0);
    return c;
}

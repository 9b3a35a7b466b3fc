/*
 * sizeclass.h - the size classes (sizeclass.c owns the table) and the tables the
 * fast paths read: the free-list secrets and the window's unit codes.
 */
#ifndef HAK_SIZECLASS_H
#define HAK_SIZECLASS_H

#include "platform/base.h"

/* ------------------------------------------------------------------ */
/* Size classes (sizeclass.c owns the table)                           */
/*
 * Class codes are 1..HAK_NCLASSES.  Code 0 means "no block starts on this
 * page" and HAK_CODE_LARGE marks the first page of a large block; both have
 * always-missing bins in every thread cache, so the free fast path can index
 * the cache with whatever code a page carries without a range check.
 * Spacing is 16 B up to 256 B, then eight classes per doubling up to 64 KiB,
 * and four more in the first eighth above 1, 2, 4 and 8 KiB (sizeclass.c):
 * internal waste is at most 12.5 % above 128 B.
 */
#define HAK_NCLASSES 96
#define HAK_CODE_NONE 0
#define HAK_CODE_LARGE (HAK_NCLASSES + 1)
#define HAK_NCODES (HAK_NCLASSES + 2)
#define HAK_SMALL_MAX ((size_t)65536)
/*
 * While the heap profiler samples (src/prof), each thread has a shadow bin
 * per class: frees push onto it, mallocs pop from the class's bin, and only
 * the malloc slow path moves blocks from one to the other, so it sees
 * every allocation that crosses a sample point.  The window table gives
 * the units of each class up to HAK_SHADOW_CLASSES (1 KiB) the shadow code
 * HAK_SHADOW(c), after every class code, whose bin in the thread cache's
 * hot half the free fast path fills at full speed, and the units of the
 * bigger classes the code of their group, HAK_SHADOW_GROUP(c), one per
 * eight classes (two thirds of a doubling of sizes up to 16 KiB, a
 * doubling above), whose bin gathers their frees at
 * full speed too; the slow paths sort a group bin into the shadow bins of
 * its classes, which are in the cold half.  A shadow bin for each of the
 * 96 classes in the hot half would make it too big for the static TLS a
 * dlopen() may use.  The chunks' page codes are always the classes.
 */
#define HAK_SHADOW_CLASSES 32
#define HAK_SHADOW(c) ((c) + HAK_NCLASSES + 1)
#define HAK_GROUP_CLASSES 8
#define HAK_NGROUPS ((HAK_NCLASSES - HAK_SHADOW_CLASSES) / HAK_GROUP_CLASSES)
#define HAK_GROUP(c) (((c)-HAK_SHADOW_CLASSES - 1) / HAK_GROUP_CLASSES)
#define HAK_GROUP_BIN(g) (HAK_SHADOW(HAK_SHADOW_CLASSES) + 1 + (g))
#define HAK_SHADOW_GROUP(c) HAK_GROUP_BIN(HAK_GROUP(c))
#define HAK_NBINS HAK_GROUP_BIN(HAK_NGROUPS)

HAK_HIDDEN extern const uint32_t hak_class_size[HAK_NCODES];
/* Per class, the reciprocal hak_span_aligned (pool/freelist.h) takes: 2^64
 * / size, rounded up. */
HAK_HIDDEN extern const uint64_t hak_class_magic[HAK_NCODES];

/* What the fast paths read: the free-list secrets (below) and the class
 * code of each window unit (described below), in one object addressed from
 * one base register, and the class of each request size.  The secrets are
 * set once, at init, before any block is free. */
#define HAK_WINDOW_SHIFT 36
#define HAK_UNIT_SHIFT 16
#define HAK_WINDOW_UNITS (((uintptr_t)1 << HAK_WINDOW_SHIFT) >> HAK_UNIT_SHIFT)
typedef struct hak_tables {
    uintptr_t key_link, key_check;        /* random, per process */
    uint8_t unit_code[HAK_WINDOW_UNITS];  /* by 64 KiB unit of the window */
    uint8_t unit_class[HAK_WINDOW_UNITS]; /* the same with HAKMEM_SECURE, instead */
} hak_tables_t;
HAK_HIDDEN extern hak_tables_t hak_tables;

/* The class of each request of n <= HAK_SMALL_MAX bytes, by n itself:
 * one load, no arithmetic.  Filled a page at a time, the first time a
 * request of the page's sizes reaches a slow path (sizeclass.c): 0 until
 * then, the code whose bin is always empty, so the fast paths miss. */
HAK_HIDDEN extern uint8_t hak_size_class[HAK_SMALL_MAX + 1];
/* The class of n as the fast paths read it: 0 while its page is unfilled.
 * A fill stores each byte atomically, and another thread's read sees 0 or
 * the class; the read is atomic only under ThreadSanitizer, since an
 * atomic load there costs malloc's fast path a register move. */
HAK_INLINE unsigned hak_class_fast(size_t n) {
#if defined(__SANITIZE_THREAD__)
    return __atomic_load_n(&hak_size_class[n], __ATOMIC_RELAXED);
#else
    return hak_size_class[n];
#endif
}
/* Fills the table's page that holds n; returns n's class. */
HAK_HIDDEN unsigned hak_class_fill(size_t n);
/* The class of a request of n <= HAK_SMALL_MAX bytes. */
HAK_INLINE unsigned hak_class_of(size_t n) {
    unsigned c = hak_class_fast(n);
    return HAK_LIKELY(c != 0) ? c : hak_class_fill(n);
}

/* The natural alignment of blocks of class c: the largest power of two that
 * divides its size, at most one page.  Every backend honours it. */
HAK_INLINE size_t hak_class_align(unsigned c) {
    size_t s = hak_class_size[c];
    size_t a = s & -s;
    return a > HAK_PAGE_SIZE ? HAK_PAGE_SIZE : a;
}

/* sizeclass.c */
/* The smallest class that serves n bytes aligned to align (a power of two,
 * >= 16), or 0 when no class can. */
HAK_HIDDEN unsigned hak_class_for_aligned(size_t n, size_t align);

#endif /* HAK_SIZECLASS_H */

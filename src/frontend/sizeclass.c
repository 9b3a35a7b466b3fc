/*
 * sizeclass.c - the one size-class table.  Spacing is 16 B up to 256 B and
 * then eight classes per doubling, so internal waste stays at most 12.5 %
 * above 128 B (the old HAKMEM rounded 520 B up to 1 KiB).  Code 0 and
 * HAK_CODE_LARGE are not classes: their size is 0.
 */
#include "internal.h"

#define DOUBLING(b)                                                            \
    (b) + (b) / 8, (b) + 2 * (b) / 8, (b) + 3 * (b) / 8, (b) + 4 * (b) / 8,    \
        (b) + 5 * (b) / 8, (b) + 6 * (b) / 8, (b) + 7 * (b) / 8, 2 * (b)

const uint32_t hak_class_size[HAK_NCODES] = {
    0,
    16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
    DOUBLING(256), DOUBLING(512), DOUBLING(1024), DOUBLING(2048),
    DOUBLING(4096), DOUBLING(8192), DOUBLING(16384), DOUBLING(32768),
    0,
};

_Static_assert(16 + 8 * 8 == HAK_NCLASSES, "class count");

/* The size-class table is filled at init.  Before that every entry is 0,
 * whose bin always misses, so a malloc before init simply takes the slow
 * path.  The window's unit codes are set by hak_chunk_set_units. */
hak_tables_t hak_tables;
const uintptr_t hak_list_end[2];

void hak_sizeclass_init(void) {
    unsigned c = 1;
    for (size_t i = 0; i <= (HAK_SMALL_MAX >> 4); i++) {
        size_t n = i << 4;
        while (hak_class_size[c] < n)
            c++;
        hak_tables.size_class[i] = (uint8_t)c;
    }
}

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

/*
 * chunk.c - 2 MiB-aligned chunks and the bitmap that makes pointer
 * ownership an O(1), lock-free, syscall-free question.
 */
#include "internal.h"

_Atomic uint64_t hak_chunk_map[HAK_CHUNK_MAP_WORDS];

static void map_set(uintptr_t a, bool on) {
    uintptr_t w = a >> (HAK_CHUNK_SHIFT + 6);
    uint64_t bit = (uint64_t)1 << ((a >> HAK_CHUNK_SHIFT) & 63);
    if (on)
        atomic_fetch_or_explicit(&hak_chunk_map[w], bit, memory_order_release);
    else
        atomic_fetch_and_explicit(&hak_chunk_map[w], ~bit, memory_order_release);
}

hak_chunk_t *hak_chunk_map_new(size_t size, unsigned kind, unsigned backend) {
    size = (size + HAK_PAGE_SIZE - 1) & ~(HAK_PAGE_SIZE - 1);
    hak_chunk_t *c = hak_os_map(size, HAK_CHUNK_SIZE);
    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (((uintptr_t)c >> HAK_VA_BITS) != 0) { /* outside the map: refuse */
        hak_os_unmap(c, size);
        errno = ENOMEM;
        return NULL;
    }
    /* Fresh anonymous memory is zero: only the non-zero fields are set. */
    c->magic = HAK_CHUNK_MAGIC;
    c->kind = (uint8_t)kind;
    c->backend = (uint8_t)backend;
    c->map_size = size;
    map_set((uintptr_t)c, true);
    return c;
}

void hak_chunk_unmap(hak_chunk_t *c) {
    map_set((uintptr_t)c, false);
    c->magic = 0;
    hak_os_unmap(c, c->map_size);
}

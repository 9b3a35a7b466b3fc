/*
 * pattern.h - a byte pattern the stress tests write into every block when
 * it is allocated and verify before it is freed, so a block handed out
 * twice, or overwritten by the allocator, is detected.
 */
#ifndef HAK_TEST_PATTERN_H
#define HAK_TEST_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../testutil.h"

/* The pattern byte at offset i of block p of n bytes. */
static inline unsigned char pat_byte(const void *p, size_t n, size_t i) {
    uintptr_t h = ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15u + n * 31u + (i >> 6);
    return (unsigned char)(h ^ (h >> 29));
}

/* Blocks above a page get their first and last 256 bytes and one byte per
 * 64 written: enough to catch overlap, cheap enough for megabyte blocks. */
static inline void pat_fill(void *p, size_t n) {
    unsigned char *c = p;
    if (n <= 4096) {
        for (size_t i = 0; i < n; i++)
            c[i] = pat_byte(p, n, i);
        return;
    }
    for (size_t i = 0; i < 256; i++) {
        c[i] = pat_byte(p, n, i);
        c[n - 1 - i] = pat_byte(p, n, n - 1 - i);
    }
    for (size_t i = 256; i < n - 256; i += 64)
        c[i] = pat_byte(p, n, i);
}

/* Whether pat_fill wrote offset i of a block of n bytes. */
static inline bool pat_written(size_t n, size_t i) {
    return n <= 4096 || i < 256 || i >= n - 256 || i % 64 == 0;
}

static inline void pat_check(const void *p, size_t n) {
    const unsigned char *c = p;
    if (n <= 4096) {
        for (size_t i = 0; i < n; i++)
            if (c[i] != pat_byte(p, n, i))
                T_FAIL("block %p of %zu bytes corrupted at offset %zu", p, n, i);
        return;
    }
    for (size_t i = 0; i < 256; i++)
        if (c[i] != pat_byte(p, n, i) || c[n - 1 - i] != pat_byte(p, n, n - 1 - i))
            T_FAIL("block %p of %zu bytes corrupted near offset %zu", p, n, i);
    for (size_t i = 256; i < n - 256; i += 64)
        if (c[i] != pat_byte(p, n, i))
            T_FAIL("block %p of %zu bytes corrupted at offset %zu", p, n, i);
}

/* xorshift64*: a per-thread random stream without locks or libc state. */
static inline uint64_t rnd(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1du;
}

/* 1 B .. 64 KiB, most of them small, as programs allocate. */
static inline size_t rnd_size(uint64_t *s) {
    uint64_t r = rnd(s);
    switch (r % 8) {
    case 0:
        return 1 + (r >> 8) % 65536;
    case 1:
        return 1 + (r >> 8) % 4096;
    default:
        return 1 + (r >> 8) % 256;
    }
}

#endif /* HAK_TEST_PATTERN_H */

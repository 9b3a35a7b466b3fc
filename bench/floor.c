/*
 * floor.c - the floor for bench/random_mixed: the least work an allocator can
 * do per operation, as a reference column in bench/compare.  NOT an
 * allocator to use: single-threaded, no checks of any kind, memory is never
 * returned, and requests above 64 KiB fail.
 *
 * Every multiple of 16 bytes is its own class, and each class has its own
 * 4 MiB arena, so free finds the class with one subtraction and one shift.
 * malloc pops the class's free list, or else bumps the arena; free pushes.
 * Whatever a real allocator measures above this column is the price of its
 * features (threads, checks, returning memory) or of a worse memory layout.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define FLOOR_EXPORT __attribute__((visibility("default")))
#define FLOOR_CLASSES 4097 /* 16-byte steps up to 64 KiB */
#define FLOOR_ARENA_SHIFT 22

static char *floor_base;
static void *floor_free[FLOOR_CLASSES];
static size_t floor_used[FLOOR_CLASSES];

static int floor_init(void) {
    void *p = mmap(NULL, (size_t)FLOOR_CLASSES << FLOOR_ARENA_SHIFT, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    floor_base = p;
    return 0;
}

FLOOR_EXPORT void *malloc(size_t n) {
    size_t c = n == 0 ? 1 : (n + 15) >> 4;
    if (c >= FLOOR_CLASSES || (floor_base == NULL && floor_init() != 0)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = floor_free[c];
    if (__builtin_expect(p != NULL, 1)) {
        floor_free[c] = *(void **)p;
        return p;
    }
    if (floor_used[c] + (c << 4) > ((size_t)1 << FLOOR_ARENA_SHIFT)) {
        errno = ENOMEM;
        return NULL;
    }
    p = floor_base + (c << FLOOR_ARENA_SHIFT) + floor_used[c];
    floor_used[c] += c << 4;
    return p;
}

static size_t floor_class(const void *p) {
    return (size_t)((const char *)p - floor_base) >> FLOOR_ARENA_SHIFT;
}

FLOOR_EXPORT void free(void *p) {
    size_t c = floor_class(p);
    if (c >= FLOOR_CLASSES) /* NULL, or not ours */
        return;
    *(void **)p = floor_free[c];
    floor_free[c] = p;
}

FLOOR_EXPORT void *calloc(size_t nmemb, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = malloc(n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

FLOOR_EXPORT void *realloc(void *p, size_t n) {
    if (p == NULL)
        return malloc(n);
    size_t had = floor_class(p) << 4;
    void *q = malloc(n);
    if (q != NULL) {
        memcpy(q, p, had < n ? had : n);
        free(p);
    }
    return q;
}

FLOOR_EXPORT size_t malloc_usable_size(void *p) { return p == NULL ? 0 : floor_class(p) << 4; }

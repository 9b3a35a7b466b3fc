/* Helper for interposer.sh: an LD_PRELOAD shim of the usual kind, which
 * counts malloc-family calls and passes them on with dlsym(RTLD_NEXT).
 * Until dlsym has answered (it may itself call calloc), requests are served
 * from a static buffer, as such shims do. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static unsigned long calls;
static _Alignas(16) char boot[4096];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot)
        return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p;
}

static int is_boot(const void *p) {
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static int resolve(void) {
    if (next_malloc)
        return 1;
    if (resolving)
        return 0;
    resolving = 1;
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    resolving = 0;
    return next_malloc != NULL;
}

SHIM_EXPORT void *malloc(size_t n) {
    if (!resolve())
        return boot_alloc(n);
    __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
    return next_malloc(n);
}

SHIM_EXPORT void free(void *p) {
    if (p == NULL || is_boot(p))
        return;
    if (resolve()) {
        __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
        next_free(p);
    }
}

SHIM_EXPORT void *calloc(size_t a, size_t b) {
    if (!resolve())
        return boot_alloc(a * b); /* static memory is zero */
    __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
    return next_calloc(a, b);
}

SHIM_EXPORT void *realloc(void *p, size_t n) {
    if (!resolve() || is_boot(p)) {
        void *q = resolve() ? next_malloc(n) : boot_alloc(n);
        if (q && p)
            memcpy(q, p, n); /* boot blocks are followed by boot memory */
        return q;
    }
    __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
    return next_realloc(p, n);
}

__attribute__((destructor)) static void report(void) {
    char line[64];
    int len = snprintf(line, sizeof line, "shim: %lu calls passed on\n", calls);
    if (len > 0)
        (void)write(2, line, (size_t)len);
}

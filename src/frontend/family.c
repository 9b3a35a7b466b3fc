/*
 * family.c - the malloc family beyond malloc and free: calloc, realloc,
 * reallocarray, the aligned allocations, pvalloc, malloc_usable_size and
 * malloc_trim, on top of the slow paths of malloc.c.
 */
#include "frontend/frontend.h"

#include <string.h>

void *hak_impl_calloc(size_t nmemb, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        hak_fail(HAK_FAIL_THRESHOLD, SIZE_MAX, 0, 0);
        return NULL;
    }
    if (n > HAK_SMALL_MAX)
        return hak_alloc_large(n, 0, true);
    void *p = hak_fast_malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *hak_impl_realloc(void *p, size_t n) {
    if (p == NULL)
        return hak_fast_malloc(n);
    if (n == 0) { /* as glibc: frees and returns NULL */
        hak_fast_free(p);
        return NULL;
    }
    unsigned c = 0;
    enum hak_ptr_kind k = hak_ptr_classify(p, &c, "realloc()");
    size_t have = hak_ptr_usable(p, k, c, "realloc()");
    if (k == HAK_PTR_LARGE) {
        if (n > HAK_SMALL_MAX && n <= PTRDIFF_MAX && hak_large_resize(p, n)) {
            hak_stats_count_large(0, hak_large_usable(p) - have);
            return p;
        }
    } else if (n <= have && (n > have / 2 || have <= 64)) {
        return p; /* still fits without wasting half of the block */
    }
    /* A large block that grows by realloc tends to grow again (buffers,
     * vectors): it holds half again as many pages, so the next steps
     * resize in place, but shows the pages it asked for.  Pages the
     * program never writes cost no memory.  (A guarded block never
     * resizes in place: no headroom.) */
    size_t want = n;
    if (n > have && n > HAK_SMALL_MAX && n <= PTRDIFF_MAX / 2 && !hak_opt.secure)
        want = n + n / 2;
    int saved = errno;
    void *q = hak_fast_malloc(want);
    if (q == NULL && want != n) { /* no room for the headroom: just n */
        q = hak_fast_malloc(n);
        if (q != NULL)
            errno = saved;
    } else if (q != NULL && want != n) {
        size_t held = hak_large_usable(q);
        if (hak_large_hold(q, n))
            hak_stats_count_large(0, hak_large_usable(q) - held);
    }
    if (q == NULL)
        return NULL; /* errno is ENOMEM; p is untouched */
    memcpy(q, p, n < have ? n : have);
    if (k == HAK_PTR_SMALL)
        hak_fast_free(p);
    else
        hak_ptr_free_large(p, k, have);
    return q;
}

void *hak_impl_reallocarray(void *p, size_t nmemb, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        hak_fail(HAK_FAIL_THRESHOLD, SIZE_MAX, 0, 0);
        return NULL;
    }
    return hak_impl_realloc(p, n);
}

/* align is a power of two. */
static void *aligned(size_t align, size_t n) {
    if (align <= HAK_MIN_ALIGN)
        return hak_fast_malloc(n);
    unsigned c = hak_class_for_aligned(n, align);
    if (c != 0)
        return hak_fast_malloc(hak_class_size[c]);
    return hak_alloc_large(n, align, false);
}

static bool pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

void *hak_impl_aligned_alloc(size_t align, size_t n) {
    if (!pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(align, n);
}

void *hak_impl_memalign(size_t align, size_t n) {
    /* As glibc: a non-power-of-two alignment is rounded up. */
    if (align > ((size_t)1 << (sizeof(size_t) * 8 - 1))) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = HAK_MIN_ALIGN;
    while (a < align)
        a <<= 1;
    return aligned(a, n);
}

int hak_impl_posix_memalign(void **out, size_t align, size_t n) {
    if (!pow2(align) || align < sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = aligned(align, n);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *hak_impl_pvalloc(size_t n) {
    size_t r;
    if (__builtin_add_overflow(n, HAK_PAGE_SIZE - 1, &r)) {
        hak_fail(HAK_FAIL_THRESHOLD, n, HAK_PAGE_SIZE, 0);
        return NULL;
    }
    r &= ~(HAK_PAGE_SIZE - 1);
    return aligned(HAK_PAGE_SIZE, r ? r : HAK_PAGE_SIZE);
}

int hak_impl_trim(size_t pad) {
    hak_ensure_init();
    hak_thread_t *t = hak_self;
    if (t != HAK_THREAD_EMPTY && t != HAK_THREAD_DEAD)
        hak_thread_flush(t);
    return hak_trim_cached(pad);
}

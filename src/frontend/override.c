/*
 * override.c - the libc names.  Each only forwards to the same code as its
 * hak_* twin: malloc and free expand the inline fast path, the rest call
 * the hidden implementations, so no call goes through the PLT.
 */
#include "frontend/frontend.h"

#include <unistd.h>

/* The two hot entry points each start a cache line: free's fast path then
 * spans two lines, not three (about 0.5 % on random_mixed). */
HAK_EXPORT __attribute__((aligned(64))) void *malloc(size_t size) { return hak_fast_malloc(size); }
HAK_EXPORT __attribute__((aligned(64))) void free(void *ptr) { hak_fast_free(ptr); }
HAK_EXPORT void *calloc(size_t nmemb, size_t size) { return hak_impl_calloc(nmemb, size); }
HAK_EXPORT void *realloc(void *ptr, size_t size) { return hak_impl_realloc(ptr, size); }
HAK_EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size) {
    return hak_impl_reallocarray(ptr, nmemb, size);
}
HAK_EXPORT void *aligned_alloc(size_t alignment, size_t size) {
    return hak_impl_aligned_alloc(alignment, size);
}
HAK_EXPORT int posix_memalign(void **memptr, size_t alignment, size_t size) {
    return hak_impl_posix_memalign(memptr, alignment, size);
}
HAK_EXPORT void *memalign(size_t alignment, size_t size) {
    return hak_impl_memalign(alignment, size);
}
HAK_EXPORT void *valloc(size_t size) { return hak_impl_memalign(HAK_PAGE_SIZE, size); }
HAK_EXPORT void *pvalloc(size_t size) { return hak_impl_pvalloc(size); }
HAK_EXPORT size_t malloc_usable_size(void *ptr) { return hak_impl_usable_size(ptr); }
HAK_EXPORT int malloc_trim(size_t pad) { return hak_impl_trim(pad); }
/* C23: the size is checked against the block (a realloc may have left it
 * in a bigger one, so only "at most what it holds"). */
HAK_EXPORT void free_sized(void *ptr, size_t size) {
    hak_free_sized_slow(ptr, size, false, "free_sized()");
}
HAK_EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size) {
    (void)alignment;
    hak_free_sized_slow(ptr, size, false, "free_aligned_sized()");
}

/* glibc's own names for its allocator, which some programs and libraries
 * call directly: the same blocks as malloc's, so they cross freely. */
HAK_EXPORT void *__libc_malloc(size_t size) { return hak_fast_malloc(size); }
HAK_EXPORT void __libc_free(void *ptr) { hak_fast_free(ptr); }
HAK_EXPORT void *__libc_calloc(size_t nmemb, size_t size) { return hak_impl_calloc(nmemb, size); }
HAK_EXPORT void *__libc_realloc(void *ptr, size_t size) { return hak_impl_realloc(ptr, size); }
HAK_EXPORT void *__libc_memalign(size_t alignment, size_t size) {
    return hak_impl_memalign(alignment, size);
}
HAK_EXPORT void *__libc_valloc(size_t size) { return hak_impl_memalign(HAK_PAGE_SIZE, size); }
HAK_EXPORT void *__libc_pvalloc(size_t size) { return hak_impl_pvalloc(size); }

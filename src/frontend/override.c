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

/* glibc's introspection (introspect.c). */
HAK_EXPORT struct mallinfo2 mallinfo2(void) { return hak_impl_mallinfo2(); }
/* Deprecated in glibc for its int fields, still called. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
HAK_EXPORT struct mallinfo mallinfo(void) { return hak_impl_mallinfo(); }
#pragma GCC diagnostic pop
HAK_EXPORT void malloc_stats(void) { hak_impl_malloc_stats(); }
HAK_EXPORT int malloc_info(int options, FILE *fp) { return hak_impl_malloc_info(options, fp); }
HAK_EXPORT int mallopt(int param, int value) { return hak_impl_mallopt(param, value); }

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

/* Every other name glibc's malloc.o defines that a program can reach: a
 * static link (gcc -static prog.c libhakmem.a) that needs any name of
 * malloc.o would pull it in, with a second malloc, unless this object,
 * which holds malloc, defines them all.  (glibc's fork and thread-exit
 * hooks into its malloc are weak references that nothing here defines:
 * HAKMEM's own fork handling is pthread_atfork's.) */
#if defined(__has_attribute) && __has_attribute(copy)
#define HAK_ALIAS_COPY(target) __attribute__((copy(target)))
#else
#define HAK_ALIAS_COPY(target)
#endif
#define HAK_ALIAS(name, target)                                                                    \
    extern __typeof(target) name HAK_ALIAS_COPY(target)                                            \
        __attribute__((alias(#target), visibility("default")))
HAK_ALIAS(__malloc, malloc);
HAK_ALIAS(__free, free);
HAK_ALIAS(__calloc, calloc);
HAK_ALIAS(__realloc, realloc);
HAK_ALIAS(__memalign, memalign);
HAK_ALIAS(__posix_memalign, posix_memalign);
HAK_ALIAS(__valloc, valloc);
HAK_ALIAS(__pvalloc, pvalloc);
HAK_ALIAS(__malloc_usable_size, malloc_usable_size);
HAK_ALIAS(__malloc_trim, malloc_trim);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
HAK_ALIAS(__mallinfo, mallinfo);
HAK_ALIAS(__libc_mallinfo, mallinfo);
#pragma GCC diagnostic pop
HAK_ALIAS(__mallinfo2, mallinfo2);
HAK_ALIAS(__libc_mallinfo2, mallinfo2);
HAK_ALIAS(__malloc_stats, malloc_stats);
HAK_ALIAS(__malloc_info, malloc_info);
HAK_ALIAS(__mallopt, mallopt);
HAK_ALIAS(__libc_mallopt, mallopt);

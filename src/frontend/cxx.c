/*
 * cxx.c - the C++ allocation operators, written in C under their mangled
 * names, so the library needs no C++ compiler to build and no C++ runtime
 * to load: a C program never calls them, and a C++ program brings the
 * runtime whose std::get_new_handler and std::__throw_bad_alloc they call
 * (weak references, resolved when it is loaded).
 *
 * operator new loops as the standard says: try, and on failure call the
 * new handler if one is installed, else throw std::bad_alloc; the nothrow
 * forms return NULL instead of throwing.  (A handler that throws from a
 * nothrow new is not caught here: C cannot catch, so the exception reaches
 * the caller.)  Sized delete checks the size against the block
 * (hak_fast_free_sized).  The mangled names are those of the Itanium C++
 * ABI that GCC and Clang use on Linux, for an LP64 size_t ("m").
 */
#include "frontend/frontend.h"

#include <stdlib.h>

_Static_assert(sizeof(size_t) == sizeof(unsigned long), "size_t mangles as unsigned long (m)");

#define CXX(name) __asm__(name) HAK_EXPORT

typedef void (*new_handler_t)(void);
extern new_handler_t cxx_get_new_handler(void) __asm__("_ZSt15get_new_handlerv")
    __attribute__((weak));
extern void cxx_throw_bad_alloc(void) __asm__("_ZSt17__throw_bad_allocv")
    __attribute__((weak, noreturn));

/* std::bad_alloc, thrown as the C++ runtime throws it. */
static HAK_COLD __attribute__((noreturn)) void bad_alloc(size_t n) {
    if (cxx_throw_bad_alloc)
        cxx_throw_bad_alloc();
    hak_fatal("operator new(%zu): out of memory, and no C++ runtime to throw std::bad_alloc", n);
}

/* The failure half of operator new: align 0 for the plain forms. */
static HAK_COLD void *new_failed(size_t n, size_t align, bool nothrow) {
    for (;;) {
        new_handler_t h = cxx_get_new_handler ? cxx_get_new_handler() : NULL;
        if (h == NULL)
            break;
        h();
        void *p = align ? hak_impl_memalign(align, n) : hak_fast_malloc(n);
        if (p != NULL)
            return p;
    }
    if (nothrow)
        return NULL;
    bad_alloc(n);
}

static inline void *new_plain(size_t n, bool nothrow) {
    void *p = hak_fast_malloc(n);
    return HAK_LIKELY(p != NULL) ? p : new_failed(n, 0, nothrow);
}

/* std::align_val_t is a power of two (anything else is undefined; here it
 * fails as no memory would, without calling the handler). */
static void *new_aligned(size_t n, size_t align, bool nothrow) {
    if (align == 0 || (align & (align - 1)) != 0) {
        if (nothrow)
            return NULL;
        bad_alloc(n);
    }
    void *p = hak_impl_memalign(align, n);
    return p != NULL ? p : new_failed(n, align, nothrow);
}

/* new, new[]; nothrow; aligned; aligned nothrow */
void *cxx_new(size_t n) CXX("_Znwm");
void *cxx_new(size_t n) { return new_plain(n, false); }
void *cxx_new_array(size_t n) CXX("_Znam");
void *cxx_new_array(size_t n) { return new_plain(n, false); }
void *cxx_new_nothrow(size_t n, const void *tag) CXX("_ZnwmRKSt9nothrow_t");
void *cxx_new_nothrow(size_t n, const void *tag) {
    (void)tag;
    return new_plain(n, true);
}
void *cxx_new_array_nothrow(size_t n, const void *tag) CXX("_ZnamRKSt9nothrow_t");
void *cxx_new_array_nothrow(size_t n, const void *tag) {
    (void)tag;
    return new_plain(n, true);
}
void *cxx_new_aligned(size_t n, size_t al) CXX("_ZnwmSt11align_val_t");
void *cxx_new_aligned(size_t n, size_t al) { return new_aligned(n, al, false); }
void *cxx_new_array_aligned(size_t n, size_t al) CXX("_ZnamSt11align_val_t");
void *cxx_new_array_aligned(size_t n, size_t al) { return new_aligned(n, al, false); }
void *cxx_new_aligned_nothrow(size_t n, size_t al, const void *tag)
    CXX("_ZnwmSt11align_val_tRKSt9nothrow_t");
void *cxx_new_aligned_nothrow(size_t n, size_t al, const void *tag) {
    (void)tag;
    return new_aligned(n, al, true);
}
void *cxx_new_array_aligned_nothrow(size_t n, size_t al, const void *tag)
    CXX("_ZnamSt11align_val_tRKSt9nothrow_t");
void *cxx_new_array_aligned_nothrow(size_t n, size_t al, const void *tag) {
    (void)tag;
    return new_aligned(n, al, true);
}

/* delete, delete[]: plain, sized, nothrow, aligned, sized aligned, aligned
 * nothrow */
void cxx_delete(void *p) CXX("_ZdlPv");
void cxx_delete(void *p) { hak_fast_free(p); }
void cxx_delete_array(void *p) CXX("_ZdaPv");
void cxx_delete_array(void *p) { hak_fast_free(p); }
void cxx_delete_sized(void *p, size_t n) CXX("_ZdlPvm");
void cxx_delete_sized(void *p, size_t n) { hak_fast_free_sized(p, n, "operator delete"); }
void cxx_delete_array_sized(void *p, size_t n) CXX("_ZdaPvm");
void cxx_delete_array_sized(void *p, size_t n) { hak_fast_free_sized(p, n, "operator delete[]"); }
void cxx_delete_nothrow(void *p, const void *tag) CXX("_ZdlPvRKSt9nothrow_t");
void cxx_delete_nothrow(void *p, const void *tag) {
    (void)tag;
    hak_fast_free(p);
}
void cxx_delete_array_nothrow(void *p, const void *tag) CXX("_ZdaPvRKSt9nothrow_t");
void cxx_delete_array_nothrow(void *p, const void *tag) {
    (void)tag;
    hak_fast_free(p);
}
void cxx_delete_aligned(void *p, size_t al) CXX("_ZdlPvSt11align_val_t");
void cxx_delete_aligned(void *p, size_t al) {
    (void)al;
    hak_fast_free(p);
}
void cxx_delete_array_aligned(void *p, size_t al) CXX("_ZdaPvSt11align_val_t");
void cxx_delete_array_aligned(void *p, size_t al) {
    (void)al;
    hak_fast_free(p);
}
void cxx_delete_sized_aligned(void *p, size_t n, size_t al) CXX("_ZdlPvmSt11align_val_t");
void cxx_delete_sized_aligned(void *p, size_t n, size_t al) {
    (void)al;
    hak_free_sized_slow(p, n, false, "operator delete");
}
void cxx_delete_array_sized_aligned(void *p, size_t n, size_t al) CXX("_ZdaPvmSt11align_val_t");
void cxx_delete_array_sized_aligned(void *p, size_t n, size_t al) {
    (void)al;
    hak_free_sized_slow(p, n, false, "operator delete[]");
}
void cxx_delete_aligned_nothrow(void *p, size_t al, const void *tag)
    CXX("_ZdlPvSt11align_val_tRKSt9nothrow_t");
void cxx_delete_aligned_nothrow(void *p, size_t al, const void *tag) {
    (void)al;
    (void)tag;
    hak_fast_free(p);
}
void cxx_delete_array_aligned_nothrow(void *p, size_t al, const void *tag)
    CXX("_ZdaPvSt11align_val_tRKSt9nothrow_t");
void cxx_delete_array_aligned_nothrow(void *p, size_t al, const void *tag) {
    (void)al;
    (void)tag;
    hak_fast_free(p);
}

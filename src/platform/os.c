/*
 * os.c - the operating system behind one small contract: map, unmap and
 * purge anonymous memory.  Every memory system call HAKMEM makes is here,
 * and counted, so a benchmark note can say how many a run made; and the
 * clock, and a spin lock's wait.
 */
#include "internal.h"

#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

hak_os_stats_t hak_os_stats;

/* The heap limit (0: none), and whether the last mapping this thread was
 * refused was refused by it rather than by the OS. */
static _Atomic uint64_t os_limit;
static __thread bool os_limit_refused __attribute__((tls_model("initial-exec")));

uint64_t hak_os_set_limit(uint64_t bytes) {
    return atomic_exchange_explicit(&os_limit, bytes, memory_order_relaxed);
}

uint64_t hak_os_limit(void) { return atomic_load_explicit(&os_limit, memory_order_relaxed); }

bool hak_os_limit_refused(void) { return os_limit_refused; }

/* Counts size bytes as mapped before they are, unless that passes the
 * limit: threads that map at once never pass it together.  The mapping
 * that then fails gives them back (unreserve). */
static bool reserve(size_t size) {
    uint64_t limit = atomic_load_explicit(&os_limit, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&hak_os_stats.mapped, memory_order_relaxed);
    do {
        if (limit != 0 && (size > limit || cur > limit - size)) {
            os_limit_refused = true;
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&hak_os_stats.mapped, &cur, cur + size,
                                                    memory_order_relaxed, memory_order_relaxed));
    hak_atomic_max(&hak_os_stats.peak, cur + size);
    return true;
}

static void unreserve(size_t size) {
    atomic_fetch_sub_explicit(&hak_os_stats.mapped, size, memory_order_relaxed);
    os_limit_refused = false;
}

static void *raw_map(size_t size) {
    atomic_fetch_add_explicit(&hak_os_stats.mmaps, 1, memory_order_relaxed);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void raw_unmap(void *p, size_t size) {
    atomic_fetch_add_explicit(&hak_os_stats.munmaps, 1, memory_order_relaxed);
    munmap(p, size);
}

/* Moves the mapping *p of size bytes down to the alignment boundary below
 * it: the top that the aligned range leaves goes first, then the range
 * below is mapped, so no more than size bytes are ever mapped (an
 * over-map by the alignment would need that much more of RLIMIT_AS, and
 * fail near it).  The kernel maps top-down, so the range below is free
 * but for another mapping; then nothing stays mapped and false is
 * returned. */
static bool slide_down(void **p, size_t size, size_t align) {
    char *old = *p, *start = (char *)((uintptr_t)old & ~(uintptr_t)(align - 1));
    char *keep_end = start + size > old ? start + size : old; /* [old, keep_end) stays */
    raw_unmap(keep_end, (size_t)(old + size - keep_end));
    char *add_end = keep_end > old ? old : start + size;
    atomic_fetch_add_explicit(&hak_os_stats.mmaps, 1, memory_order_relaxed);
    void *q = mmap(start, (size_t)(add_end - start), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (q == start) {
        *p = start;
        return true;
    }
    if (q != MAP_FAILED) /* an old kernel took the address as a hint only */
        raw_unmap(q, (size_t)(add_end - start));
    if (keep_end > old)
        raw_unmap(old, (size_t)(keep_end - old));
    return false;
}

/* Where sliding down found the range below taken (the kernel put the
 * mapping in a hole of another: a chunk whose free units or pages went
 * back): aligned ranges further down, each tried with MAP_FIXED_NOREPLACE,
 * which costs no address space when it fails; a few right below, then
 * from below the lowest chunk mapped so far (os_low: the kernel maps
 * top-down, so what lies below it is most likely free).  Near RLIMIT_AS
 * an over-map by the alignment would fail where this does not. */
#define PROBES_NEAR 8
#define PROBES_LOW 8
static _Atomic uintptr_t os_low = UINTPTR_MAX;

static void *probe_from(char *at, size_t size, size_t align, unsigned probes, bool *stop) {
    for (unsigned i = 0; i < probes && (uintptr_t)at >= align; i++) {
        at -= align;
        atomic_fetch_add_explicit(&hak_os_stats.mmaps, 1, memory_order_relaxed);
        void *q = mmap(at, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (q == at)
            return q;
        if (q != MAP_FAILED) { /* an old kernel took the address as a hint only */
            raw_unmap(q, size);
            *stop = true;
            return NULL;
        }
        if (errno != EEXIST) {
            *stop = true;
            return NULL;
        }
    }
    return NULL;
}

static void *probe_below(char *from, size_t size, size_t align) {
    bool stop = false;
    uintptr_t mask = ~(uintptr_t)(align - 1);
    void *q = probe_from((char *)((uintptr_t)from & mask), size, align, PROBES_NEAR, &stop);
    uintptr_t low = atomic_load_explicit(&os_low, memory_order_relaxed);
    if (q == NULL && !stop && low != UINTPTR_MAX)
        q = probe_from((char *)(low & mask), size, align, PROBES_LOW, &stop);
    return q;
}

/* Lowers os_low to p. */
static void note_low(void *p) {
    uintptr_t a = (uintptr_t)p, cur = atomic_load_explicit(&os_low, memory_order_relaxed);
    while (a < cur && !atomic_compare_exchange_weak_explicit(&os_low, &cur, a, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

void *hak_os_map(size_t size, size_t align) {
    if (!reserve(size))
        return NULL;
    int saved = errno;
    void *p = raw_map(size);
    if (p == NULL) {
        unreserve(size);
        errno = saved;
        return NULL;
    }
    if (((uintptr_t)p & (align - 1)) != 0 && !slide_down(&p, size, align)) {
        void *q = probe_below(p, size, align);
        if (q == NULL) {
            /* Over-map by the alignment and trim both ends: two more calls,
             * paid once per chunk, never per block. */
            char *big = size + align < size ? NULL : raw_map(size + align);
            if (big == NULL) {
                unreserve(size);
                errno = saved;
                return NULL;
            }
            uintptr_t start = ((uintptr_t)big + align - 1) & ~(uintptr_t)(align - 1);
            size_t head = start - (uintptr_t)big, tail = align - head;
            if (head)
                raw_unmap(big, head);
            if (tail)
                raw_unmap((char *)start + size, tail);
            q = (void *)start;
        }
        p = q;
    }
    note_low(p);
    errno = saved;
    return p;
}

void *hak_os_map_at(void *addr, size_t size, int *err) {
    if (!reserve(size)) {
        *err = ENOMEM;
        return NULL;
    }
    int saved = errno;
    atomic_fetch_add_explicit(&hak_os_stats.mmaps, 1, memory_order_relaxed);
    void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    *err = p == MAP_FAILED ? errno : 0;
    errno = saved;
    if (p == MAP_FAILED) {
        unreserve(size);
        return NULL;
    }
    return p;
}

void hak_os_unmap(void *p, size_t size) {
    int saved = errno;
    raw_unmap(p, size);
    atomic_fetch_sub_explicit(&hak_os_stats.mapped, size, memory_order_relaxed);
    atomic_fetch_add_explicit(&hak_os_stats.returned, size, memory_order_relaxed);
    errno = saved;
}

void hak_os_count_hole(size_t size) {
    atomic_fetch_add_explicit(&hak_os_stats.mapped, size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&hak_os_stats.returned, size, memory_order_relaxed);
}

bool hak_os_guard(void *p, size_t size, bool on) {
    int saved = errno;
    bool ok = mprotect(p, size, on ? PROT_NONE : PROT_READ | PROT_WRITE) == 0;
    errno = saved;
    return ok;
}

void hak_os_purge(void *p, size_t size) {
    int saved = errno;
    atomic_fetch_add_explicit(&hak_os_stats.madvises, 1, memory_order_relaxed);
    /* MADV_DONTNEED, not MADV_FREE: the pages must read as zero afterwards
     * so calloc can trust purged memory, and RSS must drop at once. */
    madvise(p, size, MADV_DONTNEED);
    atomic_fetch_add_explicit(&hak_os_stats.returned, size, memory_order_relaxed);
    errno = saved;
}

void hak_os_random(uintptr_t key[2]) {
    key[0] = key[1] = 0;
    ssize_t got = getrandom(key, 2 * sizeof key[0], GRND_NONBLOCK);
    if (got != (ssize_t)2 * sizeof key[0]) {
        /* No entropy yet (early boot) or no getrandom: the kernel's
         * AT_RANDOM bytes, stirred with the clock and the stack's address
         * (the two words glibc takes from them are its own secrets). */
        const uintptr_t *r = (const uintptr_t *)getauxval(AT_RANDOM);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uintptr_t mix = ((uintptr_t)ts.tv_nsec << 32) ^ (uintptr_t)ts.tv_sec ^ (uintptr_t)&ts;
        for (int i = 0; i < 2; i++) {
            uintptr_t x = (r ? r[i] : 0) ^ mix ^ (uintptr_t)i << 62;
            x *= 0x9e3779b97f4a7c15u; /* spread every input bit */
            key[i] = x ^ (x >> 29);
        }
    }
}

void hak_spin_wait(hak_spin_t *l) {
    /* Read until free (a read keeps the line shared), then try again. */
    for (unsigned i = 0;; i++) {
        if (!atomic_load_explicit(l, memory_order_relaxed) &&
            !atomic_exchange_explicit(l, true, memory_order_acquire))
            return;
        if (i >= 64)
            sched_yield();
    }
}

_Atomic uint64_t hak_os_test_clock;

uint64_t hak_os_now_ms(void) {
    uint64_t t = atomic_load_explicit(&hak_os_test_clock, memory_order_relaxed);
    if (HAK_UNLIKELY(t != 0))
        return t;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
}

/*
 * prof.c - the sampling heap profiler: the sampler's draws, the stack of a
 * sampled allocation, the tables of stacks and of live sampled blocks, the
 * profiles in the gperftools heap-profile format, and the leak report.
 *
 * Everything here lives in memory of its own from the OS, never in the
 * heap, and nothing allocates while a lock is held: a profile and the leak
 * report are formatted into buffers on the stack and written with write(2).
 */
#include "prof/prof.h"
#include "internal.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

_Atomic unsigned hak_prof_epoch;
_Atomic uint64_t hak_prof_live;

/* Frames kept of a sampled allocation's stack. */
#define PROF_DEPTH 64

/* A stack seen, and what the samples say of it, estimated (unsampled). */
typedef struct prof_stack {
    uint64_t hash;
    uint32_t depth, next; /* next: the chain of its hash slot, 0 ends it */
    uint64_t samples;
    double alloc_n, alloc_b, free_n, free_b;
    uintptr_t frame[PROF_DEPTH];
} prof_stack_t;

/* A live sampled block. */
typedef struct prof_rec {
    uintptr_t p; /* 0: an empty slot */
    uint32_t stack;
    uint64_t request, ms; /* ms: when sampled (hak_os_now_ms) */
    double weight;
} prof_rec_t;

/* Stack 0 is where samples go once the table is full. */
#define STACKS_MAX ((size_t)1 << 15)
#define STACK_SLOTS ((size_t)1 << 16)
#define RECS_START ((size_t)1 << 12)

static hak_spin_t prof_lock = HAK_SPIN_INIT; /* the tables below */
static hak_lock_t ctl_lock = HAK_LOCK_INIT;  /* start and stop */
static prof_stack_t *stacks;
static uint32_t *stack_slot;
static uint32_t nstacks = 1;
static prof_rec_t *recs;
static size_t recs_cap, recs_len;
static double alloc_est; /* estimated bytes allocated, for the interval */
static double next_dump; /* estimated bytes at which the next profile is due */
static unsigned dump_seq;
static _Atomic bool dump_asked; /* by the signal */
static _Atomic uint64_t seed_next;
static hak_prof_hook_t prof_hook;
static __thread bool in_hook __attribute__((tls_model("initial-exec")));

/* The blocks hak_prof_freed keeps, KEPT_WAYS for each number of pages
 * (slots (pages - 1) * KEPT_WAYS on).  Only hak_prof_freed fills a slot,
 * an empty one, under prof_lock; hak_prof_kept_take empties one without
 * it, by an exchange, so that a sample takes no lock for its block (the
 * release and acquire order the block's last use before its next). */
#define KEPT_WAYS (HAK_PROF_KEPT_MAX / (HAK_SMALL_MAX >> HAK_PAGE_SHIFT))
static void *_Atomic kept[HAK_PROF_KEPT_MAX];

/* The executable segment of the library itself, whose frames a stack
 * leaves out; none when the library is linked into the program. */
static uintptr_t self_lo, self_hi;

/* ------------------------------------------------------------------ */
/* The sampler                                                         */

/* The two functions of libm the sampler needs, for a library that links
 * none: -ln(u) for u in (0, 1], and 1 - e^-x for x >= 0, each to about
 * 1e-9 relative, in a few dozen instructions (a draw and a weight are made
 * at every sample).  ln: u = m 2^e with m in [1/sqrt 2, sqrt 2), and
 * ln m = 2 atanh(z), z = (m-1)/(m+1), |z| < 0.172, by its series. */
static double neg_log(double u) {
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1023 << 52);
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421356237309505) {
        m *= 0.5;
        e++;
    }
    double z = (m - 1) / (m + 1), z2 = z * z;
    double atanh =
        z *
        (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9 + z2 * (1.0 / 11))))));
    return -(2 * atanh + e * 0.69314718055994530942);
}

/* 1 - e^-x: for x <= 1/2 its series (no cancellation), to x^13/13!; above,
 * e^-x = 2^-k e^-y, k the nearest integer to x / ln 2, y = x - k ln 2 in
 * [-ln 2 / 2, ln 2 / 2], e^-y by its series to y^12/12!: a few dozen
 * instructions for any x (the weight of a block above the classes is
 * computed at its sample), where halving x down to 1/2 and squaring back
 * took twice as many for a block of megabytes.  The first series
 * multiplies by 1/k, the second by (-1)^k/k!, constants: no division. */
static double one_minus_exp_neg(double x) {
    static const double inv[14] = {0,        1,        1.0 / 2,  1.0 / 3, 1.0 / 4,
                                   1.0 / 5,  1.0 / 6,  1.0 / 7,  1.0 / 8, 1.0 / 9,
                                   1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13};
    static const double coef[13] = {1,
                                    -1,
                                    1.0 / 2,
                                    -1.0 / 6,
                                    1.0 / 24,
                                    -1.0 / 120,
                                    1.0 / 720,
                                    -1.0 / 5040,
                                    1.0 / 40320,
                                    -1.0 / 362880,
                                    1.0 / 3628800,
                                    -1.0 / 39916800,
                                    1.0 / 479001600};
    if (x > 40)
        return 1;
    if (x <= 0.5) {
        double r = 1.0;
#pragma GCC unroll 12
        for (int k = 13; k >= 2; k--) /* Horner: x (1 - x/2 (1 - x/3 (...))) */
            r = 1 - x * inv[k] * r;
        return r * x;
    }
    int k = (int)(x * 1.44269504088896340736 + 0.5);
    double y = x - k * 0.69314718055994530942, e = coef[12];
#pragma GCC unroll 12
    for (int i = 11; i >= 0; i--)
        e = e * y + coef[i];
    uint64_t bits = (uint64_t)(1023 - k) << 52; /* 2^-k, k <= 58 */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return 1 - e * scale;
}

uint64_t hak_prof_draw(hak_prof_thread_t *pt) {
    double rate = (double)hak_opt.prof_rate;
    if (hak_opt.prof_rate <= 1)
        return 1;
    if (pt->rng == 0) {
        /* With HAKMEM_PROF_SEED, threads draw in the order they first
         * sample, each from its own seed. */
        uint64_t n = atomic_fetch_add_explicit(&seed_next, 1, memory_order_relaxed);
        uint64_t s = hak_opt.prof_seed ? hak_opt.prof_seed : hak_tables.key_check ^ (uintptr_t)pt;
        uint64_t z = s + (n + 1) * 0x9e3779b97f4a7c15u; /* splitmix64 */
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        pt->rng = (z ^ (z >> 31)) | 1;
    }
    pt->rng ^= pt->rng >> 12; /* xorshift64* */
    pt->rng ^= pt->rng << 25;
    pt->rng ^= pt->rng >> 27;
    uint64_t r = pt->rng * 0x2545f4914f6cdd1du;
    double u = ((double)(r >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
    double x = neg_log(u) * rate;
    if (x < 1.0)
        return 1;
    if (x > 0x1.0p62)
        return (uint64_t)1 << 62;
    return (uint64_t)x;
}

/* How many allocations one sampled as size bytes stands for. */
static double weight_of(uint64_t size) {
    if (hak_opt.prof_rate <= 1)
        return 1.0;
    if (size == 0)
        size = 1;
    return 1.0 / one_minus_exp_neg((double)size / (double)hak_opt.prof_rate);
}

/* The weight of each class's size, filled before profiling first starts
 * (the rate is read once, at init): most samples are of a class. */
static double class_weight[HAK_NCODES];

static double weight(uint64_t size) {
    if (size <= HAK_SMALL_MAX && hak_class_size[hak_class_of(size)] == size)
        return class_weight[hak_class_of(size)];
    return weight_of(size);
}

/* ------------------------------------------------------------------ */
/* Stacks                                                              */

/*
 * A frame-pointer walk: no unwinder, so nothing to allocate, no lock to
 * take and no first-call dlopen (glibc's backtrace() loads libgcc_s), and
 * a few instructions a frame.  The library's slow paths keep frame
 * pointers (Makefile.am), so the chain from here reaches the program's
 * frames; a program built without them gives only its frames that have
 * them (often just the caller of malloc).  Each frame is checked to lie
 * between this one and the top of the thread's stack, and above the one
 * before, so a chain broken by code that uses the register for data ends
 * the walk instead of faulting.  The top: glibc puts a thread's
 * descriptor, which the thread pointer addresses, just above its stack;
 * the main thread's stack ends at __libc_stack_end.
 */
extern void *__libc_stack_end;

static uintptr_t stack_top(uintptr_t sp) {
    uintptr_t tp = (uintptr_t)__builtin_thread_pointer();
    if (sp < tp)
        return tp;
    return (uintptr_t)__libc_stack_end;
}

/* The frame record after the one at *fp, whose return address it sets in
 * *ret, when *fp lies above lo (then moved past it) and at most at hi, is
 * aligned, and the address is no null page's; false when the chain ends. */
HAK_INLINE bool frame_next(const uintptr_t **fp, uintptr_t *lo, uintptr_t hi, uintptr_t *ret) {
    uintptr_t a = (uintptr_t)*fp;
    if (a < *lo || a > hi || (a & (sizeof(uintptr_t) - 1)) != 0)
        return false;
    *ret = (*fp)[1];
    if (*ret < HAK_PAGE_SIZE)
        return false;
    *lo = a + 2 * sizeof(uintptr_t);
    *fp = (const uintptr_t *)(*fp)[0];
    return true;
}

static __attribute__((noinline)) unsigned backtrace_fp(uintptr_t *out, unsigned max) {
    const uintptr_t *fp = __builtin_frame_address(0);
    uintptr_t lo = (uintptr_t)fp, hi = stack_top(lo), ret = 0, last = 0;
    if (hi <= lo || hi - lo > ((uintptr_t)1 << 30))
        return 0;
    hi -= 2 * sizeof(uintptr_t); /* the last place a frame record fits */
    unsigned n = 0;
    /* The library's own frames, left out; then the program's, each loop
     * with only its own tests. */
    while (frame_next(&fp, &lo, hi, &ret)) {
        last = ret;
        if (ret - self_lo >= self_hi - self_lo) {
            out[n++] = ret;
            break;
        }
    }
    while (n > 0 && n < max && frame_next(&fp, &lo, hi, &ret))
        out[n++] = ret;
    /* A chain broken inside the library (an entry point that used the
     * register for data, as sanitizers' code does): its outermost frame
     * reached, so that the stack is not empty. */
    if (n == 0 && last != 0)
        out[n++] = last;
    return n;
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    uintptr_t me = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (me >= lo && me < lo + ph->p_memsz) {
            /* The program itself (the first object, or a static one):
             * its frames are the program's too. */
            if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
                self_lo = lo;
                self_hi = lo + ph->p_memsz;
            }
            return 1;
        }
    }
    return 0;
}

static uint64_t stack_hash(const uintptr_t *f, unsigned n) {
    uint64_t h = 0xcbf29ce484222325u ^ n;
    for (unsigned i = 0; i < n; i++)
        h = (h ^ f[i]) * 0x100000001b3u;
    return h;
}

/* Whether the n frames at a and at b are the same: a loop, for the few
 * frames of a stack, where memcmp is a call that sizes its work first. */
static bool frames_equal(const uintptr_t *a, const uintptr_t *b, unsigned n) {
    for (unsigned k = 0; k < n; k++)
        if (a[k] != b[k])
            return false;
    return true;
}

/* The index of the stack f[0..n) of hash h, added if new (prof_lock
 * held). */
static uint32_t stack_find(const uintptr_t *f, unsigned n, uint64_t h) {
    uint32_t *slot = &stack_slot[h & (STACK_SLOTS - 1)];
    for (uint32_t i = *slot; i != 0; i = stacks[i].next)
        if (stacks[i].hash == h && stacks[i].depth == n && frames_equal(stacks[i].frame, f, n))
            return i;
    if (nstacks == STACKS_MAX)
        return 0;
    uint32_t i = nstacks++;
    prof_stack_t *s = &stacks[i];
    s->hash = h;
    s->depth = n;
    memcpy(s->frame, f, n * sizeof *f);
    s->next = *slot;
    *slot = i;
    return i;
}

/* ------------------------------------------------------------------ */
/* Live sampled blocks: open addressing on the address, linear probing,
 * deletion by shifting back (prof_lock held). */

static size_t rec_home(uintptr_t p, size_t cap) {
    return (size_t)((p >> 4) * 0x9e3779b97f4a7c15u >> 20) & (cap - 1);
}

static prof_rec_t *rec_find(uintptr_t p) {
    if (recs == NULL)
        return NULL;
    for (size_t i = rec_home(p, recs_cap);; i = (i + 1) & (recs_cap - 1)) {
        if (recs[i].p == p)
            return &recs[i];
        if (recs[i].p == 0)
            return NULL;
    }
}

static void rec_put(prof_rec_t *to, size_t cap, const prof_rec_t *r) {
    size_t i = rec_home(r->p, cap);
    while (to[i].p != 0)
        i = (i + 1) & (cap - 1);
    to[i] = *r;
}

/* Room for one more record: false when the OS refuses memory. */
static bool rec_reserve(void) {
    if (recs != NULL && (recs_len + 1) * 2 <= recs_cap)
        return true;
    size_t cap = recs ? recs_cap * 2 : RECS_START;
    prof_rec_t *n = hak_os_map(cap * sizeof *n, HAK_PAGE_SIZE);
    if (n == NULL)
        return false;
    for (size_t i = 0; recs != NULL && i < recs_cap; i++)
        if (recs[i].p != 0)
            rec_put(n, cap, &recs[i]);
    if (recs != NULL)
        hak_os_unmap(recs, recs_cap * sizeof *recs);
    recs = n;
    recs_cap = cap;
    return true;
}

static void rec_delete(prof_rec_t *r) {
    size_t i = (size_t)(r - recs);
    for (size_t j = (i + 1) & (recs_cap - 1); recs[j].p != 0; j = (j + 1) & (recs_cap - 1)) {
        size_t h = rec_home(recs[j].p, recs_cap);
        /* j's record may move to i if its home is not in (i, j]. */
        if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
            recs[i] = recs[j];
            i = j;
        }
    }
    recs[i].p = 0;
    recs_len--;
}

/* ------------------------------------------------------------------ */
/* Profiles                                                            */

/* A buffer on the stack in front of a file descriptor. */
typedef struct out {
    int fd, err;
    size_t len;
    char buf[4096];
} out_t;

static void out_flush(out_t *o) {
    if (o->len > 0 && o->err == 0 && hak_write_all(o->fd, o->buf, o->len) != 0)
        o->err = errno;
    o->len = 0;
}

static void out_put(out_t *o, const char *s, size_t n) {
    while (n > 0) {
        if (o->len == sizeof o->buf)
            out_flush(o);
        size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

static void out_fmt(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(out_t *o, const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    size_t n = hak_format(line, sizeof line, fmt, ap);
    va_end(ap);
    out_put(o, line, n);
}

static unsigned long long est(double x) { return x <= 0 ? 0 : (unsigned long long)(x + 0.5); }

/* Writes the profile to o (prof_lock held). */
static void write_profile(out_t *o) {
    double in_n = 0, in_b = 0, al_n = 0, al_b = 0;
    for (uint32_t i = 0; i < nstacks; i++) {
        const prof_stack_t *s = &stacks[i];
        in_n += s->alloc_n - s->free_n;
        in_b += s->alloc_b - s->free_b;
        al_n += s->alloc_n;
        al_b += s->alloc_b;
    }
    out_fmt(o, "heap profile: %llu: %llu [%llu: %llu] @ heapprofile\n", est(in_n), est(in_b),
            est(al_n), est(al_b));
    for (uint32_t i = 0; i < nstacks; i++) {
        const prof_stack_t *s = &stacks[i];
        if (s->samples == 0)
            continue;
        out_fmt(o, "%llu: %llu [%llu: %llu] @", est(s->alloc_n - s->free_n),
                est(s->alloc_b - s->free_b), est(s->alloc_n), est(s->alloc_b));
        /* Return addresses, less one, so that each names its call (pprof
         * subtracts one from all but the first). */
        for (uint32_t k = 0; k < s->depth; k++)
            out_fmt(o, " %p", (void *)(s->frame[k] - (k == 0)));
        out_put(o, "\n", 1);
    }
    out_put(o, "\nMAPPED_LIBRARIES:\n", 19);
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            out_put(o, buf, (size_t)n);
        close(fd);
    }
}

static int dump_to(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    out_t o = {.fd = fd};
    hak_spin_lock(&prof_lock);
    write_profile(&o);
    hak_spin_unlock(&prof_lock);
    out_flush(&o);
    close(fd);
    if (o.err != 0) {
        errno = o.err;
        return -1;
    }
    return 0;
}

/* The next PREFIX.<pid>.<seq>.heap, or -1 with EINVAL without a prefix. */
static int dump_next(void) {
    if (hak_opt.prof.s[0] == '\0') {
        errno = EINVAL;
        return -1;
    }
    char path[sizeof hak_opt.prof.s + 64];
    unsigned seq = __atomic_add_fetch(&dump_seq, 1, __ATOMIC_RELAXED);
    const char *zeros = seq < 10 ? "000" : seq < 100 ? "00" : seq < 1000 ? "0" : "";
    hak_format_str(path, sizeof path, "%s.%u.%s%u.heap", hak_opt.prof.s, (unsigned)getpid(), zeros,
                   seq);
    int rc = dump_to(path);
    static _Atomic bool warned;
    if (rc != 0 && !atomic_exchange(&warned, true)) {
        char num[24];
        int err = errno;
        hak_log("HAKMEM_PROF=%s: cannot write %s: %s", hak_opt.prof.s, path,
                hak_errno_name(err, num, sizeof num));
        errno = err;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Sampled blocks                                                      */

static void call_hook(int kind, const void *p, size_t request, double w, const uintptr_t *f,
                      unsigned n, uint64_t ms) {
    hak_prof_hook_t fn = __atomic_load_n(&prof_hook, __ATOMIC_ACQUIRE);
    if (fn == NULL || in_hook)
        return;
    hak_prof_event_t ev = {.kind = kind,
                           .ptr = (void *)p,
                           .size = request,
                           .weight = w,
                           .depth = n,
                           .stack = (void *const *)f,
                           .ms = ms};
    in_hook = true;
    fn(&ev);
    in_hook = false;
}

void hak_prof_sampled(void *p, size_t request, size_t size) {
    uintptr_t f[PROF_DEPTH];
    unsigned n = backtrace_fp(f, PROF_DEPTH);
    double w = weight(size);
    uint64_t h = stack_hash(f, n), ms = hak_os_now_ms(); /* outside the lock */
    bool due = false;
    hak_spin_lock(&prof_lock);
    if (stacks != NULL && rec_reserve()) {
        prof_rec_t r = {.p = (uintptr_t)p,
                        .stack = stack_find(f, n, h),
                        .request = request,
                        .ms = ms,
                        .weight = w};
        rec_put(recs, recs_cap, &r);
        recs_len++;
        atomic_fetch_add_explicit(&hak_prof_live, 1, memory_order_relaxed);
        prof_stack_t *s = &stacks[r.stack];
        s->samples++;
        s->alloc_n += w;
        s->alloc_b += w * (double)request;
        alloc_est += w * (double)request;
        if (hak_opt.prof_interval != 0 && alloc_est >= next_dump) {
            next_dump = alloc_est + (double)hak_opt.prof_interval;
            due = true;
        }
    }
    hak_spin_unlock(&prof_lock);
    /* Read first: a write at every sample would bounce its line between
     * the threads that sample. */
    if (atomic_load_explicit(&dump_asked, memory_order_relaxed) &&
        atomic_exchange_explicit(&dump_asked, false, memory_order_relaxed))
        due = true;
    if (due)
        (void)dump_next();
    call_hook(HAK_PROF_ALLOC, p, request, w, f, n, ms);
}

bool hak_prof_freed(void *p, size_t usable) {
    size_t first = ((usable >> HAK_PAGE_SHIFT) - 1) * KEPT_WAYS;
    bool fits = first < HAK_PROF_KEPT_MAX && (usable & (HAK_PAGE_SIZE - 1)) == 0;
    hak_spin_lock(&prof_lock);
    prof_rec_t *r = rec_find((uintptr_t)p);
    if (r == NULL) {
        bool twice = false;
        for (size_t i = first; fits && i < first + KEPT_WAYS; i++)
            twice |= atomic_load_explicit(&kept[i], memory_order_relaxed) == p;
        hak_spin_unlock(&prof_lock);
        if (twice)
            hak_fatal("free(): double free: %p", p);
        return false;
    }
    prof_stack_t *s = &stacks[r->stack];
    double w = r->weight;
    size_t request = r->request;
    uint64_t ms = r->ms;
    s->free_n += w;
    s->free_b += w * (double)request;
    rec_delete(r);
    /* Kept, it still counts in hak_prof_live. */
    bool keep = false;
    for (size_t i = first; fits && !keep && i < first + KEPT_WAYS && (hak_prof_epoch_now() & 1);
         i++) {
        keep = atomic_load_explicit(&kept[i], memory_order_relaxed) == NULL;
        if (keep)
            atomic_store_explicit(&kept[i], p, memory_order_release);
    }
    if (!keep)
        atomic_fetch_sub_explicit(&hak_prof_live, 1, memory_order_relaxed);
    uintptr_t f[PROF_DEPTH];
    /* The stack, for a hook only (call_hook looks again). */
    unsigned n = 0;
    if (__atomic_load_n(&prof_hook, __ATOMIC_RELAXED) != NULL) {
        n = s->depth;
        memcpy(f, s->frame, n * sizeof *f);
    }
    hak_spin_unlock(&prof_lock);
    call_hook(HAK_PROF_FREE, p, request, w, f, n, ms);
    return keep;
}

/* Empties kept slot i; the block it held, or NULL.  An empty slot is only
 * read: most are empty, and a read keeps the line shared. */
static void *kept_grab(size_t i) {
    if (atomic_load_explicit(&kept[i], memory_order_relaxed) == NULL)
        return NULL;
    return atomic_exchange_explicit(&kept[i], NULL, memory_order_acquire);
}

void *hak_prof_kept_take(size_t n) {
    size_t pages = n == 0 ? 1 : ((n - 1) >> HAK_PAGE_SHIFT) + 1;
    size_t lo = (pages - 1) * KEPT_WAYS, hi = (pages + pages / 2) * KEPT_WAYS;
    if (hi > HAK_PROF_KEPT_MAX)
        hi = HAK_PROF_KEPT_MAX;
    for (size_t i = lo; i < hi; i++) {
        void *p = kept_grab(i);
        if (p != NULL) {
            /* hak_prof_sampled counts it again. */
            atomic_fetch_sub_explicit(&hak_prof_live, 1, memory_order_relaxed);
            return p;
        }
    }
    return NULL;
}

unsigned hak_prof_kept_drain(void *out[HAK_PROF_KEPT_MAX]) {
    unsigned n = 0;
    for (unsigned i = 0; i < HAK_PROF_KEPT_MAX; i++) {
        void *p = kept_grab(i);
        if (p != NULL)
            out[n++] = p;
    }
    atomic_fetch_sub_explicit(&hak_prof_live, n, memory_order_relaxed);
    return n;
}

bool hak_prof_has(const void *p) {
    hak_spin_lock(&prof_lock);
    bool has = rec_find((uintptr_t)p) != NULL;
    hak_spin_unlock(&prof_lock);
    return has;
}

/* ------------------------------------------------------------------ */
/* The leak report                                                     */

typedef struct leak {
    uint32_t stack;
    double bytes, blocks;
    uint64_t samples;
} leak_t;

/* Shell sort, largest first: qsort may allocate. */
static void leaks_sort(leak_t *l, size_t n) {
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++)
            for (size_t j = i; j >= gap && l[j - gap].bytes < l[j].bytes; j -= gap) {
                leak_t x = l[j];
                l[j] = l[j - gap];
                l[j - gap] = x;
            }
}

/* The live samples by stack, collected under the lock into a mapping of
 * their own, then sorted, symbolised and printed without it. */
static void leak_report(void) {
    hak_spin_lock(&prof_lock);
    size_t n = 0, cap = nstacks;
    leak_t *l = stacks ? hak_os_map(cap * sizeof *l, HAK_PAGE_SIZE) : NULL;
    uintptr_t *frames = l ? hak_os_map(cap * PROF_DEPTH * sizeof *frames, HAK_PAGE_SIZE) : NULL;
    uint32_t *depth = frames ? hak_os_map(cap * sizeof *depth, HAK_PAGE_SIZE) : NULL;
    double bytes = 0, blocks = 0;
    uint64_t samples = 0;
    if (depth == NULL) {
        hak_spin_unlock(&prof_lock);
        hak_log("HAKMEM_LEAKS: no memory for the report");
        return;
    }
    for (uint32_t i = 0; i < nstacks; i++) {
        const prof_stack_t *s = &stacks[i];
        double b = s->alloc_b - s->free_b;
        if (b < 0.5)
            continue;
        l[n] = (leak_t){.stack = (uint32_t)n, .bytes = b, .blocks = s->alloc_n - s->free_n};
        memcpy(&frames[n * PROF_DEPTH], s->frame, s->depth * sizeof *frames);
        depth[n] = s->depth;
        bytes += b;
        blocks += l[n].blocks;
        n++;
    }
    samples = recs_len;
    hak_spin_unlock(&prof_lock);
    leaks_sort(l, n);
    hak_log("leaks: %llu bytes in %llu blocks live at exit (estimated from %llu samples), from "
            "%zu stacks",
            est(bytes), est(blocks), (unsigned long long)samples, n);
    for (size_t i = 0; i < n; i++) {
        hak_log("leak %zu: %llu bytes in %llu blocks, allocated at:", i + 1, est(l[i].bytes),
                est(l[i].blocks));
        const uintptr_t *f = &frames[l[i].stack * PROF_DEPTH];
        for (uint32_t k = 0; k < depth[l[i].stack]; k++) {
            /* The call, one byte before the return address; named by the
             * dynamic symbol table (a program's own functions need
             * -rdynamic), else by its object and offset in it. */
            uintptr_t a = f[k] - 1, base = 0;
            const char *name = "?", *file = "?";
            Dl_info info;
            if (dladdr((void *)a, &info) != 0) {
                file = info.dli_fname ? info.dli_fname : file;
                base = (uintptr_t)info.dli_fbase;
                if (info.dli_sname != NULL) {
                    name = info.dli_sname;
                    base = (uintptr_t)info.dli_saddr;
                }
            }
            hak_log("  #%u %p %s+0x%lx (%s)", k, (void *)a, name, (unsigned long)(a - base), file);
        }
    }
    hak_os_unmap(depth, cap * sizeof *depth);
    hak_os_unmap(frames, cap * PROF_DEPTH * sizeof *frames);
    hak_os_unmap(l, cap * sizeof *l);
}

/* ------------------------------------------------------------------ */
/* Start, stop, options                                                */

static bool tables_map(void) {
    if (stacks != NULL)
        return true;
    prof_stack_t *s = hak_os_map(STACKS_MAX * sizeof *s, HAK_PAGE_SIZE);
    uint32_t *slot = s ? hak_os_map(STACK_SLOTS * sizeof *slot, HAK_PAGE_SIZE) : NULL;
    if (slot == NULL) {
        if (s != NULL)
            hak_os_unmap(s, STACKS_MAX * sizeof *s);
        return false;
    }
    for (unsigned c = 1; c <= HAK_NCLASSES; c++)
        class_weight[c] = weight_of(hak_class_size[c]);
    hak_spin_lock(&prof_lock);
    stacks = s;
    stack_slot = slot;
    next_dump = (double)hak_opt.prof_interval;
    hak_spin_unlock(&prof_lock);
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&backtrace_fp);
    return true;
}

static int prof_start(void) {
    hak_lock(&ctl_lock);
    unsigned e = atomic_load_explicit(&hak_prof_epoch, memory_order_relaxed);
    if (!(e & 1)) {
        if (!tables_map()) {
            hak_unlock(&ctl_lock);
            errno = ENOMEM;
            return -1;
        }
        hak_chunk_shadow(true);
        atomic_store_explicit(&hak_prof_epoch, e + 1, memory_order_release);
    }
    hak_unlock(&ctl_lock);
    return 0;
}

void hak_prof_init(void) {
    if (hak_opt.prof.s[0] != '\0' || hak_opt.leaks)
        (void)prof_start();
}

static void on_signal(int sig) {
    (void)sig;
    atomic_store_explicit(&dump_asked, true, memory_order_relaxed);
}

void hak_prof_init_late(void) {
    int sig = (int)hak_opt.prof_signal;
    if (sig == 0)
        return;
    if (sig < 1 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
        hak_log("HAKMEM_PROF_SIGNAL=%d: not a signal that can be caught; ignored", sig);
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void hak_prof_at_exit(void) {
    if (stacks == NULL)
        return;
    if (hak_opt.prof.s[0] != '\0')
        (void)dump_next();
    if (hak_opt.leaks)
        leak_report();
}

void hak_prof_fork_prepare(void) {
    hak_lock(&ctl_lock);
    hak_spin_lock(&prof_lock);
}
void hak_prof_fork_release(void) {
    hak_spin_unlock(&prof_lock);
    hak_unlock(&ctl_lock);
}

/* ------------------------------------------------------------------ */
/* The hak_prof_* API                                                  */

HAK_EXPORT int hak_prof_start(void) { return prof_start(); }

HAK_EXPORT void hak_prof_stop(void) {
    hak_lock(&ctl_lock);
    unsigned e = atomic_load_explicit(&hak_prof_epoch, memory_order_relaxed);
    if (e & 1) {
        atomic_store_explicit(&hak_prof_epoch, e + 1, memory_order_release);
        hak_chunk_shadow(false);
    }
    hak_unlock(&ctl_lock);
}

HAK_EXPORT int hak_prof_dump(const char *path) {
    if (stacks == NULL) {
        errno = EINVAL;
        return -1;
    }
    return path != NULL ? dump_to(path) : dump_next();
}

HAK_EXPORT hak_prof_hook_t hak_prof_set_hook(hak_prof_hook_t fn) {
    return __atomic_exchange_n(&prof_hook, fn, __ATOMIC_ACQ_REL);
}

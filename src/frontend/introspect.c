/*
 * introspect.c - glibc's introspection calls (mallinfo, mallinfo2,
 * malloc_stats, malloc_info, mallopt) answered with HAKMEM's own figures
 * (stats.c), so that a program or tool asking "how much memory does the
 * allocator hold" gets them, not the zeros of glibc's unused heap.  The
 * exported names are in override.c, beside malloc: a static link that
 * needs any of them then finds them all in the object that defines malloc,
 * and never pulls in glibc's malloc.o.  hakmem(3), GLIBC COMPATIBILITY,
 * says what each field holds.
 */
#include "frontend/frontend.h"

#include <limits.h>
#include <malloc.h>
#include <stdio.h>

typedef struct figures {
    hak_stats_t s;
    hak_class_stats_t cls[HAK_NCLASSES];
    uint64_t free_blocks; /* cached in thread caches and the transfer cache */
} figures_t;

static void figures(figures_t *f) {
    hak_ensure_init();
    hak_stats_collect(&f->s, f->cls, HAK_NCLASSES);
    f->free_blocks = 0;
    for (unsigned i = 0; i < HAK_NCLASSES; i++)
        f->free_blocks += f->cls[i].cached_blocks;
}

static uint64_t sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

struct mallinfo2 hak_impl_mallinfo2(void) {
    figures_t f;
    figures(&f);
    const hak_stats_t *s = &f.s;
    return (struct mallinfo2){
        .arena = s->mapped_bytes,
        .ordblks = f.free_blocks,
        .smblks = 0,
        .hblks = s->large_allocs - s->large_frees,
        .hblkhd = s->large_live_bytes,
        .usmblks = s->peak_live_bytes,
        .fsmblks = 0,
        .uordblks = s->live_bytes,
        .fordblks = sub0(s->mapped_bytes, s->live_bytes),
        .keepcost = sub0(s->resident_bytes, s->active_bytes),
    };
}

static int clamp_int(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

/* The old interface has int fields: a figure beyond INT_MAX reads INT_MAX
 * (glibc's wraps around). */
struct mallinfo hak_impl_mallinfo(void) {
    struct mallinfo2 m = hak_impl_mallinfo2();
    return (struct mallinfo){
        .arena = clamp_int(m.arena),
        .ordblks = clamp_int(m.ordblks),
        .smblks = clamp_int(m.smblks),
        .hblks = clamp_int(m.hblks),
        .hblkhd = clamp_int(m.hblkhd),
        .usmblks = clamp_int(m.usmblks),
        .fsmblks = clamp_int(m.fsmblks),
        .uordblks = clamp_int(m.uordblks),
        .fordblks = clamp_int(m.fordblks),
        .keepcost = clamp_int(m.keepcost),
    };
}

/* One line of malloc_stats: the label, then the number right-aligned in
 * ten columns, as glibc prints them. */
static void stats_line(char *buf, size_t cap, size_t *len, const char *label, uint64_t v) {
    char num[24];
    size_t n = hak_format_str(num, sizeof num, "%llu", (unsigned long long)v);
    *len += hak_format_str(buf + *len, cap - *len, "%s = %s%s\n", label,
                           "          " + (n < 10 ? n : 10), num);
}

/* glibc's report, in its shape and to stderr (fd 2, without allocating):
 * arena 0 is what small blocks take, the totals add the large blocks,
 * which are glibc's mmapped ones. */
void hak_impl_malloc_stats(void) {
    figures_t f;
    figures(&f);
    const hak_stats_t *s = &f.s;
    char buf[512];
    size_t len = hak_format_str(buf, sizeof buf, "Arena 0:\n");
    stats_line(buf, sizeof buf, &len, "system bytes    ",
               sub0(s->mapped_bytes, s->large_live_bytes));
    stats_line(buf, sizeof buf, &len, "in use bytes    ", s->live_bytes - s->large_live_bytes);
    len += hak_format_str(buf + len, sizeof buf - len, "Total (incl. mmap):\n");
    stats_line(buf, sizeof buf, &len, "system bytes    ", s->mapped_bytes);
    stats_line(buf, sizeof buf, &len, "in use bytes    ", s->live_bytes);
    stats_line(buf, sizeof buf, &len, "max mmap regions", atomic_load(&hak_stat_large_peak_blocks));
    stats_line(buf, sizeof buf, &len, "max mmap bytes  ", atomic_load(&hak_stat_large_peak_bytes));
    (void)hak_write_all(2, buf, len);
}

/* The totals glibc prints for its heap, and again (with the mmapped
 * blocks, HAKMEM's large ones) for the whole process. */
static void xml_totals(FILE *fp, const figures_t *f, uint64_t free_bytes, bool whole) {
    const hak_stats_t *s = &f->s;
    fprintf(fp,
            "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
            "<total type=\"rest\" count=\"%llu\" size=\"%llu\"/>\n",
            (unsigned long long)f->free_blocks, (unsigned long long)free_bytes);
    if (whole)
        fprintf(fp, "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n",
                (unsigned long long)(s->large_allocs - s->large_frees),
                (unsigned long long)s->large_live_bytes);
    fprintf(fp,
            "<system type=\"current\" size=\"%llu\"/>\n"
            "<system type=\"max\" size=\"%llu\"/>\n"
            "<aspace type=\"total\" size=\"%llu\"/>\n"
            "<aspace type=\"mprotect\" size=\"%llu\"/>\n",
            (unsigned long long)s->mapped_bytes, (unsigned long long)s->peak_mapped_bytes,
            (unsigned long long)s->mapped_bytes, (unsigned long long)s->mapped_bytes);
}

/* glibc's XML, with its elements where HAKMEM has the figure (free blocks
 * per size, totals, system and address space) and an element of HAKMEM's
 * own with the rest.  The caller's stdio may allocate: no lock of HAKMEM's
 * is held while it writes. */
int hak_impl_malloc_info(int options, FILE *fp) {
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    figures_t f;
    figures(&f);
    const hak_stats_t *s = &f.s;
    uint64_t free_bytes = 0;
    fprintf(fp, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
    for (unsigned i = 0; i < HAK_NCLASSES; i++) {
        const hak_class_stats_t *k = &f.cls[i];
        uint64_t from = i == 0 ? 1 : f.cls[i - 1].size + 1;
        free_bytes += k->cached_blocks * k->size;
        if (k->refills == 0)
            continue;
        fprintf(fp,
                "  <size from=\"%llu\" to=\"%llu\" total=\"%llu\" count=\"%llu\" "
                "live=\"%llu\" refills=\"%llu\" flushes=\"%llu\"/>\n",
                (unsigned long long)from, (unsigned long long)k->size,
                (unsigned long long)(k->cached_blocks * k->size),
                (unsigned long long)k->cached_blocks, (unsigned long long)k->live_blocks,
                (unsigned long long)k->refills, (unsigned long long)k->flushes);
    }
    fprintf(fp, "</sizes>\n");
    xml_totals(fp, &f, free_bytes, false);
    fprintf(fp, "</heap>\n");
    xml_totals(fp, &f, free_bytes, true);
    fprintf(fp,
            "<hakmem version=\"%s\" backend=\"%s\" live_bytes=\"%llu\" live_blocks=\"%llu\" "
            "active_bytes=\"%llu\" cached_bytes=\"%llu\" resident_bytes=\"%llu\" "
            "returned_bytes=\"%llu\"/>\n"
            "</malloc>\n",
            PACKAGE_VERSION, hak_backend->name, (unsigned long long)s->live_bytes,
            (unsigned long long)s->live_blocks, (unsigned long long)s->active_bytes,
            (unsigned long long)s->cached_bytes, (unsigned long long)s->resident_bytes,
            (unsigned long long)s->returned_bytes);
    return ferror(fp) ? -1 : 0;
}

/* glibc's tunables, mapped to HAKMEM's where one exists; the others that
 * glibc accepts are accepted with no effect (HAKMEM has no arenas, no
 * fastbins, no heap top, chooses page runs for itself, and always reports
 * misuse and aborts).  1 means accepted, 0 refused, as glibc documents;
 * M_PERTURB is refused, since HAKMEM does not fill blocks. */
int hak_impl_mallopt(int param, int value) {
    hak_ensure_init();
    switch (param) {
    case M_TRIM_THRESHOLD:
        /* How much free memory stays cached before it goes back. */
        hak_ace_set_cached((size_t)(unsigned)value, (size_t)(unsigned)value);
        return 1;
    case M_MXFAST:
        return value >= 0 && value <= 80 * (int)sizeof(size_t) / 4;
    case M_MMAP_THRESHOLD:
        return value >= 0 && (size_t)value <= ((size_t)32 << 20);
    case M_TOP_PAD:
    case M_MMAP_MAX:
    case M_CHECK_ACTION:
        return 1;
    case M_ARENA_TEST:
    case M_ARENA_MAX:
        return value > 0;
    default:
        return 0;
    }
}

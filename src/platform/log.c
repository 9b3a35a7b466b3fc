/*
 * log.c - diagnostics that never allocate.  A message is formatted into a
 * stack buffer by a small formatter of our own (stdio may allocate, and
 * this runs inside malloc) and written with one write(2).
 */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HAK_LOG_MAX 512

static size_t put_str(char *buf, size_t pos, size_t cap, const char *s) {
    if (s == NULL)
        s = "(null)";
    while (*s && pos + 1 < cap)
        buf[pos++] = *s++;
    return pos;
}

static size_t put_uint(char *buf, size_t pos, size_t cap, unsigned long long v, unsigned base) {
    char tmp[24];
    size_t n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (n && pos + 1 < cap)
        buf[pos++] = tmp[--n];
    return pos;
}

size_t hak_format(char *buf, size_t cap, const char *fmt, va_list ap) {
    size_t pos = 0;
    if (cap == 0)
        return 0;
    for (const char *f = fmt; *f && pos + 1 < cap; f++) {
        if (*f != '%') {
            buf[pos++] = *f;
            continue;
        }
        f++;
        int longs = 0;
        bool size = false;
        while (*f == 'l') {
            longs++;
            f++;
        }
        if (*f == 'z') {
            size = true;
            f++;
        }
        switch (*f) {
        case 's':
            pos = put_str(buf, pos, cap, va_arg(ap, const char *));
            break;
        case 'c':
            buf[pos++] = (char)va_arg(ap, int);
            break;
        case 'd': {
            long long v = longs ? va_arg(ap, long) : va_arg(ap, int);
            if (v < 0 && pos + 1 < cap) {
                buf[pos++] = '-';
                v = -v;
            }
            pos = put_uint(buf, pos, cap, (unsigned long long)v, 10);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v;
            if (size)
                v = va_arg(ap, size_t);
            else if (longs == 2)
                v = va_arg(ap, unsigned long long);
            else if (longs == 1)
                v = va_arg(ap, unsigned long);
            else
                v = va_arg(ap, unsigned);
            pos = put_uint(buf, pos, cap, v, *f == 'x' ? 16 : 10);
            break;
        }
        case 'p':
            pos = put_str(buf, pos, cap, "0x");
            pos = put_uint(buf, pos, cap, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            buf[pos++] = '%';
            break;
        default: /* unknown conversion: print it as written */
            buf[pos++] = '%';
            if (*f && pos + 1 < cap)
                buf[pos++] = *f;
            if (!*f)
                f--;
            break;
        }
    }
    buf[pos] = '\0';
    return pos;
}

size_t hak_format_str(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = hak_format(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

const char *hak_errno_name(int err, char *buf, size_t cap) {
#if HAVE_STRERRORNAME_NP
    const char *name = strerrorname_np(err);
    if (name != NULL)
        return name;
#endif
    hak_format_str(buf, cap, "errno %d", err);
    return buf;
}

int hak_write_all(int fd, const char *buf, size_t len) {
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void vlog(const char *fmt, va_list ap) {
    char buf[HAK_LOG_MAX];
    size_t n = put_str(buf, 0, sizeof buf, "hakmem: ");
    n += hak_format(buf + n, sizeof buf - n - 1, fmt, ap);
    buf[n++] = '\n';
    int saved = errno;
    (void)hak_write_all(2, buf, n);
    errno = saved;
}

void hak_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void hak_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
    abort();
}

void hak_invalid_block(const char *who, const void *p) {
    hak_fatal("%s: invalid pointer: %p (not the start of a block)", who, p);
}

/*
 * log.h - diagnostics written without allocating (log.c).
 */
#ifndef HAK_LOG_H
#define HAK_LOG_H

#include "platform/base.h"

/* ------------------------------------------------------------------ */
/* Diagnostics (platform/log.c): formatted into a stack buffer and written
 * to fd 2 with one write(2); never allocate.  Formats: %s %d %u %zu %lu
 * %llu %x %p %c %%. */

HAK_HIDDEN void hak_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
HAK_HIDDEN __attribute__((noreturn, cold)) void hak_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Reports a pointer handed to who ("free()", ...) that is not the start of
 * a block HAKMEM handed out, and aborts. */
HAK_HIDDEN __attribute__((noreturn, cold)) void hak_invalid_block(const char *who, const void *p);
/* Formats into buf (always NUL-terminated); returns the length written. */
HAK_HIDDEN size_t hak_format(char *buf, size_t cap, const char *fmt, __builtin_va_list ap);
HAK_HIDDEN size_t hak_format_str(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The name of an errno value, such as ENOENT, or "errno N" formatted into buf. */
HAK_HIDDEN const char *hak_errno_name(int err, char *buf, size_t cap);
/* Writes all of buf to fd; 0 or -1 with errno. */
HAK_HIDDEN int hak_write_all(int fd, const char *buf, size_t len);

#endif /* HAK_LOG_H */

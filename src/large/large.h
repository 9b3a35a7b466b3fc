/*
 * large.h - the large-block page allocator (large.c): blocks above the
 * largest size class, or aligned beyond a page, as page runs in shared
 * chunks or chunks of their own, with their free memory cached within the
 * ACE's budget and returned on the purge clock.  Below the frontend and
 * the ACE (which sets its budget); beside the backends.
 */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "internal.h"

/* Blocks above HAK_SMALL_MAX or aligned beyond a page.
 * Sizes up to half a run chunk are page runs in shared 2 MiB chunks; bigger
 * ones get a chunk of their own.  Returns NULL with *cause set on failure. */
HAK_HIDDEN void *hak_large_alloc(size_t size, size_t align, bool zero, hak_fail_t *cause);
/* Frees a block whose page code is HAK_CODE_LARGE; reports and aborts on a
 * pointer that is not the start of a live large block. */
HAK_HIDDEN void hak_large_free(void *p);
HAK_HIDDEN size_t hak_large_usable(const void *p);
/* Resizes a large block in place to n bytes if it can (n fits its mapping,
 * or the pages after a run are free), giving back the pages a shrink
 * frees; true if it did. */
HAK_HIDDEN bool hak_large_resize(void *p, size_t n);
/* The same, where a shrink keeps the pages past n the block's own, not
 * usable: the headroom realloc gives a block that grows, held for the
 * next steps to grow into in place, not charged (malloc_usable_size). */
HAK_HIDDEN bool hak_large_hold(void *p, size_t n);
/* Blocks aligned to 2 MiB or more lie outside their chunk's map entry:
 * frees p if it is one and returns the bytes it held, else returns 0. */
HAK_HIDDEN size_t hak_large_free_far(void *p);
HAK_HIDDEN size_t hak_large_usable_far(const void *p);
HAK_HIDDEN void hak_large_set_budget(size_t cached_bytes);
/* Purges what the purge clock says is due (a purge clock client). */
HAK_HIDDEN void hak_large_decay(void);
HAK_HIDDEN bool hak_large_trim(size_t pad);
/* When the OS refused memory: unmaps every spare and the free pages at the
 * end of every run chunk in use; whether any went. */
HAK_HIDDEN bool hak_large_squeeze(void);
HAK_HIDDEN void hak_large_fork_prepare(void);
HAK_HIDDEN void hak_large_fork_release(void);

#endif /* HAK_LARGE_H */

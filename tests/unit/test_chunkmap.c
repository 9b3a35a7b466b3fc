/* Unit: the chunk map (platform/chunk.c): hak_chunk_owned, hak_chunk_map_new, hak_chunk_unmap;
 * aligned mappings near RLIMIT_AS (platform/os.c). */
#include "frontend/frontend.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check_main.h"

static void setup(void) { hak_ensure_init(); }

START_TEST(test_not_owned) {
    int local = 0;
    ck_assert(!hak_chunk_owned((uintptr_t)&local));
    ck_assert(!hak_chunk_owned((uintptr_t)NULL));
    ck_assert(!hak_chunk_owned((uintptr_t)1));
    ck_assert(!hak_chunk_owned((uintptr_t)-1));
    ck_assert(!hak_chunk_owned(~(uintptr_t)0 >> 1));
    ck_assert(!hak_chunk_owned((uintptr_t)1 << HAK_VA_BITS));
    ck_assert(!hak_chunk_owned((uintptr_t)&setup)); /* text */
    static int in_bss;
    ck_assert(!hak_chunk_owned((uintptr_t)&in_bss));
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(m != MAP_FAILED);
    for (size_t off = 0; off < (1 << 20); off += HAK_PAGE_SIZE)
        ck_assert(!hak_chunk_owned((uintptr_t)m + off));
    munmap(m, 1 << 20);
}
END_TEST

START_TEST(test_blocks_owned) {
    static const size_t sizes[] = {0, 1, 16, 100, 1000, 4096, 32768, 32769, 1 << 20, 8 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = hak_malloc(sizes[i]);
        ck_assert_ptr_nonnull(p);
        HAK_CHECK_MSG(hak_chunk_owned((uintptr_t)p), "malloc(%zu) = %p not owned", sizes[i], p);
        hak_chunk_t *c = hak_chunk_of((uintptr_t)p);
        ck_assert_uint_eq(c->magic, HAK_CHUNK_MAGIC);
        unsigned code = hak_page_code((uintptr_t)p);
        if (sizes[i] <= HAK_SMALL_MAX)
            ck_assert_uint_eq(code, hak_class_of(sizes[i]));
        else
            ck_assert_uint_eq(code, HAK_CODE_LARGE);
        hak_free(p);
    }
}
END_TEST

START_TEST(test_map_new_and_unmap) {
    hak_chunk_t *c = hak_chunk_map_new(HAK_CHUNK_SIZE, HAK_CHUNK_SLABS);
    ck_assert_ptr_nonnull(c);
    uintptr_t a = (uintptr_t)c;
    ck_assert_uint_eq(a & HAK_CHUNK_MASK, 0);
    ck_assert_uint_eq(c->magic, HAK_CHUNK_MAGIC);
    ck_assert_uint_eq(c->kind, HAK_CHUNK_SLABS);
    ck_assert_uint_eq(c->map_size, HAK_CHUNK_SIZE);
    for (unsigned i = 0; i < HAK_CHUNK_PAGES; i++)
        ck_assert_uint_eq(c->page_code[i], HAK_CODE_NONE);
    ck_assert(hak_chunk_owned(a));
    ck_assert(hak_chunk_owned(a + HAK_CHUNK_SIZE - 1));
    ck_assert_ptr_eq(hak_chunk_of(a + 12345), c);
    hak_chunk_unmap(c);
    ck_assert(!hak_chunk_owned(a));

    /* A size that is not a multiple of a chunk is rounded to pages. */
    c = hak_chunk_map_new(HAK_CHUNK_SIZE + 100, HAK_CHUNK_HUGE);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->map_size, HAK_CHUNK_SIZE + HAK_PAGE_SIZE);
    ck_assert(hak_chunk_owned((uintptr_t)c));
    ((char *)c)[c->map_size - 1] = 1;
    hak_chunk_unmap(c);
    ck_assert(!hak_chunk_owned((uintptr_t)c));
}
END_TEST

static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    ck_assert(f != NULL && fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    return (size_t)pages * 4096;
}

/* In a child, with 3 MiB of address space left: 2 MiB-aligned mappings of
 * 2 MiB, then of 512 KiB in the holes of chunks (half of each of them
 * unmapped), still come: an aligned mapping never needs more address
 * space than its size (no over-map by the alignment), sliding down or
 * probing below when the kernel's choice is not aligned. */
START_TEST(test_map_aligned_near_limit) {
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        struct rlimit lim;
        ck_assert(getrlimit(RLIMIT_AS, &lim) == 0);
        lim.rlim_cur = vm_size() + ((size_t)3 << 20);
        ck_assert(setrlimit(RLIMIT_AS, &lim) == 0);
        int fails = 0;
        for (int i = 0; i < 8; i++) {
            char *a = hak_os_map(HAK_CHUNK_SIZE, HAK_CHUNK_SIZE);
            fails += a == NULL || ((uintptr_t)a & HAK_CHUNK_MASK) != 0;
            if (a == NULL)
                continue;
            hak_os_unmap(a + HAK_CHUNK_SIZE / 2, HAK_CHUNK_SIZE / 2); /* a hole above */
            char *b = hak_os_map(HAK_CHUNK_SIZE / 4, HAK_CHUNK_SIZE);
            fails += b == NULL || ((uintptr_t)b & HAK_CHUNK_MASK) != 0;
            if (b != NULL)
                hak_os_unmap(b, HAK_CHUNK_SIZE / 4);
            hak_os_unmap(a, HAK_CHUNK_SIZE / 2);
        }
        _exit(fails);
    }
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("chunkmap");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("chunkmap");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_not_owned);
    tcase_add_test(tc, test_blocks_owned);
    tcase_add_test(tc, test_map_new_and_unmap);
    tcase_add_test(tc, test_map_aligned_near_limit);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

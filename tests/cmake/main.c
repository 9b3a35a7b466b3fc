/*
 * tests/cmake/main.c - built by tests/cmake/CMakeLists.txt against the
 * installed CMake package (hakmem::hakmem, or hakmem::hakmem_static as
 * app_static).  Checks that malloc and free are HAKMEM's and that the
 * library's version is the package's, then prints what
 * tests/integration/cmake.sh compares:
 *
 *   version V        hak_version()
 *   backend NAME     hak_backend_name()
 *   malloc-in FILE   the object defining the malloc this program calls
 *   mapped FILE      each libhakmem file mapped in the process, or "none"
 *
 * Exit 0 if every check passed, else 1 with a line "FAIL: ..." per failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <hakmem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HAKMEM_PKG_VERSION
#error "HAKMEM_PKG_VERSION: the version of the CMake package (hakmem_VERSION)"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)
#define HEADER_VERSION                                                                             \
    STR(HAKMEM_VERSION_MAJOR) "." STR(HAKMEM_VERSION_MINOR) "." STR(HAKMEM_VERSION_PATCH)

static int fails;

static void fail(const char *what, const char *got, const char *want) {
    printf("FAIL: %s: '%s', want '%s'\n", what, got, want);
    fails++;
}

int main(void) {
    /* Through volatile pointers, so the compiler keeps every call. */
    void *(*volatile do_malloc)(size_t) = malloc;
    void (*volatile do_free)(void *) = free;
    hak_stats_t before, after;
    const char *v = hak_version();
    const char *b = hak_backend_name();
    Dl_info info;
    char line[4096];
    int mapped = 0;

    printf("version %s\nbackend %s\n", v, b);
    if (strcmp(v, HAKMEM_PKG_VERSION) != 0)
        fail("hak_version() against the package's hakmem_VERSION", v, HAKMEM_PKG_VERSION);
    if (strcmp(v, HEADER_VERSION) != 0)
        fail("hak_version() against hakmem.h", v, HEADER_VERSION);

    /* A large block is counted by HAKMEM's statistics: malloc is HAKMEM's. */
    hak_stats_get(&before);
    void *big = do_malloc(1 << 20);
    hak_stats_get(&after);
    if (big == NULL) {
        fail("malloc(1 MiB)", "NULL", "a block");
    } else {
        memset(big, 1, 1 << 20);
        if (after.large_allocs != before.large_allocs + 1)
            fail("malloc(1 MiB) counted in hak_stats_get().large_allocs", "no", "yes");
        else if (hak_usable_size(big) < (1 << 20))
            fail("hak_usable_size(malloc(1 MiB)) >= 1 MiB", "no", "yes");
    }
    do_free(big);
    hak_stats_get(&before);
    if (big != NULL && before.large_frees != after.large_frees + 1)
        fail("free of the 1 MiB block counted in large_frees", "no", "yes");
    void *small = do_malloc(100);
    if (small == NULL || hak_usable_size(small) < 100)
        fail("hak_usable_size(malloc(100)) >= 100", "no", "yes");
    do_free(small);

    if (dladdr((void *)malloc, &info) && info.dli_fname != NULL)
        printf("malloc-in %s\n", info.dli_fname);
    else
        fail("dladdr(malloc)", "failed", "the object of malloc");

    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        fail("fopen(/proc/self/maps)", "failed", "open");
    } else {
        char last[4096] = "";
        while (fgets(line, sizeof line, maps) != NULL) {
            char *path = strchr(line, '/');
            if (path == NULL || strstr(path, "libhakmem") == NULL)
                continue;
            path[strcspn(path, "\n")] = '\0';
            if (strcmp(path, last) == 0)
                continue;
            snprintf(last, sizeof last, "%s", path);
            printf("mapped %s\n", path);
            mapped++;
        }
        fclose(maps);
        if (mapped == 0)
            printf("mapped none\n");
    }
    return fails == 0 ? 0 : 1;
}

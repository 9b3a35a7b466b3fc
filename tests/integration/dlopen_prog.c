/* Helper for interposer.sh: a program that loads libhakmem with dlopen
 * after start, as a plugin host would, and allocates through its hak_*
 * API beside the C library's malloc.  Usage: dlopen_prog LIBRARY */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    void *(*hmalloc)(size_t) = (void *(*)(size_t))dlsym(h, "hak_malloc");
    void (*hfree)(void *) = (void (*)(void *))dlsym(h, "hak_free");
    const char *(*hname)(void) = (const char *(*)(void))dlsym(h, "hak_backend_name");
    if (!hmalloc || !hfree || !hname)
        return 1;
    char *blocks[1000];
    for (int i = 0; i < 1000; i++) {
        blocks[i] = hmalloc((size_t)(16 + i * 37 % 5000));
        if (blocks[i] == NULL)
            return 1;
        memset(blocks[i], i & 0xff, 16);
    }
    for (int i = 0; i < 1000; i++) {
        if ((unsigned char)blocks[i][15] != (i & 0xff))
            return 1;
        hfree(blocks[i]);
    }
    char *libc_block = malloc(100);
    free(libc_block);
    printf("dlopen: backend %s, 1000 blocks\n", hname());
    return 0;
}

/* static_prog - built by static.sh with gcc -static and libhakmem.a: calls
 * every name of glibc's malloc.o that a program can reach, from two
 * threads and across a fork, and prints the backend serving it. */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"

/* glibc declares these only in its internal headers. */
void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);
struct mallinfo __libc_mallinfo(void);
struct mallinfo2 __libc_mallinfo2(void);
int __libc_mallopt(int, int);
void *__malloc(size_t);
void __free(void *);
void *__calloc(size_t, size_t);
void *__realloc(void *, size_t);
void *__memalign(size_t, size_t);
int __posix_memalign(void **, size_t, size_t);
void *__valloc(size_t);
void *__pvalloc(size_t);
size_t __malloc_usable_size(void *);
int __malloc_trim(size_t);
struct mallinfo __mallinfo(void);
struct mallinfo2 __mallinfo2(void);
void __malloc_stats(void);
int __malloc_info(int, FILE *);
int __mallopt(int, int);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "static_prog: %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void *thread_main(void *arg) {
    for (int i = 0; i < 1000; i++)
        free(malloc((size_t)i * 13 + 1));
    return arg;
}

int main(void) {
    void *p[16], *q = NULL;
    p[0] = malloc(100);
    p[1] = calloc(10, 10);
    p[2] = realloc(NULL, 200);
    p[3] = memalign(64, 100);
    CHECK(posix_memalign(&q, 64, 100) == 0);
    p[4] = q;
    p[5] = aligned_alloc(64, 128);
    p[6] = valloc(100);
    p[7] = pvalloc(100);
    p[8] = __libc_malloc(100);
    p[9] = __libc_calloc(1, 100);
    p[10] = __libc_realloc(__libc_memalign(64, 10), 300);
    p[11] = __malloc(100);
    p[12] = __realloc(__calloc(1, 10), 500);
    p[13] = __memalign(4096, 10);
    CHECK(__posix_memalign(&q, 128, 10) == 0);
    p[14] = q;
    p[15] = __libc_valloc(10);
    __free(__valloc(10));
    __free(__pvalloc(10));
    __libc_free(__libc_pvalloc(10));
    size_t held = 0;
    for (int i = 0; i < 16; i++) {
        CHECK(p[i] != NULL && malloc_usable_size(p[i]) == __malloc_usable_size(p[i]));
        held += malloc_usable_size(p[i]);
    }
    CHECK(mallinfo2().uordblks >= held && __mallinfo2().uordblks >= held &&
          __libc_mallinfo2().uordblks >= held);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    CHECK(mallinfo().uordblks >= (int)held && __mallinfo().uordblks >= (int)held &&
          __libc_mallinfo().uordblks >= (int)held);
#pragma GCC diagnostic pop
    CHECK(mallopt(M_ARENA_MAX, 1) == 1 && __mallopt(M_ARENA_MAX, 1) == 1 &&
          __libc_mallopt(M_ARENA_MAX, 1) == 1);
    FILE *null = fopen("/dev/null", "w");
    CHECK(null != NULL && malloc_info(0, null) == 0 && __malloc_info(0, null) == 0);
    fclose(null);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    malloc_stats();
    __malloc_stats();
    dup2(saved, 2);
    CHECK(malloc_trim(0) >= 0 && __malloc_trim(0) >= 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0 && pthread_join(t, NULL) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        free(malloc(1000));
        _exit(0);
    }
    int status;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    for (int i = 0; i < 16; i++)
        free(p[i]);
    printf("%s\n", hak_backend_name());
    return 0;
}

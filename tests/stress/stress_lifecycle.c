/* Stress: thread lifecycle edges - first call on a new thread is free/realloc of another thread's
 * block; malloc/free from TSD and TLS destructors; memory of an exited thread reused by the next.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pattern.h"

#define ROUNDS 300

/* ---- first call is free() or realloc() of a foreign block ---- */

typedef struct job {
    void *p;
    size_t n;
    int how; /* 0 free, 1 realloc grow, 2 realloc shrink, 3 free_sized-like via realloc(p, 0) */
} job_t;

static void *first_call(void *arg) {
    job_t *j = arg;
    switch (j->how) {
    case 0:
        pat_check(j->p, j->n);
        free(j->p);
        break;
    case 1:
    case 2: {
        size_t n2 = j->how == 1 ? j->n * 3 + 100 : j->n / 2 + 1;
        unsigned char *q = realloc(j->p, n2);
        T_ASSERT(q != NULL);
        size_t keep = n2 < j->n ? n2 : j->n;
        for (size_t i = 0; i < keep; i++)
            if (pat_written(j->n, i) && q[i] != pat_byte(j->p, j->n, i))
                T_FAIL("realloc on a new thread lost byte %zu", i);
        free(q);
        break;
    }
    default:
        T_ASSERT(realloc(j->p, 0) == NULL);
        break;
    }
    return NULL;
}

static void test_first_call(void) {
    static const size_t sizes[] = {8, 100, 3000, 32768, 70000, 2 << 20};
    for (int r = 0; r < ROUNDS; r++) {
        job_t j;
        j.n = sizes[r % 6];
        j.how = (r / 6) % 4;
        j.p = malloc(j.n);
        T_ASSERT(j.p != NULL);
        pat_fill(j.p, j.n);
        pthread_t t;
        T_ASSERT(pthread_create(&t, NULL, first_call, &j) == 0);
        T_ASSERT(pthread_join(t, NULL) == 0);
    }
    printf("ok: first call on %d new threads was free/realloc of another thread's block\n", ROUNDS);
}

/* ---- destructors that allocate ---- */

static pthread_key_t key;
static atomic_int dtor_runs, dtor_ok, tls_dtor_runs;

/* Registered after the thread's first malloc, so its key comes after
 * HAKMEM's own: it runs after HAKMEM tore the thread's cache down. */
static void tsd_destructor(void *arg) {
    int round = (int)(uintptr_t)pthread_getspecific(key); /* NULL now, by POSIX */
    (void)round;
    char *block = arg;
    pat_check(block, 777);
    free(block);
    int ok = 1;
    for (int i = 0; i < 50; i++) {
        size_t n = (size_t)(i * 97 % 5000) + 1;
        void *p = malloc(n);
        if (p == NULL) {
            ok = 0;
            continue;
        }
        pat_fill(p, n);
        void *q = realloc(p, n + 50);
        if (q == NULL) {
            ok = 0;
            free(p);
            continue;
        }
        free(q);
    }
    void *big = calloc(1, 200000);
    ok &= big != NULL;
    free(big);
    atomic_fetch_add(&dtor_runs, 1);
    atomic_fetch_add(&dtor_ok, ok);
}

/* glibc's thread_local destructor hook (what C++ thread_local uses); it
 * runs before the TSD destructors. */
extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso) __attribute__((weak));
extern void *__dso_handle __attribute__((weak));

static void tls_destructor(void *arg) {
    free(arg);
    void *p = malloc(64);
    T_ASSERT(p != NULL);
    free(p);
    atomic_fetch_add(&tls_dtor_runs, 1);
}

static void *dtor_thread(void *arg) {
    (void)arg;
    void *first = malloc(32); /* attaches the thread to HAKMEM first */
    T_ASSERT(first != NULL);
    char *block = malloc(777);
    T_ASSERT(block != NULL);
    pat_fill(block, 777);
    T_ASSERT(pthread_setspecific(key, block) == 0);
    if (__cxa_thread_atexit_impl)
        __cxa_thread_atexit_impl(tls_destructor, malloc(48), &__dso_handle);
    free(first);
    return NULL;
}

static void test_destructors(void) {
    T_ASSERT(pthread_key_create(&key, tsd_destructor) == 0);
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        pthread_t t;
        T_ASSERT(pthread_create(&t, NULL, dtor_thread, NULL) == 0);
        T_ASSERT(pthread_join(t, NULL) == 0);
    }
    T_ASSERT(atomic_load(&dtor_runs) == N);
    T_ASSERT(atomic_load(&dtor_ok) == N);
    if (__cxa_thread_atexit_impl)
        T_ASSERT(atomic_load(&tls_dtor_runs) == N);
    printf("ok: malloc/realloc/calloc/free from %d TSD destructors after teardown, %d TLS "
           "destructors\n",
           N, atomic_load(&tls_dtor_runs));
}

/* ---- blocks of an exited thread, freed later, serve the next thread ---- */

enum { ADOPT_N = 2000, ADOPT_SIZE = 48 };
static void *adopt_blocks[ADOPT_N];

static void *adopt_fill(void *arg) {
    (void)arg;
    for (int i = 0; i < ADOPT_N; i++) {
        adopt_blocks[i] = malloc(ADOPT_SIZE);
        T_ASSERT(adopt_blocks[i] != NULL);
        pat_fill(adopt_blocks[i], ADOPT_SIZE);
    }
    return NULL; /* exits holding every block: its slabs lose their owner */
}

static void *adopt_take(void *arg) {
    void **got = arg;
    for (int i = 0; i < ADOPT_N; i++) {
        got[i] = malloc(ADOPT_SIZE);
        T_ASSERT(got[i] != NULL);
    }
    return NULL;
}

static int ptr_cmp(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void test_adoption(void) {
    pthread_t t;
    T_ASSERT(pthread_create(&t, NULL, adopt_fill, NULL) == 0);
    T_ASSERT(pthread_join(t, NULL) == 0);
    /* The filler is gone; free every other block of it from here. */
    for (int i = 0; i < ADOPT_N; i += 2) {
        pat_check(adopt_blocks[i], ADOPT_SIZE);
        free(adopt_blocks[i]);
    }
    /* Main's cache holds them now; hand them back to their slabs. */
    malloc_trim(0);
    static void *got[ADOPT_N];
    T_ASSERT(pthread_create(&t, NULL, adopt_take, got) == 0);
    T_ASSERT(pthread_join(t, NULL) == 0);
    qsort(got, ADOPT_N, sizeof got[0], ptr_cmp);
    int reused = 0;
    for (int i = 0; i < ADOPT_N; i += 2)
        reused += bsearch(&adopt_blocks[i], got, ADOPT_N, sizeof got[0], ptr_cmp) != NULL;
    printf("ok: a new thread reused %d of the %d blocks freed after their thread exited\n", reused,
           ADOPT_N / 2);
    /* Every freed block should serve again; a backend that left the dead
     * thread's slabs to nobody would reuse none. */
    T_ASSERT(reused >= ADOPT_N / 4);
    for (int i = 1; i < ADOPT_N; i += 2) {
        pat_check(adopt_blocks[i], ADOPT_SIZE);
        free(adopt_blocks[i]);
    }
    for (int i = 0; i < ADOPT_N; i++)
        free(got[i]);
}

int main(void) {
    hak_test_require_backend();
    test_first_call();
    test_destructors();
    test_adoption();
    hak_stats_t s;
    hak_stats_get(&s);
    T_ASSERT(s.threads_live <= 1);
    printf("PASS: lifecycle\n");
    return 0;
}

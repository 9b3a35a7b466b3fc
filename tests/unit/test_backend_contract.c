/* Unit: the backend contract (backend.h) as the frontend uses it, through a mock backend. */
#include "backends/backend.h"
#include "frontend/frontend.h"
#include "internal.h"

#include <semaphore.h>
#include <string.h>

#include "../check_main.h"

/*
 * The mock serves exactly one thread, the "mock thread", and forwards every
 * call made from any other thread to the real backend, so the test runner's
 * own allocations stay correct while the mock is installed.  It carves
 * blocks from chunks it maps itself, sets page_code as the contract demands,
 * and records contract violations in counters the test checks after the
 * thread is joined (Check assertions must run on the test's own thread).
 */

#define SLAB_PAGES 16 /* 64 KiB per slab: at least two blocks of any class */
#define NBLOCKS 5000
#define ROUNDS 20

static const hak_backend_t *real;
static pthread_t mock_thread;
static _Atomic int mock_thread_set;
static pthread_mutex_t mock_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    hak_chunk_t *chunk;     /* chunk slabs are cut from */
    unsigned next_page;     /* its first unused page */
    char *bump[HAK_NCODES]; /* never-used tail of each class's slab */
    char *end[HAK_NCODES];
    void *free[HAK_NCODES]; /* flushed blocks */
    unsigned outstanding[HAK_NCODES];
} heap;

static struct {
    int thread_inits, thread_exits, exit_state_ok;
    int refills, flushes, null_refills, null_flushes;
    int want_over_room, want_zero;
    int bad_list_len, bad_block, flush_after_exit_with_state, null_before_exit;
    int bad_class;
    unsigned refill_cls;
} ev;

static char state_token; /* the mock thread's backend state */

static bool on_mock_thread(void) {
    return atomic_load(&mock_thread_set) && pthread_equal(pthread_self(), mock_thread);
}

static bool mock_carve(unsigned c) {
    size_t size = hak_class_size[c];
    if (heap.chunk == NULL || heap.next_page + SLAB_PAGES > HAK_CHUNK_PAGES) {
        heap.chunk = hak_chunk_map_new(HAK_CHUNK_SIZE, HAK_CHUNK_SLABS);
        if (heap.chunk == NULL)
            return false;
        heap.next_page = 1; /* page 0 holds the header */
    }
    char *start = (char *)heap.chunk + ((size_t)heap.next_page << HAK_PAGE_SHIFT);
    heap.next_page += SLAB_PAGES;
    char *end = start + (size_t)SLAB_PAGES * HAK_PAGE_SIZE;
    end = start + (size_t)(end - start) / size * size;
    /* Only pages on which a block starts carry the class. */
    for (char *b = start; b < end; b += size)
        heap.chunk->page_code[((uintptr_t)b >> HAK_PAGE_SHIFT) & (HAK_CHUNK_PAGES - 1)] =
            (uint8_t)c;
    heap.bump[c] = start;
    heap.end[c] = end;
    return true;
}

/* Is p the start of a block of class c that this mock handed out? */
static bool mock_owns(void *p, unsigned c) {
    uintptr_t a = (uintptr_t)p;
    if (!hak_chunk_owned(a) || hak_page_code(a) != c)
        return false;
    hak_chunk_t *ch = hak_chunk_of(a);
    if (ch->kind != HAK_CHUNK_SLABS)
        return false;
    size_t off = (a - (uintptr_t)ch) - HAK_PAGE_SIZE;
    size_t slab_off = off % ((size_t)SLAB_PAGES * HAK_PAGE_SIZE);
    return slab_off % hak_class_size[c] == 0 && a % hak_class_align(c) == 0;
}

static int mock_init(void) { return 0; }

static void *mock_thread_init(void) {
    if (!on_mock_thread())
        return real->thread_init();
    ev.thread_inits++;
    return &state_token;
}

static void mock_thread_exit(void *state) {
    if (!on_mock_thread()) {
        real->thread_exit(state);
        return;
    }
    ev.thread_exits++;
    ev.exit_state_ok = state == &state_token;
}

static unsigned mock_refill(void *state, unsigned c, unsigned want, unsigned max, void **list,
                            hak_fail_t *cause) {
    if (!on_mock_thread())
        return real->refill(state, c, want, max, list, cause);
    if (c < 1 || c > HAK_NCLASSES) {
        ev.bad_class++;
        *cause = HAK_FAIL_THRESHOLD;
        errno = ENOMEM;
        return 0;
    }
    if (state == NULL) {
        ev.null_refills++;
        if (ev.thread_exits == 0)
            ev.null_before_exit++;
    } else {
        ev.refills++;
        ev.refill_cls = c;
        /* The frontend may not ask for more than the bin can hold. */
        if ((int64_t)max > hak_slot(c)->room || want > max || max > hak_self->ctl[c].cap)
            ev.want_over_room++;
    }
    if (want == 0)
        ev.want_zero++;
    pthread_mutex_lock(&mock_lock);
    void *head = HAK_LIST_END;
    unsigned got = 0;
    while (got < want) {
        void *p = heap.free[c];
        if (p != NULL) {
            heap.free[c] = hak_block_next(p);
        } else {
            if (heap.bump[c] == heap.end[c] && !mock_carve(c))
                break;
            p = heap.bump[c];
            heap.bump[c] += hak_class_size[c];
        }
        head = hak_block_push(p, head);
        got++;
    }
    heap.outstanding[c] += got;
    pthread_mutex_unlock(&mock_lock);
    if (got == 0) {
        *cause = HAK_FAIL_MAPFAIL;
        errno = ENOMEM;
    }
    *list = head;
    return got;
}

static void mock_flush(void *state, unsigned c, void *list, unsigned n) {
    if (!on_mock_thread()) {
        real->flush(state, c, list, n);
        return;
    }
    if (state == NULL) {
        ev.null_flushes++;
        if (ev.thread_exits == 0)
            ev.null_before_exit++;
    } else {
        ev.flushes++;
        if (ev.thread_exits != 0)
            ev.flush_after_exit_with_state++;
    }
    /* Exactly n blocks, ended by HAK_LIST_END, each a block of class c
     * marked free. */
    unsigned k = 0;
    void *p = list;
    for (; p != HAK_LIST_END && k <= n; p = hak_block_next(p), k++)
        if (!mock_owns(p, c) || !hak_block_marked(p))
            ev.bad_block++;
    if (k != n || p != HAK_LIST_END)
        ev.bad_list_len++;
    pthread_mutex_lock(&mock_lock);
    while (list != HAK_LIST_END && n--) {
        void *next = hak_block_next(list);
        hak_block_link(list, heap.free[c]);
        heap.free[c] = list;
        heap.outstanding[c]--;
        list = next;
    }
    pthread_mutex_unlock(&mock_lock);
}

static bool mock_trim(size_t pad) { return real->trim(pad); }
static void mock_fork_prepare(void) { real->fork_prepare(); }
static void mock_fork_release(void) { real->fork_release(); }

static const hak_backend_t mock = {
    .name = "mock",
    .caps = 0,
    .init = mock_init,
    .set_budget = NULL,
    .thread_init = mock_thread_init,
    .thread_exit = mock_thread_exit,
    .refill = mock_refill,
    .flush = mock_flush,
    .trim = mock_trim,
    .fork_prepare = mock_fork_prepare,
    .fork_release = mock_fork_release,
};

/* ---- the mock thread ---- */

static sem_t go;
static pthread_key_t late_key;
static size_t test_size = 48;
static void *late_block;
static _Atomic int late_done;
static int late_malloc_ok;

/* Runs after HAKMEM's own per-thread teardown (its key was created first,
 * and glibc runs destructors in key order): the thread is "dead" now. */
static void late_destructor(void *arg) {
    hak_free(arg);                   /* a block of the thread: flush with a NULL state */
    void *q = hak_malloc(test_size); /* refill with a NULL state */
    late_malloc_ok = q != NULL && mock_owns(q, hak_class_of(test_size));
    hak_free(q);
    atomic_store(&late_done, 1);
}

static void *mock_thread_main(void *arg) {
    (void)arg;
    while (sem_wait(&go) != 0)
        ;
    void **blocks = hak_meta_alloc(NBLOCKS * sizeof(void *));
    for (int r = 0; r < ROUNDS; r++) {
        /* Varying counts make the bins both refill and flush. */
        int n = NBLOCKS / (r % 4 + 1);
        for (int i = 0; i < n; i++) {
            blocks[i] = hak_malloc(test_size);
            if (blocks[i] != NULL)
                memset(blocks[i], 0x5a, test_size);
        }
        for (int i = 0; i < n; i++)
            hak_free(blocks[i]);
    }
    late_block = hak_malloc(test_size);
    pthread_setspecific(late_key, late_block);
    hak_meta_free(blocks, NBLOCKS * sizeof(void *));
    return NULL;
}

START_TEST(test_mock_backend_contract) {
    hak_ensure_init();
    real = hak_backend;
    memset(&ev, 0, sizeof ev);
    ck_assert_int_eq(sem_init(&go, 0, 0), 0);
    ck_assert_int_eq(pthread_key_create(&late_key, late_destructor), 0);
    ck_assert_int_eq(pthread_create(&mock_thread, NULL, mock_thread_main, NULL), 0);
    atomic_store(&mock_thread_set, 1);
    hak_backend = &mock; /* the thread attaches at its first malloc, after this */
    sem_post(&go);
    ck_assert_int_eq(pthread_join(mock_thread, NULL), 0);
    hak_backend = real;
    atomic_store(&mock_thread_set, 0);

    unsigned c = hak_class_of(test_size);
    ck_assert_int_eq(ev.thread_inits, 1);
    ck_assert_int_eq(ev.thread_exits, 1);
    HAK_CHECK_MSG(ev.exit_state_ok, "thread_exit got another state than thread_init returned");
    ck_assert_int_gt(ev.refills, 0);
    ck_assert_int_gt(ev.flushes, 0);
    ck_assert_uint_eq(ev.refill_cls, c);
    ck_assert_int_eq(ev.bad_class, 0);
    HAK_CHECK_MSG(ev.want_over_room == 0, "refill asked for more than the bin holds (%d times)",
                  ev.want_over_room);
    ck_assert_int_eq(ev.want_zero, 0);
    HAK_CHECK_MSG(ev.bad_list_len == 0, "%d flushed lists were not n NULL-terminated blocks",
                  ev.bad_list_len);
    HAK_CHECK_MSG(ev.bad_block == 0, "%d flushed blocks were not of the flushed class",
                  ev.bad_block);
    ck_assert_int_eq(ev.flush_after_exit_with_state, 0);
    ck_assert_int_eq(ev.null_before_exit, 0);
    ck_assert(atomic_load(&late_done));
    ck_assert_int_ge(ev.null_flushes, 1);
    ck_assert_int_ge(ev.null_refills, 1);
    ck_assert(late_malloc_ok);
    /* Every block went back: the thread's cache was flushed at exit. */
    ck_assert_uint_eq(heap.outstanding[c], 0);
    ck_assert_str_eq(hak_backend_name(), hak_test_expected_backend());
    /* The real backend still works on this thread. */
    void *p = hak_malloc(100);
    ck_assert_ptr_nonnull(p);
    hak_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backend_contract");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("mock");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mock_backend_contract);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

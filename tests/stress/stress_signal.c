/* Stress: a signal handler that allocates.  A timer signal arrives while
 * the thread works outside the allocator (it blocks the signal around its
 * own calls, as a program must); the handler allocates and frees blocks of
 * every size range and keeps some across deliveries.  The same thread's
 * cache serves both, so every block must come back intact and distinct.
 * (The handler's T_FAIL, on failure only, is not async-signal-safe.) */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include "pattern.h"

#define KEEP 64
#define DELIVERIES 300
#define MAIN_BLOCKS 256

static void *kept[KEEP];
static size_t kept_n[KEEP];
static volatile sig_atomic_t deliveries;
static uint64_t handler_seed = 0x5151;

static void on_alarm(int sig) {
    (void)sig;
    for (int i = 0; i < 8; i++) {
        unsigned k = (unsigned)(rnd(&handler_seed) % KEEP);
        if (kept[k] != NULL) {
            pat_check(kept[k], kept_n[k]);
            free(kept[k]);
        }
        uint64_t r = rnd(&handler_seed);
        size_t n = r % 16 == 0 ? 100000 + (r >> 8) % 300000 : rnd_size(&handler_seed);
        kept[k] = malloc(n);
        if (kept[k] == NULL)
            T_FAIL("malloc(%zu) in a signal handler failed", n);
        kept_n[k] = n;
        pat_fill(kept[k], n);
    }
    deliveries++;
}

int main(void) {
    hak_test_require_backend();
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    T_ASSERT(sigaction(SIGALRM, &sa, NULL) == 0);
    struct itimerval it = {.it_interval = {0, 500}, .it_value = {0, 500}};
    T_ASSERT(setitimer(ITIMER_REAL, &it, NULL) == 0);

    void *mine[MAIN_BLOCKS] = {0};
    size_t mine_n[MAIN_BLOCKS];
    uint64_t seed = 0x7777;
    volatile uint64_t spin = 0;
    while (deliveries < DELIVERIES) {
        unsigned k = (unsigned)(rnd(&seed) % MAIN_BLOCKS);
        pthread_sigmask(SIG_BLOCK, &alrm, NULL);
        if (mine[k] != NULL) {
            pat_check(mine[k], mine_n[k]);
            free(mine[k]);
        }
        mine_n[k] = rnd_size(&seed);
        mine[k] = malloc(mine_n[k]);
        T_ASSERT(mine[k] != NULL);
        pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
        pat_fill(mine[k], mine_n[k]); /* outside the allocator: signals welcome */
        for (int i = 0; i < 2000; i++)
            spin += (uint64_t)i;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int k = 0; k < MAIN_BLOCKS; k++)
        if (mine[k] != NULL) {
            pat_check(mine[k], mine_n[k]);
            free(mine[k]);
        }
    for (int k = 0; k < KEEP; k++)
        if (kept[k] != NULL) {
            pat_check(kept[k], kept_n[k]);
            free(kept[k]);
        }
    printf("PASS: %d deliveries, each allocating in the handler\n", (int)deliveries);
    return 0;
}

/*
 * init.c - process init: options, the backend's choice (HAKMEM_BACKEND
 * over the configure default), the ACE and the statistics' output, once,
 * from the first slow-path call; the load-time constructor and exit-time
 * destructor; and fork, which takes every lock in one order.
 */
#include "frontend/frontend.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Process init                                                        */

static const hak_backend_t *const backends[] = {
#define HAK_BACKEND(name, vtable) &vtable,
#include "backends/backends.def"
#undef HAK_BACKEND
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

const hak_backend_t *hak_backend;

_Atomic int hak_init_state;
static hak_lock_t init_lock = HAK_LOCK_INIT;

extern char **environ;

const hak_backend_t *hak_backend_named(const char *name) {
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

static void fork_prepare(void);
static void fork_release(void);
static void fork_child(void);

static void init_locked(void) {
    hak_keys_init();
    hak_options_parse(environ);
    hak_os_set_limit(hak_opt.heap_limit);
    hak_chunk_init();
    const hak_backend_t *def = hak_backend_named(HAK_DEFAULT_BACKEND);
    const hak_backend_t *b = def;
    if (hak_opt.backend.s[0] != '\0') {
        b = hak_backend_named(hak_opt.backend.s);
        if (b == NULL) {
            hak_log("HAKMEM_BACKEND=%s: unknown backend; using %s", hak_opt.backend.s, def->name);
            b = def;
        }
    }
    if (b->init() != 0 && b != def) {
        hak_log("backend %s failed to start; using %s", b->name, def->name);
        b = def;
        (void)b->init();
    }
    hak_backend = b;
    hak_secure_bounds = hak_opt.secure && (b->caps & HAK_CAP_BOUNDS);
    if (hak_opt.secure && !(b->caps & HAK_CAP_BOUNDS))
        hak_log("HAKMEM_SECURE=1: backend %s keeps no block bounds; free() checks as by default",
                b->name);
    hak_ace_init(b);
    hak_purge_init();
    hak_purge_register(hak_large_decay);
    if (b->decay != NULL)
        hak_purge_register(b->decay);
    hak_stats_output_init();
    hak_thread_key_init();
    hak_prof_init();
}

/* Nothing before HAK_INIT_DONE may allocate; what may allocate
 * (pthread_atfork) comes after, so a nested malloc finds the allocator
 * ready. */
HAK_COLD void hak_init_slow(void) {
    hak_lock(&init_lock);
    if (atomic_load_explicit(&hak_init_state, memory_order_relaxed) == HAK_INIT_NONE) {
        atomic_store_explicit(&hak_init_state, HAK_INIT_RUNNING, memory_order_relaxed);
        init_locked();
        atomic_store_explicit(&hak_init_state, HAK_INIT_DONE, memory_order_release);
        hak_unlock(&init_lock);
        pthread_atfork(fork_prepare, fork_release, fork_child);
        hak_stats_interval_start();
        hak_prof_init_late();
        if (hak_opt.verbose) {
            unsigned caps = hak_backend->caps;
            hak_log("version %s, backend %s (configure default %s), stats %s, debug %s",
                    PACKAGE_VERSION, hak_backend->name, HAK_DEFAULT_BACKEND,
                    hak_config_stats ? "on" : "off", hak_config_debug ? "on" : "off");
            hak_log("backend %s: %s heaps, %s small-block memory to the OS", hak_backend->name,
                    caps & HAK_CAP_THREAD_LOCAL ? "per-thread" : "shared, locked",
                    caps & HAK_CAP_RETURNS_SMALL ? "returns" : "keeps");
            hak_options_print();
        }
        return;
    }
    hak_unlock(&init_lock);
}

/* Initialises at load time, so HAKMEM_VERBOSE reports even for a program
 * that never allocates; an allocation from an earlier constructor simply
 * initialises first. */
__attribute__((constructor)) static void at_load(void) { hak_ensure_init(); }

/* Checks the exiting thread's quarantine and prints statistics at exit
 * when HAKMEM_STATS asks for them.  A destructor, not atexit(): registering
 * with atexit may allocate. */
__attribute__((destructor)) static void at_exit(void) {
    hak_quarantine_check_exit();
    hak_stats_at_exit();
    hak_prof_at_exit();
}

/* ------------------------------------------------------------------ */
/* Fork: every lock is taken in one order before fork and released after,
 * in the parent and in the child (whose only thread, the forking one, holds
 * them all), so the child of a multi-threaded parent finds the allocator
 * consistent. */

static void fork_prepare(void) {
    hak_prof_fork_prepare();
    hak_lock(&hak_threads_lock);
    hak_backend->fork_prepare();
    hak_large_fork_prepare();
    hak_purge_fork_prepare();
    hak_meta_fork_prepare();
    hak_chunk_fork_prepare();
}

static void fork_release(void) {
    hak_chunk_fork_release();
    hak_meta_fork_release();
    hak_purge_fork_release();
    hak_large_fork_release();
    hak_backend->fork_release();
    hak_unlock(&hak_threads_lock);
    hak_prof_fork_release();
}

static void fork_child(void) {
    fork_release();
    hak_purge_fork_child();
    hak_threads_fork_child();
}

HAK_EXPORT const char *hak_backend_name(void) {
    hak_ensure_init();
    return hak_backend->name;
}
HAK_EXPORT const char *hak_version(void) { return PACKAGE_VERSION; }

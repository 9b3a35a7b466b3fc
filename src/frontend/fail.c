/*
 * fail.c - the frontend's failure path: the trace of an allocation that
 * returns NULL (HAKMEM_ACE_TRACE=1: its cause and the paths it tried,
 * written without allocating) and the program's failure hook.
 */
#include "frontend/frontend.h"

const char *hak_fail_cause_name(hak_fail_t cause) {
    switch (cause) {
    case HAK_FAIL_THRESHOLD:
        return "Threshold";
    case HAK_FAIL_EXHAUSTION:
        return "Exhaustion";
    case HAK_FAIL_MAPFAIL:
        return "MapFail";
    default:
        return "None";
    }
}

static _Atomic(hak_failure_hook_t) fail_hook;
static __thread bool in_hook __attribute__((tls_model("initial-exec")));

HAK_EXPORT hak_failure_hook_t hak_set_failure_hook(hak_failure_hook_t fn) {
    return atomic_exchange_explicit(&fail_hook, fn, memory_order_acq_rel);
}

static void trace(hak_fail_t cause, size_t size, size_t align, unsigned tried) {
    if (HAK_UNLIKELY(hak_opt.ace_trace)) {
        static const char *const paths[] = {"transfer", "backend", "large", "trim", "squeeze"};
        char list[64] = "none";
        size_t len = 0;
        for (unsigned i = 0; i < sizeof paths / sizeof paths[0]; i++)
            if (tried >> i & 1)
                len +=
                    hak_format_str(list + len, sizeof list - len, "%s%s", len ? "," : "", paths[i]);
        hak_log("ace: allocation failed: cause=%s size=%zu align=%zu tried=%s",
                hak_fail_cause_name(cause), size, align, list);
    }
    hak_failure_hook_t fn = atomic_load_explicit(&fail_hook, memory_order_acquire);
    if (fn != NULL && !in_hook) {
        hak_failure_t f = {.size = size,
                           .alignment = align,
                           .cause = (int)cause,
                           .cause_name = hak_fail_cause_name(cause)};
        in_hook = true;
        fn(&f);
        in_hook = false;
    }
}

void hak_fail(hak_fail_t cause, size_t size, size_t align, unsigned tried) {
    atomic_fetch_add_explicit(&hak_stat_failures, 1, memory_order_relaxed);
    trace(cause, size, align, tried);
    errno = ENOMEM;
}

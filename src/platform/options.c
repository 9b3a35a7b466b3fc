/*
 * options.c - the run-time options, parsed once from the environment.
 * The environment is scanned directly (getenv may not be safe this early
 * in a preloaded process, and nothing here may allocate).
 */
#include "internal.h"

#include <string.h>

hak_options_t hak_opt = {
#define HAK_OPT_DEF_STR(d)                                                                         \
    { d }
#define HAK_OPT_DEF_PATH(d)                                                                        \
    { d }
#define HAK_OPT_DEF_BOOL(d) d
#define HAK_OPT_DEF_STATS(d) d
#define HAK_OPT_DEF_MS(d) d
#define HAK_OPT_DEF_SIZE(d) d
#define HAK_OPTION(field, env, kind, def, doc) .field = HAK_OPT_DEF_##kind(def),
#include "platform/options.def"
#undef HAK_OPTION
};

static bool copy_value(const char *env, const char *v, char *out, size_t cap) {
    size_t n = strlen(v);
    if (n >= cap) {
        hak_log("%s: value too long (at most %zu bytes); ignored", env, cap - 1);
        return false;
    }
    memcpy(out, v, n + 1);
    return true;
}

static bool parse_STR(const char *env, const char *v, hak_optstr_t *out) {
    return copy_value(env, v, out->s, sizeof out->s);
}

static bool parse_PATH(const char *env, const char *v, hak_optpath_t *out) {
    return copy_value(env, v, out->s, sizeof out->s);
}

static bool word_in(const char *v, const char *const *words) {
    for (; *words; words++)
        if (strcmp(v, *words) == 0)
            return true;
    return false;
}

static const char *const bool_true[] = {"1", "yes", "on", "true", NULL};
static const char *const bool_false[] = {"0", "no", "off", "false", "", NULL};

static bool parse_BOOL(const char *env, const char *v, bool *out) {
    if (word_in(v, bool_true))
        *out = true;
    else if (word_in(v, bool_false))
        *out = false;
    else {
        hak_log("%s: '%s' is not 0 or 1; ignored", env, v);
        return false;
    }
    return true;
}

static bool parse_STATS(const char *env, const char *v, hak_stats_mode_t *out) {
    if (strcmp(v, "json") == 0)
        *out = HAK_STATS_ON_JSON;
    else if (strcmp(v, "text") == 0 || word_in(v, bool_true))
        *out = HAK_STATS_ON_TEXT;
    else if (word_in(v, bool_false))
        *out = HAK_STATS_OFF;
    else {
        hak_log("%s: '%s' is not 0, 1, text or json; ignored", env, v);
        return false;
    }
    return true;
}

#define HAK_MS_MAX 3600000u

static bool parse_MS(const char *env, const char *v, uint32_t *out) {
    uint32_t ms = 0;
    const char *d = v;
    for (; *d >= '0' && *d <= '9' && ms <= HAK_MS_MAX; d++)
        ms = ms * 10u + (uint32_t)(*d - '0');
    if (d == v || *d != '\0' || ms > HAK_MS_MAX) {
        hak_log("%s: '%s' is not a number of milliseconds from 0 to %u; ignored", env, v,
                HAK_MS_MAX);
        return false;
    }
    *out = ms;
    return true;
}

/* Bytes: digits, then k, m or g (either case) for KiB, MiB or GiB. */
static bool parse_SIZE(const char *env, const char *v, uint64_t *out) {
    uint64_t n = 0;
    const char *d = v;
    bool over = false;
    for (; *d >= '0' && *d <= '9'; d++)
        over |= __builtin_mul_overflow(n, 10u, &n) ||
                __builtin_add_overflow(n, (uint64_t)(*d - '0'), &n);
    unsigned shift = 0;
    if (d != v && d[0] != '\0' && d[1] == '\0') {
        const char *at = strchr("kKmMgG", d[0]);
        if (at != NULL) {
            shift = 10u * (unsigned)(1 + (at - "kKmMgG") / 2);
            d++;
        }
    }
    if (d == v || *d != '\0' || over || n > (UINT64_MAX >> shift)) {
        hak_log("%s: '%s' is not a number of bytes (with k, m or g); ignored", env, v);
        return false;
    }
    *out = n << shift;
    return true;
}

/* The value of NAME=value in envp, or NULL. */
static const char *env_value(char **envp, const char *name) {
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

void hak_options_parse(char **envp) {
    const char *v;
#define HAK_OPTION(field, env, kind, def, doc)                                                     \
    if ((v = env_value(envp, env)) != NULL)                                                        \
        (void)parse_##kind(env, v, &hak_opt.field);
#include "platform/options.def"
#undef HAK_OPTION
    /* A statistics file or interval named alone asks for the statistics. */
    if ((hak_opt.stats_file.s[0] != '\0' || hak_opt.stats_interval != 0) &&
        env_value(envp, "HAKMEM_STATS") == NULL)
        hak_opt.stats = HAK_STATS_ON_TEXT;
}

static void print_STR(const char *env, const hak_optstr_t *v) {
    hak_log("option %s=%s", env, v->s);
}
static void print_PATH(const char *env, const hak_optpath_t *v) {
    hak_log("option %s=%s", env, v->s);
}
static void print_BOOL(const char *env, const bool *v) { hak_log("option %s=%d", env, *v ? 1 : 0); }
static void print_MS(const char *env, const uint32_t *v) { hak_log("option %s=%u", env, *v); }
static void print_SIZE(const char *env, const uint64_t *v) {
    hak_log("option %s=%llu", env, (unsigned long long)*v);
}
static void print_STATS(const char *env, const hak_stats_mode_t *v) {
    static const char *const names[] = {"0", "text", "json"};
    hak_log("option %s=%s", env, names[*v]);
}

void hak_options_print(void) {
#define HAK_OPTION(field, env, kind, def, doc) print_##kind(env, &hak_opt.field);
#include "platform/options.def"
#undef HAK_OPTION
}

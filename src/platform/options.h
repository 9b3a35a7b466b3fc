/*
 * options.h - the options (options.c; their one table is options.def).
 */
#ifndef HAK_OPTIONS_H
#define HAK_OPTIONS_H

#include "platform/base.h"

/* ------------------------------------------------------------------ */
/* Options (platform/options.c, table in platform/options.def)         */

typedef enum hak_stats_mode {
    HAK_STATS_OFF = 0,
    HAK_STATS_ON_TEXT,
    HAK_STATS_ON_JSON
} hak_stats_mode_t;

typedef struct hak_optstr {
    char s[32];
} hak_optstr_t;
typedef struct hak_optpath {
    char s[4096];
} hak_optpath_t;
#define HAK_OPT_TYPE_STR hak_optstr_t
#define HAK_OPT_TYPE_PATH hak_optpath_t
#define HAK_OPT_TYPE_BOOL bool
#define HAK_OPT_TYPE_STATS hak_stats_mode_t
#define HAK_OPT_TYPE_MS uint32_t
#define HAK_OPT_TYPE_SIZE uint64_t

typedef struct hak_options {
#define HAK_OPTION(field, env, kind, def, doc) HAK_OPT_TYPE_##kind field;
#include "platform/options.def"
#undef HAK_OPTION
} hak_options_t;

HAK_HIDDEN extern hak_options_t hak_opt;
/* Parses the environment once (from envp, which may be NULL) without
 * allocating; unknown values warn and keep the default. */
HAK_HIDDEN void hak_options_parse(char **envp);
/* Prints the effective options, one per line, to fd 2. */
HAK_HIDDEN void hak_options_print(void);

#endif /* HAK_OPTIONS_H */

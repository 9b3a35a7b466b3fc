/* Unit: run-time option parsing (hak_options_parse) from crafted envp arrays. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "../check_main.h"

static hak_options_t saved;

/* Each test parses into the defaults, not into whatever the process got. */
static void setup(void) {
    saved = hak_opt;
    memset(&hak_opt, 0, sizeof hak_opt);
    hak_opt.stats = HAK_STATS_OFF;
}
static void teardown(void) { hak_opt = saved; }

START_TEST(test_null_and_empty_env) {
    hak_options_parse(NULL);
    ck_assert_str_eq(hak_opt.backend.s, "");
    ck_assert(!hak_opt.verbose);
    ck_assert_int_eq(hak_opt.stats, HAK_STATS_OFF);
    ck_assert(!hak_opt.ace_trace);
    char *envp[] = {NULL};
    hak_options_parse(envp);
    ck_assert_str_eq(hak_opt.backend.s, "");
    ck_assert(!hak_opt.verbose);
}
END_TEST

START_TEST(test_good_values) {
    char *envp[] = {"PATH=/bin",         "HAKMEM_BACKEND=legacy", "HAKMEM_VERBOSE=1",
                    "HAKMEM_STATS=json", "HAKMEM_ACE_TRACE=yes",  NULL};
    hak_options_parse(envp);
    ck_assert_str_eq(hak_opt.backend.s, "legacy");
    ck_assert(hak_opt.verbose);
    ck_assert_int_eq(hak_opt.stats, HAK_STATS_ON_JSON);
    ck_assert(hak_opt.ace_trace);
}
END_TEST

/* HAKMEM_STATS_FILE alone turns text statistics on; beside HAKMEM_STATS,
 * HAKMEM_STATS decides (0 keeps them off). */
START_TEST(test_stats_file) {
    char *alone[] = {"HAKMEM_STATS_FILE=/tmp/s.%p", NULL};
    hak_opt.stats = HAK_STATS_OFF;
    hak_options_parse(alone);
    ck_assert_str_eq(hak_opt.stats_file.s, "/tmp/s.%p");
    ck_assert_int_eq(hak_opt.stats, HAK_STATS_ON_TEXT);
    char *off[] = {"HAKMEM_STATS=0", "HAKMEM_STATS_FILE=/tmp/s", NULL};
    hak_opt.stats = HAK_STATS_OFF;
    hak_options_parse(off);
    ck_assert_int_eq(hak_opt.stats, HAK_STATS_OFF);
    char *json[] = {"HAKMEM_STATS_FILE=/tmp/s", "HAKMEM_STATS=json", NULL};
    hak_options_parse(json);
    ck_assert_int_eq(hak_opt.stats, HAK_STATS_ON_JSON);
}
END_TEST

START_TEST(test_bool_words) {
    static const char *const on[] = {"1", "yes", "on", "true"};
    static const char *const off[] = {"0", "no", "off", "false", ""};
    char buf[64];
    for (size_t i = 0; i < 4; i++) {
        hak_opt.verbose = false;
        snprintf(buf, sizeof buf, "HAKMEM_VERBOSE=%s", on[i]);
        char *envp[] = {buf, NULL};
        hak_options_parse(envp);
        HAK_CHECK_MSG(hak_opt.verbose, "%s", buf);
    }
    for (size_t i = 0; i < 5; i++) {
        hak_opt.verbose = true;
        snprintf(buf, sizeof buf, "HAKMEM_VERBOSE=%s", off[i]);
        char *envp[] = {buf, NULL};
        hak_options_parse(envp);
        HAK_CHECK_MSG(!hak_opt.verbose, "%s", buf);
    }
}
END_TEST

START_TEST(test_stats_words) {
    struct {
        const char *v;
        hak_stats_mode_t want;
    } cases[] = {
        {"json", HAK_STATS_ON_JSON}, {"text", HAK_STATS_ON_TEXT}, {"1", HAK_STATS_ON_TEXT},
        {"on", HAK_STATS_ON_TEXT},   {"0", HAK_STATS_OFF},        {"off", HAK_STATS_OFF},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hak_opt.stats = cases[i].want == HAK_STATS_OFF ? HAK_STATS_ON_JSON : HAK_STATS_OFF;
        snprintf(buf, sizeof buf, "HAKMEM_STATS=%s", cases[i].v);
        char *envp[] = {buf, NULL};
        hak_options_parse(envp);
        HAK_CHECK_MSG(hak_opt.stats == cases[i].want, "%s gave %d", buf, (int)hak_opt.stats);
    }
}
END_TEST

START_TEST(test_bad_values_keep_defaults) {
    char *envp[] = {"HAKMEM_VERBOSE=maybe", "HAKMEM_STATS=xml", "HAKMEM_ACE_TRACE=2", NULL};
    hak_options_parse(envp);
    ck_assert(!hak_opt.verbose);
    ck_assert_int_eq(hak_opt.stats, HAK_STATS_OFF);
    ck_assert(!hak_opt.ace_trace);
    /* A bad value keeps the value already there, whatever it was. */
    hak_opt.verbose = true;
    hak_opt.stats = HAK_STATS_ON_TEXT;
    hak_options_parse(envp);
    ck_assert(hak_opt.verbose);
    ck_assert_int_eq(hak_opt.stats, HAK_STATS_ON_TEXT);
}
END_TEST

START_TEST(test_milliseconds) {
    struct {
        const char *v;
        uint32_t want;
    } cases[] = {
        {"0", 0},
        {"7", 7},
        {"250", 250},
        {"3600000", 3600000},
        /* not a number of milliseconds in range: the value already there stays */
        {"", 99},
        {"-1", 99},
        {"10ms", 99},
        {" 5", 99},
        {"3600001", 99},
        {"99999999999999999999", 99},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hak_opt.purge_delay = 99;
        snprintf(buf, sizeof buf, "HAKMEM_PURGE_DELAY=%s", cases[i].v);
        char *envp[] = {buf, NULL};
        hak_options_parse(envp);
        HAK_CHECK_MSG(hak_opt.purge_delay == cases[i].want, "%s gave %u", buf, hak_opt.purge_delay);
    }
}
END_TEST

START_TEST(test_sizes) {
    struct {
        const char *v;
        uint64_t want;
    } cases[] = {
        {"0", 0},
        {"4096", 4096},
        {"64k", 64 << 10},
        {"64K", 64 << 10},
        {"3m", 3 << 20},
        {"2G", (uint64_t)2 << 30},
        {"18446744073709551615", UINT64_MAX},
        /* not a number of bytes: the value already there stays */
        {"", 99},
        {"k", 99},
        {"-1", 99},
        {"12x", 99},
        {"1kb", 99},
        {"1 m", 99},
        {"1t", 99},
        {"18446744073709551616", 99},
        {"17179869184g", 99},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hak_opt.heap_limit = 99;
        snprintf(buf, sizeof buf, "HAKMEM_HEAP_LIMIT=%s", cases[i].v);
        char *envp[] = {buf, NULL};
        hak_options_parse(envp);
        HAK_CHECK_MSG(hak_opt.heap_limit == cases[i].want, "%s gave %llu", buf,
                      (unsigned long long)hak_opt.heap_limit);
    }
}
END_TEST

START_TEST(test_too_long_string_ignored) {
    char big[128];
    memset(big, 0, sizeof big);
    strcpy(big, "HAKMEM_BACKEND=");
    memset(big + strlen(big), 'x', sizeof hak_opt.backend.s); /* 32 bytes: one too many */
    char *envp[] = {big, NULL};
    hak_options_parse(envp);
    ck_assert_str_eq(hak_opt.backend.s, "");
    /* 31 bytes fit exactly. */
    big[strlen(big) - 1] = '\0';
    hak_options_parse(envp);
    ck_assert_uint_eq(strlen(hak_opt.backend.s), sizeof hak_opt.backend.s - 1);
}
END_TEST

START_TEST(test_prefix_names_do_not_match) {
    char *envp[] = {"HAKMEM_VERBOSEX=1", "XHAKMEM_VERBOSE=1", "HAKMEM_VERBOS=1", "HAKMEM_BACKEND",
                    NULL};
    hak_options_parse(envp);
    ck_assert(!hak_opt.verbose);
    ck_assert_str_eq(hak_opt.backend.s, "");
}
END_TEST

START_TEST(test_first_occurrence_wins) {
    char *envp[] = {"HAKMEM_BACKEND=legacy", "HAKMEM_BACKEND=superslab", NULL};
    hak_options_parse(envp);
    ck_assert_str_eq(hak_opt.backend.s, "legacy");
}
END_TEST

int main(void) {
    Suite *s = suite_create("options");
    hak_test_add_backend_case(s);
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_null_and_empty_env);
    tcase_add_test(tc, test_good_values);
    tcase_add_test(tc, test_bool_words);
    tcase_add_test(tc, test_stats_file);
    tcase_add_test(tc, test_stats_words);
    tcase_add_test(tc, test_bad_values_keep_defaults);
    tcase_add_test(tc, test_milliseconds);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_too_long_string_ignored);
    tcase_add_test(tc, test_prefix_names_do_not_match);
    tcase_add_test(tc, test_first_occurrence_wins);
    suite_add_tcase(s, tc);
    return hak_test_run(s);
}

/* tests/c/harness.h: the tiny harness shared by the C tests of ModuleCommunication.
 *
 * Include it first (it sets _POSIX_C_SOURCE for clock_gettime and nanosleep).
 *
 *   static void channel_list_names_the_channel(void) { CHECK(x == 1); CHECK_STATUS(mc_f(...), MC_STATUS_OK); }
 *   int main(void) { RUN_TEST(channel_list_names_the_channel); return harness_summary(); }
 *
 * A test passes when none of its checks fails. Each failing check prints its file, line and
 * expression (and, for statuses, the library's last error). harness_summary() prints the one
 * line build/test.sh reads, "C: N passed, M failed" (N, M = tests), and returns the exit
 * status: 0 only if nothing failed and something passed.
 *
 * WAIT_UNTIL(cond, timeout_ms) polls `cond` every millisecond against CLOCK_MONOTONIC until it
 * holds or the time is up; CHECK_EVENTUALLY(cond, timeout_ms) waits, then checks. Tests wait for
 * conditions, never sleep and hope. */
#ifndef MC_TEST_HARNESS_H
#define MC_TEST_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "module_communication.h"

static int harness_tests_passed;
static int harness_tests_failed;
static int harness_checks_failed_in_test;

/* Milliseconds of CLOCK_MONOTONIC. */
static inline int64_t harness_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void harness_sleep_1ms(void) {
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
}

static inline void harness_fail(const char *file, int line, const char *what) {
    harness_checks_failed_in_test++;
    printf("    FAIL %s:%d: %s\n", file, line, what);
    fflush(stdout);
}

/* The calling thread's last error, or "(none)"; the returned text is static (truncated). */
static inline const char *harness_last_error(void) {
    static char buffer[1024];
    char *text = NULL;
    if (mc_last_error(&text) != MC_STATUS_OK || text == NULL) {
        return "(none)";
    }
    snprintf(buffer, sizeof buffer, "%s", text);
    mc_string_free(text);
    return buffer;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) harness_fail(__FILE__, __LINE__, #cond);                                      \
    } while (0)

/* Evaluates `expr` once; on a mismatch prints both statuses and the last error. */
#define CHECK_STATUS(expr, expected)                                                               \
    do {                                                                                           \
        mc_status harness_got_ = (expr);                                                           \
        mc_status harness_want_ = (expected);                                                      \
        if (harness_got_ != harness_want_) {                                                       \
            char harness_msg_[1400];                                                               \
            snprintf(harness_msg_, sizeof harness_msg_, "%s returned %u, expected %s (%u); last error: %s", \
                     #expr, (unsigned)harness_got_, #expected, (unsigned)harness_want_,            \
                     harness_last_error());                                                        \
            harness_fail(__FILE__, __LINE__, harness_msg_);                                        \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS((expr), MC_STATUS_OK)

/* `text` (may be NULL: a failure) contains `fragment`. */
#define CHECK_CONTAINS(text, fragment)                                                             \
    do {                                                                                           \
        const char *harness_text_ = (text);                                                        \
        const char *harness_frag_ = (fragment);                                                    \
        if (harness_text_ == NULL || strstr(harness_text_, harness_frag_) == NULL) {               \
            char harness_msg_[1400];                                                               \
            snprintf(harness_msg_, sizeof harness_msg_, "%s does not contain '%s'; it is: %.900s", \
                     #text, harness_frag_, harness_text_ ? harness_text_ : "(NULL)");             \
            harness_fail(__FILE__, __LINE__, harness_msg_);                                        \
        }                                                                                          \
    } while (0)

#define CHECK_NOT_CONTAINS(text, fragment)                                                         \
    do {                                                                                           \
        const char *harness_text_ = (text);                                                        \
        const char *harness_frag_ = (fragment);                                                    \
        if (harness_text_ == NULL || strstr(harness_text_, harness_frag_) != NULL) {               \
            char harness_msg_[1400];                                                               \
            snprintf(harness_msg_, sizeof harness_msg_, "%s contains '%s'; it is: %.900s",         \
                     #text, harness_frag_, harness_text_ ? harness_text_ : "(NULL)");             \
            harness_fail(__FILE__, __LINE__, harness_msg_);                                        \
        }                                                                                          \
    } while (0)

/* The last error of this thread mentions `fragment` (and is freed). */
#define CHECK_LAST_ERROR_CONTAINS(fragment)                                                        \
    do {                                                                                           \
        char *harness_err_ = NULL;                                                                 \
        CHECK_OK(mc_last_error(&harness_err_));                                                    \
        CHECK_CONTAINS(harness_err_, (fragment));                                                  \
        mc_string_free(harness_err_);                                                              \
    } while (0)

/* Polls `cond` every millisecond until it holds or `timeout_ms` passed (a statement:
 * check the condition afterwards, or use CHECK_EVENTUALLY). */
#define WAIT_UNTIL(cond, timeout_ms)                                                               \
    for (int64_t harness_deadline_ = harness_now_ms() + (timeout_ms);                              \
         !(cond) && harness_now_ms() < harness_deadline_;)                                         \
    harness_sleep_1ms()

/* Waits up to `timeout_ms` for `cond`, then checks it. */
#define CHECK_EVENTUALLY(cond, timeout_ms)                                                         \
    do {                                                                                           \
        WAIT_UNTIL(cond, timeout_ms);                                                              \
        if (!(cond)) harness_fail(__FILE__, __LINE__, "within " #timeout_ms " ms: " #cond);        \
    } while (0)

#define RUN_TEST(fn)                                                                               \
    do {                                                                                           \
        harness_checks_failed_in_test = 0;                                                         \
        fn();                                                                                      \
        if (harness_checks_failed_in_test == 0) {                                                  \
            harness_tests_passed++;                                                                \
            printf("  ok   %s\n", #fn);                                                            \
        } else {                                                                                   \
            harness_tests_failed++;                                                                \
            printf("  FAIL %s (%d failed checks)\n", #fn, harness_checks_failed_in_test);          \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

static inline int harness_summary(void) {
    printf("C: %d passed, %d failed\n", harness_tests_passed, harness_tests_failed);
    fflush(stdout);
    return (harness_tests_failed == 0 && harness_tests_passed > 0) ? 0 : 1;
}

#endif /* MC_TEST_HARNESS_H */

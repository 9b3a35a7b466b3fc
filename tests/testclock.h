/*
 * testclock.h - the purge clock, driven by a test linked against the core:
 * frozen, it moves only when the test moves it, so what a test sees does
 * not depend on how fast a busy machine runs it.  An event the purge thread causes is waited
 * for itself, with a bound of real time that only a failure reaches.
 */
#ifndef HAK_TEST_TESTCLOCK_H
#define HAK_TEST_TESTCLOCK_H

#include "ace/ace.h"
#include "internal.h"

#include <time.h>

/* Stops the purge clock where it is now. */
static inline void hak_test_clock_freeze(void) {
    atomic_store(&hak_os_test_clock, hak_os_now_ms());
}

/* Moves the frozen clock ms milliseconds on and wakes the purge thread. */
static inline void hak_test_clock_advance(uint64_t ms) {
    atomic_fetch_add(&hak_os_test_clock, ms);
    hak_purge_clock_moved();
}

/* Waits until *counter is no longer before; false after 120 s of real time,
 * far beyond what the purge thread takes on the busiest machine. */
static inline bool hak_test_wait_change(_Atomic uint64_t *counter, uint64_t before) {
    struct timespec tick = {0, 5 * 1000 * 1000};
    for (unsigned i = 0; i < 120u * 200u; i++) {
        if (atomic_load(counter) != before)
            return true;
        nanosleep(&tick, NULL);
    }
    return atomic_load(counter) != before;
}

#endif /* HAK_TEST_TESTCLOCK_H */

/*
 * purge.h - the purge clock: one deadline, in milliseconds of hak_os_now_ms,
 * for every part of HAKMEM that keeps free memory waiting before it goes
 * back to the OS (the large path, the unit pools, superslab's idle heaps).
 * Each registers its decay call at init (hak_purge_register); when the
 * deadline runs out, the next slow path (hak_purge_tick) or the purge
 * thread calls them all, and a client not yet due arms the clock again.
 *
 * The large path keeps each piece of free memory mapped and dirty until it
 * stayed free for HAKMEM_PURGE_DELAY milliseconds, so a workload that frees
 * and allocates big blocks again soon pays no system call and no page
 * fault, and asks for a call when the oldest piece is due (hak_purge_at).
 * A pool asks at its own events, with its lock held and *over_since its own
 * (0 while within budget): hak_purge_due's true means "purge now"; when it
 * is not yet time, the clock is armed for then.  With a delay of 0 the
 * answer is always "now".  (A pool purges a one-time free at once: what it
 * caches is touched memory, which a program that frees a lot expects to
 * see leave its RSS at once.  It waits on the clock only for what a cycling
 * workload showed it takes back, the boost below; the large path likewise
 * beyond its budget.)
 */
#ifndef HAK_PURGE_H
#define HAK_PURGE_H

#include "internal.h"

/* At process start, and again in a fork's child. */
HAK_HIDDEN void hak_purge_init(void);
HAK_HIDDEN void hak_purge_register(void (*decay)(void));
HAK_HIDDEN bool hak_purge_due(uint64_t *over_since, size_t dirty, size_t budget);
/* Arms the deadline for at, if that is earlier than the one armed. */
HAK_HIDDEN void hak_purge_at(uint64_t at);
/* From the frontend's slow paths: the decay calls, once the deadline ran out. */
HAK_HIDDEN void hak_purge_tick(void);
/*
 * Idle stretches.  Without the purge thread, free memory can go back only
 * at an allocator call; when the first call after the program made none
 * for the purge delay finds memory that waited that long, the program is
 * resuming its work, the moment it is most likely to take that memory
 * back (a program that works in bursts and sleeps between them).  So the
 * large path counts a piece's unused time without the program's last idle
 * stretch: it goes if it stays unused for the delay of the program's
 * activity, at most one delay later than by the wall clock.  The purge
 * thread, which runs during the stretch, purges by the wall clock, so
 * memory still goes back while the program sleeps.  hak_purge_active marks
 * a call at now (the slow paths' ticks while something waits, the large
 * path's calls); hak_purge_elapsed is the active time from then to now.
 * HAKMEM_ACE=0 counts the wall clock only.
 */
HAK_HIDDEN void hak_purge_active(uint64_t now);
HAK_HIDDEN uint64_t hak_purge_elapsed(uint64_t then, uint64_t now);
/* The program's last call the clock saw, or now if there was none (or
 * with HAKMEM_ACE=0): what changed before a look changed by then. */
HAK_HIDDEN uint64_t hak_purge_quiet_since(uint64_t now);

/* The purge thread acts on a deadline only once the program made no call
 * the clock saw for HAK_PURGE_QUIET_DELAYS purge delays (hak_purge_thread_at:
 * when that is, or 0 for at once).  A program that pauses for about the
 * delay between two bursts of work takes its memory back resident: the
 * thread that returned it at the delay made the next burst fault every page
 * in again (burst_idle's second burst: 12 000 more page faults than
 * without the thread).  One that stays idle longer has it back at twice
 * the delay, what the large path's delay becomes anyway once a program
 * took memory back soon after it went for its age.  While the program
 * works its own calls purge on time.  HAKMEM_ACE=0: at the deadline. */
#define HAK_PURGE_QUIET_DELAYS 2
HAK_HIDDEN uint64_t hak_purge_thread_at(void);

/* A pool's raise of its budget while the workload cycles (its lock held):
 * what it takes back that was purged after use (a page fault each page,
 * for nothing) raises it (hak_boost_took), up to HAK_BOOST_MAX; once dirty
 * memory stays over the plain budget for the purge delay it drops to 0,
 * and the excess goes (hak_boost_budget: the dirty bytes the pool may keep
 * now).  A trim clears it.  HAKMEM_ACE=0 keeps it at 0. */
#define HAK_BOOST_MAX ((size_t)256 << 20)
typedef struct hak_boost {
    size_t bytes;
    uint64_t since; /* hak_purge_due's */
} hak_boost_t;
HAK_INLINE void hak_boost_took(hak_boost_t *b, size_t purged) {
    if (!hak_opt.ace)
        return;
    b->bytes = b->bytes + purged < HAK_BOOST_MAX ? b->bytes + purged : HAK_BOOST_MAX;
}
HAK_INLINE size_t hak_boost_budget(hak_boost_t *b, size_t dirty, size_t budget) {
    if (b->bytes > 0 && hak_purge_due(&b->since, dirty, budget))
        b->bytes = 0;
    return budget + b->bytes;
}

/* With HAKMEM_PURGE_THREAD, a thread of its own honours the deadline even
 * when no slow path runs: the large path after each free, and the backends
 * after each flush, poke it holding no lock (starting it allocates), which
 * starts it the first time a deadline is armed.  The fork hooks keep its
 * lock consistent (taken after the large path's and the backend's), and
 * the child starts a new thread when it needs one. */
HAK_HIDDEN void hak_purger_poke(void);
/* A unit test moved hak_os_test_clock: the purge thread looks again. */
HAK_HIDDEN void hak_purge_clock_moved(void);
HAK_HIDDEN void hak_purge_fork_prepare(void);
HAK_HIDDEN void hak_purge_fork_release(void);
HAK_HIDDEN void hak_purge_fork_child(void);

#endif /* HAK_PURGE_H */

/*
 * realloc_grow - buffers grown by realloc from 16 bytes to 1 MiB.
 *
 * Usage: realloc_grow [rounds]      default 100
 *
 * Each round grows 8 buffers side by side (one growth step per buffer in
 * turn, so no buffer is trivially the last block of the heap):
 *   - 4 "vectors": capacity grows by 1.5x (rounded up to 16 bytes);
 *   - 4 "string builders": grow by 16-byte appends up to 16 KiB, then by
 *     1.5x, as typical string buffers do once they get big.
 * After every realloc the newly added tail is written and the last byte of
 * the old contents is checked.  A buffer stops at 1 MiB; when all 8 have
 * reached it they are freed and the next round starts.
 * ops = number of realloc calls.
 */
#include "common.h"

#define NBUF 8
#define START 16u
#define LIMIT (1u << 20)
#define LINEAR_UNTIL (16u * 1024u)

static size_t next_size(size_t cur, int builder) {
    size_t n;
    if (builder && cur < LINEAR_UNTIL)
        n = cur + 16;
    else
        n = (cur + cur / 2 + 15) & ~(size_t)15;
    return n > LIMIT ? LIMIT : n;
}

int main(int argc, char **argv) {
    unsigned long long rounds = bench_arg_u64(argc, argv, 1, 100);
    unsigned long long ops = 0;

    double t0 = bench_now();
    for (unsigned long long rd = 0; rd < rounds; rd++) {
        unsigned char *buf[NBUF];
        size_t len[NBUF];
        for (int i = 0; i < NBUF; i++) {
            buf[i] = malloc(START);
            if (buf[i] == NULL)
                bench_oom(START);
            memset(buf[i], 'a' + i, START);
            len[i] = START;
        }
        int active = NBUF;
        while (active > 0) {
            active = 0;
            for (int i = 0; i < NBUF; i++) {
                if (len[i] >= LIMIT)
                    continue;
                size_t n = next_size(len[i], i & 1);
                unsigned char *p = realloc(buf[i], n);
                if (p == NULL)
                    bench_oom(n);
                if (p[len[i] - 1] != (unsigned char)('a' + i))
                    bench_die("realloc lost data in buffer %d", i);
                memset(p + len[i], 'a' + i, n - len[i]);
                buf[i] = p;
                len[i] = n;
                ops++;
                if (n < LIMIT)
                    active++;
            }
        }
        for (int i = 0; i < NBUF; i++)
            free(buf[i]);
    }
    double secs = bench_now() - t0;

    bench_report("realloc_grow", NBUF, ops, secs, NULL);
    return 0;
}

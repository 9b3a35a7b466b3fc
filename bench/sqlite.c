/*
 * bench/sqlite.c - an in-memory SQLite database through its life, round
 * after round: open, create a table, insert rows in transactions, index
 * them, select with sorting and grouping, update (rows change size, index
 * keys change), delete one row at a time and a range, check the count,
 * close (which frees the whole database).
 *
 * SQLite (libsqlite3.so.0) is opened at run time, so that the program
 * builds where libsqlite3-dev is not installed; where the library is
 * missing it exits 77 with a SKIP line.  Its malloc calls go wherever the
 * program's do: the dynamic linker binds them in the global scope, where a
 * preloaded allocator comes first.  SQLite's own defaults are kept (its
 * lookaside slots for small objects, its page cache, 4 KiB pages).
 *
 * Each round (temp_store = MEMORY: sorts too stay in memory): `rows` inserts in transactions of
 * 500, two indexes, rows/10 indexed selects (20 rows of a group, ordered by quantity and name),
 * rows/10000 grouping selects and one sort of the whole table on its note,
 * rows/2 updates (a new note of another length, or a new name), rows/4
 * deletes by id and one range delete (about a tenth of the groups).
 * Names are 6-40 random letters, notes 8 B-2 KiB (equal counts per octave).
 * ops are SQL statements run (an insert, update, delete or select each;
 * a select's rows are not counted).
 *
 * Usage: sqlite [rounds [rows [seed]]]   (3 50000 2891336453)
 */
#include "common.h"

/* The part of SQLite's C interface this program uses (its ABI has been
 * stable since SQLite 3.0). */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
#define SQLITE_OK 0
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_TRANSIENT ((void (*)(void *)) - 1)

static struct {
    int (*open)(const char *, sqlite3 **);
    int (*close)(sqlite3 *);
    int (*exec)(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *, char **);
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*bind_int64)(sqlite3_stmt *, int, long long);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    int (*step)(sqlite3_stmt *);
    int (*reset)(sqlite3_stmt *);
    long long (*column_int64)(sqlite3_stmt *, int);
    int (*finalize)(sqlite3_stmt *);
    const char *(*errmsg)(sqlite3 *);
    const char *(*libversion)(void);
} sq;

/* Open libsqlite3.so.0 and fill sq, or skip the benchmark. */
static void load_sqlite(void) {
    static const struct {
        const char *name;
        void *slot;
    } syms[] = {
        {"sqlite3_open", &sq.open},
        {"sqlite3_close", &sq.close},
        {"sqlite3_exec", &sq.exec},
        {"sqlite3_prepare_v2", &sq.prepare_v2},
        {"sqlite3_bind_int64", &sq.bind_int64},
        {"sqlite3_bind_text", &sq.bind_text},
        {"sqlite3_step", &sq.step},
        {"sqlite3_reset", &sq.reset},
        {"sqlite3_column_int64", &sq.column_int64},
        {"sqlite3_finalize", &sq.finalize},
        {"sqlite3_errmsg", &sq.errmsg},
        {"sqlite3_libversion", &sq.libversion},
    };
    void *lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_GLOBAL);
    if (lib == NULL)
        bench_skip("cannot load libsqlite3.so.0 (Debian: apt-get install "
                   "libsqlite3-0): %s",
                   dlerror());
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *fn = dlsym(lib, syms[i].name);
        if (fn == NULL)
            bench_die("libsqlite3.so.0 has no %s", syms[i].name);
        memcpy(syms[i].slot, &fn, sizeof fn); /* object pointer -> function pointer */
    }
}

static sqlite3 *db;
static unsigned long long ops;

static void exec_sql(const char *sql) {
    if (sq.exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        bench_die("sqlite: %s: %s", sql, sq.errmsg(db));
    ops++;
}

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sq.prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        bench_die("sqlite: cannot prepare %s: %s", sql, sq.errmsg(db));
    return st;
}

/* Step a statement that returns no rows, and reset it. */
static void run(sqlite3_stmt *st) {
    if (sq.step(st) != SQLITE_DONE)
        bench_die("sqlite: step failed: %s", sq.errmsg(db));
    sq.reset(st);
    ops++;
}

/* A random text of min..max letters, in buf (max + 1 bytes). */
static int letters(char *buf, uint32_t *rng, int min, int max) {
    int n = min + (int)(bench_xorshift32(rng) % (uint32_t)(max - min + 1));
    for (int i = 0; i < n; i++)
        buf[i] = (char)('a' + bench_xorshift32(rng) % 26);
    buf[n] = '\0';
    return n;
}

/* A note of 8 B to 2 KiB, as many of each octave, in buf (2049 bytes). */
static int note(char *buf, uint32_t *rng) {
    int octave = 3 + (int)(bench_xorshift32(rng) % 8);
    int lo = 1 << octave;
    return letters(buf, rng, lo, 2 * lo);
}

int main(int argc, char **argv) {
    unsigned long long rounds = bench_arg_u64(argc, argv, 1, 3);
    unsigned long long rows = bench_arg_u64(argc, argv, 2, 50000);
    uint32_t rng = (uint32_t)bench_arg_u64(argc, argv, 3, 2891336453u);
    if (rounds == 0 || rows < 1000 || rng == 0)
        bench_die("rounds must be positive, rows at least 1000, seed not 0");
    load_sqlite();

    /* grp[id] of each row inserted this round, -1 once deleted. */
    int *grp = malloc((rows + 1) * sizeof *grp);
    if (grp == NULL)
        bench_oom((rows + 1) * sizeof *grp);
    char name[41], text[2049];
    double t0 = bench_now();
    for (unsigned long long r = 0; r < rounds; r++) {
        if (sq.open(":memory:", &db) != SQLITE_OK)
            bench_die("sqlite: cannot open an in-memory database");
        exec_sql("PRAGMA temp_store = MEMORY"); /* sorts stay in memory too */
        exec_sql("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "grp INTEGER NOT NULL, qty INTEGER NOT NULL, note TEXT NOT NULL)");

        sqlite3_stmt *ins = prepare("INSERT INTO items(id, name, grp, qty, note) "
                                    "VALUES(?, ?, ?, ?, ?)");
        for (unsigned long long id = 1; id <= rows; id++) {
            if (id % 500 == 1)
                exec_sql("BEGIN");
            grp[id] = (int)(bench_xorshift32(&rng) % 1000);
            sq.bind_int64(ins, 1, (long long)id);
            sq.bind_text(ins, 2, name, letters(name, &rng, 6, 40), SQLITE_TRANSIENT);
            sq.bind_int64(ins, 3, grp[id]);
            sq.bind_int64(ins, 4, bench_xorshift32(&rng) % 10000);
            sq.bind_text(ins, 5, text, note(text, &rng), SQLITE_TRANSIENT);
            run(ins);
            if (id % 500 == 0 || id == rows)
                exec_sql("COMMIT");
        }
        sq.finalize(ins);
        exec_sql("CREATE INDEX items_name ON items(name)");
        exec_sql("CREATE INDEX items_grp ON items(grp, qty)");

        sqlite3_stmt *top = prepare("SELECT qty, length(note) FROM items WHERE grp = ? "
                                    "ORDER BY qty DESC, name LIMIT 20");
        sqlite3_stmt *groups = prepare("SELECT grp, count(*), sum(qty), max(name) FROM items "
                                       "GROUP BY grp ORDER BY 3 DESC, 1 LIMIT 10");
        for (unsigned long long q = 0; q < rows / 10; q++) {
            sqlite3_stmt *st = top;
            if (q % 1000 == 999)
                st = groups;
            else
                sq.bind_int64(top, 1, bench_xorshift32(&rng) % 1000);
            long long last = -1;
            int n = 0;
            while (sq.step(st) == SQLITE_ROW) {
                long long v = sq.column_int64(st, st == top ? 0 : 2);
                if (last >= 0 && v > last)
                    bench_die("sqlite: rows out of order (%lld after %lld)", v, last);
                last = v;
                n++;
            }
            if (n > 20 || (st == groups && n != 10))
                bench_die("sqlite: a select returned %d rows", n);
            sq.reset(st);
            ops++;
        }
        sq.finalize(top);
        sq.finalize(groups);
        sqlite3_stmt *sorted = prepare("SELECT name FROM items ORDER BY note LIMIT 10");
        while (sq.step(sorted) == SQLITE_ROW)
            ;
        sq.finalize(sorted);
        ops++;

        sqlite3_stmt *upd_note = prepare("UPDATE items SET note = ?, qty = qty + 1 WHERE id = ?");
        sqlite3_stmt *upd_name = prepare("UPDATE items SET name = ? WHERE id = ?");
        for (unsigned long long u = 0; u < rows / 2; u++) {
            if (u % 500 == 0)
                exec_sql("BEGIN");
            long long id = 1 + (long long)(bench_xorshift32(&rng) % rows);
            if (u % 4 == 3) {
                sq.bind_text(upd_name, 1, name, letters(name, &rng, 6, 40), SQLITE_TRANSIENT);
                sq.bind_int64(upd_name, 2, id);
                run(upd_name);
            } else {
                sq.bind_text(upd_note, 1, text, note(text, &rng), SQLITE_TRANSIENT);
                sq.bind_int64(upd_note, 2, id);
                run(upd_note);
            }
            if (u % 500 == 499 || u + 1 == rows / 2)
                exec_sql("COMMIT");
        }
        sq.finalize(upd_note);
        sq.finalize(upd_name);

        unsigned long long live = rows;
        sqlite3_stmt *del = prepare("DELETE FROM items WHERE id = ?");
        for (unsigned long long d = 0; d < rows / 4; d++) {
            if (d % 500 == 0)
                exec_sql("BEGIN");
            unsigned long long id = 1 + bench_xorshift32(&rng) % rows;
            sq.bind_int64(del, 1, (long long)id);
            run(del);
            if (grp[id] >= 0) {
                grp[id] = -1;
                live--;
            }
            if (d % 500 == 499 || d + 1 == rows / 4)
                exec_sql("COMMIT");
        }
        sq.finalize(del);
        exec_sql("DELETE FROM items WHERE grp < 100");
        for (unsigned long long id = 1; id <= rows; id++)
            if (grp[id] >= 0 && grp[id] < 100)
                live--;

        sqlite3_stmt *count = prepare("SELECT count(*) FROM items");
        if (sq.step(count) != SQLITE_ROW || sq.column_int64(count, 0) != (long long)live)
            bench_die("sqlite: the table does not hold the %llu rows left", live);
        sq.finalize(count);
        ops++;
        if (sq.close(db) != SQLITE_OK)
            bench_die("sqlite: close failed");
    }
    double secs = bench_now() - t0;
    free(grp);

    char extra[128];
    snprintf(extra, sizeof extra, " rounds=%llu rows=%llu sqlite=%s", rounds, rows,
             sq.libversion());
    bench_report("sqlite", -1, ops, secs, extra);
    return 0;
}

#!/bin/sh
# Preload: sqlite3 creating a table, inserting 10 000 rows from a generated SQL file and aggregating gives the same output under libhakmem.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need sqlite3 awk
awk 'BEGIN {
    print "CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);"
    print "BEGIN;"
    for (i = 0; i < 10000; i++)
        printf "INSERT INTO t (grp, name, val) VALUES (%d, %cname%d%c, %d.5);\n", i % 17, 39, i * 7 % 10007, 39, i
    print "COMMIT;"
    print "CREATE INDEX t_name ON t(name);"
    print "SELECT grp, count(*), sum(val), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;"
    print "SELECT count(DISTINCT name), avg(length(name)) FROM t;"
    print "SELECT group_concat(name, \",\") FROM (SELECT name FROM t ORDER BY name LIMIT 20);"
}' >"$tmp/work.sql"
stdin_file=$tmp/work.sql
preload_compare sqlite3 sqlite3 ":memory:"
preload_done

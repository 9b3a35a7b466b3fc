#!/bin/sh
# Preload: sort(1) of a generated 200 000-line file gives the same output under libhakmem.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need sort awk
awk 'BEGIN { srand(7); for (i = 0; i < 200000; i++) printf "%08d line %d %s\n", int(rand() * 100000000), i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }' >"$tmp/in"
preload_compare sort sort "$tmp/in"
preload_compare sort-numeric-unique sort -n -u -k3,3 "$tmp/in"
preload_done

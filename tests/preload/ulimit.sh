#!/bin/sh
# Preload: with 64 MiB of address space (ulimit -v 65536), python3 and ls
# run under libhakmem as they do without it: nothing reserves address space
# up front.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need python3 ls
ulimit -v 65536 2>/dev/null || { echo "SKIP: cannot lower ulimit -v"; exit 77; }
preload_compare python3-64MiB python3 -c 'print(sum(len(str(i)) for i in range(100000)))'
preload_compare ls-64MiB ls -l /usr
preload_done

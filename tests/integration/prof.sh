#!/bin/sh
# Integration: google-pprof reads the heap profile HAKMEM_PROF writes for the known sites of test_prof (one leaks 32 MiB in 4 KiB blocks, one allocates and frees 512 MiB) at the default rate, and attributes at least 80 % of the space in use to the leaking site and of the space allocated to the other; the leak report names the leaking site first.  Skips (77) without google-pprof (Debian: google-perftools) or without Check (no test_prof).
: "${top_builddir:?}" "${HAKMEM_BACKEND:?}"
prog=$top_builddir/tests/integration/test_prof
if ! command -v google-pprof >/dev/null 2>&1; then
    echo "SKIP: google-pprof not installed (Debian: google-perftools)"
    exit 77
fi
[ -x "$prog" ] || { echo "SKIP: $prog not built (no Check)"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
if ! HAKMEM_PROF=$tmp/p HAKMEM_LEAKS=1 HAKMEM_PROF_SEED=4 "$prog" --child sites 2>"$tmp/err"; then
    cat "$tmp/err"
    echo "FAIL: the profiled program failed"
    exit 1
fi
set -- "$tmp"/p.*.heap
[ $# -eq 1 ] && [ -r "$1" ] || { echo "FAIL: not one profile: $*"; exit 1; }
heap=$1
fail=0
# `google-pprof --text`: "  flat  flat%  sum%  cum  cum%  function"; the
# share of the site's own line.
share() { # MODE FUNCTION
    google-pprof --text "$1" "$prog" "$heap" 2>/dev/null |
        awk -v f="$2" '$6 == f { sub("%", "", $2); print $2 }'
}
check() { # MODE FUNCTION
    s=$(share "$1" "$2")
    echo "google-pprof --text $1: $2 ${s:-absent}%"
    if [ -z "$s" ] || ! awk -v s="$s" 'BEGIN { exit !(s >= 80) }'; then
        google-pprof --text "$1" "$prog" "$heap"
        echo "FAIL: $2 holds less than 80 % ($1)"
        fail=1
    fi
}
check --inuse_space leak_site
check --alloc_space churn_site
# The leak report: its first leak's frames, up to the second leak's line.
first=$(sed -n '/^hakmem: leak 1: /,/^hakmem: leak 2: /p' "$tmp/err")
echo "$first" | head -3
if ! echo "$first" | grep -q ' leak_site+'; then
    cat "$tmp/err"
    echo "FAIL: the leak report does not put leak_site first"
    fail=1
fi
exit $fail

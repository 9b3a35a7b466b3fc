# preload-lib.sh - sourced by the preload tests: runs a real program once
# with glibc's malloc and once with libhakmem.so preloaded, and compares
# stdout and exit status.  A third run with HAKMEM_VERBOSE=1 proves the
# library was really loaded and serves the backend each-backend selected.
#
# Use: . preload-lib.sh; need PROG...; preload_compare NAME COMMAND [ARGS...]
# Input for COMMAND comes from $stdin_file (default /dev/null).  The test
# ends with preload_done.

: "${top_builddir:?top_builddir must be set (make check sets it)}"
: "${HAKMEM_BACKEND:?HAKMEM_BACKEND must be set (tests/each-backend sets it)}"
lib=$top_builddir/.libs/libhakmem.so
if [ ! -r "$lib" ]; then
    echo "FAIL: $lib not built"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-preload.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
stdin_file=/dev/null
preload_fails=0
unset HAKMEM_VERBOSE HAKMEM_STATS HAKMEM_ACE_TRACE LD_PRELOAD

# Skips the whole test (exit 77) when a program is missing, and says so.
need() {
    for p in "$@"; do
        if ! command -v "$p" >/dev/null 2>&1; then
            echo "SKIP: $p is not installed"
            exit 77
        fi
    done
}

preload_compare() {
    name=$1
    shift
    "$@" <"$stdin_file" >"$tmp/$name.glibc.out" 2>"$tmp/$name.glibc.err"
    rc0=$?
    LD_PRELOAD=$lib "$@" <"$stdin_file" >"$tmp/$name.hakmem.out" 2>"$tmp/$name.hakmem.err"
    rc1=$?
    HAKMEM_VERBOSE=1 LD_PRELOAD=$lib "$@" <"$stdin_file" >"$tmp/$name.verbose.out" 2>"$tmp/$name.verbose.err"
    rc2=$?
    ok=1
    if [ $rc0 -ne 0 ]; then
        echo "FAIL: $name: exits $rc0 even without hakmem; the test itself is broken:"
        head -5 "$tmp/$name.glibc.err"
        ok=0
    fi
    if [ $rc0 -ne $rc1 ] || [ $rc0 -ne $rc2 ]; then
        echo "FAIL: $name: exit status $rc0 without hakmem, $rc1 / $rc2 with it"
        ok=0
    fi
    if ! cmp -s "$tmp/$name.glibc.out" "$tmp/$name.hakmem.out" ||
        ! cmp -s "$tmp/$name.glibc.out" "$tmp/$name.verbose.out"; then
        echo "FAIL: $name: stdout differs with hakmem:"
        diff "$tmp/$name.glibc.out" "$tmp/$name.hakmem.out" | head -20
        ok=0
    fi
    if ! grep -q "^hakmem: version .*, backend $HAKMEM_BACKEND " "$tmp/$name.verbose.err"; then
        echo "FAIL: $name: no 'hakmem: ... backend $HAKMEM_BACKEND' line with HAKMEM_VERBOSE=1:"
        echo "      libhakmem was not loaded, or serves another backend"
        head -5 "$tmp/$name.verbose.err"
        ok=0
    fi
    if grep -q "^hakmem: " "$tmp/$name.hakmem.err"; then
        echo "FAIL: $name: hakmem printed diagnostics:"
        grep "^hakmem: " "$tmp/$name.hakmem.err" | head -5
        ok=0
    fi
    if [ ! -s "$tmp/$name.glibc.out" ]; then
        echo "FAIL: $name: produced no output, nothing was compared"
        ok=0
    fi
    if [ $ok -eq 1 ]; then
        echo "ok: $name: same stdout ($(wc -l <"$tmp/$name.glibc.out") lines) and exit status $rc0"
    else
        preload_fails=$((preload_fails + 1))
    fi
}

preload_done() {
    if [ $preload_fails -ne 0 ]; then
        echo "FAIL: $preload_fails comparison(s) failed"
        exit 1
    fi
    echo "PASS"
    exit 0
}

#!/bin/sh
# Misuse: runs each misuse program and checks it was killed by SIGABRT with
# the exact message prefix on stderr (or, for a guard page, by SIGSEGV).
: "${top_builddir:?}"
dir=$top_builddir/tests/misuse
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-misuse.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0 runs=0
limit=
if command -v timeout >/dev/null 2>&1; then
    limit="timeout -s KILL 120"
fi

# expect PROGRAM PREFIX [ARGS...]: PREFIX SIGSEGV wants a fault, no line.
expect() {
    prog=$1 prefix=$2
    shift 2
    runs=$((runs + 1))
    label="$prog${1:+ $*}"
    if [ ! -x "$dir/$prog" ]; then
        echo "FAIL: $label: $dir/$prog not built"
        fails=$((fails + 1))
        return
    fi
    # The group's stderr takes the shell's own "Aborted" notice.  A run
    # that does not end in 120 s hangs (a list walk that loops): killed.
    { ( ulimit -c 0; exec $limit "$dir/$prog" "$@" ) >"$tmp/out" 2>"$tmp/raw"; rc=$?; } 2>/dev/null
    # A notice about the options at start-up (HAKMEM_SECURE=1 with a
    # backend that keeps no block bounds) is not the report.
    grep -v '^hakmem: HAKMEM_[A-Z_]*=[^ ]*: ' "$tmp/raw" >"$tmp/err"
    line=$(grep '^hakmem: ' "$tmp/err" | head -1)
    if [ $rc -eq 137 ]; then
        echo "FAIL: $label: killed after 120 s: it hangs"
        fails=$((fails + 1))
    elif [ "$prefix" = SIGSEGV ]; then
        if [ $rc -eq 139 ] && [ -z "$line" ]; then
            echo "ok: $label: SIGSEGV"
        else
            echo "FAIL: $label: exit status $rc, want 139 (SIGSEGV) and no hakmem line"
            sed 's/^/    /' "$tmp/out" "$tmp/err"
            fails=$((fails + 1))
        fi
    elif [ $rc -ne 134 ]; then
        echo "FAIL: $label: exit status $rc, want 134 (SIGABRT)"
        sed 's/^/    /' "$tmp/out" "$tmp/err"
        fails=$((fails + 1))
    elif ! grep -q "^$prefix" "$tmp/err"; then
        echo "FAIL: $label: aborted, but stderr does not start a line with '$prefix':"
        sed 's/^/    /' "$tmp/err"
        fails=$((fails + 1))
    elif [ "$(grep -c '^hakmem: ' "$tmp/err")" -ne 1 ]; then
        echo "FAIL: $label: more than one hakmem line on stderr:"
        sed 's/^/    /' "$tmp/err"
        fails=$((fails + 1))
    else
        echo "ok: $label: SIGABRT, $line"
    fi
}

expect double_free_small 'hakmem: free(): double free: 0x'
expect double_free_interleaved 'hakmem: free(): double free: 0x'
expect double_free_xthread 'hakmem: free(): double free: 0x'
expect double_free_large 'hakmem: free(): '
expect free_stack 'hakmem: free(): invalid pointer: 0x'
expect free_one 'hakmem: free(): invalid pointer: 0x1 '
expect free_unaligned_small 'hakmem: free(): invalid pointer: 0x'
expect free_foreign_mmap 'hakmem: free(): invalid pointer: 0x'
expect free_interior_large 'hakmem: free(): invalid pointer: 0x' 8192
expect free_interior_large 'hakmem: free(): invalid pointer: 0x' 16
expect free_interior_large 'hakmem: free(): invalid pointer: 0x' 1048560
# With HAKMEM_SECURE=1 a damaged block waits in the quarantine, which
# reports it when it leaves, or at exit; a second free of a block there, at
# the call.
corrupted='hakmem: malloc(): corrupted free block: 0x'
damaged='hakmem: \(malloc(): corrupted free block\|corrupted free list\): 0x'
if [ "${HAKMEM_SECURE:-0}" = 1 ]; then
    corrupted='hakmem: free(): write after free: 0x'
    damaged='hakmem: \(malloc(): corrupted free block\|corrupted free list\|free(): write after free\|free(): double free\): 0x'
fi
expect write_after_free_small "$corrupted" 0
expect write_after_free_small "$corrupted" 8
expect overflow_small "$corrupted" 1
expect overflow_small "$corrupted" 8
overran='hakmem: malloc(): corrupted free block: 0x'
[ "${HAKMEM_SECURE:-0}" = 1 ] && overran='hakmem: free(): heap overflow: 0x'
expect overflow_small "$overran" 1 free
expect overflow_small "$overran" 8 free
expect overflow_small "$overran" 8 free unit
expect sized_free_mismatch 'hakmem: operator delete: size mismatch: 0x' delete
expect sized_free_mismatch 'hakmem: operator delete: size mismatch: 0x' delete-large
expect sized_free_mismatch 'hakmem: free_sized(): size mismatch: 0x' free_sized
# The attacks on the free lists (their report depends on where the damaged
# block waits: a thread cache, or the backend's lists).
expect link_hijack "$damaged" main
expect link_hijack "$damaged" thread
expect double_free_cycle "$damaged" mallocs
expect double_free_cycle "$damaged" frees
expect overflow_neighbours "$damaged" 8
expect overflow_neighbours "$damaged" 16
# superslab and hybrid check the blocks a thread cache hands back, and with
# HAKMEM_SECURE=1 every block at its free(); legacy, the plain reference
# design, trusts them.
if [ "${HAKMEM_BACKEND:-}" != legacy ]; then
    expect free_interior_small 'hakmem: free(): invalid pointer: 0x'
    if [ "${HAKMEM_SECURE:-0}" = 1 ]; then
        expect free_interior_small 'hakmem: free(): invalid pointer: 0x' now
        expect free_unissued_small 'hakmem: free(): invalid pointer: 0x'
        expect realloc_interior_small 'hakmem: realloc(): invalid pointer: 0x'
    fi
fi
# The quarantine of HAKMEM_SECURE=1, on every backend.
if [ "${HAKMEM_SECURE:-0}" = 1 ]; then
    expect write_after_free_quarantine 'hakmem: free(): write after free: 0x'
    # The guard page after a large block: a run, an extent.
    expect overflow_large SIGSEGV 100000
    expect overflow_large SIGSEGV 4194304
fi

echo "$((runs - fails)) of $runs misuses caught"
[ $fails -eq 0 ] || exit 1
exit 0

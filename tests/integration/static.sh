#!/bin/sh
# Integration: a static program (gcc -static with libhakmem.a) that calls every name of glibc's malloc.o a program can reach links without a second malloc, and runs on HAKMEM: threads, fork and the introspection calls included.  Skips (77) where static linking cannot be tested: no libc.a, or a sanitizer build.
: "${top_builddir:?}" "${top_srcdir:?}" "${HAKMEM_BACKEND:?}"
cc=${HAK_BUILD_CC:-cc}
case " $HAK_BUILD_CFLAGS $HAK_BUILD_LDFLAGS " in
*-fsanitize=*)
    echo "SKIP: a sanitizer build cannot link statically"
    exit 77
    ;;
esac
libc_a=$($cc -print-file-name=libc.a)
if [ "$libc_a" = libc.a ] || [ ! -r "$libc_a" ]; then
    echo "SKIP: $cc has no libc.a (Debian: libc6-dev)"
    exit 77
fi
lib=$top_builddir/.libs/libhakmem.a
[ -r "$lib" ] || { echo "FAIL: $lib missing"; exit 1; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086 # the flags are lists
if ! $cc $HAK_BUILD_CFLAGS -static -I"$top_srcdir/include" -o "$tmp/static_prog" \
    "$top_srcdir/tests/integration/static_prog.c" "$lib" -lpthread >"$tmp/link.log" 2>&1; then
    cat "$tmp/link.log"
    echo "FAIL: gcc -static with libhakmem.a does not link"
    exit 1
fi
if grep -q 'multiple definition' "$tmp/link.log"; then
    cat "$tmp/link.log"
    echo "FAIL: a second malloc was linked"
    exit 1
fi
out=$("$tmp/static_prog") || { echo "FAIL: static_prog exited with $?"; exit 1; }
if [ "$out" != "$HAKMEM_BACKEND" ]; then
    echo "FAIL: static_prog ran on backend '$out', not $HAKMEM_BACKEND"
    exit 1
fi
echo "PASS: a static program links libhakmem.a alone and runs on backend $out"
exit 0

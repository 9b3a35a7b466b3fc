#!/bin/sh
# Integration: libhakmem beside another interposer (a dlsym(RTLD_NEXT) shim
# preloaded in front of it, and behind it), and loaded with dlopen after
# start (its initial-exec TLS must fit what the C library keeps for that).
: "${top_builddir:?}" "${HAKMEM_BACKEND:?}"
lib=$top_builddir/.libs/libhakmem.so
shim=$top_builddir/tests/integration/.libs/libshim.so
prog=$top_builddir/tests/integration/plain_prog
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
for f in "$lib" "$shim" "$prog"; do [ -r "$f" ] || { echo "FAIL: $f not built"; exit 1; }; done

seq 1 3000 | sort -R --random-source=/dev/zero >"$tmp/in"
sort "$tmp/in" >"$tmp/want"

# The shim first: its calls must reach hakmem, which serves the process.
HAKMEM_VERBOSE=1 LD_PRELOAD="$shim $lib" "$prog" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$tmp/out" "$tmp/want"; then ok "shim in front: same output"; else fail "shim in front: exit $rc"; head -5 "$tmp/err"; fi
grep -q "^hakmem: version .*, backend $HAKMEM_BACKEND " "$tmp/err" || fail "shim in front: hakmem not loaded"
n=$(sed -n 's/^shim: \([0-9]*\) calls passed on$/\1/p' "$tmp/err")
if [ "${n:-0}" -gt 3000 ]; then ok "shim in front: $n calls passed on to hakmem"; else fail "shim in front: ${n:-no} calls passed on"; fi

# hakmem first: it serves everything, the shim's malloc is never reached.
LD_PRELOAD="$lib $shim" "$prog" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$tmp/out" "$tmp/want"; then ok "hakmem in front: same output"; else fail "hakmem in front: exit $rc"; head -5 "$tmp/err"; fi

# dlopen after start.
out=$("$top_builddir/tests/integration/dlopen_prog" "$lib" 2>&1)
if [ $? -eq 0 ] && [ "$out" = "dlopen: backend $HAKMEM_BACKEND, 1000 blocks" ]; then ok "$out"; else fail "dlopen: $out"; fi

[ $fails -eq 0 ] || exit 1
echo PASS

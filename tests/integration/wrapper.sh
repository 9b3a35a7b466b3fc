#!/bin/sh
# Integration: the hakmem wrapper script (tools/hakmem) preloads the library, passes --backend/--stats/--verbose, and reports errors.
: "${top_builddir:?}" "${HAKMEM_BACKEND:?}"
wrapper=$top_builddir/tools/hakmem
HAKMEM_LIB=$top_builddir/.libs/libhakmem.so
export HAKMEM_LIB
[ -r "$wrapper" ] || { echo "FAIL: $wrapper missing"; exit 1; }
[ -r "$HAKMEM_LIB" ] || { echo "FAIL: $HAKMEM_LIB missing"; exit 1; }

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
b=$HAKMEM_BACKEND

# `true` runs and exits 0.
if ${SHELL:-/bin/sh} "$wrapper" true 2>"$tmp/err"; then ok "hakmem true"; else fail "hakmem true"; cat "$tmp/err"; fi

# A program under --backend and --stats: same stdout, statistics on stderr.
# (plain_prog links only libc and exits through exit(), with stderr open:
# sort closes stderr and dash calls _exit, so neither would show them.)
prog=$top_builddir/tests/integration/plain_prog
printf '3\n1\n2\n' >"$tmp/in"
${SHELL:-/bin/sh} "$wrapper" --backend "$b" --stats "$prog" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "plain_prog under wrapper exited $rc"
if [ "$(cat "$tmp/out")" = "$(printf '1\n2\n3')" ]; then ok "program output"; else fail "program output: $(cat "$tmp/out")"; fi
if grep -q "^hakmem: statistics (version .*, backend $b)" "$tmp/err"; then
    ok "--stats text names backend $b"
else
    fail "--stats: no statistics header naming $b"; cat "$tmp/err"
fi

${SHELL:-/bin/sh} "$wrapper" --backend="$b" --stats=json "$prog" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
if grep -q "\"backend\":\"$b\"" "$tmp/err" && grep -q '"large_allocs":' "$tmp/err"; then
    ok "--stats=json"
else
    fail "--stats=json"; cat "$tmp/err"
fi

${SHELL:-/bin/sh} "$wrapper" --verbose -- "$prog" </dev/null 2>"$tmp/err"
if grep -q "^hakmem: .*backend $b" "$tmp/err"; then ok "--verbose"; else fail "--verbose"; cat "$tmp/err"; fi

# Errors: no program is a usage error (2); a missing library is 127.
${SHELL:-/bin/sh} "$wrapper" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok "no program: exit 2" || fail "no program: exit $rc, want 2"
${SHELL:-/bin/sh} "$wrapper" --bogus-option true >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok "unknown option: exit 2" || fail "unknown option: exit $rc, want 2"
HAKMEM_LIB=$tmp/nonexistent.so ${SHELL:-/bin/sh} "$wrapper" true 2>"$tmp/err"
rc=$?
[ $rc -eq 127 ] && grep -q "not found" "$tmp/err" && ok "missing library: exit 127" ||
    fail "missing library: exit $rc"

[ $fails -eq 0 ] || exit 1
echo "PASS: wrapper"

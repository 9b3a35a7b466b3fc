#!/bin/sh
# Integration: the hakmem wrapper script (tools/hakmem) preloads the library, passes --backend/--stats/--verbose, answers --help/--version, and reports errors; the statistics reach the user (a program that closes stderr, HAKMEM_STATS_FILE with %p).
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
if grep -q "^hakmem: statistics of pid [0-9]* (plain_prog), version .*, backend $b\$" "$tmp/err"; then
    ok "--stats text names the process and backend $b"
else
    fail "--stats: no statistics header naming plain_prog and $b"; cat "$tmp/err"
fi

# ls closes its stderr before it exits: the statistics still reach the
# stderr it was started with.
${SHELL:-/bin/sh} "$wrapper" --stats -- ls / >/dev/null 2>"$tmp/err"
if grep -q "^hakmem: statistics of pid [0-9]* (ls), " "$tmp/err"; then
    ok "--stats reaches a program that closes stderr (ls)"
else
    fail "--stats -- ls printed no statistics"; cat "$tmp/err"
fi

# HAKMEM_STATS_FILE alone: text statistics appended to the file, %p the PID.
HAKMEM_STATS_FILE="$tmp/stats.%p" ${SHELL:-/bin/sh} "$wrapper" "$prog" <"$tmp/in" >/dev/null 2>"$tmp/err" &
pid=$!
wait $pid
if grep -q "^hakmem: statistics of pid $pid (plain_prog)" "$tmp/stats.$pid" 2>/dev/null &&
    [ ! -s "$tmp/err" ]; then
    ok "HAKMEM_STATS_FILE=.../stats.%p"
else
    fail "HAKMEM_STATS_FILE: no stats.$pid naming pid $pid"; ls "$tmp"; cat "$tmp/err"
fi
HAKMEM_STATS_FILE="$tmp/no/such/dir/stats" ${SHELL:-/bin/sh} "$wrapper" "$prog" </dev/null >/dev/null 2>"$tmp/err"
if grep -q "^hakmem: HAKMEM_STATS_FILE=$tmp/no/such/dir/stats: cannot open: " "$tmp/err"; then
    ok "HAKMEM_STATS_FILE that cannot be opened: one line"
else
    fail "HAKMEM_STATS_FILE that cannot be opened"; cat "$tmp/err"
fi

${SHELL:-/bin/sh} "$wrapper" --backend="$b" --stats=json "$prog" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
if grep -q "\"backend\":\"$b\"" "$tmp/err" && grep -q '"large_allocs":' "$tmp/err"; then
    ok "--stats=json"
else
    fail "--stats=json"; cat "$tmp/err"
fi

${SHELL:-/bin/sh} "$wrapper" --verbose -- "$prog" </dev/null 2>"$tmp/err"
if grep -q "^hakmem: .*backend $b" "$tmp/err"; then ok "--verbose"; else fail "--verbose"; cat "$tmp/err"; fi

# --help: usage on stdout, exit 0; --version: the version, exit 0.
${SHELL:-/bin/sh} "$wrapper" --help >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "^usage: hakmem " "$tmp/out" && [ ! -s "$tmp/err" ]; then
    ok "--help"
else
    fail "--help: exit $rc"; cat "$tmp/out" "$tmp/err"
fi
${SHELL:-/bin/sh} "$wrapper" --version >"$tmp/out" 2>&1
rc=$?
want=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
if [ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "hakmem $want" ]; then
    ok "--version"
else
    fail "--version: exit $rc, '$(cat "$tmp/out")', want 'hakmem $want'"
fi

# A command that does not exist: one line naming it, exit 127.
${SHELL:-/bin/sh} "$wrapper" no-such-cmd-hakmem >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 127 ] && [ "$(cat "$tmp/err")" = "hakmem: no-such-cmd-hakmem: command not found" ]; then
    ok "command not found"
else
    fail "command not found: exit $rc, '$(cat "$tmp/err")'"
fi

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

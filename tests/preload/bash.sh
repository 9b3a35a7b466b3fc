#!/bin/sh
# Preload: bash building strings in a loop and running $(...) subshells gives the same output under libhakmem.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need bash
cat >"$tmp/work.bash" <<'SH'
s=""
declare -A h
for ((i = 0; i < 20000; i++)); do
    s+="x$i"
    h[k$i]=$((i * i))
done
echo "${#s} ${#h[@]} ${h[k1234]}"
n=0
for ((i = 0; i < 100; i++)); do
    v=$(echo "$i" | tr 0-9 a-j)
    n=$((n + ${#v}))
done
echo "$n $(printf '%s\n' "${s:0:40}")"
arr=($(seq 1 5000))
echo "${#arr[@]} ${arr[4999]}"
SH
preload_compare bash bash "$tmp/work.bash"
preload_done

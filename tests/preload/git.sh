#!/bin/sh
# Preload: git init/add/commit/log --stat in a temporary repository gives the same output under libhakmem.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need git
GIT_AUTHOR_NAME=Test GIT_AUTHOR_EMAIL=test@example.org GIT_AUTHOR_DATE='2024-01-01T00:00:00Z'
GIT_COMMITTER_NAME=Test GIT_COMMITTER_EMAIL=test@example.org GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_AUTHOR_DATE GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL GIT_COMMITTER_DATE
GIT_CONFIG_NOSYSTEM=1 HOME=$tmp XDG_CONFIG_HOME=$tmp/.config
export GIT_CONFIG_NOSYSTEM HOME XDG_CONFIG_HOME

# Builds a repository with three commits and prints its log.
cat >"$tmp/repo.sh" <<'SH'
set -e
d=$(mktemp -d "$1/repo.XXXXXX")
cd "$d"
git init -q -b main .
for c in 1 2 3; do
    i=0
    while [ $i -lt 30 ]; do
        echo "file $i commit $c" >"f$i.txt"
        i=$((i + 1))
    done
    seq 1 $((c * 1000)) >"numbers.txt"
    git add -A
    git commit -q -m "commit $c"
done
git log --stat --format='%H %an %s'
git rev-list --count HEAD
git gc -q 2>/dev/null || true
git fsck --no-progress && echo fsck-ok
SH
preload_compare git sh "$tmp/repo.sh" "$tmp"
preload_done

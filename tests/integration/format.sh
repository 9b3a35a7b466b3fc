#!/bin/sh
# Integration: every C and C++ source of the tree is laid out as .clang-format says (clang-format 14, Debian 12's: other versions lay out some constructs differently, so they skip).
: "${top_srcdir:?}"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "SKIP: clang-format not installed"
    exit 77
fi
version=$(clang-format --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
    echo "SKIP: clang-format $version, not 14"
    exit 77
fi
cd "$top_srcdir" || exit 99
files=$(find src include tests bench -name '*.c' -o -name '*.h' -o -name '*.cc' | sort)
[ -n "$files" ] || { echo "FAIL: no sources under $top_srcdir"; exit 1; }
n=0 bad=0
for f in $files; do
    n=$((n + 1))
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "FAIL: $f is not formatted (clang-format -i $f)"
        bad=$((bad + 1))
    fi
done
[ "$bad" -eq 0 ] || exit 1
echo "PASS: $n files formatted"

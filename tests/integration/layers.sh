#!/bin/sh
# Integration: the layer rule of src/README holds: no source file includes a header of a layer above its own.
: "${top_srcdir:?}"
src=$top_srcdir/src
# The layers, lowest first, as src/README lists them; internal.h is platform's.
order="platform pool large backends ace prof frontend"
rank() {
    i=0
    for l in $order; do
        [ "$l" = "$1" ] && { echo $i; return; }
        i=$((i + 1))
    done
    echo "unknown"
}
status=0
checked=0
for f in "$src"/*.h "$src"/*/*.[ch] "$src"/*/*.def; do
    [ -e "$f" ] || continue
    rel=${f#"$src"/}
    case $rel in
    */*) from=${rel%%/*} ;;
    *) from=platform ;;
    esac
    rf=$(rank "$from")
    if [ "$rf" = unknown ]; then
        echo "FAIL: $rel: folder $from is no layer of src/README"
        status=1
        continue
    fi
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
        config.h | hakmem.h) continue ;;
        */*) to=${inc%%/*} ;;
        *) to=platform ;;
        esac
        rt=$(rank "$to")
        checked=$((checked + 1))
        if [ "$rt" = unknown ] || [ "$rt" -gt "$rf" ]; then
            echo "FAIL: $rel ($from) includes $inc ($to), a layer above it"
            status=1
        fi
    done
done
[ "$checked" -gt 20 ] || { echo "FAIL: only $checked includes found under $src"; exit 1; }
[ $status -eq 0 ] && echo "PASS: $checked includes, none up a layer"
exit $status

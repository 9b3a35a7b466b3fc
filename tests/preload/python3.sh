#!/bin/sh
# Preload: python3 building dicts, strings and sorted lists gives the same output under libhakmem.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need python3
cat >"$tmp/work.py" <<'PY'
import hashlib
d = {}
for i in range(200000):
    d["key%d" % i] = [i, str(i) * (i % 7), {"n": i}]
s = "".join(str(len(v[1])) for k, v in sorted(d.items())[:50000])
words = sorted(("w%x" % (i * 2654435761 % 1000003)) for i in range(100000))
big = [bytes(i % 256 for _ in range(i % 5000)) for i in range(2000)]
print(len(d), len(s), hashlib.sha256(s.encode()).hexdigest())
print(words[:5], words[-5:])
print(sum(len(b) for b in big))
del d
print(sorted({i % 1000: i for i in range(100000)}.items())[:3])
PY
preload_compare python3 python3 "$tmp/work.py"
preload_done

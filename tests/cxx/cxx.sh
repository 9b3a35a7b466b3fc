#!/bin/sh
# C++: test_new_plain, which links only the C++ runtime, run with the
# library preloaded: every operator new and delete is HAKMEM's.
: "${top_builddir:?}"
lib=$top_builddir/.libs/libhakmem.so
prog=$top_builddir/tests/cxx/test_new_plain
[ -r "$lib" ] || { echo "FAIL: $lib missing"; exit 1; }
[ -x "$prog" ] || { echo "FAIL: $prog not built"; exit 1; }
LD_PRELOAD=$lib "$prog"

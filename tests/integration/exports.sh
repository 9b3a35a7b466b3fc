#!/bin/sh
# Integration: the dynamic symbols libhakmem.so defines are exactly the malloc family (with glibc's introspection calls, every other name of glibc's malloc.o and the C++ operators) plus the hak_* functions of include/hakmem.h.
: "${top_builddir:?}" "${top_srcdir:?}"
lib=$top_builddir/.libs/libhakmem.so
header=$top_srcdir/include/hakmem.h
if ! command -v nm >/dev/null 2>&1; then
    echo "SKIP: nm not installed"
    exit 77
fi
[ -r "$lib" ] || { echo "FAIL: $lib missing"; exit 1; }

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

for s in malloc free calloc realloc reallocarray aligned_alloc posix_memalign memalign \
    valloc pvalloc malloc_usable_size malloc_trim free_sized free_aligned_sized \
    __libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign __libc_valloc \
    __libc_pvalloc mallinfo mallinfo2 malloc_stats malloc_info mallopt \
    __malloc __free __calloc __realloc __memalign __posix_memalign __valloc __pvalloc \
    __malloc_usable_size __malloc_trim __mallinfo __mallinfo2 __libc_mallinfo __libc_mallinfo2 \
    __malloc_stats __malloc_info __mallopt __libc_mallopt \
    _Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t _ZnamSt11align_val_t \
    _ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t \
    _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t \
    _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t \
    _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t; do
    echo "$s"
done >"$tmp/libc"
# Every function the header declares: a hak_ name followed by "(".
sed -n 's/.*[^a-zA-Z0-9_]\(hak_[a-zA-Z0-9_]*\)(.*/\1/p' "$header" >"$tmp/hak"
if [ ! -s "$tmp/hak" ]; then
    echo "FAIL: no hak_* functions found in $header"
    exit 1
fi
sort -u "$tmp/libc" "$tmp/hak" >"$tmp/want"
# Defined dynamic symbols, without the version nodes and linker specials.
nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
    grep -v -e '^_init$' -e '^_fini$' -e '^_edata$' -e '^_end$' -e '^__bss_start$' |
    sort -u >"$tmp/have"

echo "expected $(wc -l <"$tmp/want") symbols, library defines $(wc -l <"$tmp/have")"
if ! diff -u "$tmp/want" "$tmp/have"; then
    echo "FAIL: exported symbols differ (- missing, + unexpected)"
    exit 1
fi
echo "PASS: exports match"
exit 0

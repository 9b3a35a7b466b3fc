#!/bin/sh
# Integration: the installed CMake package.  `make install` staged in a temporary directory (DESTDIR); tests/cmake, configured with CMAKE_PREFIX_PATH pointing there, finds hakmem::hakmem (and hakmem::hakmem_static) in the staged tree; its programs run on HAKMEM with the version the package states; find_package refuses the versions it must.
#
# Works in $top_builddir/tests/integration/cmake.d, made afresh each run and
# left for a look after a failure.  Skips (77) without cmake.
: "${top_builddir:?}" "${top_srcdir:?}" "${HAKMEM_BACKEND:?}"
if ! command -v cmake >/dev/null 2>&1; then
    echo "SKIP: cmake not installed; the CMake package (hakmem-config.cmake) is installed but not tested"
    exit 77
fi
LC_ALL=C
export LC_ALL
work=$top_builddir/tests/integration/cmake.d
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
# The physical path of an existing file or directory.
real() {
    if [ -d "$1" ]; then
        (cd "$1" && pwd -P)
    else
        d=$(cd "$(dirname "$1")" && pwd -P) || return 1
        f=$d/$(basename "$1")
        if [ -h "$f" ]; then
            l=$(readlink "$f")
            case $l in /*) real "$l" ;; *) real "$d/$l" ;; esac
        else
            echo "$f"
        fi
    fi
}
want_version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$want_version" ] || { echo "FAIL: no PACKAGE_VERSION in $top_builddir/config.h"; exit 1; }
la() { sed -n "s/^$1='\(.*\)'\$/\1/p" "$top_builddir/libhakmem.la"; }
[ -r "$top_builddir/libhakmem.la" ] || { echo "FAIL: $top_builddir/libhakmem.la missing"; exit 1; }
shared=$(la library_names | sed 's/ .*//')
soname=$(la dlname)
static=$(la old_library)

# ---- make install, staged --------------------------------------------------
rm -rf "$work"
mkdir -p "$work/build" || exit 99
dest=$work/dest
# The make running the tests passes its jobserver and command-line
# variables on (MAKEFLAGS); installing needs neither.
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; ${MAKE:-make} -C "$top_builddir" install DESTDIR="$dest") \
    >"$work/install.log" 2>&1; then
    cat "$work/install.log"
    echo "FAIL: make install DESTDIR=$dest"
    exit 1
fi
config=$(find "$dest" -name hakmem-config.cmake -type f)
if [ "$(echo "$config" | grep -c .)" -ne 1 ]; then
    fail "make install put $(echo "$config" | grep -c .) hakmem-config.cmake files in $dest, want 1: $config"
    exit 1
fi
cmakedir=$(dirname "$config")
libdir=$(dirname "$(dirname "$cmakedir")")
[ -f "$cmakedir/hakmem-config-version.cmake" ] && ok "installed ${cmakedir#"$dest"}/hakmem-config.cmake and -version.cmake" ||
    fail "hakmem-config-version.cmake not installed beside $config"
[ -f "$libdir/pkgconfig/hakmem.pc" ] && ok "beside ${libdir#"$dest"}/pkgconfig/hakmem.pc" ||
    fail "hakmem.pc not installed in ${libdir#"$dest"}/pkgconfig"
prefix=$(sed -n 's/^prefix=//p' "$libdir/pkgconfig/hakmem.pc")
# find_package looks in <prefix>/lib*/cmake/<name>*/ (lib/<arch> too).
case ${libdir#"$dest"} in
"$prefix"/lib*) search=$dest$prefix ;;
*) search=$cmakedir; echo "note: libdir is not <prefix>/lib*: CMAKE_PREFIX_PATH=$search" ;;
esac

# ---- configure and build tests/cmake against the staged install ------------
# With the build's own flags: a library built with a sanitizer needs
# its runtime in every program that links it.
if (cd "$work/build" && unset MAKEFLAGS MFLAGS MAKELEVEL &&
    cmake -DCMAKE_PREFIX_PATH="$search" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DCMAKE_C_FLAGS="${HAK_BUILD_CFLAGS:-}" -DCMAKE_EXE_LINKER_FLAGS="${HAK_BUILD_LDFLAGS:-}" \
        "$top_srcdir/tests/cmake" &&
    cmake --build .) >"$work/build.log" 2>&1; then
    ok "tests/cmake configured and built with CMAKE_PREFIX_PATH=$search"
else
    cat "$work/build.log"
    echo "FAIL: tests/cmake did not configure or build against $search"
    exit 1
fi
found=$(sed -n 's/^hakmem_DIR:[A-Z]*=//p' "$work/build/CMakeCache.txt")
if [ -n "$found" ] && [ "$(real "$found")" = "$(real "$cmakedir")" ]; then
    ok "find_package(hakmem) found the staged package"
else
    fail "find_package(hakmem) found '$found', want $cmakedir"
fi
# What the config made of the imported targets (CMakeLists.txt writes it).
t=$work/build/hakmem-targets.txt
loc=$(sed -n 's/^hakmem::hakmem location //p' "$t")
son=$(sed -n 's/^hakmem::hakmem soname //p' "$t")
inc=$(sed -n 's/^hakmem::hakmem include //p' "$t")
if [ -n "$loc" ] && [ "$(real "$loc")" = "$(real "$libdir/$shared")" ]; then
    ok "hakmem::hakmem IMPORTED_LOCATION is the staged $shared"
else
    fail "hakmem::hakmem IMPORTED_LOCATION '$loc', want $libdir/$shared"
fi
[ "$son" = "$soname" ] && ok "IMPORTED_SONAME $son" || fail "IMPORTED_SONAME '$son', want '$soname'"
header=$(find "$dest" -name hakmem.h -type f)
if [ -n "$inc" ] && [ -f "$inc/hakmem.h" ] && [ "$(real "$inc/hakmem.h")" = "$(real "$header")" ]; then
    ok "INTERFACE_INCLUDE_DIRECTORIES is the staged include directory"
else
    fail "hakmem::hakmem INTERFACE_INCLUDE_DIRECTORIES '$inc', not the staged directory of hakmem.h"
fi
if [ -n "$static" ]; then
    sloc=$(sed -n 's/^hakmem::hakmem_static location //p' "$t")
    if [ -n "$sloc" ] && [ "$(real "$sloc")" = "$(real "$libdir/$static")" ]; then
        ok "hakmem::hakmem_static IMPORTED_LOCATION is the staged $static"
    else
        fail "hakmem::hakmem_static IMPORTED_LOCATION '$sloc', want $libdir/$static"
    fi
    grep -q '^hakmem::hakmem_static links Threads::Threads$' "$t" && ok "hakmem::hakmem_static links Threads::Threads" ||
        fail "hakmem::hakmem_static: INTERFACE_LINK_LIBRARIES is not Threads::Threads"
fi
if command -v readelf >/dev/null 2>&1; then
    if readelf -d "$work/build/app" | grep -q "(NEEDED).*\[$soname\]"; then
        ok "app records $soname"
    else
        fail "app does not record $soname:"; readelf -d "$work/build/app" | grep NEEDED
    fi
fi

# ---- versions the package must refuse --------------------------------------
# (tests/cmake/CMakeLists.txt asks for the ones it must accept.)
major=${want_version%%.*}
minor=${want_version#*.}
minor=${minor%%.*}
refuse="99 $major.$((minor + 1))"
[ "$major" -ne 0 ] || [ "$minor" -eq 0 ] || refuse="$refuse 0.$((minor - 1))"
n=0
for req in $refuse; do
    n=$((n + 1))
    mkdir -p "$work/v$n"
    if (cd "$work/v$n" && cmake -DCMAKE_PREFIX_PATH="$search" -DHAKMEM_REQUEST="$req" \
        "$top_srcdir/tests/cmake") >"$work/v$n.log" 2>&1; then
        fail "find_package(hakmem $req REQUIRED) accepted version $want_version"
    elif tr -s ' \n' '  ' <"$work/v$n.log" | grep "compatible with requested version \"$req\"" |
        grep -q "hakmem-config.cmake, version: $want_version"; then
        ok "find_package(hakmem $req REQUIRED) refuses $want_version"
    else
        cat "$work/v$n.log"
        fail "find_package(hakmem $req REQUIRED) failed, but not on the version"
    fi
done

# ---- the programs, on this backend -----------------------------------------
# check NAME WHAT-MAPPED: runs the program, checks its lines.
check() {
    prog=$work/build/$1
    LD_LIBRARY_PATH=$libdir "$prog" >"$work/$1.out" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        cat "$work/$1.out"
        fail "$1 exited $rc"
        return
    fi
    grep -qx "version $want_version" "$work/$1.out" && grep -qx "backend $HAKMEM_BACKEND" "$work/$1.out" ||
        { cat "$work/$1.out"; fail "$1: not version $want_version on backend $HAKMEM_BACKEND"; return; }
    m=$(sed -n 's/^mapped //p' "$work/$1.out")
    if [ "$2" = none ]; then
        [ "$m" = none ] || { fail "$1 (static) maps $m"; return; }
    else
        [ "$(echo "$m" | grep -c .)" -eq 1 ] && [ "$(real "$m")" = "$(real "$2")" ] ||
            { fail "$1 maps '$m', want $2 only"; return; }
        mi=$(sed -n 's/^malloc-in //p' "$work/$1.out")
        [ -n "$mi" ] && [ "$(real "$mi")" = "$(real "$2")" ] ||
            { fail "$1: malloc is defined in '$mi', want $2"; return; }
    fi
    ok "$1: HAKMEM $want_version serves malloc and free, backend $HAKMEM_BACKEND${HAKMEM_SECURE:+ (secure)}"
}
check app "$libdir/$shared"
if [ -n "$static" ]; then
    check app_static none
fi

[ $fails -eq 0 ] || exit 1
echo "PASS: cmake package"
exit 0

# AX_HAK_CHECK_CFLAG(FLAG, VARIABLE)
# Appends FLAG to the substituted VARIABLE when the C compiler accepts it
# (with -Werror, so a flag that only warns is refused).
AC_DEFUN([AX_HAK_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  hak_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2="$$2 $1"],
    [AC_MSG_RESULT([no])])
  CFLAGS=$hak_save_CFLAGS
  AC_SUBST([$2])
])

#!/bin/sh
# Preload: gcc compiling a small C program under libhakmem gives the same program output.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need gcc
cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *next; char name[24]; };
static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
int main(void) {
    struct node *head = NULL;
    for (int i = 0; i < 1000; i++) {
        struct node *n = malloc(sizeof *n);
        snprintf(n->name, sizeof n->name, "n%d", (i * 7919) % 1000);
        n->next = head;
        head = n;
    }
    char *names[1000];
    int k = 0;
    for (struct node *n = head; n; n = n->next) names[k++] = n->name;
    qsort(names, k, sizeof names[0], cmp);
    printf("%s %s %s\n", names[0], names[500], names[999]);
    while (head) { struct node *n = head->next; free(head); head = n; }
    return 0;
}
C
# Compile twice: without and with the library (the compilers' own stdout is
# empty), then run both programs under the library.
gcc -O2 -o "$tmp/prog.glibc" "$tmp/prog.c" || { echo "FAIL: gcc failed without hakmem"; exit 1; }
preload_compare gcc-version gcc --version
LD_PRELOAD=$lib gcc -O2 -o "$tmp/prog.hakmem" "$tmp/prog.c" 2>"$tmp/gcc.err"
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: gcc exited $rc under hakmem"
    cat "$tmp/gcc.err"
    preload_fails=$((preload_fails + 1))
elif ! cmp -s "$tmp/prog.glibc" "$tmp/prog.hakmem"; then
    echo "note: binaries differ (gcc output is not byte-reproducible here); comparing behaviour"
fi
preload_compare prog-built-by-glibc-gcc "$tmp/prog.glibc"
[ -x "$tmp/prog.hakmem" ] && preload_compare prog-built-under-hakmem "$tmp/prog.hakmem"
if [ -x "$tmp/prog.hakmem" ] && ! cmp -s "$tmp/prog-built-by-glibc-gcc.glibc.out" "$tmp/prog-built-under-hakmem.glibc.out"; then
    echo "FAIL: the program compiled under hakmem prints something else"
    preload_fails=$((preload_fails + 1))
fi
preload_done

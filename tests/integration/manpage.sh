#!/bin/sh
# Integration: man/hakmem.3 is true to the source.  Every option of
# src/platform/options.def has an ENVIRONMENT entry (.It Ev NAME) stating its
# default; every message the library (src/) and the wrapper (tools/hakmem.in)
# can print has a matching line in DIAGNOSTICS; mandoc -Tlint and
# man --warnings print nothing about the page.
#
# Usage: manpage.sh [PAGE]   (default $top_srcdir/man/hakmem.3; another
# PAGE, such as an edited copy, shows that the checks can fail)
#
# Messages are the format strings of hak_log() and hak_fatal() calls (which
# prefix "hakmem: "), adjacent literals joined across lines, and any other
# string literal in src/ that begins with "hakmem: " and goes on (the
# statistics header); each conversion (%s, %zu, %p, ...) matches any text.
# In the wrapper: the usage lines, and the "hakmem: ..." lines of echo and
# usage_error, with $variables matching any text.  The DIAGNOSTICS side is
# the mdoc source with its macros stripped, one source line at a time, white
# space ignored.  A call with a format that is no literal, or a printer to
# standard error in src/ other than hak_log/hak_fatal, fails the test, since
# its messages could not be checked.
: "${top_srcdir:?}"
page=${1:-$top_srcdir/man/hakmem.3}
def=$top_srcdir/src/platform/options.def
wrapper=$top_srcdir/tools/hakmem.in
LC_ALL=C
export LC_ALL
for f in "$page" "$def" "$wrapper"; do
    [ -r "$f" ] || { echo "FAIL: $f missing"; exit 1; }
done
[ -d "$top_srcdir/src" ] || { echo "FAIL: $top_srcdir/src missing"; exit 1; }

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }

# ---- the mdoc source, section by section, macros stripped ---------------
# Prints "SECTION<TAB>DEPTH<TAB>ITEM<TAB>TEXT" per source line: DEPTH is the
# .Bl nesting, ITEM the name of the .It Ev entry at depth 1 the line belongs
# to (ENVIRONMENT's entries), TEXT the line as rendered text, roughly: macro
# names dropped, quotes and \& removed, enclosures such as Pq kept as ( ).
cat >"$tmp/strip.awk" <<'EOF'
BEGIN {
    n = split("Ac Ad An Ao Ap Aq Ar At Bc Bf Bo Bq Brc Bro Brq Bsx Bx Cd Cm Dc Dl Do Dq Dv Dx Ec Ef Em En Eo Er Es Ev Fa Fc Fn Fo Fr Ft Fx Ic In Li Lk Ms Mt Nm No Ns Nx Oc Oo Op Ox Pa Pc Pf Po Pq Qc Ql Qo Qq Sc So Sq St Sx Sy Ta Tn Ux Va Vt Xc Xo Xr", m, " ")
    for (i = 1; i <= n; i++)
        macro[m[i]] = 1
    open_of["Pq"] = "("; close_of["Pq"] = ")"
    open_of["Bq"] = "["; close_of["Bq"] = "]"
    open_of["Op"] = "["; close_of["Op"] = "]"
    open_of["Sq"] = "'"; close_of["Sq"] = "'"
    open_of["Dq"] = "\""; close_of["Dq"] = "\""
    open_of["Qq"] = "\""; close_of["Qq"] = "\""
    lone["Po"] = "("; lone["Pc"] = ")"; lone["Bo"] = "["; lone["Bc"] = "]"
    lone["Oo"] = "["; lone["Oc"] = "]"; lone["So"] = "'"; lone["Sc"] = "'"
    lone["Qo"] = "\""; lone["Qc"] = "\""; lone["Do"] = "\""; lone["Dc"] = "\""
    lone["Fl"] = "-"
    sect = ""; depth = 0; item = ""; held = ""
}
function strip(line,    n, w, i, out, closes, tok) {
    if (line ~ /^[.']/) {
        n = split(substr(line, 2), w, /[ \t]+/)
        out = ""; closes = ""
        for (i = 1; i <= n; i++) {
            tok = w[i]
            if (i == 1 && !(tok in open_of) && !(tok in lone)) continue
            if (tok in open_of) { out = out " " open_of[tok]; closes = close_of[tok] closes; continue }
            if (tok in lone) { out = out " " lone[tok]; continue }
            if (tok in macro) continue
            out = out " " tok
        }
        line = out " " closes
    }
    gsub(/"/, "", line)
    gsub(/\\&/, "", line)
    gsub(/\\\(aq/, "'", line)
    gsub(/\\\(dq/, "\"", line)
    gsub(/\\\(mu/, "x", line)
    gsub(/\\\(e[mn]/, "-", line)
    gsub(/\\-/, "-", line)
    gsub(/\\\(../, "", line)
    gsub(/\\[|^~ c]/, " ", line)
    gsub(/[ \t]+/, " ", line)
    sub(/^ /, "", line)
    sub(/ $/, "", line)
    return line
}
{
    line = $0
    if (held != "") { line = held line; held = "" }
    # A line ending in an odd number of backslashes continues on the next.
    if (match(line, /\\+$/) && RLENGTH % 2 == 1) { held = substr(line, 1, length(line) - 1); next }
    if (line ~ /^\.\\"/) next
    if (line ~ /^\.Sh[ \t]/) {
        sect = line; sub(/^\.Sh[ \t]+/, "", sect); gsub(/"/, "", sect)
        depth = 0; item = ""
        next
    }
    if (line ~ /^\.Bl([ \t]|$)/) depth++
    if (line ~ /^\.El([ \t]|$)/) { depth--; if (depth == 0) item = "" }
    if (depth == 1 && line ~ /^\.It([ \t]|$)/) {
        item = ""
        if (line ~ /^\.It[ \t]+Ev[ \t]/) {
            item = line; sub(/^\.It[ \t]+Ev[ \t]+/, "", item); sub(/[ \t].*/, "", item)
        }
    }
    printf "%s\t%d\t%s\t%s\n", sect, depth, item, strip(line)
}
EOF
awk -f "$tmp/strip.awk" "$page" >"$tmp/page" || exit 99
awk -F '\t' '$1 == "ENVIRONMENT" && $3 != "" { print $3 "\t" $4 }' "$tmp/page" >"$tmp/env"
awk -F '\t' '$1 == "DIAGNOSTICS" { t = $4; gsub(/[ \t]/, "", t); print t }' "$tmp/page" >"$tmp/diag"
[ -s "$tmp/env" ] || fail "no .It Ev entries found in the ENVIRONMENT section of $page"
[ -s "$tmp/diag" ] || fail "no DIAGNOSTICS section found in $page"

# ---- ENVIRONMENT: every option of options.def, with its default ---------
sed -n 's/^HAK_OPTION([^,]*, *"\([^"]*\)", *\([A-Z_]*\), *\([^,]*[^, ]\) *,.*/\1 \2 \3/p' "$def" >"$tmp/options"
[ -s "$tmp/options" ] || fail "no HAK_OPTION lines parsed from $def"
nopt=0
while read -r name _kind default; do
    nopt=$((nopt + 1))
    if ! cut -f1 "$tmp/env" | grep -qx "$name"; then
        fail "missing in ENVIRONMENT: $name (no .It Ev $name entry)"
        continue
    fi
    # How the page states the default: options.c prints these names.
    case $default in
    '""') want=empty ;;
    HAK_STATS_OFF) want=0 ;;
    HAK_STATS_ON_TEXT) want=text ;;
    HAK_STATS_ON_JSON) want=json ;;
    *[!0-9]*) fail "$name: cannot tell how the page states default $default (teach manpage.sh)"; continue ;;
    *) want=$default ;;
    esac
    text=$(awk -F '\t' -v n="$name" '$1 == n { printf "%s ", $2 }' "$tmp/env" |
        tr -d '()' | tr -s ' ' | tr '[:upper:]' '[:lower:]')
    if ! printf '%s\n' " $text " | grep -Eq "[^a-z0-9_]default:? ${want}[^a-z0-9_]|[^a-z0-9_]${want} default[^a-z0-9_]"; then
        fail "ENVIRONMENT entry $name does not say its default, $want (options.def: $default)"
    fi
done <"$tmp/options"
# The other way: a documented HAKMEM_* variable that is no option must at
# least be one the wrapper reads.
cut -f1 "$tmp/env" | grep '^HAKMEM_' | sort -u >"$tmp/documented"
while read -r name; do
    grep -q "^$name " "$tmp/options" && continue
    grep -q "$name" "$wrapper" && continue
    fail "ENVIRONMENT documents $name, which is neither in options.def nor read by tools/hakmem.in"
done <"$tmp/documented"

# ---- the messages of the library ----------------------------------------
# Prints "FILE:LINE<TAB>KIND<TAB>TEXT": KIND log (the format of a hak_log or
# hak_fatal call, to be prefixed "hakmem: "), lit (a literal beginning with
# "hakmem: ") or nonliteral (a call whose format is no string literal).
cat >"$tmp/msgs.awk" <<'EOF'
function tok(t) { prev2 = prev1; prev1 = t }
function logcall() { return prev1 == "(" && (prev2 == "hak_log" || prev2 == "hak_fatal") }
function newlines(s) { return gsub(/\n/, "", s) }
# Skips white space, backslash-newlines and comments from i; returns the
# index of the next significant character.
function skip(i,    c, j) {
    while (i <= n) {
        c = substr(text, i, 1)
        if (c == "\n") { line++; i++ }
        else if (c == " " || c == "\t" || c == "\r" || c == "\f" || c == "\\") i++
        else if (substr(text, i, 2) == "/*") {
            j = index(substr(text, i + 2), "*/")
            if (!j) return n + 1
            line += newlines(substr(text, i, j + 3))
            i += j + 3
        } else if (substr(text, i, 2) == "//") {
            j = index(substr(text, i), "\n")
            if (!j) return n + 1
            i += j - 1
        } else break
    }
    return i
}
function unescape(e) {
    if (e == "n") return ""
    if (e == "t") return " "
    return e
}
function scan(    i, c, j, s, where, id) {
    n = length(text); line = 1; prev1 = prev2 = ""
    i = skip(1)
    while (i <= n) {
        c = substr(text, i, 1)
        if (c == "'") {
            for (i++; i <= n; i++) {
                c = substr(text, i, 1)
                if (c == "\\") { i++; continue }
                if (c == "'") break
            }
            i++
            tok("'")
        } else if (c == "\"") {
            where = file ":" line; s = ""
            while (substr(text, i, 1) == "\"") {
                for (i++; i <= n; i++) {
                    c = substr(text, i, 1)
                    if (c == "\\") { i++; s = s unescape(substr(text, i, 1)); continue }
                    if (c == "\"") break
                    if (c == "\n") line++
                    s = s c
                }
                i = skip(i + 1)
            }
            if (logcall())
                print where "\tlog\t" s
            else if (substr(s, 1, 8) == "hakmem: " && substr(s, 9) ~ /[^ ]/)
                print where "\tlit\t" s
            tok("\"")
            continue
        } else if (c ~ /[A-Za-z_]/) {
            for (j = i; j <= n && substr(text, j, 1) ~ /[A-Za-z0-9_]/; j++)
                ;
            id = substr(text, i, j - i)
            # A declaration's first parameter is "const char *fmt".
            if (logcall() && id != "const" && id != "char")
                print file ":" line "\tnonliteral\t" prev2 "(" id "..."
            tok(id)
            i = j
        } else {
            if (logcall() && c != ")")
                print file ":" line "\tnonliteral\t" prev2 "(" c "..."
            tok(c)
            i++
        }
        i = skip(i)
    }
}
FNR == 1 && NR > 1 { scan() }
FNR == 1 { file = FILENAME; sub(/^.*\/src\//, "src/", file); text = "" }
{ text = text $0 "\n" }
END { if (NR) scan() }
EOF
find "$top_srcdir/src" -name '*.[ch]' | sort >"$tmp/files"
[ -s "$tmp/files" ] || fail "no C files found in $top_srcdir/src"
# shellcheck disable=SC2046
awk -f "$tmp/msgs.awk" $(cat "$tmp/files") </dev/null >"$tmp/found" || exit 99
awk -F '\t' '$2 == "nonliteral" { print $1 ": " $3 }' "$tmp/found" >"$tmp/nonlit"
while read -r l; do
    fail "cannot check a message whose format is not a string literal: $l"
done <"$tmp/nonlit"
awk -F '\t' '$2 == "log" { print $1 "\thakmem: " $3 } $2 == "lit" { print $1 "\t" $3 }' \
    "$tmp/found" >"$tmp/lib"
nlib=$(wc -l <"$tmp/lib")
[ "$nlib" -gt 0 ] || fail "no hak_log/hak_fatal messages found in $top_srcdir/src"

# Any other way to standard error would print messages not read above.
find "$top_srcdir/src" -name '*.[ch]' -exec grep -nE \
    '(^|[^A-Za-z0-9_])((v?f(printf|puts)|fputc|putc|fwrite) *\((.*[^A-Za-z0-9_])?stderr([^A-Za-z0-9_]|$)|(perror|psignal|v?warnx?|v?errx?|syslog) *\(|v?dprintf *\( *(2|STDERR_FILENO) *,|(write|hak_write_all) *\( *(2|STDERR_FILENO) *,)' \
    /dev/null {} + >"$tmp/printers"
while read -r l; do
    case $l in
    */src/platform/log.c:*'(void)hak_write_all(2, buf, n);'*) ;; # vlog: hak_log and hak_fatal
    */src/frontend/introspect.c:*'(void)hak_write_all(2, buf, len);'*) ;; # malloc_stats: glibc's report, not a message
    *) fail "writes to standard error outside hak_log/hak_fatal, so its messages are not checked: ${l#"$top_srcdir"/}" ;;
    esac
done <"$tmp/printers"

# ---- the messages of the wrapper ----------------------------------------
{
    # The usage: the lines of its here-document up to the first blank one.
    awk '/<<USAGE/ { on = 1; next } on && /^$/ { exit } on { print "tools/hakmem.in:" NR "\t" $0 }' "$wrapper"
    grep -n 'echo "hakmem: ' "$wrapper" |
        sed -n 's/^\([0-9]*\):.*echo "\(hakmem: [^"]*\)".*/tools\/hakmem.in:\1\t\2/p'
    grep -n 'usage_error "' "$wrapper" |
        sed -n 's/^\([0-9]*\):.*usage_error "\([^"]*\)".*/tools\/hakmem.in:\1\thakmem: \2/p'
} >"$tmp/wrap"
nwrap=$(wc -l <"$tmp/wrap")
[ "$nwrap" -gt 0 ] || fail "no messages found in $wrapper (its form changed: update manpage.sh)"

# ---- DIAGNOSTICS has a line matching each message -----------------------
# W stands for a conversion or a variable.  A pattern matches a line if its
# literal pieces occur in order, the first at the start, the last at the
# end, white space ignored.
cat >"$tmp/match.awk" <<'EOF'
BEGIN { W = "\001"; while ((getline u <units) > 0) unit[++nu] = u }
function fits(u, np, p,    i, k, rest) {
    if (np == 1) return u == p[1]
    if (substr(u, 1, length(p[1])) != p[1]) return 0
    rest = substr(u, length(p[1]) + 1)
    for (i = 2; i < np; i++) {
        if (p[i] == "") continue
        k = index(rest, p[i])
        if (!k) return 0
        rest = substr(rest, k + length(p[i]))
    }
    return length(rest) >= length(p[np]) && substr(rest, length(rest) - length(p[np]) + 1) == p[np]
}
{
    where = $1; msg = $0; sub(/^[^\t]*\t/, "", msg)
    pat = msg
    if (kind == "c") {
        # printf conversions become W; %% is a percent sign.
        out = ""
        for (i = 1; i <= length(pat); i++) {
            c = substr(pat, i, 1)
            if (c != "%") { out = out c; continue }
            c = substr(pat, ++i, 1)
            if (c == "%") { out = out "%"; continue }
            while (c != "" && index("-+ #0123456789.*hlLqjzt", c)) c = substr(pat, ++i, 1)
            out = out W
        }
        pat = out
    } else {
        gsub(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9*@#?]|@[A-Za-z_]+@/, W, pat)
    }
    gsub(/[ \t]/, "", pat)
    np = split(pat, p, W)
    if (np == 0) { np = 1; p[1] = "" }
    for (j = 1; j <= nu; j++)
        if (fits(unit[j], np, p)) break
    if (j > nu) print "missing in DIAGNOSTICS: " msg "   (" where ")"
}
EOF
awk -v kind=c -v units="$tmp/diag" -f "$tmp/match.awk" "$tmp/lib" >"$tmp/missing" || exit 99
awk -v kind=sh -v units="$tmp/diag" -f "$tmp/match.awk" "$tmp/wrap" >>"$tmp/missing" || exit 99
while read -r l; do
    fail "$l"
done <"$tmp/missing"
echo "checked $nopt options of options.def, $nlib messages of src/, $nwrap of tools/hakmem.in"

# ---- the formatters say nothing about the page ---------------------------
# Two kinds of mandoc's remarks depend on the manuals installed here, not on
# the page: a database that lacks a page it found anyway, and an .Xr to a
# page this machine does not have.  They are shown, not counted.
if command -v mandoc >/dev/null 2>&1; then
    mandoc -Tlint "$page" >"$tmp/lint" 2>&1
    rc=$?
    k=$(grep -c 'outdated mandoc.db lacks' "$tmp/lint")
    [ "$k" -eq 0 ] ||
        echo "note: mandoc -Tlint: its manual database lacks $k installed pages named by .Xr (makewhatis not run); not about the page"
    grep 'referenced manual not found' "$tmp/lint" | sed 's/^/note (not installed here; not counted): /'
    grep -v -e 'outdated mandoc.db lacks' -e 'referenced manual not found' "$tmp/lint" >"$tmp/lint.page"
    while read -r l; do
        fail "mandoc -Tlint: $l"
    done <"$tmp/lint.page"
    [ $rc -le 1 ] || [ -s "$tmp/lint.page" ] || fail "mandoc -Tlint exited $rc"
else
    echo "note: mandoc not installed; mandoc -Tlint not run"
fi
if command -v groff >/dev/null 2>&1 && man --version 2>/dev/null | grep -q '^man [0-9]'; then
    man --warnings -l "$page" 2>"$tmp/manw" >/dev/null
    rc=$?
    while read -r l; do
        fail "man --warnings: $l"
    done <"$tmp/manw"
    [ $rc -eq 0 ] || [ -s "$tmp/manw" ] || fail "man --warnings -l exited $rc"
else
    echo "note: man-db or groff not installed; man --warnings not run"
fi

[ $fails -eq 0 ] || { echo "FAIL: $fails problems in $page"; exit 1; }
echo "PASS: man page documents every option and message, and lints clean"
exit 0

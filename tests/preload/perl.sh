#!/bin/sh
# Preload: perl hash and regex work gives the same output under libhakmem.
. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/preload/preload-lib.sh" || exit 99
need perl
cat >"$tmp/work.pl" <<'PL'
my %h;
for my $i (1 .. 200000) { $h{"k$i"} = "v" x ($i % 50) . $i; }
my $n = 0;
for my $k (sort keys %h) { $n++ if $h{$k} =~ /^v{10,20}(\d+)7$/; }
my $text = join(" ", map { "word$_" } 1 .. 50000);
my @m = ($text =~ /word(\d*99)\b/g);
(my $t = $text) =~ s/word(\d+)/W$1W/g;
print scalar(keys %h), " $n ", scalar(@m), " ", length($t), "\n";
delete $h{"k$_"} for 1 .. 100000;
print scalar(keys %h), "\n";
PL
preload_compare perl perl "$tmp/work.pl"
preload_done

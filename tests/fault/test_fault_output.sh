#!/usr/bin/env bash
# Fault: the output path is in a directory that does not exist.  An error naming the directory
# and the output, exit 1, and nothing written anywhere (the working directory is unchanged).
source "$(dirname "$0")/lib.sh"
SMALL="$ELMO_SOURCE_DIR/tests/data/sample.txt"
mkdir "$T/work"
cp "$SMALL" "$T/work/in.txt"
before=$(snapshot "$T")
set +e
(cd "$T/work" && embed 2 --input in.txt --output "$T/no/such/dir/out.h5") 2>"$T/o1.log"
rc1=$?
(cd "$T/work" && embed 2 --input in.txt --output nodir/out.h5) 2>"$T/o2.log"
rc2=$?
set -e
expect_exit 1 $rc1 "absolute output in a missing directory"
expect_msg "$T/o1.log" "output directory $T/no/such/dir does not exist (output: $T/no/such/dir/out.h5)"
expect_exit 1 $rc2 "relative output in a missing directory"
expect_msg "$T/o2.log" "output directory nodir does not exist"
after=$(snapshot "$T")
# the logs are the only new files
[ "$(grep -v '\.log' <<<"$after")" = "$(grep -v '\.log' <<<"$before")" ] \
  || { diff <(echo "$before") <(echo "$after") >&2; fail "files were written"; }
echo "test_fault_output: refused with exit 1, nothing written"

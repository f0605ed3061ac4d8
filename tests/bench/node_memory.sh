#!/usr/bin/env bash
# Memory of one node running `elmo embed` on 1, 2, 4 ranks (not a ctest test: it wants the
# original-size model, which takes a minute to write and ~0.7 GB per copy).  The node's memory
# is the sum over its ranks of their proportional set size (Pss of /proc/PID/smaps_rollup:
# a page shared by k processes counts 1/k in each, so the node-shared weights count once),
# sampled every 0.2 s while the job runs; the figure is the largest sum.  With the weights
# shared per node it should grow with the rank count by the batch workspace per rank only.
# It also prints the job's wall time and the model-load line of rank 0's log.
#
#   bash tests/bench/node_memory.sh                 model: a synthesized original-shape biLM
#   MODEL=DIR RANKS="1 2 4 8" bash tests/bench/node_memory.sh
#   ELMO_BIN=/path/to/old/elmo bash tests/bench/node_memory.sh   (compare two builds)
# INPUT (default tests/data/sample.txt) is embedded; WORK (default /tmp) holds the scratch.
set -euo pipefail
cd "$(dirname "$0")/../.."
ELMO_BIN=${ELMO_BIN:-build/elmo}
RANKS=${RANKS:-1 2 4}
INPUT=${INPUT:-tests/data/sample.txt}
WORK=${WORK:-/tmp}
. tests/bench/env.sh
[ -x "$ELMO_BIN" ] || { echo "node_memory: $ELMO_BIN not built (make)" >&2; exit 1; }
D=$(mktemp -d "$WORK/elmo-node-memory.XXXXXX")
trap 'rm -rf "$D"' EXIT
if [ -z "${MODEL:-}" ]; then
  MODEL="$D/model"
  "$ELMO_BIN" model synth --shape original --out "$MODEL" >/dev/null
  export ELMO_CACHE_DIR="$D/cache" # the model's cache goes with it
fi

# pss_sum PID: the summed Pss (KiB) of PID's child processes (the ranks under mpiexec)
pss_sum() {
  local s=0 c v
  for c in $(pgrep -P "$1" 2>/dev/null); do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$c/smaps_rollup" 2>/dev/null || true)
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

echo "elmo: $ELMO_BIN; model: $MODEL; input: $INPUT; load: $(uptime | sed 's/.*load average: //')"
printf '%-6s %16s %18s %10s  %s\n' ranks "node PSS MiB" "per-rank RSS MiB" "wall s" \
  "model load (rank 0 log)"
for n in $RANKS; do
  rm -rf "$D/out.h5" "$D/out.h5.logs"
  t0=$(date +%s.%N)
  mpiexec -n "$n" "$ELMO_BIN" embed --options "$MODEL/options.json" \
    --weights "$MODEL/weights.hdf5" --input "$INPUT" --output "$D/out.h5" --no-progress 2>"$D/log-$n.txt" &
  pid=$!
  peak=0
  while kill -0 "$pid" 2>/dev/null; do
    s=$(pss_sum "$pid")
    [ "$s" -gt "$peak" ] && peak=$s
    sleep 0.2
  done
  wait "$pid" || { cat "$D/log-$n.txt" >&2; exit 1; }
  t1=$(date +%s.%N)
  rss=$(sed -n 's/.*peak RSS per rank \(.*\) MiB$/\1/p' "$D/log-$n.txt")
  load=$(sed -n 's/.*: model [^:]*: \(.*\)$/\1/p' "$D/out.h5.logs/rank-00000.log" \
    2>/dev/null || true)
  printf '%-6s %16.0f %18s %10.1f  %s\n' "$n" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" \
    "$rss" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "${load:--}"
done

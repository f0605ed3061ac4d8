#!/usr/bin/env bash
# The fuzz smoke run (CI): builds the libFuzzer targets in build-fuzz (clang, ASan + UBSan) and
# runs each one for a fixed number of inputs, starting from its seeds in tests/fuzz/corpus/NAME.
# Fails on the first crash, leak, sanitizer report or failed property; the input that did it is
# kept in build-fuzz/fuzz-artifacts/.  New inputs go to a scratch directory, never to the seeds.
#
#   bash tests/fuzz/smoke.sh                    2000 inputs per target, fixed seed (reproducible)
#   bash tests/fuzz/smoke.sh -t 60 [NAME ...]   60 s per target instead (a longer run)
#   FUZZ_SEED=0 bash tests/fuzz/smoke.sh        a random seed
# Environment: BUILD (default build-fuzz), CC (default clang).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-fuzz}
RUNS=2000
TIME=""
while getopts "r:t:" o; do
  case $o in
    r) RUNS=$OPTARG ;;
    t) TIME=$OPTARG ;;
    *) echo "usage: $0 [-r RUNS | -t SECONDS] [NAME ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
# weights runs twice: corrupting any byte of the file, and only the datasets' raw data
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(options job text conll jsonl gzip weights weights:data)

cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER="${CC:-clang}" -DELMO_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" --target fuzz -j"${JOBS:-2}" >/dev/null

ART="$BUILD/fuzz-artifacts"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ART"
# HDF5 trusts lengths in corrupted files and may ask malloc for terabytes: as on a real system,
# such a request fails (returns NULL) instead of being reported; our own code stops on NULL.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=1024}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if [ -n "$TIME" ]; then LIMIT=(-max_total_time="$TIME"); else LIMIT=(-runs="$RUNS"); fi
start=$(date +%s)
for spec in "${TARGETS[@]}"; do
  name=${spec%%:*}
  mode=""
  [ "$spec" = "$name" ] || mode=${spec#*:}
  mkdir -p "$WORK/$spec"
  log="$WORK/$spec.log"
  t0=$(date +%s)
  set +e
  ELMO_FUZZ_WEIGHTS=$mode "$BUILD/tests/fuzz/fuzz_$name" "${LIMIT[@]}" -seed="${FUZZ_SEED:-1}" \
      -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$ART/$spec-" "$WORK/$spec" "tests/fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz smoke: fuzz_$spec FAILED (exit $rc); the input is in $ART/" >&2
    exit 1
  fi
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1, ft \2/p' <<<"$done_line")
  echo "fuzz smoke: fuzz_$spec: ${runs:-?} inputs in $(( $(date +%s) - t0 )) s, $cov, ok"
done
echo "fuzz smoke: ${#TARGETS[@]} targets passed in $(( $(date +%s) - start )) s"

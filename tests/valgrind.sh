#!/usr/bin/env bash
# valgrind memcheck over the serial test executables: every ctest test with a label matching
# LABELS (default: unit), not mpi, whose command is one of our executables (shell-script
# tests, which start `elmo`, are left out) runs under
#   valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
# with its ctest environment.  Fails when any of them reports an error or a definite leak.
#
#   bash tests/valgrind.sh                        builds build/ (as `make` does), runs them all
#   bash tests/valgrind.sh -L 'unit|conformance'  the conformance suite too (slow: ~6 min)
#   bash tests/valgrind.sh -x 'test_gemm test_train_bilm'   skip these (CI: numeric kernels,
#                                                 which ASan covers, take minutes under valgrind)
#   BUILD=build-rel bash tests/valgrind.sh test_corpus test_job   only these
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LABELS=unit
SKIP=""
while getopts "L:x:" o; do
  case $o in
    L) LABELS=$OPTARG ;;
    x) SKIP=$OPTARG ;;
    *) echo "usage: $0 [-L LABELS] [-x 'NAME ...'] [NAME ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
command -v valgrind >/dev/null || { echo "valgrind: not installed (scripts/install-deps.sh)" >&2; exit 1; }
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" >/dev/null

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
# name, the environment (KEY=VALUE ...) and the command, one line per test
list=$(cd "$BUILD" && ctest --show-only=json-v1 -L "$LABELS" -LE mpi |
  SKIP="$SKIP" /usr/bin/python3 -c '
import json, os, sys
build = os.path.realpath(".") + "/"
want, skip = set(sys.argv[1:]), set(os.environ["SKIP"].split())
for t in json.load(sys.stdin)["tests"]:
    cmd = t.get("command") or []
    if not cmd or not os.path.realpath(cmd[0]).startswith(build): continue
    if (want and t["name"] not in want) or t["name"] in skip: continue
    env = []
    for p in t.get("properties", []):
        if p["name"] == "ENVIRONMENT": env = p["value"]
    print("\x1f".join([t["name"], "\x1e".join(env), "\x1e".join(cmd)]))
' "$@")
[ -n "$list" ] || { echo "valgrind: no test selected" >&2; exit 1; }

fail=0
start=$(date +%s)
while IFS=$'\x1f' read -r name env cmd; do
  IFS=$'\x1e' read -r -a envs <<<"$env"
  IFS=$'\x1e' read -r -a argv <<<"$cmd"
  t0=$(date +%s)
  set +e
  (cd "$BUILD/tests" && env "${envs[@]}" OPENBLAS_NUM_THREADS=1 \
     valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
              --show-leak-kinds=definite --num-callers=30 --quiet "${argv[@]}") \
     >"$LOGS/$name.log" 2>&1
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    echo "valgrind: $name ok ($(( $(date +%s) - t0 )) s)"
  else
    fail=1
    grep -E '^==[0-9]+==' "$LOGS/$name.log" | head -n 80
    tail -n 5 "$LOGS/$name.log"
    echo "valgrind: $name FAILED (exit $rc)"
  fi
done <<<"$list"
echo "valgrind: done in $(( $(date +%s) - start )) s"
exit $fail

# tests/lib.sh: helpers shared by the shell tests, sourced after `set -euo pipefail`:
#   . "$ELMO_SOURCE_DIR/tests/lib.sh"
# Sourcing defines functions, PY and PYTHONPATH only; a test calls what it needs.
# h5py is Debian's python3-h5py, so /usr/bin/python3 (not a pyenv python3 on PATH).
PY=/usr/bin/python3
# the Python inside the tests can `import h5check` (tests/h5check.py)
export PYTHONPATH="${ELMO_SOURCE_DIR:?}/tests${PYTHONPATH:+:$PYTHONPATH}"

fail() { echo "FAIL: $*" >&2; exit 1; }

# need_fixtures: skip the test (exit 77) with one line when $ELMO_FIXTURES is not a directory
need_fixtures() {
  : "${ELMO_FIXTURES:?}"
  [ -d "$ELMO_FIXTURES" ] || { echo "SKIP: the fixtures directory $ELMO_FIXTURES is missing"; exit 77; }
}

# need_h5py: skip the test when $PY cannot import h5py and numpy
need_h5py() {
  if ! "$PY" -c 'import h5py, numpy' 2>/dev/null; then
    echo "SKIP: $PY has no h5py (apt-get install python3-h5py)"
    exit 77
  fi
}

# make_tmp [MKTEMP ARGS]: a fresh directory in T, removed at exit unless KEEP is set
make_tmp() {
  T=$(mktemp -d "$@")
  trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
}

# fixture_model: FX, the allennlp test fixture's biLM, and MODEL, the flags that load it
fixture_model() {
  FX="$ELMO_FIXTURES/elmo-allennlp"
  MODEL=(--options "$FX/options.json" --weights "$FX/lm_weights.hdf5")
}

# embed N ARGS...: mpiexec -n N elmo embed MODEL --no-progress ARGS (status returned, not fatal)
embed() { local n=$1; shift; mpiexec -n "$n" "$ELMO_BIN" embed "${MODEL[@]}" --no-progress "$@"; }

# embed_ok ARGS...: elmo embed MODEL --no-progress ARGS in one process; must succeed; its
# stderr goes to $T/last.log, shown on failure
embed_ok() {
  "$ELMO_BIN" embed "${MODEL[@]}" --no-progress "$@" 2>"$T/last.log" || { cat "$T/last.log"; exit 1; }
}

# run LOG CMD...: CMD must succeed; its output goes to LOG, shown on failure
run() {
  local log=$1; shift
  "$@" >"$log" 2>&1 || { echo "FAIL: $*"; cat "$log"; exit 1; }
}

# first N FILE: the first N sentences of a CoNLL file (each ends at a blank line)
first() { awk -v n="$1" 'BEGIN{s=0} {print} /^$/{s++; if(s>=n) exit}' "$2"; }

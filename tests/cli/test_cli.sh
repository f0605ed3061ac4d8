#!/usr/bin/env bash
# test_cli.sh: the command line around jobs: exit codes and messages of `elmo run` on a bad job
# file, `elmo embed --help`, `elmo --version`, unknown flags.  Needs ELMO_BIN (set by ctest).
set -u
: "${ELMO_BIN:?ELMO_BIN must point at the built elmo}"
# Under ASan, LeakSanitizer reports Open MPI's own allocations at exit (MPI_Init/Finalize) and
# would turn every exit code into 1; the job code's leaks are checked by test_job instead.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect NAME RC PATTERN FILE: the last run exited with RC and FILE contains PATTERN (fixed string).
expect() {
    local name=$1 want_rc=$2 pattern=$3 file=$4
    if [ "$rc" -ne "$want_rc" ]; then fail "$name: exit code $rc, expected $want_rc"; fi
    if ! grep -qF -- "$pattern" "$file"; then
        fail "$name: no '$pattern' in output:"; sed 's/^/    /' "$file" >&2
    fi
}

# A malformed job (indented as a whole): an unknown key on line 5, column 3.
cat > "$tmp/bad.yaml" <<'YAML'
  kind: embed
  input: in.txt
  # the output
  output: out.h5
  batch_tokenz: 10
YAML
"$ELMO_BIN" run "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run bad.yaml" 2 "$tmp/bad.yaml:5:3: unknown key 'batch_tokenz' for a job of kind embed (did you mean 'batch_tokens'?)" "$tmp/err"

# A YAML syntax error.
printf 'kind: embed\ninput: [in.txt\noutput: out.h5\n' > "$tmp/syntax.yaml"
"$ELMO_BIN" run "$tmp/syntax.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run syntax.yaml" 2 "$tmp/syntax.yaml:3:7: " "$tmp/err"

# A value out of range, named by line and column.
printf 'kind: embed\n\ncompress:   12\n' > "$tmp/range.yaml"
"$ELMO_BIN" run "$tmp/range.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run range.yaml" 2 "$tmp/range.yaml:3:13: compress must be in 0..9, got 12" "$tmp/err"

# A missing job file is a runtime failure (1) that names the file.
"$ELMO_BIN" run "$tmp/none.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run none.yaml" 1 "$tmp/none.yaml" "$tmp/err"

# Flags after the job file override its keys; bad ones are named.
printf 'kind: embed\ninput: in.txt\noutput: out.h5\n' > "$tmp/ok.yaml"
"$ELMO_BIN" run "$tmp/ok.yaml" --batch-tokens lots >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run override" 2 "--batch-tokens expects an integer, got 'lots'" "$tmp/err"
"$ELMO_BIN" run "$tmp/ok.yaml" --epochs 3 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run override of another kind" 2 "--epochs is not a flag of elmo embed" "$tmp/err"
# A valid job without a model flag runs the shipped default and says so; a copy of the binary
# that finds no default (none beside it, none installed) names the keys and flags that set one.
"$ELMO_BIN" run "$tmp/ok.yaml" --threads 2 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run with the default model" 1 "(default, source tree; sha256" "$tmp/err"
"$ELMO_BIN" train-ner --train "$tmp/missing.txt" --out "$tmp/run" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "train-ner with the default biLM" 1 "(default, source tree; sha256" "$tmp/err"
mkdir -p "$tmp/alone"; cp "$ELMO_BIN" "$tmp/alone/elmo"
NOMODEL="$tmp/alone/elmo"
if [ -d /usr/local/share/elmo/models/elmo-tweets ]; then NOMODEL=; fi  # installed: always found
if [ -n "$NOMODEL" ]; then
  env -u ELMO_MODEL_DIR "$NOMODEL" run "$tmp/ok.yaml" --threads 2 >"$tmp/out" 2>"$tmp/err"; rc=$?
  expect "run without a model" 2 "--options FILE --weights FILE" "$tmp/err"
fi

# Flags before the job file work as after it: the file is the argument that is neither a flag
# nor a flag's value (a switch such as --no-progress takes none).
"$ELMO_BIN" run --batch-tokens lots "$tmp/ok.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run flag before the file" 2 "--batch-tokens expects an integer, got 'lots'" "$tmp/err"
"$ELMO_BIN" run --threads 0 "$tmp/ok.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run --threads 0 FILE" 2 "--threads must be in 1..1024, got 0" "$tmp/err"
"$ELMO_BIN" run --threads 2 "$tmp/ok.yaml" --compress 12 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run --threads 2 FILE" 2 "--compress must be in 0..9, got 12" "$tmp/err"
"$ELMO_BIN" run --no-progress --threads=2 "$tmp/ok.yaml" --compress 12 >"$tmp/out" 2>"$tmp/err"
rc=$?
expect "run switches around the file" 2 "--compress must be in 0..9, got 12" "$tmp/err"
"$ELMO_BIN" run --threads 2 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "run flags without a file" 2 "usage: elmo run [--key value ...] JOB.yaml" "$tmp/err"

# elmo embed --help lists the flags with types and defaults.
"$ELMO_BIN" embed --help >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "embed --help" 0 "--input-format text|conll|jsonl" "$tmp/out"
expect "embed --help" 0 "--outputs LIST" "$tmp/out"
expect "embed --help" 0 "default: 4096" "$tmp/out"
expect "embed --help" 0 "default: word_emb,lstm_outputs1,lstm_outputs2,default" "$tmp/out"
"$ELMO_BIN" train-ner --help >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "train-ner --help" 0 "--epochs N" "$tmp/out"
# float defaults as the key table writes them, not as float rounding prints them
expect "train-ner --help" 0 "default: 0.005" "$tmp/out"
expect "train-ner --help" 0 "default: 0.7" "$tmp/out"
if grep -qE "default: [0-9.]*(999|0000[0-9])" "$tmp/out"; then
    fail "train-ner --help prints a float default with rounding noise"
    grep -E "default: [0-9.]*(999|0000[0-9])" "$tmp/out" >&2
fi

# elmo --version
"$ELMO_BIN" --version >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "--version" 0 "elmo " "$tmp/out"

# An unknown flag exits 2 and names the flag.
"$ELMO_BIN" embed --frobnicate 3 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "embed --frobnicate" 2 "--frobnicate" "$tmp/err"
"$ELMO_BIN" embed --batch-tokenz 3 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "embed --batch-tokenz" 2 "did you mean --batch-tokens?" "$tmp/err"
# The tools parse their flags through the same key table: the same help, errors and hints.
"$ELMO_BIN" bench --help >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "bench --help" 0 "--tokens N" "$tmp/out"
expect "bench --help" 0 "default: 20000" "$tmp/out"
"$ELMO_BIN" merge --outptu o.h5 a.h5 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "merge --outptu" 2 "unknown flag --outptu for elmo merge (did you mean --output?)" "$tmp/err"
"$ELMO_BIN" info --check=maybe s.h5 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "info --check=maybe" 2 "--check expects true or false, got 'maybe'" "$tmp/err"
"$ELMO_BIN" export --format hdf5 a.h5 b.hdf5 >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "export --format hdf5" 2 "--format expects one of allennlp, got 'hdf5'" "$tmp/err"
"$ELMO_BIN" model synth --seed x --out "$tmp/m" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "model synth --seed x" 2 "--seed expects a non-negative integer, got 'x'" "$tmp/err"
# elmo --help lists every command of the table and every job kind.
"$ELMO_BIN" --help >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "--help" 0 "model synth" "$tmp/out"
expect "--help" 0 "embed, annotate, train-ner, eval-ner, wsd or pretrain" "$tmp/out"

# A bare embed names what is missing.
if [ -n "$NOMODEL" ]; then
  env -u ELMO_MODEL_DIR "$NOMODEL" embed --input x.txt >"$tmp/out" 2>"$tmp/err"; rc=$?
  expect "embed without model" 2 "needs a model" "$tmp/err"
fi

# Under a small address-space limit the program starts and answers (OpenBLAS's thread pool is
# sized to one thread before anything else runs).
# (Not under AddressSanitizer, whose shadow memory needs the address space the limit denies.)
if ! ldd "$ELMO_BIN" 2>/dev/null | grep -q libasan; then
  ( ulimit -v 400000; env -u OPENBLAS_NUM_THREADS timeout 60 "$ELMO_BIN" --version ) >"$tmp/out" 2>&1; rc=$?
  expect "start under ulimit -v 400000" 0 "BLAS kernel" "$tmp/out"
fi

if [ "$fails" -ne 0 ]; then echo "test_cli: $fails failure(s)"; exit 1; fi
echo "test_cli: all passed"

#!/usr/bin/env bash
# elmo merge: the stores of `elmo embed --slice k/N` (k = 0..N-1), merged in order, equal the
# store of one run over the whole input (1 and 2 merging ranks; f32, and f16 + deflate with
# empty slices); incomplete, mismatched, out-of-order, missing, unsliced or streams inputs are
# refused.  tests/fault/test_fault_store_tools.sh has damaged inputs and refused outputs.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
fixture_model
make_tmp
CHK="$ELMO_SOURCE_DIR/tests/embed/check_store.py"
SAMPLE="$ELMO_SOURCE_DIR/tests/data/sample.txt"
IN=(--input "$SAMPLE" --shard-tokens 64)
# stamp STORE K N FP: the slice attributes, for an embed that does not record them itself
stamp() {
  $PY - "$@" <<'EOF'
import sys, h5py, numpy as np
path, k, n, fp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with h5py.File(path, "r+") as f:
    if "slice_k" not in f.attrs:
        f.attrs["slice_k"] = np.int64(k)
        f.attrs["slice_n"] = np.int64(n)
        f.attrs["input_fingerprint"] = fp
EOF
}
refused() {  # refused PATTERN merge-args...: merge must fail, say PATTERN, and leave no output
  local pat=$1; shift
  if "$ELMO_BIN" merge --output "$T/refused.h5" "$@" 2>"$T/refused.log"; then
    echo "FAIL: merge accepted $*"; exit 1
  fi
  grep -q -- "$pat" "$T/refused.log" || { echo "FAIL: no '$pat' in:"; cat "$T/refused.log"; exit 1; }
  [ ! -e "$T/refused.h5" ] || { echo "FAIL: a refused merge left its output"; exit 1; }
  echo "refused: $(head -c 160 "$T/refused.log")"
}

echo "== whole input vs 3 slices + merge (f32)"
embed_ok "${IN[@]}" --output "$T/full.h5"
for k in 0 1 2; do
  embed_ok "${IN[@]}" --slice "$k/3" --output "$T/part.slice-$k.h5"
  stamp "$T/part.slice-$k.h5" "$k" 3 "sample-f32"
done
S3=("$T/part.slice-0.h5" "$T/part.slice-1.h5" "$T/part.slice-2.h5")
"$ELMO_BIN" merge --output "$T/merged.h5" "${S3[@]}" 2>"$T/merge.log"
grep -q "wrote .*merged.h5: 41 sentences" "$T/merge.log"
$PY "$CHK" same "$T/full.h5" "$T/merged.h5"
mpiexec -n 2 "$ELMO_BIN" merge --output "$T/merged2.h5" "${S3[@]}" 2>/dev/null
$PY "$CHK" same "$T/full.h5" "$T/merged2.h5"
"$ELMO_BIN" info "$T/merged.h5" >"$T/info.txt"
grep -q "complete:    yes" "$T/info.txt"

echo "== f16 + deflate, 10 slices (some empty), merged on 2 ranks"
F16=(--precision f16 --compress 4 --outputs all,elmo,default)
embed_ok "${IN[@]}" "${F16[@]}" --output "$T/full16.h5"
S10=()
for k in $(seq 0 9); do
  embed_ok "${IN[@]}" "${F16[@]}" --slice "$k/10" --output "$T/h.slice-$k.h5"
  stamp "$T/h.slice-$k.h5" "$k" 10 "sample-f16"
  S10+=("$T/h.slice-$k.h5")
done
mpiexec -n 2 "$ELMO_BIN" merge --output "$T/merged16.h5" "${S10[@]}" 2>/dev/null
$PY "$CHK" same "$T/full16.h5" "$T/merged16.h5"
h5dump -pH "$T/merged16.h5" >"$T/merged16.txt"
grep -q "DEFLATE { LEVEL 4 }" "$T/merged16.txt"

echo "== refusals"
refused "give the slices in order" "${S3[0]}" "${S3[2]}" "${S3[1]}"
refused "differ in their outputs" "${S3[0]}" "${S10[1]}"
refused "slices 0..N-1 of one input" "$T/full.h5"
refused "are missing (slice 1)" "${S3[0]}" "${S3[2]}"
cp "${S3[1]}" "$T/incomplete.h5"
$PY -c "import h5py, sys; h5py.File(sys.argv[1], 'r+').attrs['complete'] = 0" "$T/incomplete.h5"
refused "is incomplete" "${S3[0]}" "$T/incomplete.h5" "${S3[2]}"
embed_ok "${IN[@]}" --streams 2 --output "$T/streams.h5"
stamp "$T/streams.h5" 0 1 "sample-streams"
refused "stateless stores only" "$T/streams.h5"
if "$ELMO_BIN" merge --output "${S3[0]}" "${S3[@]}" 2>/dev/null; then
  echo "FAIL: merge into one of its inputs"; exit 1
fi
echo "test_merge: all checks passed"

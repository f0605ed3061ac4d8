#!/usr/bin/env bash
# Fault: a weight file that does not match its options.  (1) the fixture's weights with its
# options edited (projection_dim 16 -> 8; n_highway 2 -> 3), (2) the fixture's options with the
# weights of a synthetic model of another shape (`elmo model synth`).  Each: an error naming the
# weight file and the dataset, exit 1, before any work: nothing written, an existing store kept.
source "$(dirname "$0")/lib.sh"
SMALL="$ELMO_SOURCE_DIR/tests/data/sample.txt"
W="$FX/lm_weights.hdf5"
embed 1 --input "$SMALL" --output "$T/out.h5" 2>"$T/first.log" || { cat "$T/first.log"; exit 1; }
cp "$T/out.h5" "$T/keep.h5"
sed 's/"projection_dim": 16/"projection_dim": 8/' "$FX/options.json" >"$T/p8.json"
sed 's/"n_highway": 2/"n_highway": 3/' "$FX/options.json" >"$T/hw3.json"
sed 's/"dim": 64/"dim": 48/' "$FX/options.json" >"$T/d48.json"
"$ELMO_BIN" model synth --options "$T/d48.json" --seed 5 --out "$T/other" >/dev/null

check() {  # check OPTIONS WEIGHTS TEXT...
  local o=$1 w=$2 log="$T/$(basename "$1")-$(basename "$(dirname "$2")").log" rc
  shift 2
  set +e
  mpiexec -n 2 "$ELMO_BIN" embed --options "$o" --weights "$w" --no-progress \
    --input "$SMALL" --output "$T/out.h5" 2>"$log"
  rc=$?
  set -e
  expect_exit 1 $rc "options $o with weights $w"
  for text in "$@"; do expect_msg "$log" "$text"; done
  cmp -s "$T/out.h5" "$T/keep.h5" || fail "the existing store changed"
  [ ! -e "$T/out.h5.journal" ] && [ ! -e "$T/out.h5.parts" ] || fail "staging was written"
  echo "$(basename "$o") + $w: $(grep '^elmo: error' "$log" | head -1)"
}
check "$T/p8.json" "$W" "$W: dataset CNN_proj/W_proj: shape (124, 16), the options give (124, 8)"
check "$T/hw3.json" "$W" "$W: dataset CNN_high_2/W_carry: missing"
check "$FX/options.json" "$T/other/weights.hdf5" "$T/other/weights.hdf5: dataset RNN_0/" \
  "the options give"
echo "test_fault_weights: mismatched weights refused before any work"

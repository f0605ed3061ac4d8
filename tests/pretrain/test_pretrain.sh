#!/usr/bin/env bash
# test_pretrain.sh: `elmo pretrain` end to end on a tiny model, 300 tweets plus the first CoNLL
# sentences of the NER split:
#   1. 1 rank and 2 ranks give the same weights after 24 steps, within 1e-5 (only the float
#      summation order of the reduced gradient differs; Adam divides by sqrt(v), so a gradient
#      element at rounding level can move by a full step on one run and not the other, which
#      is why the bound is not tighter);
#   2. a run stopped mid-epoch by max_steps and rerun ends bitwise identical to an
#      uninterrupted run (weights, softmax and optimizer state, carried LSTM states restored);
#   3. the model (options.json + weights.hdf5: bilm-tf names and shapes, float32, no softmax)
#      passes the loader's checks in `elmo embed --model DIR` and embeds sentences;
#   4. train.json and the epoch lines hold the losses and held-out perplexities; a rerun with
#      other settings is refused instead of resuming;
#   5. the YAML job gives the same model as the same flags.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
MPIEXEC=${MPIEXEC:-mpiexec}
make_tmp
head -300 "$ELMO_FIXTURES/raw-tweets/lm-corpus.txt" >"$T/corpus.txt"
head -400 "$ELMO_FIXTURES/twitter-ner/train.txt" >"$T/ner.txt"
OPTS="$ELMO_SOURCE_DIR/jobs/pretrain-tiny.options.json"
ARGS=(--corpus "$T/corpus.txt" --train "$T/ner.txt" --options "$OPTS" --vocab-size 300
      --batch-size 6 --unroll-steps 8 --epochs 2 --optimizer adagrad --lr 0.5 --dropout 0.1
      --no-progress)
# maxdiff A.hdf5 B.hdf5: the largest |a - b| over every dataset of A
maxdiff() { $PY -m h5check maxdiff "$@"; }

echo "== 1. 1 rank vs 2 ranks after 24 steps"
run "$T/np1.log" "$MPIEXEC" -n 1 "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/np1" --max-steps 24
run "$T/np2.log" "$MPIEXEC" -n 2 "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/np2" --max-steps 24
grep -q "stopped after 24 steps" "$T/np1.log"
d=$(maxdiff "$T/np1/weights.hdf5" "$T/np2/weights.hdf5")
echo "max |w(1 rank) - w(2 ranks)| = $d"
$PY -c "import sys; sys.exit(0 if 0 < float('$d') <= 1e-5 or float('$d') == 0 else 1)" ||
  { echo "FAIL: 1 and 2 ranks differ by $d (> 1e-5)"; exit 1; }
# the weights moved away from the initialisation
run "$T/init.log" "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/init" --max-steps 1
d0=$(maxdiff "$T/np1/weights.hdf5" "$T/init/weights.hdf5")
$PY -c "import sys; sys.exit(0 if float('$d0') > 1e-2 else 1)" ||
  { echo "FAIL: 24 steps moved the weights by only $d0"; exit 1; }

echo "== 2. stopped mid-epoch and resumed == uninterrupted (2 ranks)"
run "$T/full.log" "$MPIEXEC" -n 2 "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/full"
run "$T/part1.log" "$MPIEXEC" -n 2 "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/part" --max-steps 17
grep -q "stopped after 17 steps" "$T/part1.log"
run "$T/part2.log" "$MPIEXEC" -n 2 "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/part"
grep -q "resuming from .*: 17 steps done (epoch 1" "$T/part2.log"
h5diff "$T/full/weights.hdf5" "$T/part/weights.hdf5" ||
  { echo "FAIL: the resumed run differs from the uninterrupted one"; exit 1; }
# the epoch lines are the same too (the partial epoch's loss sums are in the checkpoint)
diff <(grep '^epoch' "$T/full.log" | sed 's/, [0-9]* tokens\/s.*//') \
     <(grep '^epoch' "$T/part2.log" | sed 's/, [0-9]* tokens\/s.*//')
# a stop signal: a checkpoint after the current step, exit 3 on every rank, and the rerun
# ends where the uninterrupted run does
for sig in TERM USR1; do
  rm -rf "$T/sig"
  "$MPIEXEC" -n 2 "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/sig" --checkpoint-steps 3 >"$T/sig1.log" 2>&1 &
  pid=$!
  for i in $(seq 1 3000); do [ -e "$T/sig/checkpoint.h5" ] && break; sleep 0.01; done
  kill -"$sig" $(pgrep -P $pid -f "$ELMO_BIN") || true  # every rank, as Slurm does
  set +e; wait $pid; rc=$?; set -e
  [ $rc -eq 3 ] || { echo "FAIL: SIG$sig: exit $rc, expected 3"; cat "$T/sig1.log"; exit 1; }
  grep -q "interrupted by signal .*checkpoint.h5 holds the state" "$T/sig1.log" ||
    { cat "$T/sig1.log"; exit 1; }
  run "$T/sig2.log" "$MPIEXEC" -n 2 "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/sig"
  grep -q "resuming from" "$T/sig2.log"
  h5diff "$T/full/weights.hdf5" "$T/sig/weights.hdf5" ||
    { echo "FAIL: SIG$sig: the resumed run differs from the uninterrupted one"; exit 1; }
done
echo "SIGTERM and SIGUSR1: exit 3 with a checkpoint; the resumed runs equal the uninterrupted one"
# a finished run is not trained again
run "$T/again.log" "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/full"
grep -q "already trained for 2 epochs" "$T/again.log"

echo "== 3. the model loads in elmo embed"
$PY - "$T/full" "$OPTS" <<'PYEOF'
import sys, json, h5py
from h5check import dataset_names
d, opts = sys.argv[1], json.load(open(sys.argv[2]))
f = h5py.File(d + "/weights.hdf5", "r")
names = dataset_names(f)
assert not any("softmax" in n.lower() for n in names), names
assert all(f[n].dtype == "<f4" for n in names)
E, P, D = opts["char_cnn"]["embedding"]["dim"], opts["lstm"]["projection_dim"], opts["lstm"]["dim"]
assert f["char_embed"].shape == (261, E)
assert f["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0"].shape == (2 * P, 4 * D)
assert f["RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_0"].shape == (D, P)
assert len(names) == 1 + 2 * 4 + 4 + 2 + 2 * 2 * 3, len(names)
o = json.load(open(d + "/options.json"))
assert o["lstm"]["dim"] == D and o["char_cnn"]["n_characters"] == 262
v = open(d + "/vocab.txt").read().split("\n")
assert v[:3] == ["<S>", "</S>", "<UNK>"] and len(v) == 300 + 1, len(v)
print("weights.hdf5: %d datasets, float32, bilm-tf names and shapes, no softmax" % len(names))
PYEOF
printf 'the cat sat on the mat\n@user omg this is so good !!\n\nlol\n' >"$T/s.txt"
run "$T/embed.log" "$ELMO_BIN" embed --model "$T/full" --input "$T/s.txt" --output "$T/s.h5" \
    --outputs all,elmo --no-progress
$PY - "$T/s.h5" <<'PYEOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["complete"] == 1
a = f["embeddings/all"][...]
assert a.shape == (6 + 7 + 0 + 1, 3, 32), a.shape
assert np.isfinite(a).all() and np.abs(a[:, 1:]).max() > 0
print("embed: all", a.shape, "finite")
PYEOF
# a bad weight file is refused by the loader's shape checks
cp -r "$T/full" "$T/bad"
$PY -c "
import h5py; f = h5py.File('$T/bad/weights.hdf5', 'r+'); del f['CNN_proj/W_proj']; f['CNN_proj/W_proj'] = [[0.0]]"
if "$ELMO_BIN" embed --model "$T/bad" --input "$T/s.txt" --output "$T/bad.h5" --no-progress \
     2>"$T/bad.log"; then echo "FAIL: a bad weight shape was accepted"; exit 1; fi
grep -q "CNN_proj/W_proj: shape (1, 1)" "$T/bad.log"

echo "== 4. train.json, epoch lines, refusal of other settings"
grep -E "^epoch 2/2: [0-9]+ steps, train loss [0-9.]+ \(ppl [0-9.]+\), held-out ppl fwd [0-9.]+ bwd [0-9.]+ avg [0-9.]+ \(unigram [0-9.]+\), [0-9]+ tokens/s" "$T/full.log"
$PY - "$T/full/train.json" <<'PYEOF'
import sys, json, math
r = json.load(open(sys.argv[1]))
s, e = r["settings"], r["epochs"]
assert s["batch_size"] == 6 and s["unroll_steps"] == 8 and s["optimizer"] == "adagrad"
assert s["softmax"] == "full" and s["ranks"] == 2 and s["dropout"] == 0.1
assert r["data"]["vocab_size"] == 300 and r["data"]["heldout_sentences"] > 0
assert len(e) == 2 and e[1]["steps"] > e[0]["steps"] > 0
assert all(math.isfinite(x[k]) for x in e for k in ("train_loss", "heldout_ppl_avg", "tokens_per_s"))
assert math.isfinite(r["unigram_heldout_ppl"])
print("train.json: unigram %.1f, held-out ppl per epoch %s" %
      (r["unigram_heldout_ppl"], [round(x["heldout_ppl_avg"], 1) for x in e]))
PYEOF
if "$ELMO_BIN" pretrain "${ARGS[@]}" --out "$T/full" --batch-size 4 >"$T/other.log" 2>&1; then
  echo "FAIL: a checkpoint with other settings was resumed"; exit 1
fi
grep -q "the checkpoint has other data or settings" "$T/other.log"

echo "== 5. the YAML job == the flags"
cat >"$T/job.yaml" <<YAMLEOF
kind: pretrain
corpus: corpus.txt
train: ner.txt
options: $OPTS
out: yaml
vocab_size: 300
batch_size: 6
unroll_steps: 8
epochs: 2
lr: 0.5
dropout: 0.1
max_steps: 24
progress: false
YAMLEOF
run "$T/yaml.log" "$ELMO_BIN" run "$T/job.yaml"
h5diff "$T/np1/weights.hdf5" "$T/yaml/weights.hdf5" ||
  { echo "FAIL: the YAML job and the flags differ"; exit 1; }
echo "test_pretrain: all checks passed"

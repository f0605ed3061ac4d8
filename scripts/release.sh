#!/usr/bin/env bash
# make models: the release recipe of the shipped models, from ../shared/fixtures data only.
#   1. the tweet biLM: jobs/release/elmo-tweets.yaml (elmo pretrain) into build/release/elmo-tweets
#      (resumable: a rerun continues from its checkpoint);
#   2. its inference files (options.json, weights.hdf5: bilm-tf layout, no softmax) copied into
#      models/elmo-tweets;
#   3. the NER tagger on that biLM: jobs/release/ner-tweets.yaml (elmo train-ner) into the run
#      directory build/release/ner-tweets, whose tagger.h5 is copied to
#      models/ner-tweets/tagger.h5 (it names its biLM as ../elmo-tweets, relative to its
#      directory, with the sha256 of the weights and options, which holds in build/release and
#      in models/ alike);
#   4. the generated parts of models/*/MODEL_CARD.md (scripts/model_cards.py).
# Seeded: the same rank count (RANKS, default 2) gives the same files.  The shipped models change
# only through this script; tests/ner/expected-tweets.jsonl is regenerated with them.
#   bash scripts/release.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
RANKS=${RANKS:-2}
cd "$(dirname "$0")/.."
root=$(pwd)
ELMO="$root/$BUILD/elmo"
[ -d ../shared/fixtures ] || { echo "release: ../shared/fixtures is missing (the training data)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 \
       OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$BUILD/release" models/elmo-tweets models/ner-tweets
t0=$(date +%s)

echo "== 1. pretrain the tweet biLM ($RANKS ranks)"
mpirun -n "$RANKS" "$ELMO" run jobs/release/elmo-tweets.yaml 2>&1 | tee -a "$BUILD/release/elmo-tweets.log"
t1=$(date +%s)

echo "== 2. models/elmo-tweets"
cp "$BUILD/release/elmo-tweets/options.json" models/elmo-tweets/options.json
cp "$BUILD/release/elmo-tweets/weights.hdf5" models/elmo-tweets/weights.hdf5

echo "== 3. the NER tagger on the biLM ($RANKS ranks)"
mpirun -n "$RANKS" "$ELMO" run jobs/release/ner-tweets.yaml --overwrite 2>&1 | tee "$BUILD/release/ner-tweets.log"
cp "$BUILD/release/ner-tweets/tagger.h5" models/ner-tweets/tagger.h5
t2=$(date +%s)

echo "== 4. the expected annotations of the sample tweets, and the model cards"
"$ELMO" annotate --input tests/data/tweets.jsonl --output tests/ner/expected-tweets.jsonl \
  --tagger models/ner-tweets/tagger.h5 --overwrite --no-progress
rm -f tests/ner/expected-tweets.jsonl.meta.json  # the run's record: paths of this machine
"$ELMO" wsd --model models/elmo-tweets --out "$BUILD/release/wsd" >/dev/null
/usr/bin/python3 scripts/model_cards.py "$BUILD/release" "$((t1 - t0))" "$((t2 - t1))"
echo "release: done in $(( $(date +%s) - t0 )) s (pretrain $((t1 - t0)) s, tagger $((t2 - t1)) s)"
du -ch models/*/* | tail -1

#!/usr/bin/env bash
# make demo: the main jobs on the shipped models (models/elmo-tweets, models/ner-tweets), on 2 MPI
# ranks, with nothing from outside the repository: embeds the sample sentences, tags the sample
# tweet archive and prints the entities found, draws the word-sense picture of "work", and says
# where each output is and how to read it.
#   bash scripts/demo.sh [BUILD_DIR]      (make demo passes build/)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
root=$(pwd)
ELMO="$root/$BUILD/elmo"
OUT="$root/$BUILD/demo"
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 \
       OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1

step() { printf '\n== %s\n' "$*"; }

step "1. ELMo vectors of tests/data/sample.txt (one sentence per line) on 2 ranks"
mpirun -n 2 "$ELMO" embed --input tests/data/sample.txt --output "$OUT/sample.h5" \
  --overwrite --no-progress
"$ELMO" info "$OUT/sample.h5"
echo "the first sentence, read back with the project's reader (io/python/elmo_store.py):"
PYTHONPATH="$root/io/python" /usr/bin/python3 -c '
import sys
from elmo_store import Store
with Store(sys.argv[1]) as st:
    r = st[0]
    print("  id %s: %s" % (r.id, " ".join(r.tokens)))
    print("  elmo vectors (rebuilt from the stored layers): %s" % (r.elmo.shape,))
' "$OUT/sample.h5"

step "2. named entities of tests/data/tweets.jsonl (Twitter API v2 JSON Lines) on 2 ranks"
mpirun -n 2 "$ELMO" annotate --input tests/data/tweets.jsonl --output "$OUT/tweets.entities.jsonl" \
  --no-progress
/usr/bin/python3 - "$OUT/tweets.entities.jsonl" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    ents = ", ".join("%s (%s %.2f)" % (e["text"], e["type"], e["score"]) for e in r["entities"])
    n += len(r["entities"])
    print("  %s  %s" % (r["id"], ents or "-"))
print("  %d entities in the sample tweets" % n)
PY

step "3. the word-sense picture of \"work\" (the tutorial's five sentences), per layer"
"$ELMO" wsd --out "$OUT/wsd"

cat <<MSG

demo: outputs, all under $OUT:
  sample.h5                the vectors: one HDF5 store (elmo info, h5dump -H); in Python:
                             import sys; sys.path.insert(0, "$root/io/python")
                             from elmo_store import Store
                             st = Store("$OUT/sample.h5")
                             st[0].tokens, st[0].elmo     # tokens and (tokens, 2P) vectors
  tweets.entities.jsonl    one JSON object per tweet: id, text, entities [{text, type, score,
                           start, end}] with offsets in code points of text
  wsd/*.svg, wsd/wsd.json  the PCA picture of each layer and its separation figures; open the
                           SVG files in a browser
MSG

#!/usr/bin/env bash
# make demo: runs the main job (jobs/embed.yaml) on the bundled sample corpus across 2 MPI
# ranks and tells where the store is and how to read it.
# Model: $ELMO_MODEL_DIR, then models/<small|medium|original>/, then ../shared/models/, then
# the reference fixture model in ../shared/fixtures/elmo-allennlp.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
root=$(pwd)

pick_model() {
  local d
  for d in "${ELMO_MODEL_DIR:-}" models/original models/medium models/small models \
           ../shared/models/original ../shared/models/medium ../shared/models/small ../shared/models; do
    [ -n "$d" ] || continue
    if [ -s "$d/options.json" ] && [ -s "$d/weights.hdf5" ]; then
      echo "$d/options.json $d/weights.hdf5 $d"; return
    fi
    local o w
    o=$(ls "$d"/*_options.json 2>/dev/null | head -1 || true)
    w=$(ls "$d"/*_weights.hdf5 2>/dev/null | head -1 || true)
    if [ -n "$o" ] && [ -n "$w" ]; then echo "$o $w $d"; return; fi
  done
  echo "../shared/fixtures/elmo-allennlp/options.json ../shared/fixtures/elmo-allennlp/lm_weights.hdf5 the reference fixture model (../shared/fixtures/elmo-allennlp)"
}
read -r OPT WTS WHERE <<<"$(pick_model)"
echo "demo: model: $WHERE"
mkdir -p "$BUILD/demo"
OUT="$root/$BUILD/demo/embeddings.h5"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 \
       OMPI_MCA_btl=self,vader OPENBLAS_NUM_THREADS=1
set -x
mpirun -n 2 "$BUILD/elmo" run jobs/embed.yaml --options "$root/$OPT" --weights "$root/$WTS" \
  --output "$OUT"
{ set +x; } 2>/dev/null
"$BUILD/elmo" info "$OUT"
cat <<MSG

demo: the store is $OUT
demo: read it with h5py (Debian: /usr/bin/python3 with python3-h5py):
    import h5py
    f = h5py.File("$OUT", "r")
    off = f["sentences/offset"][:]                  # sentence i = token rows off[i]:off[i+1]
    vecs = f["embeddings/elmo"][off[0]:off[1]]       # (n_tokens, 2P) for the first sentence
    toks = bytes(f["tokens/text_blob"][:]).decode()  # tokens: text_offset gives byte ranges
demo: or: h5dump -H $OUT ; $BUILD/elmo export --format allennlp $OUT out.hdf5
MSG

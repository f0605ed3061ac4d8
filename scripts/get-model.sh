#!/usr/bin/env bash
# Downloads an official AllenNLP ELMo model (options + weights) into models/NAME/.
# Usage: scripts/get-model.sh small|medium|original     Needs the network (no test does).
set -euo pipefail
case "${1:-small}" in
  small)    name=elmo_2x1024_128_2048cnn_1xhighway ;;
  medium)   name=elmo_2x2048_256_2048cnn_1xhighway ;;
  original) name=elmo_2x4096_512_2048cnn_2xhighway ;;
  *) echo "get-model: unknown model '$1' (small, medium or original)" >&2; exit 2 ;;
esac
base="https://allennlp.s3.amazonaws.com/models/elmo/$name"
dir="models/$1"
mkdir -p "$dir"
for f in options.json weights.hdf5; do
  if [ -s "$dir/$f" ]; then echo "get-model: $dir/$f already there"; continue; fi
  echo "get-model: fetching ${name}_$f"
  if ! curl -fL --retry 3 -o "$dir/$f.part" "$base/${name}_$f"; then
    rm -f "$dir/$f.part"
    echo "get-model: download failed (this machine may be offline); the demo falls back to" \
         "the fixture model" >&2
    exit 1
  fi
  mv "$dir/$f.part" "$dir/$f"
done
echo "get-model: $dir/options.json and $dir/weights.hdf5 ready"

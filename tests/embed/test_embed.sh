#!/usr/bin/env bash
# The embed job end to end with the fixture model: N = 1, 2, 4 ranks give bit-identical stores
# (stateless and streams; stateless stores are written directly, and equal the two-pass path's),
# the streams export equals the allennlp layout fixture, f16 and deflate (two-pass) variants, input order, ids, bad input, reconciled counts, and the h5py round trip.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
fixture_model
make_tmp
CHK="$ELMO_SOURCE_DIR/tests/embed/check_store.py"

echo "== streams S=3, --outputs all, N = 1, 2, 4"
for n in 1 2 4; do
  embed $n --input "$ELMO_FIXTURES/elmo-derived/sentences_30.txt" --streams 3 --outputs all \
      --output "$T/s$n.h5" 2>"$T/s$n.log" || { cat "$T/s$n.log"; exit 1; }
done
$PY "$CHK" same "$T/s1.h5" "$T/s2.h5"
$PY "$CHK" same "$T/s1.h5" "$T/s4.h5"
"$ELMO_BIN" export --format allennlp "$T/s2.h5" "$T/s2-allennlp.hdf5"
$PY "$CHK" derived "$T/s2-allennlp.hdf5" "$ELMO_FIXTURES/elmo-derived/allennlp_model_elmo_all_bs3.hdf5"

echo "== stateless, default outputs, small shards, N = 1, 2, 4"
SAMPLE="$ELMO_SOURCE_DIR/tests/data/sample.txt"
for n in 1 2 4; do
  embed $n --input "$SAMPLE" --shard-tokens 64 --output "$T/d$n.h5" 2>"$T/d$n.log" \
    || { cat "$T/d$n.log"; exit 1; }
done
$PY "$CHK" same "$T/d1.h5" "$T/d2.h5"
$PY "$CHK" same "$T/d1.h5" "$T/d4.h5"
$PY "$CHK" layout "$T/d1.h5" "$SAMPLE"
grep -q "records read = " "$T/d1.log"
# those were direct writes (rows pwritten into STORE.partial, contiguous datasets); the
# two-pass path (part files and a collective merge, chunked) gives the same datasets
for n in 1 2 4; do
  grep -q "bytes written per stored byte (direct writes" "$T/d$n.log" \
    || { cat "$T/d$n.log"; fail "d$n: not written directly"; }
done
h5dump -pH "$T/d2.h5" >"$T/d2.txt"; grep -q CONTIGUOUS "$T/d2.txt" || fail "a direct store is not contiguous"
ELMO_EMBED_TWO_PASS=1 embed 2 --input "$SAMPLE" --shard-tokens 64 --output "$T/tp.h5" \
  2>"$T/tp.log" || { cat "$T/tp.log"; exit 1; }
grep -q "(two-pass: part files and a merge, for ELMO_EMBED_TWO_PASS is set)" "$T/tp.log" \
  || { cat "$T/tp.log"; fail "tp: not two-pass"; }
h5dump -pH "$T/tp.h5" >"$T/tp.txt"; grep -q CHUNKED "$T/tp.txt" || fail "a two-pass store is not chunked"
$PY "$CHK" same "$T/d1.h5" "$T/tp.h5"

echo "== streams in groups: S=64 > 41 sentences equals stateless (every stream starts at zero)"
for n in 1 2; do
  embed $n --input "$SAMPLE" --streams 64 --output "$T/g$n.h5" 2>/dev/null
done
$PY "$CHK" same "$T/g1.h5" "$T/g2.h5"
$PY "$CHK" same-data "$T/g1.h5" "$T/d1.h5"
embed 2 --input "$SAMPLE" --streams 35 --output "$T/g35.h5" 2>/dev/null
embed 1 --input "$SAMPLE" --streams 35 --output "$T/g35b.h5" 2>/dev/null
$PY "$CHK" same "$T/g35.h5" "$T/g35b.h5"

echo "== float16 and deflate"
for n in 1 2; do
  embed $n --input "$SAMPLE" --shard-tokens 64 --precision f16 --output "$T/h$n.h5" 2>/dev/null
  embed $n --input "$SAMPLE" --shard-tokens 64 --compress 4 --output "$T/z$n.h5" 2>"$T/z$n.log"
done
grep -q "two-pass: part files and a merge, for a compressed store" "$T/z2.log" \
  || { cat "$T/z2.log"; fail "a compressed store did not go through the two-pass path"; }
$PY "$CHK" same "$T/h1.h5" "$T/h2.h5"
$PY "$CHK" f16 "$T/h1.h5" "$T/d1.h5"
$PY "$CHK" same "$T/z1.h5" "$T/z2.h5"
$PY "$CHK" same "$T/z1.h5" "$T/d1.h5"
h5dump -pH "$T/z1.h5" >"$T/z1.txt"; grep -q DEFLATE "$T/z1.txt"

echo "== bad input: invalid UTF-8, empty lines, a long sentence; counts reconcile"
{ printf 'good line one\n\n'; printf 'bad \xff\xfe bytes\n'; printf 'another good line\n';
  for i in $(seq 1 30); do printf 'w%d ' "$i"; done; printf '\n'; } >"$T/bad.txt"
embed 2 --input "$T/bad.txt" --max-sentence-tokens 12 --output "$T/bad.h5" 2>"$T/bad.log" \
  || { cat "$T/bad.log"; exit 1; }
cat "$T/bad.log"
grep -q "5 records read = 4 written + 1 rejected" "$T/bad.log"
grep -q "1 empty, 1 split" "$T/bad.log"
grep -qP "\t3\tinvalid UTF-8" "$T/bad.h5.rejects.tsv"
embed 1 --input "$T/bad.txt" --max-sentence-tokens 12 --long-sentences truncate \
  --output "$T/trunc.h5" 2>"$T/trunc.log"
grep -q "truncated by 18 tokens" "$T/trunc.log"
echo "== gzip, stdin and JSON Lines give the same store as the plain text"
gzip -c "$SAMPLE" >"$T/sample.txt.gz"
embed 2 --input "$T/sample.txt.gz" --shard-tokens 64 --output "$T/gz.h5" 2>/dev/null
$PY "$CHK" same "$T/gz.h5" "$T/d2.h5" 2>/dev/null || $PY "$CHK" same-data "$T/gz.h5" "$T/d2.h5"
embed 1 --input - --shard-tokens 64 --output "$T/stdin.h5" <"$SAMPLE" 2>/dev/null
$PY "$CHK" same-data "$T/stdin.h5" "$T/d1.h5"
$PY - "$SAMPLE" "$T/sample.jsonl" <<'PYEOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as o:
    for i, line in enumerate(f.read().split("\n")[:-1]):
        o.write(json.dumps({"id": str(i + 1), "text": line}) + "\n")
    o.write('{"id": "x", "text": broken\n')
    o.write('{"id": "y"}\n')
PYEOF
embed 2 --input "$T/sample.jsonl" --input-format jsonl --shard-tokens 64 --output "$T/j.h5" \
  2>"$T/j.log"
grep -q "43 records read = 41 written + 2 rejected" "$T/j.log" || { cat "$T/j.log"; exit 1; }
[ "$(grep -c . "$T/j.h5.rejects.tsv")" -eq 3 ]  # header + 2
grep -qP "\t42\tinvalid JSON" "$T/j.h5.rejects.tsv"
$PY "$CHK" same-data "$T/j.h5" "$T/d2.h5"

echo "== several inputs (repeated, a glob; plain, bz2, zstd) are one corpus: the concatenation's store"
head -n 15 "$SAMPLE" >"$T/p1.txt"; sed -n '16,30p' "$SAMPLE" | bzip2 >"$T/p2.txt.bz2"
sed -n '31,$p' "$SAMPLE" | zstd -q >"$T/p3.txt.zst"
printf 'bad \xff\n' >>"$T/p1.txt"; cp "$T/p1.txt" "$T/cat.txt"
sed -n '16,$p' "$SAMPLE" >>"$T/cat.txt"
embed 2 --input "$T/cat.txt" --shard-tokens 64 --output "$T/cat.h5" 2>/dev/null
embed 2 --input "$T/p1.txt" --input "$T/p2.txt.bz2" --input "$T/p3.txt.zst" --shard-tokens 64 \
  --output "$T/multi.h5" 2>/dev/null
embed 1 --input "$T/p?.txt*" --shard-tokens 64 --output "$T/glob.h5" 2>/dev/null
grep -qP "^$T/p1.txt\t16\tinvalid UTF-8" "$T/multi.h5.rejects.tsv"
$PY - "$T/cat.h5" "$T/multi.h5" "$T/glob.h5" <<'PYEOF'
import h5py, sys, numpy as np
from h5check import dataset_names
cat, multi, glob = (h5py.File(p, "r") for p in sys.argv[1:4])
for other in (multi, glob):
    for n in dataset_names(cat):
        if n.startswith("sentences/id_"):
            continue
        assert np.array_equal(cat[n][()], other[n][()]), n
    blob, off = other["sentences/id_blob"][()].tobytes(), other["sentences/id_offset"][()]
    ids = [blob[off[i]:off[i + 1]].decode() for i in range(len(off) - 1)]
    assert len(set(ids)) == len(ids) == 41, ids
    assert ids[0] == "1:1" and ids[15] == "2:1" and ids[-1] == "3:11", ids
PYEOF

echo "== the format from the name or the first byte; a single plain input keeps plain ids"
cp "$T/sample.jsonl" "$T/noext"
embed 1 --input "$T/noext" --shard-tokens 64 --output "$T/det.h5" 2>/dev/null
$PY "$CHK" same-data "$T/det.h5" "$T/d2.h5"
embed 1 --input "$T/sample.jsonl" --shard-tokens 64 --output "$T/det2.h5" 2>/dev/null
$PY "$CHK" same-data "$T/det2.h5" "$T/d2.h5"

echo "test_embed: all checks passed"

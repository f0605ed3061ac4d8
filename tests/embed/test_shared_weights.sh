#!/usr/bin/env bash
# The biLM shared per node (driver/node_model.c): the node's ranks read and pack the weights
# together into one shared window.  The embed store's datasets are bit-identical on 1, 2 and 4
# ranks (the sample in small shards, so every rank works), each rank's log says how many ranks
# share the copy, and annotate with the shipped tagger (its biLM loaded the same way) writes
# the same records on 1 and 2 ranks.  The caches are off for one run and on for the others
# (the same store either way).  The packed cache: the first run writes the node's image, the
# later runs map it; an image with a damaged byte is found, packed again and replaced; an
# image of a weight file touched since is not used; every store is the same.  `elmo cache`
# lists live, stale, orphan, foreign and partial files, and --prune removes only the stale,
# orphan and partial ones (not the live image, a foreign file, the hashes or other files).
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
need_h5py
fixture_model
make_tmp
export ELMO_CACHE_DIR="$T/cache"
SAMPLE="$ELMO_SOURCE_DIR/tests/data/sample.txt"

for n in 1 2 4; do
  echo "== embed on $n rank(s)"
  embed "$n" --input "$SAMPLE" --shard-tokens 64 --output "$T/s$n.h5" 2>"$T/e$n.log" ||
    { cat "$T/e$n.log"; fail "embed on $n ranks"; }
  for r in $(seq 0 $((n - 1))); do
    log="$T/s$n.h5.logs/rank-$(printf %05d "$r").log"
    grep -q "by the $n rank.* of this node into one shared copy" "$log" ||
      { cat "$log"; fail "rank $r of $n does not name the shared copy"; }
  done
done
ELMO_CACHE_DIR=off embed 2 --input "$SAMPLE" --shard-tokens 64 --output "$T/off.h5" \
  2>"$T/off.log" ||
  { cat "$T/off.log"; fail "embed with the hash cache off"; }
ls "$T/cache"/sha256-*.txt >/dev/null || fail "no hash cache entry was written"

echo "== the packed cache"
R0=rank-00000.log
ls "$T/cache"/packed-*.bin >/dev/null || fail "no packed image was written"
grep -q "packed cache: wrote" "$T/s1.h5.logs/$R0" || fail "the first run did not write the image"
for n in 2 4; do
  grep -q "packed image mapped from the cache" "$T/s$n.h5.logs/$R0" ||
    { cat "$T/s$n.h5.logs/$R0"; fail "the $n-rank run did not map the image"; }
done
if grep -q "packed image mapped" "$T/off.h5.logs/$R0"; then fail "the cache was used while off"; fi
IMG=$(ls "$T/cache"/packed-*.bin)
$PY - "$IMG" <<'EOF2'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-100, os.SEEK_END)
    b = f.read(1)
    f.seek(-100, os.SEEK_END)
    f.write(bytes([b[0] ^ 0xFF]))
EOF2
embed 2 --input "$SAMPLE" --shard-tokens 64 --output "$T/dmg.h5" 2>"$T/dmg.log" ||
  { cat "$T/dmg.log"; fail "embed over a damaged image"; }
grep -q "does not match its checksum (damaged)" "$T/dmg.h5.logs"/rank-*.log ||
  fail "the damaged image was not found"
grep -q "packed cache: wrote" "$T/dmg.h5.logs/$R0" || fail "the damaged image was not replaced"
embed 2 --input "$SAMPLE" --shard-tokens 64 --output "$T/fixed.h5" 2>"$T/fixed.log" ||
  { cat "$T/fixed.log"; fail "embed after the repair"; }
grep -q "packed image mapped from the cache" "$T/fixed.h5.logs/$R0" || fail "the new image is not used"
cp "$FX/lm_weights.hdf5" "$T/w.hdf5"
MODEL=(--options "$FX/options.json" --weights "$T/w.hdf5")
embed 1 --input "$SAMPLE" --output "$T/cp1.h5" 2>"$T/cp1.log" || { cat "$T/cp1.log"; fail "copy"; }
touch -d "2020-01-01 00:00" "$T/w.hdf5"
embed 1 --input "$SAMPLE" --output "$T/cp2.h5" 2>"$T/cp2.log" || { cat "$T/cp2.log"; fail "touched"; }
grep -q "not used (it was made for another weight file or layout)" "$T/cp2.h5.logs/$R0" ||
  { cat "$T/cp2.h5.logs/$R0"; fail "the image of the touched weight file was used"; }
echo "packed cache: written, mapped on 2 and 4 ranks, a damaged image replaced, a stale one not used"

echo "== elmo cache: list, then prune"
cp "$FX/lm_weights.hdf5" "$T/gone.hdf5"
MODEL=(--options "$FX/options.json" --weights "$T/gone.hdf5")
embed 1 --input "$SAMPLE" --output "$T/gone.h5" 2>"$T/gone.log" || { cat "$T/gone.log"; fail "gone"; }
rm "$T/gone.hdf5"
touch -d "2021-01-01 00:00" "$T/w.hdf5"
HEX=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
echo "not an image" >"$T/cache/packed-$HEX.bin"
head -c 1000 "$IMG" >"$T/cache/packed-$HEX.bin.$(hostname).99999999.tmp"
touch "$T/cache/keep-me.txt"
"$ELMO_BIN" cache >"$T/list.txt" || { cat "$T/list.txt"; fail "elmo cache"; }
cat "$T/list.txt"
# the cache names weight files by their real paths (../shared may be a symbolic link)
RFX=$(readlink -f "$FX") RT=$(readlink -f "$T")
for want in "live .*$RFX/lm_weights.hdf5" "stale .*$RT/w.hdf5" "orphan .*$RT/gone.hdf5" \
            "foreign .*packed-$HEX.bin" "partial .*interrupted write" "^3 packed copies"; do
  grep -q "$want" "$T/list.txt" || fail "elmo cache does not list: $want"
done
"$ELMO_BIN" cache --prune >"$T/prune.txt" || { cat "$T/prune.txt"; fail "elmo cache --prune"; }
grep -q "removed 3 files" "$T/prune.txt" || { cat "$T/prune.txt"; fail "prune removed other than 3"; }
ls "$T/cache"
[ "$(ls "$T/cache"/packed-*.bin | wc -l)" = 2 ] || fail "prune left other than the live and foreign files"
[ -f "$T/cache/packed-$HEX.bin" ] && [ -f "$T/cache/keep-me.txt" ] || fail "prune removed a file not its own"
ls "$T/cache"/sha256-*.txt >/dev/null || fail "prune removed the hashes"
fixture_model
embed 1 --input "$SAMPLE" --output "$T/after.h5" 2>"$T/after.log" || { cat "$T/after.log"; fail "after"; }
grep -q "packed image mapped from the cache" "$T/after.h5.logs/$R0" || fail "the live image went"
echo "elmo cache: live, stale, orphan, foreign and partial listed; 3 removed, the rest kept"

$PY - "$T" <<'EOF'
import sys, h5py
from h5check import dataset_names, fail, identical
t = sys.argv[1]
with h5py.File(t + "/s1.h5", "r") as a:
    names = dataset_names(a)
    assert names
    for other in ("s2", "s4", "off", "dmg", "fixed", "cp1", "cp2", "gone", "after"):
        with h5py.File("%s/%s.h5" % (t, other), "r") as b:
            if dataset_names(b) != names:
                fail("%s: other datasets than the 1-rank store" % other)
            for n in names:
                if not identical(a[n][()], b[n][()]):
                    fail("%s: dataset %s differs from the 1-rank store" % (other, n))
            if a.attrs["weights_sha256"] != b.attrs["weights_sha256"]:
                fail("%s: attribute weights_sha256 differs" % other)
print("datasets identical on 1, 2, 4 ranks, with the caches off and with every packed image: %d"
      % len(names))
EOF

echo "== annotate with the shipped tagger on 1 and 2 ranks"
TW="$ELMO_SOURCE_DIR/tests/ner/tweets_sample.jsonl"
for n in 1 2; do
  mpiexec -n $n "$ELMO_BIN" annotate --tagger "$ELMO_SOURCE_DIR/models/ner-tweets/tagger.h5" \
    --input "$TW" --input-format jsonl --output "$T/a$n.jsonl" --no-progress 2>"$T/a$n.log" ||
    { cat "$T/a$n.log"; fail "annotate on $n ranks"; }
done
cmp "$T/a1.jsonl" "$T/a2.jsonl" || fail "annotate differs on 1 and 2 ranks"
echo "annotate: the same records on 1 and 2 ranks ($(wc -l <"$T/a1.jsonl") lines)"
echo "PASS"

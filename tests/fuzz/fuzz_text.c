/*
 * fuzz_text.c: the text reader (one sentence per line) and the whitespace tokenizer.  Besides
 * the common reader properties (fuzz_check_corpus: record invariants, whole read = ranged
 * reads), there is one record per line, numbered from 1; and elmo_split_whitespace on the whole
 * input leaves the text untouched when its array is too small, and otherwise gives non-empty
 * tokens without whitespace whose concatenation is the input without its whitespace.
 */
#include <stdlib.h>
#include <string.h>

#include "io/corpus.h"
#include "io/utf8.h"
#include "model/status.h"
#include "tests/fuzz/fuzz_util.h"

static void check_split(const unsigned char *data, size_t size) {
    size_t len = strnlen((const char *)data, size);
    char *text = elmo_xmalloc(len + 1), *orig = elmo_xmalloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    memcpy(orig, text, len + 1);
    char *few[3];
    int n = elmo_split_whitespace(text, few, 3);
    FUZZ_ASSERT(n >= 0, "%d tokens", n);
    if (n > 3) FUZZ_ASSERT(memcmp(text, orig, len + 1) == 0, "a too-small array changed the text");
    memcpy(text, orig, len + 1);
    char **tok = elmo_xmalloc(((size_t)n + 1) * sizeof *tok);
    int m = elmo_split_whitespace(text, tok, n + 1);
    FUZZ_ASSERT(m == n, "%d tokens, then %d", n, m);
    /* the input without whitespace, to compare with the tokens concatenated */
    char *bare = elmo_xmalloc(len + 1);
    size_t nb = 0;
    const unsigned char *p = (const unsigned char *)orig, *e = p + len;
    while (p < e) {
        size_t w = elmo__ws_len(p, e);
        if (w) p += w;
        else bare[nb++] = (char)*p++;
    }
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        size_t tl = strlen(tok[i]);
        FUZZ_ASSERT(tl > 0, "token %d is empty", i);
        FUZZ_ASSERT(tok[i] >= text && tok[i] + tl <= text + len, "token %d outside the text", i);
        FUZZ_ASSERT(pos + tl <= nb && memcmp(bare + pos, tok[i], tl) == 0,
                    "token %d is not the next non-space run", i);
        pos += tl;
    }
    FUZZ_ASSERT(pos == nb, "the tokens miss %zu non-space bytes", nb - pos);
    free(bare);
    free(tok);
    free(orig);
    free(text);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_TEXT};
    struct fuzz_recs recs;
    fuzz_check_corpus(data, size, &opts, &recs);
    if (!(size >= 2 && data[0] == 0x1f && data[1] == 0x8b)) {
        size_t lines = 0;
        for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
        if (size && data[size - 1] != '\n') lines++;
        FUZZ_ASSERT(recs.n == lines, "%zu records for %zu lines", recs.n, lines);
        for (size_t i = 0; i < recs.n; i++)
            FUZZ_ASSERT(recs.r[i].line == (int64_t)i + 1, "record %zu has line %lld", i,
                        (long long)recs.r[i].line);
    }
    fuzz_recs_free(&recs);
    check_split(data, size);
    return 0;
}

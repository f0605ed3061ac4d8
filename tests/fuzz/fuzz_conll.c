/*
 * fuzz_conll.c: the CoNLL reader (a token per line, first column; blank or -DOCSTART- lines
 * between sentences).  Besides the common reader properties (fuzz_check_corpus), when no record
 * is rejected the records hold exactly one token per token line of the input.
 */
#include <stdbool.h>
#include <string.h>

#include "io/corpus.h"
#include "io/utf8.h"
#include "tests/fuzz/fuzz_util.h"

/* Token lines of data, by the reader's line conventions (see io/corpus.c). */
static size_t token_lines(const unsigned char *data, size_t size) {
    size_t n = 0, start = 0;
    while (start < size) {
        const unsigned char *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size, len = end - start;
        const unsigned char *s = data + start;
        if (len && s[len - 1] == '\r') len--;
        if (start == 0 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) s += 3, len -= 3;
        bool blank = true;
        for (const unsigned char *p = s, *e = s + len; p < e;) {
            size_t w = elmo__ws_len(p, e);
            if (!w) {
                blank = false;
                break;
            }
            p += w;
        }
        if (!blank && !(len >= 10 && memcmp(s, "-DOCSTART-", 10) == 0)) n++;
        start = end + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    struct elmo_corpus_opts opts = {.format = ELMO_INPUT_CONLL};
    struct fuzz_recs recs;
    fuzz_check_corpus(data, size, &opts, &recs);
    if (!(size >= 2 && data[0] == 0x1f && data[1] == 0x8b)) {
        size_t tokens = 0, rejected = 0;
        for (size_t i = 0; i < recs.n; i++) {
            tokens += (size_t)recs.r[i].n_tok;
            rejected += (size_t)recs.r[i].reject;
            FUZZ_ASSERT(recs.r[i].reject || recs.r[i].n_tok > 0, "an empty conll sentence");
        }
        if (!rejected) {
            size_t want = token_lines(data, size);
            FUZZ_ASSERT(tokens == want, "%zu tokens for %zu token lines", tokens, want);
        }
    }
    fuzz_recs_free(&recs);
    return 0;
}

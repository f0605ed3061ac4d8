/*
 * fuzz_jsonl.c: the JSON Lines reader (tweets and other records), read twice: with a text
 * field and an id field, and with a tokens field and a dotted id path.  Besides the common
 * reader properties (fuzz_check_corpus), there is one record per line (a blank or bad line is
 * a rejected record, never a dropped one).
 */
#include <string.h>

#include "io/corpus.h"
#include "tests/fuzz/fuzz_util.h"

static void check_lines(const unsigned char *data, size_t size, const struct fuzz_recs *recs) {
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    if (size && data[size - 1] != '\n') lines++;
    FUZZ_ASSERT(recs->n == lines, "%zu records for %zu lines", recs->n, lines);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    struct elmo_corpus_opts by_text = {
        .format = ELMO_INPUT_JSONL, .text_field = "text", .id_field = "id"};
    struct elmo_corpus_opts by_tokens = {.format = ELMO_INPUT_JSONL,
                                         .text_field = "full_text",
                                         .tokens_field = "tokens",
                                         .id_field = "user.id_str"};
    struct fuzz_recs recs;
    fuzz_check_corpus(data, size, &by_text, &recs);
    check_lines(data, size, &recs);
    fuzz_recs_free(&recs);
    fuzz_check_corpus(data, size, &by_tokens, &recs);
    check_lines(data, size, &recs);
    fuzz_recs_free(&recs);
    return 0;
}

/*
 * ner_data.h: tagged sentences for the NER tagger: `token ... tag` files, the tag set, and the
 * token form the features are computed from.
 *
 * File format (design 8): one token per line, columns separated by spaces or tabs, the token
 * in the first column and the tag in the last; a blank line (or conlleval's `-X-` line) ends
 * a sentence; the last sentence needs no blank line after it; CR before LF is ignored.
 * A line with a single column is an error naming the file and line (untagged input can be
 * read with tags_optional, for tagging).  Not collective.
 */
#ifndef ELMO_NER_DATA_H
#define ELMO_NER_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "model/tagger.h"

struct elmo_ner_data {
    int n_sent;
    int64_t n_tok;
    int64_t *offset; /* (n_sent + 1) tokens of sentence s: [offset[s], offset[s + 1]) */
    int64_t *line;   /* (n_sent) 1-based line of each sentence's first token */
    char **tok;      /* (n_tok) tokens (views into blob) */
    char **tag;      /* (n_tok) tags (views into blob; "O" when the line had none) */
    char *blob;      /* owner of the strings */
    int max_len;     /* longest sentence */
};

/*
 * Reads path (plain or gzip).  tags_optional: accept one-column lines (tag "O").
 * Returns 0, ELMO_ERR_IO or ELMO_ERR_FORMAT ("PATH:LINE: cause").  Free with elmo_ner_data_free.
 */
int elmo_ner_data_read(const char *path, bool tags_optional, struct elmo_ner_data *d);
void elmo_ner_data_free(struct elmo_ner_data *d);

/* The first n sentences only (n >= n_sent: unchanged). */
void elmo_ner_data_truncate(struct elmo_ner_data *d, int n);

/* A tag set: "O" first, then the other tags in byte order. */
struct elmo_tagset {
    int n;
    char name[ELMO_TAGGER_MAX_TAGS][64];
};

/* The tags of d as a tag set.  ELMO_ERR_RANGE when there are more than 256 or one is long. */
int elmo_tagset_build(const struct elmo_ner_data *d, struct elmo_tagset *ts);

/* The id of tag name, or -1. */
int elmo_tagset_find(const struct elmo_tagset *ts, const char *name);

/* The tag set as one string of names joined by '\n', and back.  0 or ELMO_ERR_FORMAT. */
char *elmo_tagset_join(const struct elmo_tagset *ts);
int elmo_tagset_split(const char *text, struct elmo_tagset *ts);

/*
 * The token the features are computed from.  mask_urls_users (the tutorial's replacement,
 * ner.md 1.1): a token starting with http:// or https:// followed by at least one character
 * becomes "<URL>"; a token of '@' and at least one more character becomes "<USR>".
 * Otherwise the token itself.  Returns a static string or tok.
 */
const char *elmo_ner_feature_token(const char *tok, bool mask_urls_users);

#endif /* ELMO_NER_DATA_H */

/*
 * tweet_block.c: a block of tweets sent to a rank, and its tagging there (see tweet_block.h).
 */
#include "worker/tweet_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/status.h"

/* Appends the model form of token s[0..n) (&, <, > escaped) and a NUL. */
static void put_token(struct elmo_tweet_block *b, const char *s, size_t n) {
    if (b->len + 6 * n + 2 > b->cap) {
        b->cap = (b->len + 6 * n + 2) * 2;
        b->blob = elmo_xrealloc(b->blob, b->cap);
    }
    for (size_t i = 0; i < n; i++) {
        const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : NULL;
        if (e) {
            memcpy(b->blob + b->len, e, strlen(e));
            b->len += strlen(e);
        } else {
            b->blob[b->len++] = s[i];
        }
    }
    b->blob[b->len++] = '\0';
}

void elmo_tweet_block_add(struct elmo_tweet_block *b, const char *text, const struct elmo_span *sp,
                          int n_tok) {
    char num[16];
    snprintf(num, sizeof num, "%d", n_tok);
    put_token(b, num, strlen(num));
    for (int k = 0; k < n_tok; k++)
        put_token(b, text + sp[k].start, (size_t)(sp[k].end - sp[k].start));
}

void elmo_tweet_block_free(struct elmo_tweet_block *b) {
    free(b->blob);
    memset(b, 0, sizeof *b);
}

int elmo_tweet_block_tag(struct elmo_tagging *r, const char *blob, size_t n, int n_tok,
                         int32_t *tags, float *score) {
    const char **toks = elmo_xmalloc(sizeof(char *) * (size_t)(n_tok + 1));
    int32_t *lens = elmo_xmalloc(sizeof(int32_t) * (size_t)(n_tok + 1));
    int ns = 0, nt = 0, rc = 0;
    for (size_t p = 0; p < n && rc == 0;) {
        int k = atoi(blob + p);
        p += strlen(blob + p) + 1;
        if (k > 0) lens[ns++] = k;
        for (int q = 0; q < k && rc == 0; q++) {
            if (nt == n_tok) rc = 1;
            else toks[nt++] = blob + p;
            p += strlen(blob + p) + 1;
        }
    }
    if (rc != 0 || nt != n_tok) rc = elmo_error(ELMO_ERR_STATE, "annotate: a round lost tokens");
    if (rc == 0) rc = elmo_tagging_tag(r, ns, lens, toks, tags, score);
    free(toks);
    free(lens);
    return rc;
}

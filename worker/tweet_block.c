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

/* A parsed block: the tokens of its ns tweets with tokens, tweet i at toks[off[i] .. off[i+1]). */
struct parsed {
    const char **toks;
    int32_t *lens;
    int64_t *off;
    int ns;
};

static void parsed_free(struct parsed *p) {
    free(p->toks);
    free(p->lens);
    free(p->off);
}

/* Splits blob[0..n) into its tweets with tokens; ELMO_ERR_STATE unless it holds n_tok tokens. */
static int parse_block(const char *blob, size_t n, int n_tok, struct parsed *pb) {
    pb->toks = elmo_xmalloc(sizeof(char *) * (size_t)(n_tok + 1));
    pb->lens = elmo_xmalloc(sizeof(int32_t) * (size_t)(n_tok + 1));
    pb->off = elmo_xmalloc(sizeof(int64_t) * (size_t)(n_tok + 2));
    int ns = 0, nt = 0, bad = 0;
    pb->off[0] = 0;
    for (size_t p = 0; p < n && !bad;) {
        int k = atoi(blob + p);
        p += strlen(blob + p) + 1;
        if (k > 0) {
            pb->lens[ns++] = k;
            pb->off[ns] = pb->off[ns - 1] + k;
        }
        for (int q = 0; q < k && !bad; q++) {
            if (nt == n_tok) bad = 1;
            else pb->toks[nt++] = blob + p;
            p += strlen(blob + p) + 1;
        }
    }
    pb->ns = ns;
    if (bad || nt != n_tok) return elmo_error(ELMO_ERR_STATE, "annotate: a round lost tokens");
    return 0;
}

/*
 * With the sentence cache: tweets equal to an earlier one of the block get its results after
 * the tagging (first), tweets the cache holds get theirs now; the others are tagged together
 * and recorded in the cache.  todo[i]: tweet i is tagged.
 */
static int tag_new(struct elmo_tagging *r, struct elmo_dedup *d, const struct parsed *pb,
                   const struct elmo_word *w, const uint8_t *todo, int32_t *tags, float *score) {
    const char **toks = elmo_xmalloc(sizeof(char *) * (size_t)(pb->off[pb->ns] + 1));
    int32_t *lens = elmo_xmalloc(sizeof(int32_t) * (size_t)(pb->ns + 1));
    int32_t *rtags = elmo_xmalloc(sizeof(int32_t) * (size_t)(pb->off[pb->ns] + 1));
    float *rscore = elmo_xmalloc(sizeof(float) * (size_t)(pb->off[pb->ns] + 1));
    int m = 0, mt = 0;
    for (int i = 0; i < pb->ns; i++) {
        if (!todo[i]) continue;
        lens[m++] = pb->lens[i];
        for (int64_t t = pb->off[i]; t < pb->off[i + 1]; t++) toks[mt++] = pb->toks[t];
    }
    int rc = m > 0 ? elmo_tagging_tag(r, m, lens, toks, rtags, rscore) : 0;
    for (int i = 0, at = 0; i < pb->ns && rc == 0; i++) {
        if (!todo[i]) continue;
        const size_t len = (size_t)pb->lens[i];
        memcpy(tags + pb->off[i], rtags + at, sizeof(int32_t) * len);
        memcpy(score + pb->off[i], rscore + at, sizeof(float) * len);
        elmo_dedup_begin(d, w + pb->off[i], pb->lens[i]);
        elmo_dedup_put(d, 0, rtags + at, sizeof(int32_t) * len, 0);
        elmo_dedup_put(d, 1, rscore + at, sizeof(float) * len, 0);
        elmo_dedup_end(d);
        at += pb->lens[i];
    }
    free(toks);
    free(lens);
    free(rtags);
    free(rscore);
    return rc;
}

/* Tweet i's results from a cache entry. */
static void copy_hit(const struct elmo_dedup_entry *hit, const struct parsed *pb, int i,
                     int32_t *tags, float *score) {
    size_t len;
    int64_t count;
    const void *p = elmo_dedup_part(hit, 0, &len, &count);
    if (p) memcpy(tags + pb->off[i], p, len);
    p = elmo_dedup_part(hit, 1, &len, &count);
    if (p) memcpy(score + pb->off[i], p, len);
}

/* The block's tweets through the sentence cache d (see elmo_tweet_block_tag). */
static int tag_dedup(struct elmo_tagging *r, struct elmo_dedup *d, const struct parsed *pb,
                     int32_t *tags, float *score, int64_t reused[2]) {
    const int64_t nt = pb->off[pb->ns];
    struct elmo_word *w = elmo_xmalloc(sizeof *w * (size_t)(nt + 1));
    int32_t *first = elmo_xmalloc(sizeof(int32_t) * (size_t)(pb->ns + 1));
    uint8_t *todo = elmo_xmalloc((size_t)pb->ns + 1);
    for (int64_t t = 0; t < nt; t++) w[t] = (struct elmo_word){pb->toks[t], strlen(pb->toks[t])};
    elmo_dedup_group(pb->ns, w, pb->off, first);
    for (int i = 0; i < pb->ns; i++) {
        const struct elmo_dedup_entry *hit =
            first[i] == i ? elmo_dedup_find(d, w + pb->off[i], pb->lens[i]) : NULL;
        todo[i] = first[i] == i && !hit;
        if (hit) copy_hit(hit, pb, i, tags, score);
    }
    int rc = tag_new(r, d, pb, w, todo, tags, score);
    for (int i = 0; i < pb->ns && rc == 0; i++) {
        if (todo[i]) continue;
        const int64_t src = pb->off[first[i]], len = pb->lens[i];
        if (first[i] != i) {
            memcpy(tags + pb->off[i], tags + src, sizeof(int32_t) * (size_t)len);
            memcpy(score + pb->off[i], score + src, sizeof(float) * (size_t)len);
        }
        reused[0]++;
        reused[1] += len;
    }
    free(w);
    free(first);
    free(todo);
    return rc;
}

int elmo_tweet_block_tag(struct elmo_tagging *r, struct elmo_dedup *d, const char *blob,
                         size_t n, int n_tok, int32_t *tags, float *score, int64_t reused[2]) {
    struct parsed pb;
    int rc = parse_block(blob, n, n_tok, &pb);
    if (rc == 0 && d) rc = tag_dedup(r, d, &pb, tags, score, reused);
    else if (rc == 0) rc = elmo_tagging_tag(r, pb.ns, pb.lens, pb.toks, tags, score);
    parsed_free(&pb);
    return rc;
}

/*
 * lm_data.c: corpus of word-type ids, vocabulary, unigram baseline and window packing for
 * biLM pretraining (see lm_data.h).
 */
#include "model/lm_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/rng.h"
#include "model/status.h"

/* ------------------------------------------------------------------------------------------ */
/* corpus */

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int rehash(struct elmo_lm_corpus *c, uint32_t n_slots) {
    uint32_t *slot = elmo_calloc(n_slots, sizeof *slot, "the word-type table");
    if (!slot) return ELMO_ERR_NOMEM;
    for (int32_t t = 0; t < c->n_types; t++) {
        uint32_t i = hash_str(c->type[t]) & (n_slots - 1);
        while (slot[i]) i = (i + 1) & (n_slots - 1);
        slot[i] = (uint32_t)t + 1;
    }
    free(c->slot);
    c->slot = slot;
    c->n_slots = n_slots;
    return ELMO_OK;
}

/* The type id of s, added when new; -1 on allocation failure. */
static int32_t type_id(struct elmo_lm_corpus *c, const char *s) {
    uint32_t i = hash_str(s) & (c->n_slots - 1);
    while (c->slot[i]) {
        int32_t t = (int32_t)c->slot[i] - 1;
        if (!strcmp(c->type[t], s)) return t;
        i = (i + 1) & (c->n_slots - 1);
    }
    if (c->n_types == c->cap_types) {
        int32_t cap = c->cap_types ? 2 * c->cap_types : 1024;
        char **t = realloc(c->type, sizeof *t * (size_t)cap);
        if (!t) return elmo_error(ELMO_ERR_NOMEM, "out of memory for %d word types", cap), -1;
        c->type = t;
        c->cap_types = cap;
    }
    char *copy = elmo_malloc(strlen(s) + 1, "a word type");
    if (!copy) return -1;
    strcpy(copy, s);
    int32_t id = c->n_types++;
    c->type[id] = copy;
    c->slot[i] = (uint32_t)id + 1;
    if ((uint64_t)c->n_types * 2 >= c->n_slots && rehash(c, c->n_slots * 2) < 0) return -1;
    return id;
}

int elmo_lm_corpus_init(struct elmo_lm_corpus *c) {
    memset(c, 0, sizeof *c);
    int rc = ELMO_OK;
    c->sent_off = elmo_calloc(1, sizeof *c->sent_off, "the sentence table");
    if (!c->sent_off) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory for the sentence table");
    c->cap_sent = 0;
    ELMO_CALL(rehash(c, 4096));
    if (type_id(c, "<S>") != ELMO_LM_BOS || type_id(c, "</S>") != ELMO_LM_EOS)
        ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory for the word types");
    return ELMO_OK;
cleanup:
    elmo_lm_corpus_free(c);
    return rc;
}

void elmo_lm_corpus_free(struct elmo_lm_corpus *c) {
    for (int32_t t = 0; t < c->n_types; t++) free(c->type[t]);
    free(c->type);
    free(c->slot);
    free(c->sent_off);
    free(c->heldout);
    free(c->tok);
    memset(c, 0, sizeof *c);
}

int elmo_lm_corpus_add(struct elmo_lm_corpus *c, char *const *tok, int n, bool heldout) {
    if (c->n_sent + 1 >= c->cap_sent) {
        int64_t cap = c->cap_sent ? 2 * c->cap_sent : 4096;
        int64_t *off = realloc(c->sent_off, sizeof *off * (size_t)(cap + 1));
        if (!off)
            return elmo_error(ELMO_ERR_NOMEM, "out of memory for %lld sentences", (long long)cap);
        c->sent_off = off;
        uint8_t *h = realloc(c->heldout, (size_t)cap);
        if (!h)
            return elmo_error(ELMO_ERR_NOMEM, "out of memory for %lld sentences", (long long)cap);
        c->heldout = h;
        c->cap_sent = cap;
    }
    if (c->n_tok + n > c->cap_tok) {
        int64_t cap = c->cap_tok ? 2 * c->cap_tok : 65536;
        while (cap < c->n_tok + n) cap *= 2;
        int32_t *t = realloc(c->tok, sizeof *t * (size_t)cap);
        if (!t) return elmo_error(ELMO_ERR_NOMEM, "out of memory for %lld tokens", (long long)cap);
        c->tok = t;
        c->cap_tok = cap;
    }
    for (int i = 0; i < n; i++) {
        int32_t id = type_id(c, tok[i]);
        if (id < 0) return ELMO_ERR_NOMEM;
        c->tok[c->n_tok + i] = id;
    }
    c->n_tok += n;
    c->heldout[c->n_sent] = heldout ? 1 : 0;
    c->sent_off[++c->n_sent] = c->n_tok;
    return ELMO_OK;
}

void elmo_lm_corpus_count(const struct elmo_lm_corpus *c, bool heldout, int64_t *sentences,
                          int64_t *tokens) {
    int64_t s = 0, t = 0;
    for (int64_t i = 0; i < c->n_sent; i++)
        if ((c->heldout[i] != 0) == heldout) {
            s++;
            t += c->sent_off[i + 1] - c->sent_off[i];
        }
    *sentences = s;
    *tokens = t;
}

/* ------------------------------------------------------------------------------------------ */
/* vocabulary */

/* qsort context (C11 has no qsort_r): the corpus being sorted. */
static const struct elmo_lm_corpus *sort_corpus;
static const int64_t *sort_count;

static int by_count(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (sort_count[x] != sort_count[y]) return sort_count[x] > sort_count[y] ? -1 : 1;
    return strcmp(sort_corpus->type[x], sort_corpus->type[y]);
}

void elmo_lm_vocab_free(struct elmo_lm_vocab *v) {
    free(v->word_type);
    free(v->count);
    free(v->target);
    free(v->chars);
    memset(v, 0, sizeof *v);
}

int elmo_lm_vocab_build(const struct elmo_lm_corpus *c, int32_t max_V, struct elmo_lm_vocab *v) {
    memset(v, 0, sizeof *v);
    ELMO_CHECK(max_V >= 4, ELMO_ERR_ARG, "vocab_size %d: at least 4 (<S>, </S>, <UNK> and a word)",
               max_V);
    int rc = ELMO_OK;
    int64_t *tc = elmo_calloc((size_t)c->n_types, sizeof *tc, "the word counts");
    int32_t *order = elmo_malloc(sizeof *order * (size_t)c->n_types, "the word order");
    v->n_types = c->n_types;
    v->target = elmo_malloc(sizeof *v->target * (size_t)c->n_types, "the vocabulary");
    v->chars = elmo_malloc(sizeof *v->chars * (size_t)c->n_types * ELMO_MAXC, "the char ids");
    if (!tc || !order || !v->target || !v->chars) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory");

    int64_t n_train_sent = 0;
    for (int64_t i = 0; i < c->n_sent; i++) {
        if (c->heldout[i]) continue;
        n_train_sent++;
        for (int64_t k = c->sent_off[i]; k < c->sent_off[i + 1]; k++) tc[c->tok[k]]++;
    }
    int32_t n_words = 0;
    for (int32_t t = 2; t < c->n_types; t++)
        if (tc[t] > 0) order[n_words++] = t;
    sort_corpus = c;
    sort_count = tc;
    qsort(order, (size_t)n_words, sizeof *order, by_count);
    int32_t keep = n_words < max_V - 3 ? n_words : max_V - 3;
    v->V = keep + 3;
    v->word_type = elmo_malloc(sizeof *v->word_type * (size_t)v->V, "the vocabulary");
    v->count = elmo_calloc((size_t)v->V, sizeof *v->count, "the vocabulary counts");
    if (!v->word_type || !v->count) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory");
    v->word_type[ELMO_LM_BOS] = ELMO_LM_BOS;
    v->word_type[ELMO_LM_EOS] = ELMO_LM_EOS;
    v->word_type[ELMO_LM_UNK] = -1;
    for (int32_t t = 0; t < c->n_types; t++) v->target[t] = ELMO_LM_UNK;
    v->target[ELMO_LM_BOS] = ELMO_LM_BOS;
    v->target[ELMO_LM_EOS] = ELMO_LM_EOS;
    for (int32_t k = 0; k < keep; k++) {
        v->word_type[3 + k] = order[k];
        v->target[order[k]] = 3 + k;
    }
    /* counts as forward targets: the words, and </S> once per sentence */
    for (int32_t t = 0; t < c->n_types; t++) {
        if (t == ELMO_LM_BOS || t == ELMO_LM_EOS) continue;
        v->count[v->target[t]] += tc[t];
        v->n_train_words += tc[t];
        if (v->target[t] == ELMO_LM_UNK) v->n_oov += tc[t];
    }
    /* literal <S> / </S> tokens inside sentences count as words of their own id */
    v->count[ELMO_LM_BOS] += tc[ELMO_LM_BOS];
    v->count[ELMO_LM_EOS] += tc[ELMO_LM_EOS] + n_train_sent;
    v->n_train_words += tc[ELMO_LM_BOS] + tc[ELMO_LM_EOS];
    for (int32_t t = 0; t < c->n_types; t++)
        elmo_char_ids(c->type[t], strlen(c->type[t]), v->chars + (size_t)t * ELMO_MAXC);
cleanup:
    free(tc);
    free(order);
    if (rc < 0) elmo_lm_vocab_free(v);
    return rc;
}

double elmo_lm_unigram_ppl(const struct elmo_lm_corpus *c, const struct elmo_lm_vocab *v,
                           int64_t *n_targets) {
    double N = 0;
    for (int32_t k = 0; k < v->V; k++) N += (double)v->count[k];
    double denom = N + v->V, nll = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < c->n_sent; i++) {
        if (!c->heldout[i]) continue;
        for (int64_t k = c->sent_off[i]; k <= c->sent_off[i + 1]; k++) {
            int32_t id = k < c->sent_off[i + 1] ? v->target[c->tok[k]] : ELMO_LM_EOS;
            nll -= log(((double)v->count[id] + 1.0) / denom);
            n++;
        }
    }
    if (n_targets) *n_targets = n;
    return n ? exp(nll / (double)n) : NAN;
}

/* ------------------------------------------------------------------------------------------ */
/* streams */

void elmo_lm_streams_free(struct elmo_lm_streams *s) {
    free(s->len);
    for (int d = 0; d < 2; d++) {
        free(s->in[d]);
        free(s->tgt[d]);
    }
    memset(s, 0, sizeof *s);
}

int elmo_lm_streams_build(const struct elmo_lm_corpus *c, const struct elmo_lm_vocab *v,
                          bool heldout, bool shuffle, uint64_t seed, int32_t B, int32_t T,
                          int32_t row0, int32_t rows, struct elmo_lm_streams *s) {
    memset(s, 0, sizeof *s);
    ELMO_CHECK(B >= 1 && T >= 1 && row0 >= 0 && rows >= 0 && row0 + rows <= B, ELMO_ERR_ARG,
               "streams: rows [%d, %d) of %d, window %d", row0, row0 + rows, B, T);
    int rc = ELMO_OK;
    int64_t n = 0;
    for (int64_t i = 0; i < c->n_sent; i++) n += (c->heldout[i] != 0) == heldout;
    int64_t *sent = elmo_malloc(sizeof *sent * (size_t)(n ? n : 1), "the sentence order");
    int32_t *row_of = elmo_malloc(sizeof *row_of * (size_t)(n ? n : 1), "the sentence rows");
    int64_t *fill = NULL;
    s->B = B, s->T = T, s->row0 = row0, s->rows = rows;
    s->len = elmo_calloc((size_t)B, sizeof *s->len, "the stream lengths");
    if (!sent || !row_of || !s->len) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory");
    n = 0;
    for (int64_t i = 0; i < c->n_sent; i++)
        if ((c->heldout[i] != 0) == heldout) sent[n++] = i;
    if (shuffle) {
        struct elmo_rng r;
        elmo_rng_seed(&r, seed);
        elmo_rng_shuffle(&r, sent, (size_t)n, sizeof *sent);
    }
    /* each sentence to the shortest row (a binary heap would do for huge B; B is small) */
    for (int64_t i = 0; i < n; i++) {
        int32_t best = 0;
        for (int32_t r = 1; r < B; r++)
            if (s->len[r] < s->len[best]) best = r;
        row_of[i] = best;
        s->len[best] += c->sent_off[sent[i] + 1] - c->sent_off[sent[i]] + 1;
    }
    int64_t longest = 0;
    for (int32_t r = 0; r < B; r++) {
        s->total += s->len[r];
        if (s->len[r] > longest) longest = s->len[r];
    }
    s->steps = (longest + T - 1) / T;
    size_t per_row = (size_t)(s->steps * T);
    size_t cells = per_row * (size_t)rows;
    for (int d = 0; d < 2; d++) {
        s->in[d] = elmo_malloc(sizeof(int32_t) * (cells ? cells : 1), "the stream inputs");
        s->tgt[d] = elmo_malloc(sizeof(int32_t) * (cells ? cells : 1), "the stream targets");
        if (!s->in[d] || !s->tgt[d]) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory");
        for (size_t k = 0; k < cells; k++) {
            s->in[d][k] = d == 0 ? ELMO_LM_BOS : ELMO_LM_EOS;
            s->tgt[d][k] = -1;
        }
    }
    fill = elmo_calloc((size_t)(rows ? rows : 1), sizeof *fill, "the stream fill");
    if (!fill) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        int32_t r = row_of[i] - row0;
        if (r < 0 || r >= rows) continue;
        const int32_t *w = c->tok + c->sent_off[sent[i]];
        int64_t len = c->sent_off[sent[i] + 1] - c->sent_off[sent[i]];
        size_t base = (size_t)r * per_row + (size_t)fill[r];
        int32_t *fi = s->in[0] + base, *ft = s->tgt[0] + base;
        int32_t *bi = s->in[1] + base, *bt = s->tgt[1] + base;
        /* forward: <S> w1 .. wn -> w1 .. wn </S>; backward: </S> wn .. w1 -> wn .. w1 <S> */
        fi[0] = ELMO_LM_BOS;
        bi[0] = ELMO_LM_EOS;
        for (int64_t k = 0; k < len; k++) {
            fi[k + 1] = w[k];
            ft[k] = v->target[w[k]];
            bi[k + 1] = w[len - 1 - k];
            bt[k] = v->target[w[len - 1 - k]];
        }
        ft[len] = ELMO_LM_EOS;
        bt[len] = ELMO_LM_BOS;
        fill[r] += len + 1;
    }
cleanup:
    free(sent);
    free(row_of);
    free(fill);
    if (rc < 0) elmo_lm_streams_free(s);
    return rc;
}

int64_t elmo_lm_streams_valid(const struct elmo_lm_streams *s, int64_t step) {
    int64_t n = 0, start = step * s->T;
    for (int32_t r = 0; r < s->B; r++) {
        int64_t k = s->len[r] - start;
        n += k <= 0 ? 0 : k >= s->T ? s->T : k;
    }
    return n;
}

void elmo_lm_streams_window(const struct elmo_lm_streams *s, int64_t step, int32_t *const in[2],
                            int32_t *const tgt[2]) {
    const int T = s->T, B = s->rows;
    size_t per_row = (size_t)(s->steps * T);
    for (int d = 0; d < 2; d++)
        for (int b = 0; b < B; b++) {
            const int32_t *si = s->in[d] + (size_t)b * per_row + (size_t)(step * T);
            const int32_t *st = s->tgt[d] + (size_t)b * per_row + (size_t)(step * T);
            for (int t = 0; t < T; t++) {
                in[d][t * B + b] = si[t];
                tgt[d][t * B + b] = st[t];
            }
        }
}

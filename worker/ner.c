/*
 * ner.c: tagger features and tagging of tokenized sentences on one rank (see ner.h).
 */
#include "worker/ner.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "io/ner_data.h"
#include "model/status.h"

#define NER_MAX_ROWS 256

void elmo_ner_feat_free(struct elmo_ner_feat *f) {
    elmo_forward_free(&f->fwd);
    memset(f, 0, sizeof *f);
}

int elmo_ner_feat_init(struct elmo_ner_feat *f, const struct elmo_model *m,
                       const struct elmo_glove *glove, bool mask_urls_users, int batch_tokens,
                       int max_len) {
    memset(f, 0, sizeof *f);
    ELMO_CHECK((m != NULL) != (glove != NULL), ELMO_ERR_ARG,
               "NER features: give an ELMo model or GloVe vectors");
    f->m = m;
    f->glove = glove;
    f->mask_urls_users = mask_urls_users;
    if (glove) {
        f->K = 1;
        f->D = glove->dim;
        return 0;
    }
    f->K = m->opt.L + 1;
    f->D = 2 * m->opt.P;
    const struct elmo_forward_opts fo = {
        .max_rows = NER_MAX_ROWS, .batch_tokens = batch_tokens, .max_len = max_len};
    int rc = elmo_forward_init(&f->fwd, m, &fo);
    if (rc < 0) memset(f, 0, sizeof *f);
    if (rc == ELMO_ERR_NOMEM) return elmo_error(rc, "NER features: out of memory");
    return rc;
}

/* GloVe features: the word's vector, zeros for an unknown word. */
static void glove_features(struct elmo_ner_feat *f, int64_t n_tok, const char *const *tok,
                           float *feat) {
    for (int64_t r = 0; r < n_tok; r++) {
        const char *t = elmo_ner_feature_token(tok[r], f->mask_urls_users);
        const float *v = elmo_glove_lookup(f->glove, t);
        float *dst = feat + (size_t)r * f->D;
        if (v) memcpy(dst, v, sizeof(float) * (size_t)f->D);
        else memset(dst, 0, sizeof(float) * (size_t)f->D);
    }
}

/* ELMo features of B sentences whose tokens start at tok: the L + 1 layers into feat. */
static void elmo_batch(struct elmo_ner_feat *f, int B, const int32_t *len, const char *const *tok,
                       float *feat) {
    struct elmo_forward *fw = &f->fwd;
    int n = 0;
    for (int s = 0; s < B; s++) n += len[s];
    for (int i = 0; i < n; i++) {
        const char *t = elmo_ner_feature_token(tok[i], f->mask_urls_users);
        fw->words[i].s = t;
        fw->words[i].len = strlen(t);
    }
    elmo_forward_run(fw, B, len, fw->words, NULL);
    for (int s = 0, r0 = 0; s < B; r0 += len[s], s++) {
        elmo_forward_select(fw, r0, len[s]);
        elmo_forward_layers(fw, feat + (size_t)r0 * f->K * f->D);
    }
}

int elmo_ner_feat_compute(struct elmo_ner_feat *f, int n, const int32_t *len,
                          const char *const *tok, float *feat) {
    if (f->glove) {
        int64_t n_tok = 0;
        for (int s = 0; s < n; s++) n_tok += len[s];
        glove_features(f, n_tok, tok, feat);
        return 0;
    }
    for (int s = 0; s < n; s++)
        ELMO_CHECK(len[s] >= 1 && len[s] + 2 <= f->fwd.budget, ELMO_ERR_ARG,
                   "NER features: sentence of %d tokens (1..%d)", (int)len[s], f->fwd.budget - 2);
    int64_t t0 = 0;
    for (int s0 = 0, s1; s0 < n; s0 = s1) {
        s1 = elmo_forward_next_batch(&f->fwd, n, len, s0);
        int64_t ntok = 0;
        for (int s = s0; s < s1; s++) ntok += len[s];
        elmo_batch(f, s1 - s0, len + s0, tok + t0, feat + (size_t)t0 * f->K * f->D);
        t0 += ntok;
    }
    return 0;
}

int elmo_ner_tag(const struct elmo_tagger *t, struct elmo_tagger_ws *ws, int n, const int32_t *len,
                 const float *feat, const float *extra, int32_t *tags, float *score, float *prob) {
    const int K = t->cfg.K, D = t->cfg.D, E = t->cfg.E, V = t->cfg.n_tags, G = 32, BUDGET = 2048;
    const float *fp[32], *xp[32];
    int64_t r0 = 0;
    for (int s0 = 0, B; s0 < n; s0 += B) {
        /* groups of at most 32 sentences and 2048 tokens (one sentence at least) */
        int64_t r = r0;
        for (B = 0; s0 + B < n && B < G && (B == 0 || r - r0 + len[s0 + B] <= BUDGET); B++) {
            fp[B] = feat + (size_t)r * K * D;
            xp[B] = E > 0 ? extra + (size_t)r * E : NULL;
            r += len[s0 + B];
        }
        struct elmo_tagger_batch batch = {B, len + s0, fp, NULL, NULL, E > 0 ? xp : NULL};
        ELMO_TRY(elmo_tagger_forward(t, ws, &batch, NULL));
        for (int64_t i = 0; i < r - r0; i++) {
            const float *p = ws->prob + (size_t)i * V;
            int best = ws->path[i];
            tags[r0 + i] = best;
            if (score) score[r0 + i] = p[best];
            if (prob) memcpy(prob + (size_t)(r0 + i) * V, p, sizeof(float) * V);
        }
        r0 = r;
    }
    return 0;
}

void elmo_ner_extras_init(struct elmo_ner_extras *x, const struct elmo_glove *glove, bool ortho,
                          bool mask_urls_users) {
    x->glove = glove;
    x->ortho = ortho;
    x->mask_urls_users = mask_urls_users;
    x->E = (glove ? glove->dim : 0) + (ortho ? ELMO_NER_ORTHO : 0);
}

/* The orthographic flags of a raw token (ELMO_NER_ORTHO floats, 0 or 1). */
static void ortho_flags(const char *t, float *f) {
    int letters = 0, upper = 0, inner_upper = 0, digits = 0;
    for (const char *p = t; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalpha(c)) {
            letters++;
            if (isupper(c)) {
                upper++;
                if (p > t) inner_upper = 1;
            }
        }
        digits += isdigit(c) != 0;
    }
    f[0] = isupper((unsigned char)t[0]) ? 1.0f : 0.0f;
    f[1] = letters >= 2 && upper == letters ? 1.0f : 0.0f;
    f[2] = inner_upper && upper < letters ? 1.0f : 0.0f;
    f[3] = letters >= 1 && upper == 0 ? 1.0f : 0.0f;
    f[4] = t[0] == '#' && t[1] ? 1.0f : 0.0f;
    f[5] = t[0] == '@' && t[1] ? 1.0f : 0.0f;
    f[6] = !strncmp(t, "http://", 7) || !strncmp(t, "https://", 8) || !strncmp(t, "www.", 4)
               ? 1.0f
               : 0.0f;
    f[7] = digits > 0 ? 1.0f : 0.0f;
    f[8] = letters == 0 && digits == 0 ? 1.0f : 0.0f;
}

void elmo_ner_extras_compute(const struct elmo_ner_extras *x, int64_t n, const char *const *tok,
                             float *out) {
    const int G = x->glove ? x->glove->dim : 0;
    for (int64_t i = 0; i < n; i++) {
        float *o = out + (size_t)i * x->E;
        if (x->glove) {
            const char *t = elmo_ner_feature_token(tok[i], x->mask_urls_users);
            const float *v = elmo_glove_lookup(x->glove, t);
            if (!v && (t[0] == '#' || t[0] == '@') && t[1]) v = elmo_glove_lookup(x->glove, t + 1);
            if (v) memcpy(o, v, sizeof(float) * (size_t)G);
            else memset(o, 0, sizeof(float) * (size_t)G);
        }
        if (x->ortho) ortho_flags(tok[i], o + G);
    }
}

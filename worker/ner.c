/*
 * ner.c: tagger features and tagging of tokenized sentences on one rank (see ner.h).
 */
#include "worker/ner.h"

#include <stdlib.h>
#include <string.h>

#include "io/ner_data.h"
#include "model/status.h"

#define NER_MAX_ROWS 256

void elmo_ner_feat_free(struct elmo_ner_feat *f) {
    elmo_bilm_ws_free(&f->ws);
    free(f->ids);
    free(f->tok);
    for (int l = 0; l < ELMO_MAX_LAYERS; l++) free(f->lay[l]);
    memset(f, 0, sizeof *f);
}

int elmo_ner_feat_init(struct elmo_ner_feat *f, const struct elmo_model *m,
                       const struct elmo_glove *glove, bool mask_urls_users, int batch_tokens,
                       int max_len) {
    int rc = 0;
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
    const int P = m->opt.P, L = m->opt.L;
    f->K = L + 1;
    f->D = 2 * P;
    f->budget = batch_tokens > max_len + 2 ? batch_tokens : max_len + 2;
    f->max_rows = NER_MAX_ROWS;
    int max_words = f->budget < 1024 ? f->budget : 1024;
    ELMO_CALL(elmo_bilm_ws_init(&f->ws, m, f->max_rows, f->budget, max_words));
    f->ids = elmo_malloc(sizeof(int32_t) * (size_t)f->budget * ELMO_MAXC, "char ids");
    f->tok = elmo_aligned_alloc(sizeof(float) * (size_t)f->budget * P, "token vectors");
    if (!f->ids || !f->tok) ELMO_FAIL(ELMO_ERR_NOMEM, "NER features: out of memory");
    for (int l = 0; l < L; l++) {
        f->lay[l] = elmo_aligned_alloc(sizeof(float) * (size_t)f->budget * 2 * P, "layers");
        if (!f->lay[l]) ELMO_FAIL(ELMO_ERR_NOMEM, "NER features: out of memory");
    }
cleanup:
    if (rc < 0) elmo_ner_feat_free(f);
    return rc;
}

/* ELMo features of sentences [s0, s1) whose tokens start at tok; rows into feat. */
static void elmo_batch(struct elmo_ner_feat *f, int B, const int32_t *len, const char *const *tok,
                       float *feat) {
    const struct elmo_model *m = f->m;
    const int P = m->opt.P, L = m->opt.L, W = 2 * P, K = f->K;
    int n = 0;
    for (int s = 0; s < B; s++) n += len[s];
    for (int i = 0; i < n; i++) {
        const char *t = elmo_ner_feature_token(tok[i], f->mask_urls_users);
        elmo_char_ids(t, strlen(t), f->ids + (size_t)i * ELMO_MAXC);
    }
    elmo_token_embed(m, &f->ws, n, f->ids, f->tok);
    elmo_bilm_forward(m, &f->ws, B, len, f->tok, NULL, f->lay);
    for (int i = 0; i < n; i++) {
        float *row = feat + (size_t)i * K * W;
        memcpy(row, f->tok + (size_t)i * P, sizeof(float) * P);
        memcpy(row + P, f->tok + (size_t)i * P, sizeof(float) * P);
        for (int l = 0; l < L; l++)
            memcpy(row + (size_t)(l + 1) * W, f->lay[l] + (size_t)i * W, sizeof(float) * W);
    }
}

int elmo_ner_feat_compute(struct elmo_ner_feat *f, int n, const int32_t *len,
                          const char *const *tok, float *feat) {
    if (f->glove) {
        int64_t r = 0;
        for (int s = 0; s < n; s++)
            for (int i = 0; i < len[s]; i++, r++) {
                const char *t = elmo_ner_feature_token(tok[r], f->mask_urls_users);
                const float *v = elmo_glove_lookup(f->glove, t);
                float *dst = feat + (size_t)r * f->D;
                if (v) memcpy(dst, v, sizeof(float) * (size_t)f->D);
                else memset(dst, 0, sizeof(float) * (size_t)f->D);
            }
        return 0;
    }
    int s0 = 0;
    int64_t t0 = 0;
    while (s0 < n) {
        int s1 = s0, used = 0;
        int64_t ntok = 0;
        while (s1 < n && s1 - s0 < f->max_rows) {
            ELMO_CHECK(len[s1] >= 1 && len[s1] + 2 <= f->budget, ELMO_ERR_ARG,
                       "NER features: sentence of %d tokens (1..%d)", (int)len[s1], f->budget - 2);
            if (s1 > s0 && used + len[s1] + 2 > f->budget) break;
            used += len[s1] + 2;
            ntok += len[s1];
            s1++;
        }
        elmo_batch(f, s1 - s0, len + s0, tok + t0, feat + (size_t)t0 * f->K * f->D);
        t0 += ntok;
        s0 = s1;
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

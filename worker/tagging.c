/*
 * tagging.c: a trained tagger with its features, tagging sentences on one rank (see tagging.h).
 */
#include "worker/tagging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/hash_cache.h"
#include "io/sha256.h"
#include "io/weights.h"
#include "model/status.h"

/* What the tagger's features take: GloVe rather than the mix, rows stored in the file, GloVe
 * after the mix. */
static bool uses_glove(const struct elmo_tagging *r) { return !strcmp(r->meta.features, "glove"); }
static bool stores_glove(const struct elmo_tagging *r) { return r->meta.glove.n > 0; }
static bool extra_glove(const struct elmo_tagging *r) {
    return !strcmp(r->meta.features, "elmo+glove");
}

/* The file of the vectors the features read: the GloVe table, or the biLM's weights. */
static const char *vectors_path(const struct elmo_tagging *r, const struct elmo_job *job) {
    if (uses_glove(r)) return job->glove[0] ? job->glove : r->meta.glove_path;
    return r->weights;
}

/*
 * The biLM of an ELMo tagger: the job's --options/--weights (--model) when given, else the files
 * the tagger names relative to its own directory.  0, or ELMO_ERR_ARG saying what to give.
 */
static int resolve_bilm(struct elmo_tagging *r, const struct elmo_job *job) {
    if (job->options[0] && job->weights[0]) {
        snprintf(r->options, sizeof r->options, "%s", job->options);
        snprintf(r->weights, sizeof r->weights, "%s", job->weights);
        return 0;
    }
    if (!r->meta.bilm_options[0] || !r->meta.bilm_weights[0])
        return elmo_error(ELMO_ERR_ARG,
                          "%s is an ELMo tagger that does not name its biLM: give the biLM it was "
                          "trained on (--options FILE --weights FILE, or --model DIR)",
                          job->tagger);
    char dir[ELMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", job->tagger);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    if (snprintf(r->options, sizeof r->options, "%s/%s", dir, r->meta.bilm_options) >=
            (int)sizeof r->options ||
        snprintf(r->weights, sizeof r->weights, "%s/%s", dir, r->meta.bilm_weights) >=
            (int)sizeof r->weights)
        return elmo_error(ELMO_ERR_ARG, "%s: the path of its biLM is too long", job->tagger);
    return 0;
}

int elmo_tagging_load(struct elmo_tagging *r, const struct elmo_job *job) {
    memset(r, 0, sizeof *r);
    ELMO_TRY(elmo_tagger_load(job->tagger, &r->t, &r->meta));
    if (extra_glove(r) && !stores_glove(r))
        return elmo_error(ELMO_ERR_FORMAT,
                          "%s: features elmo+glove, but the file holds no GloVe rows", job->tagger);
    return uses_glove(r) ? 0 : resolve_bilm(r, job);
}

/* The options file of the biLM must be the one the tagger recorded, when it recorded one. */
static int verify_options(const struct elmo_tagging *r, const struct elmo_job *job) {
    char osha[65] = "";
    if (!r->meta.options_sha256[0]) return 0;
    ELMO_TRY(elmo_file_sha256_cached(r->options, osha));
    if (strcmp(osha, r->meta.options_sha256) != 0)
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s was trained with a biLM whose options file has sha256 %s, "
                          "but %s has sha256 %s",
                          job->tagger, r->meta.options_sha256, r->options, osha);
    return 0;
}

int elmo_tagging_verify(const struct elmo_tagging *r, const struct elmo_job *job) {
    const bool glove = uses_glove(r);
    if (glove && stores_glove(r)) return 0; /* the rows are in the tagger file */
    const char *vec_path = vectors_path(r, job);
    const char *want = glove ? r->meta.glove_sha256 : r->meta.weights_sha256;
    char sha[65] = "";
    ELMO_TRY(elmo_file_sha256_cached(vec_path, sha));
    if (!want[0])
        return elmo_error(ELMO_ERR_FORMAT,
                          "%s records no sha256 of the %s vectors it was trained on, so it "
                          "cannot tell a wrong biLM from the right one; retrain it",
                          job->tagger, glove ? "GloVe" : "ELMo");
    if (strcmp(sha, want) != 0)
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s was trained with %s vectors of sha256 %s, but %s has sha256 %s",
                          job->tagger, glove ? "GloVe" : "ELMo", want, vec_path, sha);
    if (glove) return 0;
    ELMO_TRY(verify_options(r, job));
    fprintf(stderr, "%s: biLM %s + %s (sha256 %.12s)%s\n", elmo_job_kind_name(job->kind),
            r->options, r->weights, sha, job->weights[0] ? "" : ", named by the tagger");
    return 0;
}

bool elmo_tagging_needs_bilm(const struct elmo_tagging *r) { return !uses_glove(r); }

/* The vectors' width and layer count must be the tagger's. */
static int check_shapes(const struct elmo_tagging *r, const struct elmo_job *job,
                        const struct elmo_glove *gv) {
    const bool glove = uses_glove(r);
    if (!glove && r->m.opt.L + 1 != r->t.cfg.K)
        return elmo_error(ELMO_ERR_SHAPE, "%s mixes %d layers; the biLM %s has %d", job->tagger,
                          r->t.cfg.K, r->weights, r->m.opt.L + 1);
    if ((glove ? gv->dim : 2 * r->m.opt.P) != r->t.cfg.D)
        return elmo_error(ELMO_ERR_SHAPE, "%s takes %d-wide features; %s gives %d", job->tagger,
                          r->t.cfg.D,
                          glove && stores_glove(r) ? "its GloVe rows" : vectors_path(r, job),
                          glove ? gv->dim : 2 * r->m.opt.P);
    return 0;
}

int elmo_tagging_prepare(struct elmo_tagging *r, const struct elmo_job *job, int max_len) {
    const bool glove = uses_glove(r), stored = stores_glove(r);
    const struct elmo_glove *gv = stored ? &r->meta.glove : &r->glove;
    if (glove && !stored) ELMO_TRY(elmo_glove_load(vectors_path(r, job), &r->glove));
    else if (!glove && !r->m.block) ELMO_TRY(elmo_model_load(r->options, r->weights, &r->m));
    ELMO_TRY(check_shapes(r, job, gv));
    elmo_ner_extras_init(&r->extras, extra_glove(r) ? gv : NULL, r->meta.ortho,
                         r->meta.mask_urls_users);
    if (r->extras.E != r->t.cfg.E)
        return elmo_error(ELMO_ERR_FORMAT, "%s takes %d extra inputs; its features give %d",
                          job->tagger, r->t.cfg.E, r->extras.E);
    ELMO_TRY(elmo_ner_feat_init(&r->feat, glove ? NULL : &r->m, glove ? gv : NULL,
                                r->meta.mask_urls_users, job->batch_tokens, max_len));
    return elmo_tagger_ws_reserve(&r->ws, &r->t.cfg, 2048, 32, (size_t)max_len);
}

int elmo_tagging_tag(struct elmo_tagging *r, int n, const int32_t *len, const char *const *tok,
                     int32_t *tags, float *score) {
    const size_t KD = (size_t)r->t.cfg.K * (size_t)r->t.cfg.D, E = (size_t)r->t.cfg.E;
    size_t nt = 0;
    for (int s = 0; s < n; s++) nt += (size_t)len[s];
    if (nt > r->cap_tok) {
        free(r->fbuf), free(r->xbuf);
        r->cap_tok = 0;
        r->fbuf = elmo_malloc(sizeof(float) * nt * KD, "tagger features");
        r->xbuf = elmo_malloc(sizeof(float) * (nt * E + 1), "tagger extra inputs");
        if (!r->fbuf || !r->xbuf) return ELMO_ERR_NOMEM;
        r->cap_tok = nt;
    }
    if (n == 0) return 0;
    ELMO_TRY(elmo_ner_feat_compute(&r->feat, n, len, tok, r->fbuf));
    if (E > 0) elmo_ner_extras_compute(&r->extras, (int64_t)nt, tok, r->xbuf);
    return elmo_ner_tag(&r->t, &r->ws, n, len, r->fbuf, E > 0 ? r->xbuf : NULL, tags, score, NULL);
}

void elmo_tagging_close(struct elmo_tagging *r) {
    free(r->fbuf);
    free(r->xbuf);
    r->fbuf = r->xbuf = NULL;
    r->cap_tok = 0;
    elmo_ner_feat_free(&r->feat);
    elmo_tagger_ws_free(&r->ws);
    elmo_glove_free(&r->glove);
    elmo_model_free(&r->m);
    elmo_tagger_free(&r->t);
    elmo_tagger_meta_free(&r->meta);
}

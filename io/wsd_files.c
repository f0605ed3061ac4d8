/*
 * wsd_files.c: the word-sense picture's data and files (see wsd_files.h): the set of kept
 * sentences, the sense-labels file, reading occurrences from an embedding store, and writing
 * the SVG figures and wsd.json.
 */
#include "io/wsd_files.h"

#include <errno.h>
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/corpus.h"
#include "io/h5util.h"
#include "io/job.h"
#include "io/store.h"
#include "io/svg.h"
#include "model/bilm.h"
#include "model/grow.h"
#include "model/status.h"

/* ================================== The set ================================== */

void elmo_wsd_set_free(struct elmo_wsd_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_sent; i++) free(s->sent_text[i]);
    for (int i = 0; i < s->n_rows; i++) free(s->tok[i]);
    for (int i = 0; i < s->n_senses; i++) free(s->sense[i]);
    free(s->sent_text);
    free(s->sent_src);
    free(s->sent_row);
    free(s->tok);
    free(s->occ_row);
    free(s->occ_sent);
    free(s->occ_sense);
    free(s->sense);
    for (int b = 0; b < ELMO_WSD_OUTPUTS; b++) free(s->X[b]);
    memset(s, 0, sizeof *s);
}

static int sense_index(struct elmo_wsd_set *s, const char *sense) {
    if (!sense || !sense[0]) return -1;
    for (int i = 0; i < s->n_senses; i++)
        if (!strcmp(s->sense[i], sense)) return i;
    char **q = realloc(s->sense, sizeof(char *) * (size_t)(s->n_senses + 1));
    if (!q) return elmo_error(ELMO_ERR_NOMEM, "wsd: out of memory");
    s->sense = q;
    s->sense[s->n_senses] = elmo_xstrdup(sense);
    return s->n_senses++;
}

int elmo_wsd_set_add(struct elmo_wsd_set *s, const char *text, int64_t src, int n,
                     const char *const *tok, int nocc, const int *occ, const char *sense) {
    /* The arrays of a kind share one capacity: grow them all to the same size. */
    size_t need = (size_t)s->n_sent + 2, c = s->sent_cap;
    ELMO_TRY(elmo_grow((void **)&s->sent_text, &c, need, sizeof(char *)));
    c = s->sent_cap;
    ELMO_TRY(elmo_grow((void **)&s->sent_src, &c, need, sizeof(int64_t)));
    c = s->sent_cap;
    ELMO_TRY(elmo_grow((void **)&s->sent_row, &c, need, sizeof(int)));
    s->sent_cap = c;
    c = s->row_cap;
    ELMO_TRY(elmo_grow((void **)&s->tok, &c, (size_t)s->n_rows + (size_t)n, sizeof(char *)));
    s->row_cap = c;
    need = (size_t)s->n_occ + (size_t)nocc, c = s->occ_cap;
    ELMO_TRY(elmo_grow((void **)&s->occ_row, &c, need, sizeof(int)));
    c = s->occ_cap;
    ELMO_TRY(elmo_grow((void **)&s->occ_sent, &c, need, sizeof(int)));
    c = s->occ_cap;
    ELMO_TRY(elmo_grow((void **)&s->occ_sense, &c, need, sizeof(int)));
    s->occ_cap = c;
    int si = sense_index(s, sense);
    if (si < -1) return si;
    if (s->n_sent == 0) s->sent_row[0] = 0;
    s->sent_text[s->n_sent] = elmo_xstrdup(text ? text : "");
    s->sent_src[s->n_sent] = src;
    for (int i = 0; i < nocc; i++) {
        s->occ_row[s->n_occ] = s->n_rows + occ[i];
        s->occ_sent[s->n_occ] = s->n_sent;
        s->occ_sense[s->n_occ] = si;
        s->n_occ++;
    }
    for (int i = 0; i < n; i++) s->tok[s->n_rows++] = elmo_xstrdup(tok[i]);
    s->n_sent++;
    s->sent_row[s->n_sent] = s->n_rows;
    return 0;
}

int elmo_wsd_set_alloc(struct elmo_wsd_set *s, unsigned outputs, int P) {
    s->outputs = outputs & 0xfu;
    for (int b = 0; b < ELMO_WSD_OUTPUTS; b++) {
        free(s->X[b]);
        s->X[b] = NULL;
        s->dim[b] = 0;
        if (!(s->outputs & (1u << b))) continue;
        s->dim[b] = elmo_output_width((unsigned)b, P);
        s->X[b] = elmo_calloc((size_t)(s->n_rows > 0 ? s->n_rows : 1) * s->dim[b], sizeof(float),
                              "wsd: vectors");
        if (!s->X[b]) return ELMO_ERR_NOMEM;
    }
    return 0;
}

int64_t elmo_wsd_pick(int64_t j, int64_t n_found, int64_t take) {
    /* j * n_found may exceed int64 only for absurd counts; long double keeps it exact enough. */
    return (int64_t)((long double)j * (long double)n_found / (long double)take);
}

/* =============================== Sense labels =============================== */

void elmo_wsd_free_labels(char **labels, int64_t n) {
    for (int64_t i = 0; labels && i < n; i++) free(labels[i]);
    free(labels);
}

int elmo_wsd_read_labels(const char *path, char ***labels, int64_t *n) {
    *labels = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t count = 0, lcap = 0;
    char **out = NULL;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *p = line, *e = line + len;
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) e--;
        if (!elmo_utf8_valid(p, (size_t)(e - p)))
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s:%lld: the label is not valid UTF-8", path,
                      (long long)count + 1);
        if (memchr(p, '\0', (size_t)(e - p)))
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s:%lld: the label holds a NUL byte", path,
                      (long long)count + 1);
        if (count == lcap) {
            lcap = lcap ? lcap * 2 : 64;
            char **q = realloc(out, sizeof(char *) * (size_t)lcap);
            if (!q) ELMO_FAIL(ELMO_ERR_NOMEM, "%s: out of memory", path);
            out = q;
        }
        out[count] = NULL;
        if (e > p) {
            out[count] = elmo_xmalloc((size_t)(e - p) + 1);
            memcpy(out[count], p, (size_t)(e - p));
            out[count][e - p] = '\0';
        }
        count++;
    }
    if (ferror(f)) ELMO_FAIL(ELMO_ERR_IO, "%s: read failed: %s", path, strerror(errno));
cleanup:
    free(line);
    fclose(f);
    if (rc < 0) {
        elmo_wsd_free_labels(out, count);
        return rc;
    }
    *labels = out ? out : elmo_xcalloc(1, sizeof(char *)); /* non-NULL even when empty */
    *n = count;
    return 0;
}

/* ============================= From an embedding store ============================= */

/* The store's `elmo` mix settings (defaults when the attributes are absent). */
static int store_mix(const char *path, float w[3], int *nw, float *gamma, int *layer_norm) {
    *nw = 0, *gamma = 1.0f, *layer_norm = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return elmo_error(ELMO_ERR_HDF5, "%s: cannot open to read the mix attributes", path);
    int rc = 0;
    hid_t a = -1;
    int got = elmo_h5_attr_open(f, "elmo_weights", &a, NULL, NULL);
    if (got != 0) {
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (np == 3 && H5Aread(a, H5T_NATIVE_FLOAT, w) >= 0) *nw = 3;
        else if (np < 0) rc = elmo_error(ELMO_ERR_HDF5, "%s: attribute elmo_weights", path);
        if (sp >= 0) H5Sclose(sp);
        if (a >= 0) H5Aclose(a);
    }
    if (rc == 0 && elmo_h5_attr_read(f, "elmo_gamma", H5T_NATIVE_FLOAT, gamma, NULL, NULL) < 0)
        rc = elmo_error(ELMO_ERR_HDF5, "%s: attribute elmo_gamma", path);
    if (rc == 0 &&
        elmo_h5_attr_read(f, "elmo_layer_norm", H5T_NATIVE_INT, layer_norm, NULL, NULL) < 0)
        rc = elmo_error(ELMO_ERR_HDF5, "%s: attribute elmo_layer_norm", path);
    H5Fclose(f);
    return rc;
}

/* Reads bytes [a, b) of a blob dataset into an owned NUL-terminated string. */
static int read_blob(struct elmo_store *st, const char *name, int64_t a, int64_t b, char **out) {
    *out = elmo_malloc((size_t)(b - a) + 1, "wsd: text");
    if (!*out) return ELMO_ERR_NOMEM;
    int rc = b > a ? elmo_store_read_u8(st, name, a, b - a, (uint8_t *)*out) : 0;
    (*out)[b - a] = '\0';
    if (rc < 0) free(*out), *out = NULL;
    return rc;
}

/* Where each wsd output of a store comes from. */
struct sources {
    bool direct[ELMO_WSD_OUTPUTS];      /* read from dataset dset[b] as it is */
    const char *dset[ELMO_WSD_OUTPUTS];
    const char *top;                    /* lstm_outputs2 or top, or NULL */
    bool need_all, need_layers;         /* derived from `all`, or from the three layers */
};

/* Each output from its own dataset, `top` for lstm_outputs2, or `all`; elmo is mixed from `all`
 * or from the three layers stored apart (the default outputs). */
static int plan_sources(struct sources *src, const struct elmo_store_info *info,
                        unsigned outputs, const char *path) {
    memset(src, 0, sizeof *src);
    const bool have_all = info->outputs & ELMO_OUT_ALL;
    src->top = info->outputs & ELMO_OUT_LSTM2 ? "lstm_outputs2"
               : info->outputs & ELMO_OUT_TOP ? "top" : NULL;
    const bool have_layers = (info->outputs & ELMO_OUT_WORD_EMB) &&
                             (info->outputs & ELMO_OUT_LSTM1) && src->top;
    for (int b = 0; b < ELMO_WSD_OUTPUTS; b++) {
        if (!(outputs & (1u << b))) continue;
        if (info->outputs & (1u << b)) src->direct[b] = true, src->dset[b] = elmo_outputs[b].name;
        else if (b == 2 && src->top) src->direct[b] = true, src->dset[b] = src->top;
        else if (have_all) src->need_all = true;
        else if (b == 3 && have_layers) src->need_layers = true;
        else
            return elmo_error(ELMO_ERR_FORMAT,
                              "%s has no embeddings/%s (nor embeddings/all to derive it from): "
                              "embed with the default outputs (word_emb,lstm_outputs1,"
                              "lstm_outputs2) or all",
                              path, elmo_outputs[b].name);
    }
    return 0;
}

/* The mix settings of the store; with the layers stored apart, checks the model has 2. */
static int store_mix_checked(struct elmo_store *st, const char *path, const struct sources *src,
                             float w[3], float *gamma, int *layer_norm) {
    int nw = 0;
    if (src->need_all || src->need_layers) ELMO_TRY(store_mix(path, w, &nw, gamma, layer_norm));
    if (src->need_layers) {
        /* lstm_outputs2 is the top layer: the mix of its three layers is a 2-layer biLM's */
        char *opts = elmo_store_attr_string(st, "options_json");
        json_t *root = opts ? json_loads(opts, 0, NULL) : NULL;
        json_int_t L = json_integer_value(json_object_get(json_object_get(root, "lstm"),
                                                          "n_layers"));
        json_decref(root);
        free(opts);
        if (L != 2)
            return elmo_error(ELMO_ERR_FORMAT, "%s: elmo cannot be mixed from its stored layers: "
                              "its model %s (the mix needs a 2-layer biLM's)", path,
                              L > 0 ? "does not have 2 layers" : "is not recorded (options_json)");
    }
    if (nw != 3) w[0] = w[1] = w[2] = 0.0f;
    return 0;
}

/* The three (n, 2P) layers of n tokens from store row row0 into lay, from `all` or from the
 * layers stored apart (scratch: (n, 3, 2P)). */
static int read_layers(struct elmo_store *st, const struct sources *src, int P, int64_t row0,
                       int n, float *scratch, float *lay) {
    const int W = 2 * P;
    char name[64];
    if (src->need_all) {
        /* (n, 3, 2P) -> three (n, 2P) layers */
        ELMO_TRY(elmo_store_read_f32(st, "embeddings/all", row0, n, scratch));
        for (int l = 0; l < 3; l++)
            for (int i = 0; i < n; i++)
                memcpy(lay + ((size_t)l * n + i) * W, scratch + ((size_t)i * 3 + l) * W,
                       sizeof(float) * W);
        return 0;
    }
    /* word_emb (n, P) -> [word_emb; word_emb]; the LSTM layers as they are */
    ELMO_TRY(elmo_store_read_f32(st, "embeddings/word_emb", row0, n, scratch));
    elmo_layer0(n, P, scratch, lay);
    ELMO_TRY(elmo_store_read_f32(st, "embeddings/lstm_outputs1", row0, n, lay + (size_t)n * W));
    snprintf(name, sizeof name, "embeddings/%s", src->top);
    return elmo_store_read_f32(st, name, row0, n, lay + (size_t)2 * n * W);
}

/* The vectors of every kept sentence (store sentence s->sent_src[k], tokens from off[]). */
static int store_vectors(struct elmo_wsd_set *s, struct elmo_store *st, const char *path,
                         int P, const int64_t *off, const struct sources *src) {
    const int W = 2 * P;
    float mixw[3] = {0, 0, 0}, gamma = 1.0f, *all = NULL, *lay = NULL;
    int layer_norm = 0, maxn = 0, rc = 0;
    char name[64];
    ELMO_TRY(store_mix_checked(st, path, src, mixw, &gamma, &layer_norm));
    for (int k = 0; k < s->n_sent; k++)
        if (s->sent_row[k + 1] - s->sent_row[k] > maxn) maxn = s->sent_row[k + 1] - s->sent_row[k];
    if (src->need_all || src->need_layers) {
        all = elmo_malloc(sizeof(float) * (size_t)maxn * 3 * W + 1, "wsd: layers");
        lay = elmo_malloc(sizeof(float) * (size_t)maxn * 3 * W + 1, "wsd: layers");
        if (!all || !lay) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    }
    for (int k = 0; k < s->n_sent; k++) {
        int64_t row0 = off[s->sent_src[k]];
        int n = s->sent_row[k + 1] - s->sent_row[k];
        for (int b = 0; b < ELMO_WSD_OUTPUTS; b++) {
            if (!src->direct[b]) continue;
            snprintf(name, sizeof name, "embeddings/%s", src->dset[b]);
            ELMO_CALL(elmo_store_read_f32(st, name, row0, n,
                                          s->X[b] + (size_t)s->sent_row[k] * s->dim[b]));
        }
        if ((!src->need_all && !src->need_layers) || n == 0) continue;
        ELMO_CALL(read_layers(st, src, P, row0, n, all, lay));
        const float *layers[3];
        for (int l = 0; l < 3; l++) layers[l] = lay + (size_t)l * n * W;
        for (int b = 0; b < ELMO_WSD_OUTPUTS; b++) {
            if (!(s->outputs & (1u << b)) || src->direct[b]) continue;
            float *dst = s->X[b] + (size_t)s->sent_row[k] * s->dim[b];
            if (b == 0)
                for (int i = 0; i < n; i++)
                    memcpy(dst + (size_t)i * P, layers[0] + (size_t)i * W, sizeof(float) * P);
            else if (b == 1 || b == 2)
                memcpy(dst, layers[b], sizeof(float) * (size_t)n * W);
            else elmo_scalar_mix(3, n, W, layers, mixw, gamma, layer_norm != 0, dst);
        }
    }
cleanup:
    free(all);
    free(lay);
    return rc;
}

/* Every token of the store that is an occurrence (found: token numbers, increasing). */
static int find_occurrences(const struct elmo_wsd_set *s, struct elmo_store *st, int64_t T,
                            bool forms, int64_t **found, int64_t *n_found) {
    enum { CHUNK = 65536 };
    int rc = 0;
    int64_t fcap = 0;
    char *blob = NULL;
    int64_t *toff = elmo_malloc(sizeof(int64_t) * (CHUNK + 1), "wsd: token offsets");
    if (!toff) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    for (int64_t t0 = 0; t0 < T; t0 += CHUNK) {
        int64_t c = T - t0 < CHUNK ? T - t0 : CHUNK;
        ELMO_CALL(elmo_store_read_i64(st, "tokens/text_offset", t0, c + 1, toff));
        free(blob);
        blob = NULL;
        ELMO_CALL(read_blob(st, "tokens/text_blob", toff[0], toff[c], &blob));
        for (int64_t i = 0; i < c; i++) {
            const char *tk = blob + (toff[i] - toff[0]);
            if (!elmo_wsd_match(s->word, tk, (size_t)(toff[i + 1] - toff[i]), forms)) continue;
            if (*n_found == fcap) {
                fcap = fcap ? fcap * 2 : 256;
                int64_t *q = realloc(*found, sizeof(int64_t) * (size_t)fcap);
                if (!q) ELMO_FAIL(ELMO_ERR_NOMEM, "wsd: out of memory");
                *found = q;
            }
            (*found)[(*n_found)++] = t0 + i;
        }
    }
cleanup:
    free(toff);
    free(blob);
    return rc;
}

/* Adds store sentence lo (tokens off[lo]..off[lo + 1]) with its nocc drawn occurrences. */
static int add_store_sentence(struct elmo_wsd_set *s, struct elmo_store *st, int64_t lo,
                              const int64_t *off, const int *occ, int nocc,
                              char *const *labels) {
    int rc = 0;
    int n = (int)(off[lo + 1] - off[lo]);
    int64_t *stoff = NULL;
    char *blob = NULL, *text = NULL;
    char **toks = elmo_calloc((size_t)n + 1, sizeof(char *), "wsd: tokens");
    if (!toks) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    stoff = elmo_malloc(sizeof(int64_t) * (size_t)(n + 1), "wsd: token offsets");
    if (!stoff) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    ELMO_CALL(elmo_store_read_i64(st, "tokens/text_offset", off[lo], n + 1, stoff));
    ELMO_CALL(read_blob(st, "tokens/text_blob", stoff[0], stoff[n], &blob));
    for (int i = 0; i < n; i++) {
        size_t len = (size_t)(stoff[i + 1] - stoff[i]);
        toks[i] = elmo_xmalloc(len + 1);
        memcpy(toks[i], blob + (stoff[i] - stoff[0]), len);
        toks[i][len] = '\0';
    }
    int64_t so[2];
    ELMO_CALL(elmo_store_read_i64(st, "sentences/text_offset", lo, 2, so));
    ELMO_CALL(read_blob(st, "sentences/text_blob", so[0], so[1], &text));
    rc = elmo_wsd_set_add(s, text, lo, n, (const char *const *)toks, nocc, occ,
                          labels ? labels[lo] : NULL);
cleanup:
    for (int i = 0; toks && i < n; i++) free(toks[i]);
    free(toks);
    free(stoff);
    free(blob);
    free(text);
    return rc;
}

/* The drawn occurrences (every elmo_wsd_pick of found), grouped by sentence (picks increase). */
static int add_drawn(struct elmo_wsd_set *s, struct elmo_store *st, const int64_t *off,
                     int64_t N, const int64_t *found, int64_t n_found, int64_t take,
                     char *const *labels) {
    int rc = 0;
    int *occ = elmo_malloc(sizeof(int) * (size_t)take, "wsd: occurrences");
    if (!occ) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    for (int64_t j = 0; j < take;) {
        int64_t t = found[elmo_wsd_pick(j, n_found, take)];
        int64_t lo = 0, hi = N; /* the sentence: off[lo] <= t < off[lo + 1] */
        while (hi - lo > 1) {
            int64_t mid = (lo + hi) / 2;
            if (off[mid] <= t) lo = mid;
            else hi = mid;
        }
        int nocc = 0;
        while (j < take) {
            int64_t u = found[elmo_wsd_pick(j, n_found, take)];
            if (u >= off[lo + 1]) break;
            occ[nocc++] = (int)(u - off[lo]);
            j++;
        }
        ELMO_CALL(add_store_sentence(s, st, lo, off, occ, nocc, labels));
    }
cleanup:
    free(occ);
    return rc;
}

int elmo_wsd_from_store(struct elmo_wsd_set *s, const char *path, bool forms, unsigned outputs,
                        int max_points, char *const *labels, int64_t n_labels) {
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    int rc = 0;
    int64_t *off = NULL, *found = NULL, n_found = 0;
    struct sources src;
    ELMO_TRY(elmo_store_open(&st, path, &info));
    if (!info.complete)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s is not complete (its embed job did not finish: rerun it)",
                  path);
    const int64_t N = info.n_sent, T = info.n_tok;
    const int P = info.P;
    if (labels && n_labels != N)
        ELMO_FAIL(ELMO_ERR_FORMAT, "the senses file has %lld labels but %s has %lld sentences "
                  "(one label per store sentence)", (long long)n_labels, path, (long long)N);

    ELMO_CALL(plan_sources(&src, &info, outputs, path));

    /* Every token that is an occurrence, scanned in chunks. */
    off = elmo_malloc(sizeof(int64_t) * (size_t)(N + 1), "wsd: sentence offsets");
    if (!off) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    ELMO_CALL(elmo_store_read_i64(st, "sentences/offset", 0, N + 1, off));
    ELMO_CALL(find_occurrences(s, st, T, forms, &found, &n_found));
    if (n_found == 0)
        ELMO_FAIL(ELMO_ERR_FORMAT, "no occurrence of '%s'%s among the %lld tokens of %s", s->word,
                  forms ? " (or its forms)" : "", (long long)T, path);
    int64_t take = n_found < max_points ? n_found : max_points;
    s->n_found = n_found;
    ELMO_CALL(add_drawn(s, st, off, N, found, n_found, take, labels));

    /* The vectors of every token of the kept sentences. */
    ELMO_CALL(elmo_wsd_set_alloc(s, outputs, P));
    ELMO_CALL(store_vectors(s, st, path, P, off, &src));

cleanup:
    elmo_store_close(st);
    free(off);
    free(found);
    return rc;
}

/* ================================ The analysis ================================ */

void elmo_wsd_layer_free(struct elmo_wsd_layer *l) {
    if (!l) return;
    elmo_pca_free(&l->all);
    elmo_pca_free(&l->occ);
    free(l->all_xy);
    l->all_xy = NULL;
}

/* ================================= The figures ================================= */

/* A growing string. */
struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->len + n + 1) c *= 2;
        b->p = elmo_xrealloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* Points labelled in one plot at most: past that the labels pile into an unreadable cloud;
 * the other points keep their circle and tooltip, and wsd.json has every occurrence. */
#define WSD_MAX_LABELS 30

/* Token range [lo, hi) of the label of an occurrence at token k of a sentence [0, n). */
static void label_window(int n, int k, int n_occ, int *lo, int *hi) {
    int half = n_occ > 60 ? 2 : 5;
    if (n <= 12 && n_occ <= 60) half = n;
    *lo = k - half > 0 ? k - half : 0;
    *hi = k + half + 1 < n ? k + half + 1 : n;
}

/* The point labels of every occurrence: before, word, after, and the tooltip (owned). */
struct labels {
    char **before, **after, **tooltip;
    int n;
};

static void labels_free(struct labels *L) {
    for (int i = 0; i < L->n; i++) free(L->before[i]), free(L->after[i]), free(L->tooltip[i]);
    free(L->before);
    free(L->after);
    free(L->tooltip);
}

static void labels_make(const struct elmo_wsd_set *s, const struct elmo_wsd_meta *meta,
                        struct labels *L) {
    L->n = s->n_occ;
    L->before = elmo_xcalloc((size_t)s->n_occ + 1, sizeof(char *));
    L->after = elmo_xcalloc((size_t)s->n_occ + 1, sizeof(char *));
    L->tooltip = elmo_xcalloc((size_t)s->n_occ + 1, sizeof(char *));
    for (int o = 0; o < s->n_occ; o++) {
        int sent = s->occ_sent[o], r0 = s->sent_row[sent], n = s->sent_row[sent + 1] - r0;
        int k = s->occ_row[o] - r0, lo, hi;
        label_window(n, k, s->n_occ, &lo, &hi);
        struct buf b = {0}, a = {0}, t = {0};
        buf_add(&b, lo > 0 ? "\xe2\x80\xa6 " : "");
        for (int i = lo; i < k; i++) buf_add(&b, s->tok[r0 + i]), buf_add(&b, " ");
        buf_add(&a, "");
        for (int i = k + 1; i < hi; i++) buf_add(&a, " "), buf_add(&a, s->tok[r0 + i]);
        if (hi < n) buf_add(&a, " \xe2\x80\xa6");
        char head[160];
        snprintf(head, sizeof head, "%d. (%s %lld) ", sent + 1,
                 meta->from_store ? "store sentence" : "line", (long long)s->sent_src[sent]);
        buf_add(&t, head);
        buf_add(&t, s->sent_text[sent]);
        if (s->occ_sense[o] >= 0) {
            buf_add(&t, " [");
            buf_add(&t, s->sense[s->occ_sense[o]]);
            buf_add(&t, "]");
        }
        L->before[o] = b.p, L->after[o] = a.p, L->tooltip[o] = t.p;
    }
}

/* Legend groups: the senses (+ unlabelled), or the sentences (<= 10), or one group. */
static char **groups_make(const struct elmo_wsd_set *s, int *n_groups, int *group_of_occ) {
    char **g = NULL;
    int n = 0;
    bool unlabelled = false;
    for (int o = 0; o < s->n_occ; o++) unlabelled |= s->occ_sense[o] < 0;
    if (s->n_senses > 0) {
        n = s->n_senses + (unlabelled ? 1 : 0);
        g = elmo_xcalloc((size_t)n, sizeof(char *));
        for (int i = 0; i < s->n_senses; i++) g[i] = elmo_xstrdup(s->sense[i]);
        if (unlabelled) g[n - 1] = elmo_xstrdup("(no label)");
        for (int o = 0; o < s->n_occ; o++)
            group_of_occ[o] = s->occ_sense[o] >= 0 ? s->occ_sense[o] : n - 1;
    } else if (s->n_sent <= 10) {
        n = s->n_sent;
        g = elmo_xcalloc((size_t)n, sizeof(char *));
        for (int i = 0; i < n; i++) {
            size_t len = strlen(s->sent_text[i]) + 16;
            g[i] = elmo_xmalloc(len);
            snprintf(g[i], len, "%d. %s", i + 1, s->sent_text[i]);
        }
        for (int o = 0; o < s->n_occ; o++) group_of_occ[o] = s->occ_sent[o];
    } else {
        n = 1;
        g = elmo_xcalloc(1, sizeof(char *));
        size_t len = strlen(s->word) + 32;
        g[0] = elmo_xmalloc(len);
        snprintf(g[0], len, "an occurrence of %s", s->word);
        for (int o = 0; o < s->n_occ; o++) group_of_occ[o] = 0;
    }
    *n_groups = n;
    return g;
}

static void axis_label(char *out, size_t n, int pc, double ratio) {
    snprintf(out, n, "PC%d (%.1f%%)", pc, 100.0 * ratio);
}

static void separation_note(const struct elmo_wsd_layer *l, int dim, char *out, size_t n) {
    if (!l->has_sep) {
        snprintf(out, n, "no separation figures (they need 2+ labelled occurrences of 2+ senses)");
        return;
    }
    char ratio[32];
    if (isfinite(l->sep.ratio)) snprintf(ratio, sizeof ratio, "%.2f", l->sep.ratio);
    else snprintf(ratio, sizeof ratio, "inf");
    snprintf(out, n,
             "centroid distance / within-sense spread = %s (in all %d dims);  1-NN sense "
             "accuracy (cosine, leave-one-out) = %.2f (%d/%d)",
             ratio, dim, l->sep.nn_accuracy, l->sep.nn_correct, l->sep.n_points);
}

/* The figures' shared state: points and panels per output and fit (index li * 2 + fit). */
struct figs {
    int n_groups;
    int *group;                       /* (n_occ) group of each occurrence */
    char **groups;                    /* (n_groups) group names */
    struct labels L;
    struct elmo_svg_point *pts;       /* (2 * n_layers, n_occ) */
    struct elmo_svg_panel *panels;    /* (2 * n_layers) */
    char (*xl)[48], (*yl)[48], (*titles)[160];  /* (2 * n_layers) */
    char (*notes)[300], (*short_notes)[120];    /* (n_layers) */
    char (*numbers)[16];              /* (n_sent) sentence numbers, from 1 */
};

static void figs_init(struct figs *F, const struct elmo_wsd_set *s,
                      const struct elmo_wsd_meta *meta, int n_layers) {
    F->n_groups = 0;
    F->group = elmo_xcalloc((size_t)s->n_occ + 1, sizeof(int));
    F->groups = groups_make(s, &F->n_groups, F->group);
    labels_make(s, meta, &F->L);
    F->pts = elmo_xcalloc((size_t)s->n_occ * 2 * n_layers + 1, sizeof *F->pts);
    F->panels = elmo_xcalloc((size_t)2 * n_layers, sizeof *F->panels);
    F->xl = elmo_xcalloc((size_t)2 * n_layers, sizeof *F->xl);
    F->yl = elmo_xcalloc((size_t)2 * n_layers, sizeof *F->yl);
    F->titles = elmo_xcalloc((size_t)2 * n_layers, sizeof *F->titles);
    F->notes = elmo_xcalloc((size_t)n_layers, sizeof *F->notes);
    F->short_notes = elmo_xcalloc((size_t)n_layers, sizeof *F->short_notes);
    F->numbers = elmo_xcalloc((size_t)s->n_sent + 1, sizeof *F->numbers);
    for (int i = 0; i < s->n_sent; i++) snprintf(F->numbers[i], sizeof F->numbers[i], "%d", i + 1);
}

static void figs_free(struct figs *F) {
    for (int i = 0; i < F->n_groups; i++) free(F->groups[i]);
    free(F->groups);
    free(F->group);
    labels_free(&F->L);
    free(F->pts);
    free(F->panels);
    free(F->xl);
    free(F->yl);
    free(F->titles);
    free(F->notes);
    free(F->short_notes);
    free(F->numbers);
}

/* The figure of output layer li (the li-th of layers) with fit 0 (all tokens) or 1 (the
 * occurrences); fills its points and panel, which the overview reuses. */
static int write_layer_figure(const char *dir, const struct elmo_wsd_set *s,
                              const struct elmo_wsd_layer *l, int li, int fit, struct figs *F,
                              const struct elmo_wsd_meta *meta) {
    const char *name = elmo_outputs[l->bit].name;
    char path[ELMO_PATH_MAX + 64], title[320], subtitle[400];
    const struct elmo_pca *p = fit == 0 ? &l->all : &l->occ;
    struct elmo_svg_point *q = F->pts + ((size_t)li * 2 + fit) * s->n_occ;
    for (int o = 0; o < s->n_occ; o++) {
        q[o].x = fit == 0 ? l->all_xy[2 * o] : p->proj[(size_t)o * p->k];
        q[o].y = fit == 0 ? l->all_xy[2 * o + 1] : p->proj[(size_t)o * p->k + 1];
        q[o].group = F->group[o];
        q[o].before = F->L.before[o];
        q[o].word = s->tok[s->occ_row[o]];
        q[o].after = F->L.after[o];
        q[o].tooltip = F->L.tooltip[o];
    }
    struct elmo_svg_panel *pn = &F->panels[li * 2 + fit];
    axis_label(F->xl[li * 2 + fit], sizeof F->xl[0], 1, p->ratio[0]);
    axis_label(F->yl[li * 2 + fit], sizeof F->yl[0], 2, p->ratio[1]);
    snprintf(F->titles[li * 2 + fit], sizeof F->titles[0], "%s: %s", name,
             fit == 0 ? "PCA of all tokens" : "PCA of the occurrences");
    *pn = (struct elmo_svg_panel){F->titles[li * 2 + fit], F->xl[li * 2 + fit],
                                  F->yl[li * 2 + fit], q, s->n_occ, F->notes[li],
                                  WSD_MAX_LABELS};
    snprintf(title, sizeof title, "\u201c%s\u201d in context: %s (%s)", s->word, name,
             elmo_outputs[l->bit].desc);
    char few[96] = "";
    if (s->n_occ > WSD_MAX_LABELS)
        snprintf(few, sizeof few, " (labels on at most %d; hover a point for its "
                 "sentence)", WSD_MAX_LABELS);
    if (fit == 0)
        snprintf(subtitle, sizeof subtitle,
                 "PCA fitted on all %d token vectors of the %d sentences (as the "
                 "tutorial), %d occurrences drawn%s; source: %s",
                 s->n_rows, s->n_sent, s->n_occ, few, meta->source);
    else
        snprintf(subtitle, sizeof subtitle,
                 "PCA fitted on the %d occurrences alone%s; %d sentences; source: %s",
                 s->n_occ, few, s->n_sent, meta->source);
    struct elmo_svg_figure fig = {title, subtitle, (const char *const *)F->groups,
                                  F->n_groups, pn, 1, 1, 900, 600, 12.0};
    snprintf(path, sizeof path, "%s/%s%s.svg", dir, name, fit == 0 ? "" : ".occurrences");
    return elmo_svg_write(path, &fig);
}

/* The overview: every output side by side; short labels (the sentence number). */
static int write_overview(const char *dir, const struct elmo_wsd_set *s, int n_layers,
                          const struct figs *F, const struct elmo_wsd_meta *meta) {
    char path[ELMO_PATH_MAX + 64], title[320], subtitle[400];
    struct elmo_svg_point *ov = elmo_xcalloc((size_t)s->n_occ * 2 * n_layers + 1, sizeof *ov);
    struct elmo_svg_panel *ovp = elmo_xcalloc((size_t)2 * n_layers, sizeof *ovp);
    for (int fit = 0; fit < 2; fit++)
        for (int li = 0; li < n_layers; li++) {
            int src = li * 2 + fit, dst = fit * n_layers + li;
            struct elmo_svg_point *q = ov + (size_t)dst * s->n_occ;
            for (int o = 0; o < s->n_occ; o++) {
                q[o] = F->pts[(size_t)src * s->n_occ + o];
                q[o].before = F->numbers[s->occ_sent[o]];
                q[o].word = NULL;
                q[o].after = NULL;
            }
            ovp[dst] = F->panels[src];
            ovp[dst].pts = q;
            ovp[dst].note = F->short_notes[li][0] ? F->short_notes[li] : NULL;
            ovp[dst].max_labels = WSD_MAX_LABELS;
        }
    snprintf(title, sizeof title, "\u201c%s\u201d in context, layer by layer", s->word);
    snprintf(subtitle, sizeof subtitle,
             "top row: PCA fitted on all %d token vectors (as the tutorial); bottom row: on the "
             "%d occurrences alone; labels are sentence numbers; source: %s",
             s->n_rows, s->n_occ, meta->source);
    struct elmo_svg_figure fig = {title, subtitle, (const char *const *)F->groups, F->n_groups,
                                  ovp, 2 * n_layers, n_layers, 400, 340, 10.0};
    snprintf(path, sizeof path, "%s/layers.svg", dir);
    int rc = elmo_svg_write(path, &fig);
    free(ov);
    free(ovp);
    return rc;
}

static int write_figures(const char *dir, const struct elmo_wsd_set *s,
                         const struct elmo_wsd_layer *layers, int n_layers,
                         const struct elmo_wsd_meta *meta) {
    int rc = 0;
    struct figs F;
    figs_init(&F, s, meta, n_layers);
    /* One figure per output and fit; the point arrays are reused by the overview. */
    for (int li = 0; li < n_layers; li++) {
        const struct elmo_wsd_layer *l = &layers[li];
        separation_note(l, s->dim[l->bit], F.notes[li], sizeof F.notes[li]);
        if (l->has_sep)
            snprintf(F.short_notes[li], sizeof F.short_notes[li], "ratio %.2f, 1-NN %.2f",
                     l->sep.ratio, l->sep.nn_accuracy);
        for (int fit = 0; fit < 2; fit++)
            ELMO_CALL(write_layer_figure(dir, s, l, li, fit, &F, meta));
    }
    rc = write_overview(dir, s, n_layers, &F, meta);
cleanup:
    figs_free(&F);
    return rc;
}

/* =================================== wsd.json =================================== */

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *pca_json(const struct elmo_pca *p, const float *xy, int n_occ) {
    json_t *o = json_object(), *r = json_array(), *v = json_array(), *pts = json_array();
    for (int c = 0; c < p->k; c++) {
        json_array_append_new(r, jnum(p->ratio[c]));
        json_array_append_new(v, jnum(p->variance[c]));
    }
    for (int i = 0; i < n_occ; i++) {
        json_t *pt = json_array();
        json_array_append_new(pt, jnum(xy[2 * i]));
        json_array_append_new(pt, jnum(xy[2 * i + 1]));
        json_array_append_new(pts, pt);
    }
    json_object_set_new(o, "rows", json_integer(p->n));
    json_object_set_new(o, "explained_variance_ratio", r);
    json_object_set_new(o, "explained_variance", v);
    json_object_set_new(o, "occurrences_xy", pts);
    return o;
}

/* The drawn occurrences for wsd.json: sentence, source line, token, sense, text. */
static json_t *occurrences_json(const struct elmo_wsd_set *s, const struct elmo_wsd_meta *meta) {
    json_t *occs = json_array();
    for (int o = 0; o < s->n_occ; o++) {
        int sent = s->occ_sent[o];
        json_t *j = json_object();
        json_object_set_new(j, "sentence", json_integer(sent));
        json_object_set_new(j, meta->from_store ? "store_sentence" : "line",
                            json_integer(s->sent_src[sent]));
        json_object_set_new(j, "token_index", json_integer(s->occ_row[o] - s->sent_row[sent]));
        json_object_set_new(j, "token", json_string(s->tok[s->occ_row[o]]));
        json_object_set_new(j, "sense", s->occ_sense[o] >= 0
                                            ? json_string(s->sense[s->occ_sense[o]])
                                            : json_null());
        json_object_set_new(j, "text", json_string(s->sent_text[sent]));
        json_array_append_new(occs, j);
    }
    return occs;
}

/* One output's entry of wsd.json: its PCA fits and its separation figures. */
static json_t *layer_json(const struct elmo_wsd_set *s, const struct elmo_wsd_layer *l) {
    json_t *j = json_object();
    json_object_set_new(j, "dim", json_integer(s->dim[l->bit]));
    json_object_set_new(j, "description", json_string(elmo_outputs[l->bit].desc));
    json_object_set_new(j, "pca_all_tokens", pca_json(&l->all, l->all_xy, s->n_occ));
    float *xy = elmo_xmalloc(sizeof(float) * 2 * (size_t)s->n_occ + 1);
    for (int o = 0; o < s->n_occ; o++) {
        xy[2 * o] = l->occ.proj[(size_t)o * l->occ.k];
        xy[2 * o + 1] = l->occ.proj[(size_t)o * l->occ.k + 1];
    }
    json_object_set_new(j, "pca_occurrences", pca_json(&l->occ, xy, s->n_occ));
    free(xy);
    if (l->has_sep) {
        json_t *sp = json_object();
        json_object_set_new(sp, "points", json_integer(l->sep.n_points));
        json_object_set_new(sp, "senses", json_integer(l->sep.n_senses));
        json_object_set_new(sp, "centroid_distance", jnum(l->sep.centroid_dist));
        json_object_set_new(sp, "within_spread", jnum(l->sep.spread));
        json_object_set_new(sp, "ratio", jnum(l->sep.ratio));
        json_object_set_new(sp, "nn_metric", json_string("cosine"));
        json_object_set_new(sp, "nn_correct", json_integer(l->sep.nn_correct));
        json_object_set_new(sp, "nn_accuracy", jnum(l->sep.nn_accuracy));
        json_object_set_new(sp, "majority", jnum(l->sep.majority));
        json_object_set_new(j, "separation", sp);
    } else json_object_set_new(j, "separation", json_null());
    return j;
}

static int write_json(const char *dir, const struct elmo_wsd_set *s,
                      const struct elmo_wsd_layer *layers, int n_layers,
                      const struct elmo_wsd_meta *meta) {
    json_t *root = json_object();
    json_object_set_new(root, "word", json_string(s->word));
    json_object_set_new(root, "match_forms", json_boolean(meta->match_forms));
    json_object_set_new(root, "source", json_string(meta->source));
    json_object_set_new(root, "occurrences_found", json_integer(s->n_found));
    json_object_set_new(root, "occurrences_drawn", json_integer(s->n_occ));
    json_object_set_new(root, "sentences", json_integer(s->n_sent));
    json_object_set_new(root, "token_rows", json_integer(s->n_rows));
    json_t *senses = json_array();
    for (int i = 0; i < s->n_senses; i++) json_array_append_new(senses, json_string(s->sense[i]));
    json_object_set_new(root, "senses", senses);
    json_object_set_new(
        root, "definitions",
        json_pack("{s:s,s:s,s:s,s:s}", "pca",
                  "mean-centred rows, no whitening, components signed so that their "
                  "largest-magnitude loading is positive; explained_variance_ratio = eigenvalue / "
                  "total variance, explained_variance = eigenvalue / (rows - 1)",
                  "ratio",
                  "centroid_distance / within_spread: the mean euclidean distance between the "
                  "centroids of every pair of senses, over the mean euclidean distance of a "
                  "labelled occurrence to its own sense's centroid, in the full-dimensional space",
                  "nn_accuracy",
                  "share of labelled occurrences whose nearest other labelled occurrence (cosine "
                  "similarity, leave one out, the earlier on ties) has the same sense",
                  "majority", "share of the largest sense, the level a constant guess reaches"));
    json_object_set_new(root, "occurrences", occurrences_json(s, meta));
    json_t *outs = json_object();
    for (int li = 0; li < n_layers; li++) {
        const struct elmo_wsd_layer *l = &layers[li];
        json_object_set_new(outs, elmo_outputs[l->bit].name, layer_json(s, l));
    }
    json_object_set_new(root, "outputs", outs);
    char path[ELMO_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/wsd.json", dir);
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                            JSON_REAL_PRECISION(7) | JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc != 0) return elmo_error(ELMO_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}

int elmo_wsd_write(const char *dir, const struct elmo_wsd_set *s,
                   const struct elmo_wsd_layer *layers, int n_layers,
                   const struct elmo_wsd_meta *meta) {
    ELMO_CHECK(n_layers >= 1 && s->n_occ >= 1, ELMO_ERR_ARG, "wsd: nothing to draw");
    ELMO_TRY(write_figures(dir, s, layers, n_layers, meta));
    return write_json(dir, s, layers, n_layers, meta);
}

/*
 * test_conformance.c: the forward pass against the reference outputs in $ELMO_FIXTURES
 * (elmo-spec sections 8-9), each within |a - e| <= 1e-6 + 1e-5 |e|, the reference criterion:
 *   (a) the 10 batches x 3 rows of sentences.json in the streams regime (3 streams) against
 *       the top layer in lm_embeddings_{0,1,2}.hdf5;
 *   (b) the 458 words of vocab_test.txt against elmo_token_embeddings.hdf5, and <S> / </S> as
 *       literal tokens embed exactly like the inserted boundaries;
 *   (c) all three layers of elmo-derived/allennlp_model_elmo_all_bs3.hdf5 (line j is stream
 *       j mod 3), one sentence per call;
 *   (d) the stateless regime: a sentence's outputs are bit-identical alone, in batches of
 *       other sizes and with other neighbours; so is a word's token vector.
 * The max abs error of each fixture is printed.
 */
#include <hdf5.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/weights.h"
#include "model/bilm.h"
#include "model/status.h"
#include "tests/check.h"

static char fx[4096];

/* Reads a float dataset; returns malloc'd data and its dims (NULL if missing). */
static float *h5_read(const char *file, const char *name, int *ndim, hsize_t dims[4]) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        H5Fclose(f);
        return NULL;
    }
    hid_t s = H5Dget_space(d);
    *ndim = H5Sget_simple_extent_ndims(s);
    H5Sget_simple_extent_dims(s, dims, NULL);
    size_t n = 1;
    for (int i = 0; i < *ndim; i++) n *= dims[i];
    float *x = malloc(sizeof(float) * (n ? n : 1));
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    return x;
}

/* Splits a sentence on ASCII whitespace into char ids; returns the token count. */
static int sentence_ids(const char *s, int32_t *ids, int cap) {
    int n = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') q++;
        if (n < cap) elmo_char_ids(p, (size_t)(q - p), ids + (size_t)n * ELMO_MAXC);
        n++;
        p = q;
    }
    return n;
}

struct errstat {
    double max_abs;
    long bad, count;
};

static void compare(struct errstat *st, const float *a, const float *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)e[i]);
        if (d > st->max_abs) st->max_abs = d;
        if (!(d <= 1e-6 + 1e-5 * fabs((double)e[i]))) st->bad++;
        st->count++;
    }
}

#define MAXTOK 4096

static struct elmo_model model;
static struct elmo_bilm_ws ws;
static int32_t ids[MAXTOK * ELMO_MAXC];

/* Token vectors of the sentences; fills n_tok and tok (sum n, P). */
static void embed_sentences(int B, const char *const *sent, int32_t *n_tok, float *tok) {
    int total = 0;
    for (int b = 0; b < B; b++) {
        n_tok[b] = sentence_ids(sent[b], ids + (size_t)total * ELMO_MAXC, MAXTOK - total);
        total += n_tok[b];
    }
    elmo_token_embed(&model, &ws, total, ids, tok);
}

static void test_streams_top(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/elmo-allennlp/sentences.json", fx);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL);
    if (!root) return;
    const int P = model.opt.P, L = model.opt.L;
    size_t sfl = elmo_stream_state_floats(&model.opt);
    float *state_mem = calloc(3 * sfl, sizeof(float));
    float *state[3] = {state_mem, state_mem + sfl, state_mem + 2 * sfl};
    float *tok = malloc(sizeof(float) * MAXTOK * P);
    float *outs[ELMO_MAX_LAYERS];
    for (int l = 0; l < L; l++) outs[l] = malloc(sizeof(float) * MAXTOK * 2 * P);
    struct errstat st = {0};
    for (int i = 0; i < 10; i++) {
        const char *sent[3];
        for (int k = 0; k < 3; k++)
            sent[k] = json_string_value(json_array_get(json_array_get(root, (size_t)k), (size_t)i));
        int32_t n_tok[3];
        embed_sentences(3, sent, n_tok, tok);
        elmo_bilm_forward(&model, &ws, 3, n_tok, tok, state, outs);
        int off = 0;
        for (int k = 0; k < 3; k++) {
            char file[4200], name[16];
            snprintf(file, sizeof file, "%s/elmo-allennlp/lm_embeddings_%d.hdf5", fx, k);
            snprintf(name, sizeof name, "%d", i);
            int nd;
            hsize_t dims[4];
            float *e = h5_read(file, name, &nd, dims);
            CHECK(e != NULL);
            if (!e) continue;
            CHECK_INT_EQ(nd, 3);
            CHECK_INT_EQ(dims[1], n_tok[k]);
            CHECK_INT_EQ(dims[2], P);
            int n = n_tok[k];
            for (int t = 0; t < n && (hsize_t)t < dims[1]; t++) {
                const float *a = outs[L - 1] + ((size_t)off + t) * 2 * P;
                compare(&st, a, e + (size_t)t * P, (size_t)P);
                compare(&st, a + P, e + ((size_t)n + t) * P, (size_t)P);
            }
            off += n;
            free(e);
        }
    }
    /* bilm-tf's extra checks: a stream no batch used is still zero; a smaller batch leaves
     * the streams it does not name as they were */
    float *spare = calloc(sfl, sizeof(float)), *keep = malloc(sizeof(float) * sfl);
    memcpy(keep, state[2], sizeof(float) * sfl);
    {
        const char *sent[2] = {"a short one .", "and another"};
        int32_t n_tok[2];
        embed_sentences(2, sent, n_tok, tok);
        elmo_bilm_forward(&model, &ws, 2, n_tok, tok, state, outs);
    }
    CHECK(!memcmp(keep, state[2], sizeof(float) * sfl));
    int nonzero = 0;
    for (size_t i = 0; i < sfl; i++) nonzero += spare[i] != 0.0f;
    CHECK_INT_EQ(nonzero, 0);
    free(spare);
    free(keep);
    printf("(a) lm_embeddings_{0,1,2}.hdf5 top layer, 3 streams: max abs err %.3g over %ld values "
           "(%ld outside 1e-6 + 1e-5|e|)\n",
           st.max_abs, st.count, st.bad);
    CHECK_INT_EQ(st.bad, 0);
    CHECK(st.count > 0);
    json_decref(root);
    free(state_mem);
    free(tok);
    for (int l = 0; l < L; l++) free(outs[l]);
}

static void test_token_embeddings(void) {
    char path[4200], file[4200];
    snprintf(path, sizeof path, "%s/elmo-allennlp/vocab_test.txt", fx);
    snprintf(file, sizeof file, "%s/elmo-allennlp/elmo_token_embeddings.hdf5", fx);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    const int P = model.opt.P;
    int V = 0, bos_row = -1, eos_row = -1;
    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        elmo_char_ids(line, n, ids + (size_t)V * ELMO_MAXC);
        if (n == 3 && !memcmp(line, "<S>", 3)) bos_row = V;
        if (n == 4 && !memcmp(line, "</S>", 4)) eos_row = V;
        V++;
        line = nl ? nl + 1 : NULL;
    }
    CHECK_INT_EQ(V, 458);
    float *tok = malloc(sizeof(float) * (size_t)V * P);
    elmo_token_embed(&model, &ws, V, ids, tok);
    int nd;
    hsize_t dims[4];
    float *e = h5_read(file, "embedding", &nd, dims);
    CHECK(e != NULL);
    if (e) {
        CHECK_INT_EQ(dims[0], V);
        CHECK_INT_EQ(dims[1], P);
        struct errstat st = {0};
        compare(&st, tok, e, (size_t)V * P);
        printf("(b) elmo_token_embeddings.hdf5 (%d words): max abs err %.3g (%ld outside "
               "1e-6 + 1e-5|e|)\n",
               V, st.max_abs, st.bad);
        CHECK_INT_EQ(st.bad, 0);
        free(e);
    }
    CHECK(bos_row >= 0 && eos_row >= 0);
    if (bos_row >= 0) CHECK(!memcmp(tok + (size_t)bos_row * P, ws.bos, sizeof(float) * P));
    if (eos_row >= 0) CHECK(!memcmp(tok + (size_t)eos_row * P, ws.eos, sizeof(float) * P));
    /* (d) for token vectors: each word alone gives the same bits as in the big batch */
    float one[4096];
    int differ = 0;
    for (int v = 0; v < V; v++) {
        elmo_token_embed(&model, &ws, 1, ids + (size_t)v * ELMO_MAXC, one);
        if (memcmp(one, tok + (size_t)v * P, sizeof(float) * P)) differ++;
    }
    CHECK_INT_EQ(differ, 0);
    free(tok);
}

/* The 30 lines of sentences_30.txt (static storage). */
static int read_lines(char **lines, int cap) {
    char path[4200];
    snprintf(path, sizeof path, "%s/elmo-derived/sentences_30.txt", fx);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    int n = 0;
    char *p = text;
    while (*p && n < cap) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        lines[n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

static void test_streams_all_layers(void) {
    char *lines[64];
    int n_lines = read_lines(lines, 64);
    CHECK_INT_EQ(n_lines, 30);
    char file[4200];
    snprintf(file, sizeof file, "%s/elmo-derived/allennlp_model_elmo_all_bs3.hdf5", fx);
    const int P = model.opt.P, L = model.opt.L;
    size_t sfl = elmo_stream_state_floats(&model.opt);
    float *state_mem = calloc(3 * sfl, sizeof(float));
    float *tok = malloc(sizeof(float) * MAXTOK * P);
    float *outs[ELMO_MAX_LAYERS];
    for (int l = 0; l < L; l++) outs[l] = malloc(sizeof(float) * MAXTOK * 2 * P);
    struct errstat st[3] = {{0}};
    for (int j = 0; j < n_lines; j++) {
        int32_t n_tok[1];
        const char *sent[1] = {lines[j]};
        embed_sentences(1, sent, n_tok, tok);
        float *state[1] = {state_mem + (size_t)(j % 3) * sfl};
        elmo_bilm_forward(&model, &ws, 1, n_tok, tok, state, outs);
        char name[16];
        snprintf(name, sizeof name, "%d", j);
        int nd;
        hsize_t dims[4];
        float *e = h5_read(file, name, &nd, dims);
        CHECK(e != NULL);
        if (!e) continue;
        int n = n_tok[0];
        CHECK_INT_EQ(dims[0], L + 1);
        CHECK_INT_EQ(dims[1], n);
        CHECK_INT_EQ(dims[2], 2 * P);
        for (int t = 0; t < n; t++) {
            compare(&st[0], tok + (size_t)t * P, e + (size_t)t * 2 * P, (size_t)P);
            compare(&st[0], tok + (size_t)t * P, e + (size_t)t * 2 * P + P, (size_t)P);
        }
        for (int l = 0; l < L; l++)
            compare(&st[l + 1], outs[l], e + (size_t)(l + 1) * n * 2 * P, (size_t)n * 2 * P);
        free(e);
    }
    for (int l = 0; l <= L; l++) {
        printf("(c) allennlp_model_elmo_all_bs3.hdf5 layer %d, stream j mod 3, one sentence per "
               "call: max abs err %.3g (%ld outside 1e-6 + 1e-5|e|)\n",
               l, st[l].max_abs, st[l].bad);
        CHECK_INT_EQ(st[l].bad, 0);
    }
    free(state_mem);
    free(tok);
    for (int l = 0; l < L; l++) free(outs[l]);
}

static void test_stateless(void) {
    char *lines[64];
    int S = read_lines(lines, 64);
    CHECK_INT_EQ(S, 30);
    const int P = model.opt.P, L = model.opt.L;
    /* references: each sentence alone */
    float *ref[30][ELMO_MAX_LAYERS];
    int32_t nref[30];
    float *tok = malloc(sizeof(float) * MAXTOK * P);
    float *outs[ELMO_MAX_LAYERS];
    for (int l = 0; l < L; l++) outs[l] = malloc(sizeof(float) * MAXTOK * 2 * P);
    for (int j = 0; j < S; j++) {
        const char *sent[1] = {lines[j]};
        embed_sentences(1, sent, &nref[j], tok);
        elmo_bilm_forward(&model, &ws, 1, &nref[j], tok, NULL, outs);
        for (int l = 0; l < L; l++) {
            ref[j][l] = malloc(sizeof(float) * (size_t)nref[j] * 2 * P);
            memcpy(ref[j][l], outs[l], sizeof(float) * (size_t)nref[j] * 2 * P);
        }
    }
    /* batches of other sizes, in other orders */
    const int sizes[] = {2, 3, 5, 7, 16, 17, 30};
    int differ = 0, runs = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (int perm = 0; perm < 3; perm++) {
            int order[30];
            for (int j = 0; j < S; j++)
                order[j] = perm == 0 ? j : perm == 1 ? S - 1 - j : (j * 7 + 3) % S;
            for (int j0 = 0; j0 < S; j0 += sizes[si]) {
                int B = S - j0 < sizes[si] ? S - j0 : sizes[si];
                const char *sent[30];
                int32_t n_tok[30];
                for (int b = 0; b < B; b++) sent[b] = lines[order[j0 + b]];
                embed_sentences(B, sent, n_tok, tok);
                elmo_bilm_forward(&model, &ws, B, n_tok, tok, NULL, outs);
                size_t off = 0;
                for (int b = 0; b < B; b++) {
                    int j = order[j0 + b];
                    for (int l = 0; l < L; l++)
                        if (memcmp(outs[l] + off * 2 * P, ref[j][l],
                                   sizeof(float) * (size_t)nref[j] * 2 * P))
                            differ++;
                    off += (size_t)n_tok[b];
                    runs++;
                }
            }
        }
    }
    printf("(d) stateless: %d sentence runs in batches of 2..30 rows, %d differ from the "
           "sentence alone (memcmp)\n",
           runs, differ);
    CHECK_INT_EQ(differ, 0);
    for (int j = 0; j < S; j++)
        for (int l = 0; l < L; l++) free(ref[j][l]);
    free(tok);
    for (int l = 0; l < L; l++) free(outs[l]);
}

int main(void) {
    const char *env = check_fixtures();
    if (!env) return CHECK_SKIP;
    snprintf(fx, sizeof fx, "%s", env);
    char opath[4200], wpath[4200];
    snprintf(opath, sizeof opath, "%s/elmo-allennlp/options.json", fx);
    snprintf(wpath, sizeof wpath, "%s/elmo-allennlp/lm_weights.hdf5", fx);
    int rc = elmo_model_load(opath, wpath, &model);
    CHECK_OK(rc);
    if (rc < 0) return CHECK_REPORT();
    CHECK(model.opt.has_cnn_proj && model.opt.has_lstm_proj && model.opt.skip);
    CHECK_OK(elmo_bilm_ws_init(&ws, &model, 32, 2048, 512));
    test_token_embeddings();
    test_streams_top();
    test_streams_all_layers();
    test_stateless();
    elmo_bilm_ws_free(&ws);
    elmo_model_free(&model);
    return CHECK_REPORT();
}

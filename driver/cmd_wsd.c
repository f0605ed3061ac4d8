/*
 * cmd_wsd.c: the `wsd` job, the word-sense picture (README "The word-sense picture").
 *
 * The vectors of one word in many contexts, per output (word_emb, lstm_outputs1,
 * lstm_outputs2, elmo): from sentences run through the model here (the tutorial's five
 * sentences for `work` by default), or read from an embedding store.  For each output, a PCA
 * fitted as the tutorial fitted it (on every token vector of the sentences) and one fitted on
 * the occurrences alone, the sense-separation figures in the full space, SVG figures and
 * DIR/wsd.json, and a table on stdout.  The job is small: it runs on rank 0 alone and the other
 * ranks of an mpirun return at once.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/corpus.h"
#include "io/outfile.h"
#include "io/store.h"
#include "io/weights.h"
#include "io/wsd_files.h"
#include "model/bilm.h"
#include "model/gemm.h"
#include "model/pca.h"
#include "model/status.h"
#include "model/sense.h"
#include "worker/forward.h"

/* The tutorial's sentences and their senses (ner.md 1.2). */
static const char *const tutorial_text[5] = {
    "I love this beautiful work by Vincent Van Gogh",
    "Tiya works really hard for exams every day",
    "My sister likes working at Google",
    "This amazing work was done in the early nineteenth century",
    "Hundreds of people work in this building",
};
static const char *const tutorial_sense[5] = {"noun", "verb", "verb", "noun", "verb"};

/* A sentence read from the sentences file (or a piece of a long one). */
struct cand {
    char *text;        /* owned */
    char *buf;         /* owned: the tokens' bytes */
    char **tok;        /* owned array of views into buf */
    int n;
    int64_t line;      /* 1-based line of the record */
    int64_t rec;       /* 0-based record number (for the sense labels) */
};

struct cands {
    struct cand *v;
    int n, cap;
};

static void cands_free(struct cands *c) {
    for (int i = 0; i < c->n; i++) free(c->v[i].text), free(c->v[i].buf), free(c->v[i].tok);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Appends tokens [a, b) of tok as a sentence. */
static void cands_add(struct cands *c, const char *text, char *const *tok, int a, int b,
                      int64_t line, int64_t rec) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = elmo_xrealloc(c->v, sizeof *c->v * (size_t)c->cap);
    }
    struct cand *x = &c->v[c->n++];
    size_t bytes = 1;
    for (int i = a; i < b; i++) bytes += strlen(tok[i]) + 1;
    x->text = elmo_xstrdup(text);
    x->buf = elmo_xmalloc(bytes);
    x->tok = elmo_xcalloc((size_t)(b - a) + 1, sizeof(char *));
    x->n = b - a;
    x->line = line;
    x->rec = rec;
    char *p = x->buf;
    for (int i = a; i < b; i++) {
        size_t len = strlen(tok[i]) + 1;
        memcpy(p, tok[i], len);
        x->tok[i - a] = p;
        p += len;
    }
}

/* Adds a record, cut into pieces of max_sentence_tokens (or its first piece: truncate). */
static void cands_add_record(struct cands *c, const struct elmo_job *job, const char *text,
                             char *const *tok, int n, int64_t line, int64_t rec) {
    int cap = job->max_sentence_tokens;
    if (n == 0) {
        cands_add(c, text, tok, 0, 0, line, rec);
        return;
    }
    for (int a = 0; a < n; a += cap) {
        int b = a + cap < n ? a + cap : n;
        cands_add(c, text, tok, a, b, line, rec);
        if (job->long_sentences == ELMO_LONG_TRUNCATE) break;
    }
}

/* The sentences of job->sentences (any input format); *n_records counts every record. */
static int read_sentences(const struct elmo_job *job, struct cands *c, int64_t *n_records) {
    struct elmo_corpus_opts co = {.format = job->input_format,
                                  .text_field = job->text_field,
                                  .tokens_field = job->tokens_field,
                                  .id_field = job->id_field};
    struct elmo_corpus *cr = NULL;
    struct elmo_record rec;
    int got;
    ELMO_TRY(elmo_corpus_open(&cr, job->sentences, &co, 0, -1, 1));
    *n_records = 0;
    while ((got = elmo_corpus_next(cr, &rec)) > 0) {
        if (rec.reject) {
            fprintf(stderr, "elmo wsd: %s:%lld: skipped: %s\n", job->sentences,
                    (long long)rec.line, rec.reason);
        } else {
            cands_add_record(c, job, rec.text, rec.tok, rec.n_tok, rec.line, *n_records);
        }
        (*n_records)++;
    }
    elmo_corpus_close(cr);
    return got < 0 ? got : 0;
}

/*
 * Finds the occurrences in the candidate sentences, draws at most max_points of them and adds
 * their sentences to the set.
 */
static int pick_from_cands(const struct elmo_job *job, const struct cands *c,
                           char *const *labels, struct elmo_wsd_set *s) {
    int64_t n_found = 0;
    for (int i = 0; i < c->n; i++)
        for (int t = 0; t < c->v[i].n; t++)
            n_found += elmo_wsd_match(job->word, c->v[i].tok[t], strlen(c->v[i].tok[t]),
                                      job->match_forms);
    if (n_found == 0)
        return elmo_error(ELMO_ERR_FORMAT, "no occurrence of '%s'%s in %s", job->word,
                          job->match_forms ? " (or its forms)" : "",
                          job->sentences[0] ? job->sentences : "the sentences");
    int64_t take = n_found < job->max_points ? n_found : job->max_points;
    s->n_found = n_found;
    int64_t seen = 0, j = 0, next = elmo_wsd_pick(0, n_found, take);
    int *occ = NULL, occ_cap = 0;
    for (int i = 0; i < c->n && j < take; i++) {
        int nocc = 0;
        for (int t = 0; t < c->v[i].n; t++) {
            if (!elmo_wsd_match(job->word, c->v[i].tok[t], strlen(c->v[i].tok[t]),
                                job->match_forms))
                continue;
            if (seen++ != next) continue;
            if (nocc == occ_cap) {
                occ_cap = occ_cap ? occ_cap * 2 : 8;
                occ = elmo_xrealloc(occ, sizeof(int) * (size_t)occ_cap);
            }
            occ[nocc++] = t;
            j++;
            if (j < take) next = elmo_wsd_pick(j, n_found, take);
        }
        if (nocc == 0) continue;
        int rc = elmo_wsd_set_add(s, c->v[i].text, c->v[i].line, c->v[i].n,
                                  (const char *const *)c->v[i].tok, nocc, occ,
                                  labels ? labels[c->v[i].rec] : NULL);
        if (rc < 0) {
            free(occ);
            return rc;
        }
    }
    free(occ);
    return 0;
}

/* The set's sentences [s0, s1) (len: their token counts) through the forward path; their
 * outputs into the set. */
static void forward_batch(struct elmo_forward *f, struct elmo_wsd_set *s, int s0, int s1,
                          const int32_t *len) {
    const int row0 = s->sent_row[s0];
    for (int r = row0; r < s->sent_row[s1]; r++)
        f->words[r - row0] = (struct elmo_word){s->tok[r], strlen(s->tok[r])};
    elmo_forward_run(f, s1 - s0, len, f->words, NULL);
    for (int k = s0; k < s1; k++) {
        const int r0 = s->sent_row[k], n = s->sent_row[k + 1] - r0;
        elmo_forward_select(f, r0 - row0, n);
        for (unsigned b = 0; b < ELMO_WSD_OUTPUTS; b++) {
            int64_t nrows;
            if (!s->X[b] || n == 0) continue;
            const float *rows = elmo_forward_output(f, b, &nrows);
            memcpy(s->X[b] + (size_t)r0 * s->dim[b], rows, sizeof(float) * (size_t)n * s->dim[b]);
        }
    }
}

/* Runs the biLM over every kept sentence (in order, a few at a time) and fills the vectors. */
static int forward(const struct elmo_job *job, struct elmo_wsd_set *s) {
    struct elmo_model m;
    struct elmo_forward f;
    memset(&m, 0, sizeof m);
    memset(&f, 0, sizeof f);
    int rc = 0, maxn = 1;
    int32_t *len = elmo_xmalloc(sizeof(int32_t) * (size_t)(s->n_sent + 1));
    for (int k = 0; k < s->n_sent; k++) {
        len[k] = s->sent_row[k + 1] - s->sent_row[k];
        if (len[k] > maxn) maxn = len[k];
    }
    ELMO_CALL(elmo_model_load(job->options, job->weights, &m));
    const struct elmo_forward_opts fo = {
        .max_rows = 64, .max_len = maxn, .outputs = job->outputs,
        .n_mix_weights = job->n_mix_weights, .mix_weights = job->mix_weights,
        .gamma = job->gamma, .layer_norm = job->layer_norm};
    ELMO_CALL(elmo_forward_init(&f, &m, &fo));
    ELMO_CALL(elmo_wsd_set_alloc(s, job->outputs, m.opt.P));
    for (int s0 = 0, s1; s0 < s->n_sent; s0 = s1) {
        s1 = elmo_forward_next_batch(&f, s->n_sent, len, s0);
        forward_batch(&f, s, s0, s1, len + s0);
    }
cleanup:
    free(len);
    elmo_forward_free(&f);
    elmo_model_free(&m);
    return rc;
}

/* PCA (both fits) and separation of one output. */
static int analyse(const struct elmo_wsd_set *s, int bit, struct elmo_wsd_layer *l) {
    const int d = s->dim[bit];
    const float *X = s->X[bit];
    int rc = 0;
    memset(l, 0, sizeof *l);
    l->bit = bit;
    float *Y = elmo_xmalloc(sizeof(float) * (size_t)s->n_occ * d);
    for (int o = 0; o < s->n_occ; o++)
        memcpy(Y + (size_t)o * d, X + (size_t)s->occ_row[o] * d, sizeof(float) * d);
    ELMO_CALL(elmo_pca_fit(X, s->n_rows, d, d, 2, &l->all));
    ELMO_CALL(elmo_pca_fit(Y, s->n_occ, d, d, 2, &l->occ));
    l->all_xy = elmo_xmalloc(sizeof(float) * 2 * (size_t)s->n_occ);
    for (int o = 0; o < s->n_occ; o++) {
        l->all_xy[2 * o] = l->all.proj[(size_t)s->occ_row[o] * 2];
        l->all_xy[2 * o + 1] = l->all.proj[(size_t)s->occ_row[o] * 2 + 1];
    }
    l->has_sep = elmo_sense_separation(Y, s->n_occ, d, d, s->occ_sense, s->n_senses, &l->sep) == 0;
    elmo_error_clear();
cleanup:
    free(Y);
    if (rc < 0) elmo_wsd_layer_free(l);
    return rc;
}

static void print_table(const struct elmo_job *job, const struct elmo_wsd_set *s,
                        const struct elmo_wsd_layer *layers, int n_layers, const char *source) {
    printf("wsd: '%s'%s: %d occurrences drawn (%lld found) in %d sentences, %d token rows; "
           "source: %s\n",
           s->word, job->match_forms ? " and its forms" : "", s->n_occ, (long long)s->n_found,
           s->n_sent, s->n_rows, source);
    if (s->n_senses) {
        printf("senses:");
        for (int k = 0; k < s->n_senses; k++) {
            int c = 0;
            for (int o = 0; o < s->n_occ; o++) c += s->occ_sense[o] == k;
            printf(" %s %d%s", s->sense[k], c, k + 1 < s->n_senses ? "," : "");
        }
        printf("\n");
    }
    printf("\n%-14s %5s | %-15s | %-15s | %9s %9s %7s %12s\n", "", "", "PCA, all tokens",
           "PCA, occurrences", "centroid", "within", "", "1-NN sense");
    printf("%-14s %5s | %7s %7s | %7s %7s | %9s %9s %7s %12s\n", "output", "dim", "PC1", "PC2",
           "PC1", "PC2", "distance", "spread", "ratio", "(cosine)");
    for (int i = 0; i < n_layers; i++) {
        const struct elmo_wsd_layer *l = &layers[i];
        printf("%-14s %5d | %7.4f %7.4f | %7.4f %7.4f |", elmo_outputs[l->bit].name,
               s->dim[l->bit], l->all.ratio[0], l->all.ratio[1], l->occ.ratio[0],
               l->occ.ratio[1]);
        if (l->has_sep) {
            char acc[32];
            snprintf(acc, sizeof acc, "%.2f (%d/%d)", l->sep.nn_accuracy, l->sep.nn_correct,
                     l->sep.n_points);
            printf(" %9.4f %9.4f %7.3f %12s\n", l->sep.centroid_dist, l->sep.spread, l->sep.ratio,
                   acc);
        } else {
            printf(" %9s %9s %7s %12s\n", "-", "-", "-", "-");
        }
    }
    printf("\nPC1/PC2: explained variance ratios.  ratio = mean distance between sense centroids /"
           " mean distance of an\noccurrence to its own sense's centroid (full space, "
           "euclidean); 1-NN: leave-one-out nearest\noccurrence by cosine similarity has the "
           "same sense.\nwrote %s/{layers,<output>,<output>.occurrences}.svg and %s/wsd.json\n",
           job->out, job->out);
}

int elmo_wsd_run(struct elmo_job *job) {
    if (elmo_rank() != 0) return 0; /* small: rank 0 does it alone */
    elmo_blas_set_threads(job->threads);
    struct elmo_wsd_set s;
    struct cands c = {0};
    struct elmo_wsd_layer layers[ELMO_WSD_OUTPUTS];
    char **labels = NULL, source[ELMO_PATH_MAX + 32];
    int64_t n_labels = 0, n_records = 0;
    int rc = 0, n_layers = 0;
    memset(&s, 0, sizeof s);
    memset(layers, 0, sizeof layers);
    snprintf(s.word, sizeof s.word, "%s", job->word);

    if (job->senses[0]) ELMO_CALL(elmo_wsd_read_labels(job->senses, &labels, &n_labels));
    if (job->store[0]) {
        snprintf(source, sizeof source, "store %s", job->store);
        ELMO_CALL(elmo_wsd_from_store(&s, job->store, job->match_forms, job->outputs,
                                      job->max_points, labels, labels ? n_labels : 0));
    } else {
        if (job->sentences[0]) {
            snprintf(source, sizeof source, "sentences %s", job->sentences);
            ELMO_CALL(read_sentences(job, &c, &n_records));
        } else {
            snprintf(source, sizeof source, "the tutorial's five sentences");
            for (int i = 0; i < 5; i++) {
                char buf[128], *tok[16];
                snprintf(buf, sizeof buf, "%s", tutorial_text[i]);
                int n = elmo_split_whitespace(buf, tok, 16);
                cands_add_record(&c, job, tutorial_text[i], tok, n, i + 1, i);
            }
            n_records = 5;
            if (!labels) {
                labels = elmo_xcalloc(5, sizeof(char *));
                for (int i = 0; i < 5; i++) labels[i] = elmo_xstrdup(tutorial_sense[i]);
                n_labels = 5;
            }
        }
        if (labels && n_labels != n_records)
            ELMO_FAIL(ELMO_ERR_FORMAT,
                      "%s has %lld labels but there are %lld sentences (one label per line for "
                      "each sentence; an empty line for an unlabelled one)",
                      job->senses, (long long)n_labels, (long long)n_records);
        ELMO_CALL(pick_from_cands(job, &c, labels, &s));
        cands_free(&c);
        if (job->progress)
            fprintf(stderr, "elmo wsd: running the model on %d sentences (%d tokens)\n", s.n_sent,
                    s.n_rows);
        ELMO_CALL(forward(job, &s));
    }

    for (int b = 0; b < ELMO_WSD_OUTPUTS; b++) {
        if (!(s.outputs & (1u << b))) continue;
        ELMO_CALL(analyse(&s, b, &layers[n_layers]));
        n_layers++;
    }
    /* a stop signal during the forward pass or the PCAs: nothing is written (exit 3) */
    if (elmo_stop_signal())
        ELMO_FAIL(ELMO_ERR_INTERRUPTED,
                  "interrupted by signal %d before the plots were written; nothing was written: "
                  "rerun the same job",
                  elmo_stop_signal());
    ELMO_CALL(elmo_make_dirs(job->out));
    struct elmo_wsd_meta meta = {source, job->store[0] != '\0', job->match_forms};
    ELMO_CALL(elmo_wsd_write(job->out, &s, layers, n_layers, &meta));
    print_table(job, &s, layers, n_layers, source);
    fflush(stdout);

cleanup:
    for (int i = 0; i < ELMO_WSD_OUTPUTS; i++) elmo_wsd_layer_free(&layers[i]);
    elmo_wsd_free_labels(labels, n_labels);
    cands_free(&c);
    elmo_wsd_set_free(&s);
    return rc;
}

/*
 * sense.c: occurrences of a word (suffix rules) and the sense-separation figures (see sense.h).
 */
#include "model/sense.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gemm.h"
#include "model/status.h"

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

static bool is_punct(unsigned char c) {
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}

/* a[0..n) equals b[0..n) ignoring ASCII case. */
static bool same(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
    return true;
}

/* The rest of the token after a stem is one of the suffixes (NULL-terminated list). */
static bool is_suffix(const char *rest, size_t n, const char *const *suffixes) {
    for (int i = 0; suffixes[i]; i++)
        if (strlen(suffixes[i]) == n && same(rest, suffixes[i], n)) return true;
    return false;
}

bool elmo_wsd_match(const char *word, const char *tok, size_t len, bool forms) {
    static const char *const plain[] = {"s", "es", "ed", "ing", NULL};
    static const char *const after_e[] = {"d", "s", NULL};      /* like: liked, likes */
    static const char *const drop_e[] = {"ing", "ed", NULL};    /* like: liking, (lik)ed */
    size_t wlen = strlen(word);
    while (len > 0 && is_punct((unsigned char)tok[0])) tok++, len--;
    while (len > 0 && is_punct((unsigned char)tok[len - 1])) len--;
    if (wlen == 0 || len == 0) return false;
    if (len == wlen && same(tok, word, len)) return true;
    if (!forms) return false;
    bool ends_e = lower((unsigned char)word[wlen - 1]) == 'e';
    if (len > wlen && same(tok, word, wlen)) {
        const char *rest = tok + wlen;
        size_t n = len - wlen;
        if (ends_e ? is_suffix(rest, n, after_e) : is_suffix(rest, n, plain)) return true;
    }
    if (ends_e && wlen >= 2 && len > wlen - 1 && same(tok, word, wlen - 1))
        return is_suffix(tok + wlen - 1, len - (wlen - 1), drop_e);
    return false;
}

/*
 * The labelled rows' sense centroids (cent: (S, d), zeroed; count: rows per sense), the mean
 * distance of a point to its own centroid and over the pairs of centroids.
 */
static void centroid_figures(const float *X, int d, int ldx, const int *sense, const int *rows,
                             int np, int S, const int *count, double *cent,
                             struct elmo_separation *out) {
    for (int a = 0; a < np; a++) {
        const float *x = X + (size_t)rows[a] * ldx;
        double *c = cent + (size_t)sense[rows[a]] * d;
        for (int j = 0; j < d; j++) c[j] += x[j];
    }
    for (int s = 0; s < S; s++)
        for (int j = 0; j < d && count[s]; j++) cent[(size_t)s * d + j] /= count[s];
    double spread = 0.0;
    for (int a = 0; a < np; a++) {
        const float *x = X + (size_t)rows[a] * ldx;
        const double *c = cent + (size_t)sense[rows[a]] * d;
        double ss = 0.0;
        for (int j = 0; j < d; j++) ss += (x[j] - c[j]) * (x[j] - c[j]);
        spread += sqrt(ss);
    }
    spread /= np;
    double between = 0.0;
    int pairs = 0;
    for (int s = 0; s < S; s++)
        for (int t = s + 1; t < S; t++) {
            if (!count[s] || !count[t]) continue;
            double ss = 0.0;
            for (int j = 0; j < d; j++) {
                double diff = cent[(size_t)s * d + j] - cent[(size_t)t * d + j];
                ss += diff * diff;
            }
            between += sqrt(ss);
            pairs++;
        }
    between /= pairs;
    out->centroid_dist = between;
    out->spread = spread;
    out->ratio = spread > 0.0 ? between / spread : INFINITY;
}

/* Leave-one-out nearest neighbour by cosine similarity; dot products through elmo_gemm. */
static int nn_figures(const float *X, int d, int ldx, const int *sense, const int *rows, int np,
                      struct elmo_separation *out) {
    int rc = 0;
    float *P = elmo_malloc(sizeof(float) * (size_t)np * d, "separation: points");
    float *dots = elmo_malloc(sizeof(float) * (size_t)np * np, "separation: dot products");
    double *norm = elmo_malloc(sizeof(double) * (size_t)np, "separation: norms");
    if (!P || !dots || !norm) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    for (int a = 0; a < np; a++) {
        memcpy(P + (size_t)a * d, X + (size_t)rows[a] * ldx, sizeof(float) * (size_t)d);
        double ss = 0.0;
        for (int j = 0; j < d; j++) ss += (double)P[(size_t)a * d + j] * P[(size_t)a * d + j];
        norm[a] = sqrt(ss);
    }
    elmo_gemm(false, true, np, np, d, 1.0f, P, d, P, d, 0.0f, dots, np);
    int correct = 0;
    for (int a = 0; a < np; a++) {
        int best = -1;
        double best_sim = -INFINITY;
        for (int b = 0; b < np; b++) {
            if (b == a) continue;
            double den = norm[a] * norm[b];
            double sim = den > 0.0 ? dots[(size_t)a * np + b] / den : 0.0;
            if (sim > best_sim) best_sim = sim, best = b;
        }
        correct += sense[rows[best]] == sense[rows[a]];
    }
    out->nn_correct = correct;
    out->nn_accuracy = (double)correct / np;
cleanup:
    free(norm);
    free(P);
    free(dots);
    return rc;
}

int elmo_sense_separation(const float *X, int n, int d, int ldx, const int *sense,
                          int n_senses_max, struct elmo_separation *out) {
    memset(out, 0, sizeof *out);
    out->centroid_dist = out->spread = out->ratio = out->nn_accuracy = out->majority = NAN;
    int rc = 0, S = n_senses_max, np = 0;
    int *rows = NULL, *count = NULL;
    double *cent = NULL;
    if (n < 0 || d < 1 || ldx < d || S < 0)
        return elmo_error(ELMO_ERR_ARG, "separation: bad sizes");
    rows = elmo_calloc((size_t)(n > 0 ? n : 1), sizeof(int), "separation: rows");
    count = elmo_calloc((size_t)(S > 0 ? S : 1), sizeof(int), "separation: counts");
    cent = elmo_calloc((size_t)(S > 0 ? S : 1) * d, sizeof(double), "separation: centroids");
    if (!rows || !count || !cent) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    for (int i = 0; i < n; i++) {
        if (sense[i] < 0) continue;
        if (sense[i] >= S) ELMO_FAIL(ELMO_ERR_ARG, "separation: sense %d of row %d >= %d",
                                     sense[i], i, S);
        rows[np++] = i;
        count[sense[i]]++;
    }
    int ns = 0, largest = 0;
    for (int s = 0; s < S; s++) {
        ns += count[s] > 0;
        if (count[s] > largest) largest = count[s];
    }
    out->n_points = np;
    out->n_senses = ns;
    if (np < 2 || ns < 2)
        ELMO_FAIL(ELMO_ERR_ARG, "separation needs 2 labelled points of 2 senses (%d points, "
                  "%d senses)", np, ns);
    out->majority = (double)largest / np;
    centroid_figures(X, d, ldx, sense, rows, np, S, count, cent, out);
    rc = nn_figures(X, d, ldx, sense, rows, np, out);
cleanup:
    free(rows);
    free(count);
    free(cent);
    return rc;
}

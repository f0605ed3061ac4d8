/*
 * pca.c: PCA by the eigenvectors of the smaller scatter matrix (see pca.h).
 *
 * Steps: column means in double; the centred rows Xc in float; the scatter matrix through
 * elmo_gemm (Xc^T Xc when n > d, else Xc Xc^T); its top k eigenpairs by LAPACK dsyevr in double;
 * the components (for the Gram route Xc^T u, renormalised to unit length); signs normalised;
 * the projections Xc C^T through elmo_gemm.
 */
#include "model/pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gemm.h"
#include "model/status.h"

/* LAPACK (Fortran calling convention, with the hidden lengths of the character arguments). */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n,
                    double *a, const int *lda, const double *vl, const double *vu, const int *il,
                    const int *iu, const double *abstol, int *m, double *w, double *z,
                    const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info, size_t jobz_len, size_t range_len,
                    size_t uplo_len);

void elmo_pca_free(struct elmo_pca *p) {
    if (!p) return;
    free(p->mean);
    free(p->components);
    free(p->proj);
    free(p->variance);
    free(p->ratio);
    p->mean = p->components = p->proj = NULL;
    p->variance = p->ratio = NULL;
}

/* Flips v (len) so that its largest-magnitude entry (the first on ties) is positive. */
static void normalise_sign(float *v, int len) {
    int best = 0;
    for (int i = 1; i < len; i++)
        if (fabsf(v[i]) > fabsf(v[best])) best = i;
    if (v[best] < 0.0f)
        for (int i = 0; i < len; i++) v[i] = -v[i];
}

/*
 * The top kk eigenpairs of the symmetric (m, m) matrix A (overwritten), largest first:
 * w[j] and the column-major eigenvector Z[:, j] (m, kk).
 */
static int top_eigen(double *A, int m, int kk, double *w, double *Z) {
    int il = m - kk + 1, iu = m, found = 0, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double vl = 0.0, vu = 0.0, abstol = 0.0, wq = 0.0;
    int *isuppz = elmo_malloc(sizeof(int) * 2 * (size_t)kk, "PCA: eigenvector supports");
    double *wa = elmo_malloc(sizeof(double) * (size_t)m, "PCA: eigenvalues");
    double *za = elmo_malloc(sizeof(double) * (size_t)m * (size_t)kk, "PCA: eigenvectors");
    double *work = NULL;
    int *iwork = NULL, rc = 0;
    if (!isuppz || !wa || !za) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    dsyevr_("V", "I", "L", &m, A, &m, &vl, &vu, &il, &iu, &abstol, &found, wa, za, &m, isuppz,
            &wq, &lwork, &iwq, &liwork, &info, 1, 1, 1);
    if (info != 0) ELMO_FAIL(ELMO_ERR_STATE, "PCA: dsyevr workspace query failed (info %d)", info);
    lwork = (int)wq + 1;
    liwork = iwq + 1;
    work = elmo_malloc(sizeof(double) * (size_t)lwork, "PCA: LAPACK workspace");
    iwork = elmo_malloc(sizeof(int) * (size_t)liwork, "PCA: LAPACK workspace");
    if (!work || !iwork) ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());
    dsyevr_("V", "I", "L", &m, A, &m, &vl, &vu, &il, &iu, &abstol, &found, wa, za, &m, isuppz,
            work, &lwork, iwork, &liwork, &info, 1, 1, 1);
    if (info != 0 || found != kk)
        ELMO_FAIL(ELMO_ERR_STATE, "PCA: dsyevr failed (info %d, %d of %d eigenvalues)", info,
                  found, kk);
    /* dsyevr lists the eigenvalues in ascending order: reverse them. */
    for (int j = 0; j < kk; j++) {
        w[j] = wa[kk - 1 - j];
        memcpy(Z + (size_t)j * m, za + (size_t)(kk - 1 - j) * m, sizeof(double) * (size_t)m);
    }
cleanup:
    free(isuppz);
    free(wa);
    free(za);
    free(work);
    free(iwork);
    return rc;
}

int elmo_pca_fit(const float *X, int n, int d, int ldx, int k, struct elmo_pca *p) {
    memset(p, 0, sizeof *p);
    ELMO_CHECK(n >= 1 && d >= 1 && ldx >= d && k >= 1 && k <= d, ELMO_ERR_ARG,
               "PCA: bad sizes (n %d, d %d, ldx %d, k %d)", n, d, ldx, k);
    const int m = n > d ? d : n; /* order of the scatter matrix we decompose */
    const int kk = k < m ? k : m;
    int rc = 0;
    float *Xc = NULL, *S = NULL, *u = NULL;
    double *A = NULL, *w = NULL, *Z = NULL, *colsum = NULL;
    p->n = n, p->d = d, p->k = k;
    p->mean = elmo_calloc((size_t)d, sizeof(float), "PCA: mean");
    p->components = elmo_calloc((size_t)k * d, sizeof(float), "PCA: components");
    p->proj = elmo_calloc((size_t)n * k, sizeof(float), "PCA: projections");
    p->variance = elmo_calloc((size_t)k, sizeof(double), "PCA: variances");
    p->ratio = elmo_calloc((size_t)k, sizeof(double), "PCA: variance ratios");
    Xc = elmo_malloc(sizeof(float) * (size_t)n * d, "PCA: centred rows");
    S = elmo_malloc(sizeof(float) * (size_t)m * m, "PCA: scatter matrix");
    A = elmo_malloc(sizeof(double) * (size_t)m * m, "PCA: scatter matrix");
    w = elmo_malloc(sizeof(double) * (size_t)kk, "PCA: eigenvalues");
    Z = elmo_malloc(sizeof(double) * (size_t)m * kk, "PCA: eigenvectors");
    u = elmo_malloc(sizeof(float) * (size_t)m, "PCA: eigenvector");
    colsum = elmo_calloc((size_t)d, sizeof(double), "PCA: column sums");
    if (!p->mean || !p->components || !p->proj || !p->variance || !p->ratio || !Xc || !S || !A ||
        !w || !Z || !u || !colsum)
        ELMO_FAIL(ELMO_ERR_NOMEM, "%s", elmo_errmsg());

    /* Means in double, then the centred rows. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            float v = X[(size_t)i * ldx + j];
            if (!isfinite(v))
                ELMO_FAIL(ELMO_ERR_NAN, "PCA: non-finite value at row %d, column %d", i, j);
            colsum[j] += v;
        }
    for (int j = 0; j < d; j++) p->mean[j] = (float)(colsum[j] / n);
    double total = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double c = (double)X[(size_t)i * ldx + j] - colsum[j] / n;
            Xc[(size_t)i * d + j] = (float)c;
            total += c * c;
        }
    p->total = total;

    /* The smaller scatter matrix, symmetrised in double. */
    const bool cov = n > d;
    if (cov) elmo_gemm(true, false, d, d, n, 1.0f, Xc, d, Xc, d, 0.0f, S, d);
    else elmo_gemm(false, true, n, n, d, 1.0f, Xc, d, Xc, d, 0.0f, S, n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            A[(size_t)i * m + j] = 0.5 * ((double)S[(size_t)i * m + j] + S[(size_t)j * m + i]);
    ELMO_CALL(top_eigen(A, m, kk, w, Z));

    /* Components; an eigenvalue at the rounding level of the scatter matrix counts as zero. */
    const double zero = 1e-6 * total;
    for (int c = 0; c < kk; c++) {
        float *comp = p->components + (size_t)c * d;
        double lambda = w[c];
        if (!(total > 0.0) || lambda <= zero) continue;
        if (cov) {
            for (int j = 0; j < d; j++) comp[j] = (float)Z[(size_t)c * m + j];
        } else {
            for (int i = 0; i < n; i++) u[i] = (float)Z[(size_t)c * m + i];
            elmo_gemm(true, false, d, 1, n, 1.0f, Xc, d, u, 1, 0.0f, comp, 1);
        }
        double norm = 0.0;
        for (int j = 0; j < d; j++) norm += (double)comp[j] * comp[j];
        norm = sqrt(norm);
        if (!(norm > 0.0)) {
            memset(comp, 0, sizeof(float) * (size_t)d);
            continue;
        }
        for (int j = 0; j < d; j++) comp[j] = (float)(comp[j] / norm);
        normalise_sign(comp, d);
        p->variance[c] = n > 1 ? lambda / (n - 1) : 0.0;
        p->ratio[c] = lambda / total;
    }
    elmo_gemm(false, true, n, k, d, 1.0f, Xc, d, p->components, d, 0.0f, p->proj, k);

cleanup:
    free(Xc);
    free(S);
    free(A);
    free(w);
    free(Z);
    free(u);
    free(colsum);
    if (rc < 0) elmo_pca_free(p);
    return rc;
}

void elmo_pca_project(const struct elmo_pca *p, const float *Y, int m, int ldy, float *out) {
    if (m <= 0) return;
    float *Yc = elmo_xmalloc(sizeof(float) * (size_t)m * p->d);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < p->d; j++)
            Yc[(size_t)i * p->d + j] = Y[(size_t)i * ldy + j] - p->mean[j];
    elmo_gemm(false, true, m, p->k, p->d, 1.0f, Yc, p->d, p->components, p->d, 0.0f, out, p->k);
    free(Yc);
}

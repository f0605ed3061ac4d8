/*
 * pca.h: principal component analysis of the rows of a matrix, as sklearn's
 * PCA(n_components=k).fit_transform does it: the rows are mean-centred, nothing is whitened,
 * and the components are the top-k eigenvectors of the scatter matrix Xc^T Xc.
 *
 * The eigenproblem is solved by LAPACK's dsyevr (OpenBLAS carries LAPACK) on the smaller of the
 * two scatter matrices: the (d, d) covariance Xc^T Xc when there are more rows than columns,
 * else the (n, n) Gram matrix Xc Xc^T, whose eigenvectors u give the components as
 * Xc^T u / sqrt(lambda).  Both products go through elmo_gemm; the eigenproblem runs in double.
 *
 * Signs are normalised so that every component's largest-magnitude loading is positive (the
 * first such loading on ties), which makes the result independent of the solver's choice.
 * A component whose eigenvalue is zero (at most rank(Xc) = min(n - 1, d) are not) is all zeros,
 * with zero projections and a zero variance ratio.
 *
 * Dimension letters: n = rows (points), d = columns (features), k = components.
 * Nothing here is collective or allocates per row; model/ knows no MPI.
 */
#ifndef ELMO_PCA_H
#define ELMO_PCA_H

/* A fitted PCA.  Every array is owned by the struct; free with elmo_pca_free. */
struct elmo_pca {
    int n, d, k;
    float *mean;          /* (d) column means of the fitted rows */
    float *components;    /* (k, d) unit rows, sign-normalised; zero rows past the rank */
    float *proj;          /* (n, k) the fitted rows projected: (x - mean) . component */
    double *variance;     /* (k) eigenvalue / (n - 1): sklearn's explained_variance_ */
    double *ratio;        /* (k) eigenvalue / total: sklearn's explained_variance_ratio_ */
    double total;         /* sum of squares of the centred rows (trace of Xc^T Xc) */
};

/*
 * Fits a PCA with k components to X (n, d), row-major with leading dimension ldx >= d.
 * Requires n >= 1, d >= 1, 1 <= k <= d.  Fills *p (its previous contents are ignored; free
 * with elmo_pca_free).  Returns 0, ELMO_ERR_ARG (bad sizes), ELMO_ERR_NAN (a non-finite input
 * value), ELMO_ERR_NOMEM, or ELMO_ERR_STATE when LAPACK does not converge.  Not collective.
 */
int elmo_pca_fit(const float *X, int n, int d, int ldx, int k, struct elmo_pca *p);

/* Projects m rows Y (m, d) onto the fitted components: out (m, k) = (Y - mean) C^T. */
void elmo_pca_project(const struct elmo_pca *p, const float *Y, int m, int ldy, float *out);

/* Frees the arrays; accepts a zeroed struct and may be called twice. */
void elmo_pca_free(struct elmo_pca *p);

#endif /* ELMO_PCA_H */

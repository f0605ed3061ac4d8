/*
 * batcher.c: length-sorted batching under a token budget.
 */
#include "worker/batcher.h"

#include <stdlib.h>

static const int32_t *sort_len;

static int by_length_desc(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (sort_len[a] != sort_len[b]) return sort_len[a] > sort_len[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

int elmo_batcher_plan(int n, const int32_t *n_tok, int budget, int max_rows, int32_t *order,
                      int32_t *starts) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (n_tok[i] > 0) order[m++] = i;
    sort_len = n_tok;
    qsort(order, (size_t)m, sizeof *order, by_length_desc);
    int nb = 0, rows = 0;
    long used = 0;
    starts[0] = 0;
    for (int k = 0; k < m; k++) {
        long need = (long)n_tok[order[k]] + 2;
        if (rows > 0 && (used + need > budget || rows >= max_rows)) {
            starts[++nb] = k;
            rows = 0;
            used = 0;
        }
        rows++;
        used += need;
    }
    if (m > 0) starts[++nb] = m;
    return nb;
}

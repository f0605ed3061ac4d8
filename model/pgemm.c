/*
 * pgemm.c: the row-stable GEMM (contract in gemm.h): weight packing, the cache-blocked loops,
 * the register tiles per instruction set, and a tiny persistent thread pool.
 *
 * Loops (GotoBLAS order, B already packed): for each block of NC columns (NCP panels), for
 * each block of KC of K, for each block of MC rows, for each panel, for each tile of MR rows:
 * one tile call.  The MC x KC block of A stays in L2 while the panels pass; a KC x ELMO_NR
 * block of a panel (KC 512: 128 KB) stays in L2 while the row tiles pass; the NC block of B
 * stays in L3 while the row blocks pass.  A is read in place through row pointers (no packing,
 * no compaction): A rows are any rows the caller names.
 *
 * Instruction sets: the tiles exist for AVX-512 (x86-64-v4: 6 rows x 64 columns, 24 zmm
 * accumulators), AVX2 + FMA (x86-64-v3: 6 x 16 sub-tiles, 12 ymm accumulators) and a scalar
 * fmaf loop (any x86-64, or any other CPU); the best one the CPU has is chosen once at start
 * (__builtin_cpu_supports).  All three give the same bits (gemm.h).  On a CPU with two FMA
 * ports of full width the AVX-512 tile has twice the AVX2 tile's peak (elmo_pgemm_fma_peak
 * measures it; tests/bench/README.md has the figures).
 *
 * Threads: a pool of elmo_blas_threads() - 1 workers plus the caller; a call's panels (of all
 * its products, weighted by M K) are cut into one contiguous range per thread.  Workers sleep
 * on a condition variable between calls after a short spin.
 */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/gemm.h"
#include "model/status.h"

#define PGEMM_MAXMR 8
#define PGEMM_MAXT  64

enum { TILE_INIT_ZERO = 0, TILE_INIT_BIAS = 1, TILE_INIT_ROWS = 2 };

/* One tile call: m rows x ELMO_NR columns over kc steps of K. */
struct tile_args {
    int m, kc, init;
    size_t bs;                   /* row stride of b (ELMO_NR when packed) */
    const float *b;              /* B at (k0, first column of the panel) */
    const float *bias;           /* (ELMO_NR) for TILE_INIT_BIAS */
    const float *a[PGEMM_MAXMR]; /* rows of A at k0 */
    const float *i[PGEMM_MAXMR]; /* (ELMO_NR) init rows for TILE_INIT_ROWS */
    float *c[PGEMM_MAXMR];       /* (ELMO_NR) output rows */
};

/* ------------------------------------------------------------------------------------------ */
/* tiles */

/* Any CPU: the fmaf chain itself. */
static void tile_scalar(const struct tile_args *restrict t) {
    for (int r = 0; r < t->m; r++) {
        for (int j = 0; j < ELMO_NR; j++) {
            float acc = t->init == TILE_INIT_ZERO   ? 0.0f
                        : t->init == TILE_INIT_BIAS ? t->bias[j]
                                                    : t->i[r][j];
            const float *b = t->b + j;
            for (int k = 0; k < t->kc; k++, b += t->bs) acc = fmaf(t->a[r][k], *b, acc);
            t->c[r][j] = acc;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define PGEMM_X86 1

#define TILE_NAME   tile_avx512
#define TILE_TARGET __attribute__((target("arch=x86-64-v4")))
#define VW          16
#define NVS         4
#define MR          6
#include "model/pgemm_tile.h"
#undef TILE_NAME
#undef TILE_TARGET
#undef VW
#undef NVS
#undef MR

/* A register-only loop of 12 independent FMA chains: the FMA peak of this instruction set. */
#define PEAK_LOOP(VT, iters, out)                                                              \
    do {                                                                                       \
        VT acc[12], mul = (VT){0} + 1.0000001f, add = (VT){0} + 1e-7f;                         \
        for (int i = 0; i < 12; i++) acc[i] = (VT){0} + (float)i;                              \
        for (long it = 0; it < (iters); it++)                                                  \
            _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) acc[i] = acc[i] * mul + add; \
        float sum = 0;                                                                         \
        for (int i = 0; i < 12; i++) sum += acc[i][0];                                         \
        (out) = sum;                                                                           \
    } while (0)

typedef float peak_v16 __attribute__((vector_size(64)));
typedef float peak_v8 __attribute__((vector_size(32)));
__attribute__((target("arch=x86-64-v4"))) static float peak_avx512(long iters) {
    float r;
    PEAK_LOOP(peak_v16, iters, r);
    return r;
}
__attribute__((target("arch=x86-64-v3"))) static float peak_avx2(long iters) {
    float r;
    PEAK_LOOP(peak_v8, iters, r);
    return r;
}

#define TILE_NAME   tile_avx2
#define TILE_TARGET __attribute__((target("arch=x86-64-v3")))
#define VW          8
#define NVS         2
#define MR          6
#include "model/pgemm_tile.h"
#undef TILE_NAME
#undef TILE_TARGET
#undef VW
#undef NVS
#undef MR
#endif

struct isa {
    const char *name;
    void (*tile)(const struct tile_args *);
    int mr;
};

static const struct isa isas[4] = {
    {"scalar-fma", tile_scalar, 4},
    {"scalar-fma", tile_scalar, 4},
#ifdef PGEMM_X86
    {"avx2", tile_avx2, 6},
    {"avx512", tile_avx512, 6},
#else
    {"scalar-fma", tile_scalar, 4},
    {"scalar-fma", tile_scalar, 4},
#endif
};

static int isa_level = 0; /* 0 = not chosen yet */

static int best_level(void) {
#ifdef PGEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
#endif
    return 1;
}

static const struct isa *cur_isa(void) {
    if (isa_level == 0) isa_level = best_level();
    return &isas[isa_level];
}

int elmo__pgemm_force_isa(int level) {
    int best = best_level();
    if (level == 0) isa_level = best;
    else if (level >= 1 && level <= best) isa_level = level;
    else cur_isa();
    return isa_level;
}

const char *elmo_pgemm_isa(void) { return cur_isa()->name; }

/* ------------------------------------------------------------------------------------------ */
/* packing */

int elmo_pmat_panels(int N, int ngates) {
    const int w = ELMO_NR / ngates, gd = N / ngates;
    return (gd + w - 1) / w;
}

size_t elmo_pmat_floats(int K, int N, int ngates, bool bias) {
    size_t np = (size_t)elmo_pmat_panels(N, ngates);
    size_t n = np * (size_t)K * ELMO_NR + (bias ? np * ELMO_NR : 0);
    return (n + 15) / 16 * 16;
}

void elmo_pmat_describe(struct elmo_pmat *p, int K, int N, int ngates, bool bias, float *mem) {
    p->K = K;
    p->N = N;
    p->np = elmo_pmat_panels(N, ngates);
    p->ngates = ngates;
    p->data = mem;
    p->bias = bias ? mem + (size_t)p->np * K * ELMO_NR : NULL;
}

void elmo_pmat_pack(struct elmo_pmat *p, int K, int N, const float *B, int ldb, const float *bias,
                    int ngates, float *mem) {
    ELMO_ASSERT((ngates == 1 || ngates == 2 || ngates == 4) && N % ngates == 0);
    const int w = ELMO_NR / ngates, gd = N / ngates;
    elmo_pmat_describe(p, K, N, ngates, bias != NULL, mem);
    /* blocks of 32 rows of B (in cache) go to every panel, so B is read once, in order */
    for (int k0 = 0; k0 < K; k0 += 32) {
        for (int q = 0; q < p->np; q++) {
            /* gate g of panel q: units u0 .. u0 + nu - 1, i.e. source columns g gd + u0 .. */
            const int u0 = w * q, nu = gd - u0 < w ? gd - u0 : w;
            float *dst = mem + (size_t)q * K * ELMO_NR;
            for (int k = k0; k < K && k < k0 + 32; k++) {
                const float *row = B + (size_t)k * ldb;
                float *d = dst + (size_t)k * ELMO_NR;
                for (int g = 0; g < ngates; g++) {
                    memcpy(d + g * w, row + (size_t)g * gd + u0, sizeof(float) * (size_t)nu);
                    if (nu < w) memset(d + g * w + nu, 0, sizeof(float) * (size_t)(w - nu));
                }
            }
        }
    }
    if (bias)
        for (int q = 0; q < p->np; q++) {
            const int u0 = w * q, nu = gd - u0 < w ? gd - u0 : w;
            for (int g = 0; g < ngates; g++) {
                float *d = p->bias + (size_t)q * ELMO_NR + g * w;
                memcpy(d, bias + (size_t)g * gd + u0, sizeof(float) * (size_t)nu);
                if (nu < w) memset(d + nu, 0, sizeof(float) * (size_t)(w - nu));
            }
        }
}

/* ------------------------------------------------------------------------------------------ */
/* the blocked loops */

/* Blocking (floats of K, rows of A, panels of B); see the top of the file. */
static int kc_max = 512, mc_bytes = 384 << 10, nc_bytes = 4 << 20;

int elmo_pgemm_kc(void) { return kc_max; }

/* A product as the loops see it: packed panels, or a view of a row-major matrix. */
struct prod {
    const struct elmo_pgemm_op *op;
    const float *b;         /* panel 0 at k = 0 */
    size_t bs, ps;          /* row stride and panel stride of b */
    const float *tail;      /* the last panel when it is stored apart (stride ELMO_NR), or NULL */
    const float *bias;      /* (np * ELMO_NR) padded bias, or NULL */
    const float *tail_bias; /* (ELMO_NR) bias of the tail panel when bias is not padded */
    int K, N, np;
};

static inline const float *row_of(const struct elmo_rows *r, int i) {
    return r->ptr ? r->ptr[i] : r->base + (size_t)i * r->ld;
}
static inline float *out_row(const struct elmo_out_rows *r, int i) {
    return r->ptr ? r->ptr[i] : r->base + (size_t)i * r->ld;
}

/* Block sizes of one product: kc floats of K, mc rows of A, ncp panels of B per block. */
struct blocking {
    int kc, mc, ncp;
};

static void plan_blocking(const struct prod *pr, int MRt, struct blocking *bl) {
    const struct elmo_pgemm_op *op = pr->op;
    const int M = op->M, K = pr->K;
    const int nkb = (K + kc_max - 1) / kc_max;
    int kc = nkb > 0 ? (K + nkb - 1) / nkb : 0;
    kc = (kc + 3) / 4 * 4;
    /* an epilogue without a carrier for partial sums: K in one block (slower, still right) */
    if (kc > K || (op->epi && !op->c.base && !op->c.ptr)) kc = K;
    int mc = (int)((size_t)mc_bytes / (sizeof(float) * (size_t)(kc > 0 ? kc : 1)));
    if (mc < MRt) mc = MRt;
    /* equal row blocks: ceil(M / mc) of them, each a multiple of MR rows */
    const int nmb = (M + mc - 1) / mc;
    mc = ((M + nmb - 1) / nmb + MRt - 1) / MRt * MRt;
    int ncp = (int)((size_t)nc_bytes / (sizeof(float) * ELMO_NR * (size_t)(kc > 0 ? kc : 1)));
    if (ncp < 1) ncp = 1;
    bl->kc = kc, bl->mc = mc, bl->ncp = ncp;
}

/*
 * Where the accumulators of the tile at rows [ir, ir + m), columns [j0, j0 + n) start: the
 * partial sums in C after the first K block; else the init rows (plus bias), the bias or zero.
 * A partial or biased start is staged in tile_i.  Inlined: it runs once per tile.
 */
static inline __attribute__((always_inline)) void
tile_start(const struct elmo_pgemm_op *op, struct tile_args *t, int ir, int m, int j0, int n,
           bool first, const float *bias, float (*tile_i)[ELMO_NR]) {
    if (!first) {
        t->init = TILE_INIT_ROWS;
        for (int r = 0; r < m; r++) t->i[r] = out_row(&op->c, ir + r) + j0;
    } else if (op->init_mode == ELMO_INIT_ROWS) {
        t->init = TILE_INIT_ROWS;
        for (int r = 0; r < m; r++) t->i[r] = row_of(&op->init, ir + r) + j0;
        if (bias || n < ELMO_NR) {
            for (int r = 0; r < m; r++) {
                int j = 0;
                if (bias)
                    for (; j < n; j++) tile_i[r][j] = t->i[r][j] + bias[j];
                else
                    for (; j < n; j++) tile_i[r][j] = t->i[r][j];
                for (; j < ELMO_NR; j++) tile_i[r][j] = 0.0f;
                t->i[r] = tile_i[r];
            }
        }
    } else {
        t->init = bias ? TILE_INIT_BIAS : TILE_INIT_ZERO;
    }
    if (!first && n < ELMO_NR) {
        for (int r = 0; r < m; r++) {
            memcpy(tile_i[r], t->i[r], sizeof(float) * (size_t)n);
            memset(tile_i[r] + n, 0, sizeof(float) * (size_t)(ELMO_NR - n));
            t->i[r] = tile_i[r];
        }
    }
}

/* After the tile's kernel: a partial tile staged in tile_c goes to C (when C carries the
 * sums), and after the last K block the epilogue sees the finished rows.  Inlined as above. */
static inline __attribute__((always_inline)) void
tile_finish(const struct elmo_pgemm_op *op, const struct tile_args *t, int ir, int m, int j0,
            int n, bool carrier, bool last, float (*tile_c)[ELMO_NR]) {
    if (carrier && n < ELMO_NR)
        for (int r = 0; r < m; r++)
            memcpy(out_row(&op->c, ir + r) + j0, tile_c[r], sizeof(float) * (size_t)n);
    if (last && op->epi) {
        const float *rows[PGEMM_MAXMR];
        for (int r = 0; r < m; r++) rows[r] = t->c[r];
        op->epi(op->epi_ctx, ir, m, j0, n, rows);
    }
}

/*
 * Asks for the rows the tile at rows [ir, ir + m), columns [j0, j0 + ELMO_NR) will start
 * from (init rows or partial sums), into L2, while the tile before it runs: they are usually
 * far away in memory (the LSTM steps start from input projections computed long before), and
 * every accumulator of a tile waits for them.
 */
static inline __attribute__((always_inline)) void
prefetch_start(const struct elmo_pgemm_op *op, int ir, int m, int j0, bool first) {
    if (first && op->init_mode != ELMO_INIT_ROWS) return;
    for (int r = 0; r < m; r++) {
        const float *p = first ? row_of(&op->init, ir + r) + j0 : out_row(&op->c, ir + r) + j0;
        for (int l = 0; l < ELMO_NR; l += 16) __builtin_prefetch(p + l, 0, 2);
    }
}

/* Panels [q0, q1) of one product. */
static void run_panels(const struct prod *pr, int q0, int q1) {
    const struct elmo_pgemm_op *op = pr->op;
    const struct isa *isa = cur_isa();
    const int MRt = isa->mr, M = op->M, K = pr->K, N = pr->N;
    if (M <= 0 || q0 >= q1) return;
    struct blocking bl;
    plan_blocking(pr, MRt, &bl);
    const int kc = bl.kc, mc = bl.mc, ncp = bl.ncp;
    float tile_c[PGEMM_MAXMR][ELMO_NR] __attribute__((aligned(64)));
    float tile_i[PGEMM_MAXMR][ELMO_NR] __attribute__((aligned(64)));
    const bool has_bias = pr->bias != NULL || pr->tail_bias != NULL;
    const bool carrier = op->epi == NULL || K > kc;

    for (int jc = q0; jc < q1; jc += ncp) {
        const int jc1 = jc + ncp < q1 ? jc + ncp : q1;
        for (int k0 = 0; k0 < K || (K == 0 && k0 == 0); k0 += kc) {
            const int kb = K - k0 < kc ? K - k0 : kc;
            const bool first = k0 == 0, last = k0 + kc >= K;
            for (int i0 = 0; i0 < M; i0 += mc) {
                const int i1 = i0 + mc < M ? i0 + mc : M;
                for (int q = jc; q < jc1; q++) {
                    const int j0 = q * ELMO_NR;
                    const int n = N - j0 < ELMO_NR ? N - j0 : ELMO_NR;
                    const bool is_tail = pr->tail && q == pr->np - 1;
                    const float *bias = !has_bias                    ? NULL
                                        : (is_tail && pr->tail_bias) ? pr->tail_bias
                                                                     : pr->bias + j0;
                    struct tile_args t;
                    t.kc = kb;
                    t.bs = is_tail ? ELMO_NR : pr->bs;
                    t.b = is_tail ? pr->tail + (size_t)k0 * ELMO_NR
                                  : pr->b + (size_t)q * pr->ps + (size_t)k0 * pr->bs;
                    t.bias = bias;
                    for (int ir = i0; ir < i1; ir += MRt) {
                        const int m = i1 - ir < MRt ? i1 - ir : MRt;
                        t.m = m;
                        for (int r = 0; r < m; r++) t.a[r] = row_of(&op->a, ir + r) + k0;
                        tile_start(op, &t, ir, m, j0, n, first, bias, tile_i);
                        /* where the sums go */
                        const bool direct = carrier && n == ELMO_NR;
                        for (int r = 0; r < m; r++)
                            t.c[r] = direct ? out_row(&op->c, ir + r) + j0 : tile_c[r];
                        /* the next tile's start: the next rows of this panel, else the first
                           rows of the next panel */
                        if (ir + MRt < i1)
                            prefetch_start(op, ir + MRt, i1 - ir - MRt < MRt ? i1 - ir - MRt : MRt,
                                           j0, first);
                        else if (q + 1 < jc1 && (q + 2) * ELMO_NR <= N)
                            prefetch_start(op, i0, i1 - i0 < MRt ? i1 - i0 : MRt, j0 + ELMO_NR,
                                           first);
                        isa->tile(&t);
                        tile_finish(op, &t, ir, m, j0, n, carrier, last, tile_c);
                    }
                }
            }
            if (K == 0) break;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the thread pool */

static struct {
    int want;    /* threads per call (elmo_blas_set_threads) */
    int started; /* workers running (thread ids 1 .. started) */
    pthread_t tid[PGEMM_MAXT];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_uint gen;      /* bumped per call */
    atomic_int remaining; /* workers still busy in the current call */
    int n;                /* threads of the current call */
    void (*fn)(void *, int, int);
    void *arg;
} pool = {.want = 1,
          .mu = PTHREAD_MUTEX_INITIALIZER,
          .go = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

enum { SPIN = 20000 };

static void *worker(void *p) {
    const int id = (int)(intptr_t)p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen) {
            if (++spins < SPIN) {
                if (spins % 64 == 0) sched_yield();
                continue;
            }
            pthread_mutex_lock(&pool.mu);
            while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.go, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
            break;
        }
        seen = g;
        if (id < pool.n) {
            pool.fn(pool.arg, id, pool.n);
            if (atomic_fetch_sub_explicit(&pool.remaining, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_lock(&pool.mu);
                pthread_cond_signal(&pool.done);
                pthread_mutex_unlock(&pool.mu);
            }
        }
    }
    return NULL;
}

void elmo__parallel(void (*fn)(void *arg, int t, int n), void *arg) {
    int n = pool.want;
    while (pool.started < n - 1) {
        int id = pool.started + 1;
        if (pthread_create(&pool.tid[id], NULL, worker, (void *)(intptr_t)id) != 0) break;
        pool.started++;
    }
    if (n > pool.started + 1) n = pool.started + 1;
    if (n <= 1) {
        fn(arg, 0, 1);
        return;
    }
    pool.fn = fn;
    pool.arg = arg;
    pool.n = n;
    atomic_store_explicit(&pool.remaining, n - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    fn(arg, 0, n);
    int spins = 0;
    while (atomic_load_explicit(&pool.remaining, memory_order_acquire) > 0) {
        if (++spins < SPIN) {
            if (spins % 64 == 0) sched_yield();
            continue;
        }
        pthread_mutex_lock(&pool.mu);
        while (atomic_load_explicit(&pool.remaining, memory_order_acquire) > 0)
            pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
}

void elmo__pgemm_set_threads(int n) {
    if (n < 1) n = 1;
    if (n > PGEMM_MAXT) n = PGEMM_MAXT;
    pool.want = n;
}

int elmo_blas_threads(void) { return pool.want; }

/* ------------------------------------------------------------------------------------------ */
/* the FMA peak */

struct peak_job {
    double gflops[PGEMM_MAXT];
    volatile float sink;
};

/* This thread's best of three runs of the loop (about 0.1 s each with AVX-512). */
static void peak_part(void *arg, int t, int n) {
    struct peak_job *pj = arg;
    const long iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = elmo_now(), lanes = 1;
        float r = 0;
#ifdef PGEMM_X86
        if (isa_level == 3) r = peak_avx512(iters), lanes = 16;
        else if (isa_level == 2) r = peak_avx2(iters), lanes = 8;
        else
#endif
        {
            float acc[12];
            for (int i = 0; i < 12; i++) acc[i] = (float)i;
            for (long it = 0; it < iters / 8; it++)
                for (int i = 0; i < 12; i++) acc[i] = fmaf(acc[i], 1.0000001f, 1e-7f);
            for (int i = 0; i < 12; i++) r += acc[i];
            lanes = 1.0 / 8;
        }
        double g = 2.0 * 12 * lanes * (double)iters / (elmo_now() - t0) / 1e9;
        pj->sink = r;
        if (g > best) best = g;
    }
    pj->gflops[t] = best;
    (void)n;
}

double elmo_pgemm_fma_peak(void) {
    cur_isa();
    struct peak_job pj = {{0}, 0};
    if (pool.want <= 1) peak_part(&pj, 0, 1);
    else elmo__parallel(peak_part, &pj);
    double sum = 0;
    for (int t = 0; t < PGEMM_MAXT; t++) sum += pj.gflops[t];
    return sum;
}

/* ------------------------------------------------------------------------------------------ */
/* the calls */

struct call {
    int n;
    const struct prod *prods;
    const double *cum; /* (n + 1) cumulative cost, cost of a panel of product i = M K + 1 */
};

static void call_part(void *arg, int t, int T) {
    const struct call *c = arg;
    const double total = c->cum[c->n];
    const double lo = total * t / T, hi = total * (t + 1) / T;
    /* panel q of product i belongs to the thread whose range holds its cost midpoint */
    for (int i = 0; i < c->n; i++) {
        const struct prod *pr = &c->prods[i];
        if (pr->np == 0 || c->cum[i + 1] <= lo || c->cum[i] >= hi) continue;
        const double w = (c->cum[i + 1] - c->cum[i]) / pr->np;
        int q0 = 0, q1 = 0;
        for (int q = 0; q < pr->np; q++) {
            double mid = c->cum[i] + w * (q + 0.5);
            if (mid < lo) q0 = q + 1;
            if (mid < hi) q1 = q + 1;
        }
        run_panels(pr, q0, q1);
    }
}

/* The lender of cores (elmo_blas_set_lender), asked by the main thread at each parallel call. */
static struct {
    int (*take)(void *ctx, int threads);
    void *ctx;
} lender;

void elmo_blas_set_lender(int (*take)(void *ctx, int threads), void *ctx) {
    lender.take = take;
    lender.ctx = ctx;
}

/* The poll between products (elmo_blas_set_poll), called by the main thread at each parallel
 * call. */
static struct {
    void (*fn)(void *ctx);
    void *ctx;
} poller;

void elmo_blas_set_poll(void (*fn)(void *ctx), void *ctx) {
    poller.fn = fn;
    poller.ctx = ctx;
}

/* Products per call of the pool (a longer elmo_pgemm is run in groups of this many). */
#define PGEMM_GROUP 16

static void run_call(int n, const struct prod *prods, bool serial) {
    double cum[PGEMM_GROUP + 1];
    ELMO_ASSERT(n <= PGEMM_GROUP);
    cur_isa(); /* chosen here, before any worker reads it */
    cum[0] = 0;
    for (int i = 0; i < n; i++)
        cum[i + 1] =
            cum[i] + (double)prods[i].np * ((double)prods[i].op->M * (double)prods[i].K + 1.0);
    struct call c = {n, prods, cum};
    if (!serial && poller.fn) poller.fn(poller.ctx);
    if (!serial && lender.take && pool.want < PGEMM_MAXT) {
        const int more = lender.take(lender.ctx, pool.want);
        if (more > 0) elmo__pgemm_set_threads(pool.want + more);
    }
    if (serial || pool.want <= 1) call_part(&c, 0, 1);
    else elmo__parallel(call_part, &c);
}

static void pgemm(int n, const struct elmo_pgemm_op *ops, bool serial) {
    struct prod prods[PGEMM_GROUP];
    for (int i0 = 0; i0 < n; i0 += PGEMM_GROUP) {
        const int g = n - i0 < PGEMM_GROUP ? n - i0 : PGEMM_GROUP;
        for (int i = 0; i < g; i++) {
            const struct elmo_pgemm_op *op = &ops[i0 + i];
            const struct elmo_pmat *W = op->W;
            prods[i] = (struct prod){.op = op,
                                     .b = W->data,
                                     .bs = ELMO_NR,
                                     .ps = (size_t)W->K * ELMO_NR,
                                     .tail = NULL,
                                     .bias = W->bias,
                                     .tail_bias = NULL,
                                     .K = W->K,
                                     .N = W->ngates > 1 ? W->np * ELMO_NR : W->N,
                                     .np = W->np};
        }
        run_call(g, prods, serial);
    }
}

void elmo_pgemm(int n, const struct elmo_pgemm_op *ops) { pgemm(n, ops, false); }

void elmo__pgemm_serial(int n, const struct elmo_pgemm_op *ops) { pgemm(n, ops, true); }

/* ------------------------------------------------------------------------------------------ */
/* elmo_gemm_rows: the same loops on a view of a row-major B */

size_t elmo_gemm_rows_scratch(int N, int K) {
    (void)N;
    return (size_t)K * ELMO_NR + ELMO_NR;
}

void elmo_gemm_rows(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    const float *bias, bool accumulate, float *C, int ldc, float *scratch) {
    if (M <= 0 || N <= 0) return;
    struct elmo_pgemm_op op = {
        .M = M,
        .W = NULL,
        .a = {A, (size_t)lda, NULL},
        .init_mode = accumulate ? ELMO_INIT_ROWS : ELMO_INIT_ZERO,
        .init = {C, (size_t)ldc, NULL},
        .c = {C, (size_t)ldc, NULL},
    };
    struct prod pr = {.op = &op,
                      .b = B,
                      .bs = (size_t)ldb,
                      .ps = ELMO_NR,
                      .tail = NULL,
                      .bias = bias,
                      .tail_bias = NULL,
                      .K = K,
                      .N = N,
                      .np = (N + ELMO_NR - 1) / ELMO_NR};
    if (N % ELMO_NR) {
        /* the last panel is partial: a zero-padded copy, so that tiles never read past N */
        const int j0 = (pr.np - 1) * ELMO_NR, n = N - j0;
        float *tail = scratch;
        for (int k = 0; k < K; k++) {
            memcpy(tail + (size_t)k * ELMO_NR, B + (size_t)k * ldb + j0, sizeof(float) * n);
            memset(tail + (size_t)k * ELMO_NR + n, 0, sizeof(float) * (size_t)(ELMO_NR - n));
        }
        pr.tail = tail;
        if (bias) {
            float *tb = scratch + (size_t)K * ELMO_NR;
            memcpy(tb, bias + j0, sizeof(float) * n);
            memset(tb + n, 0, sizeof(float) * (size_t)(ELMO_NR - n));
            pr.tail_bias = tb;
        }
    }
    run_call(1, &pr, false);
}

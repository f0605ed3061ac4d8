/*
 * cmd_merge.c: `elmo merge --output OUT.h5 IN0.h5 IN1.h5 ...` joins the complete stateless
 * stores of the slices of one input, in slice order, into one store.  Its use is the Slurm
 * array variant: task k of N runs `elmo embed --slice k/N` and writes the store of its slice;
 * merging the N slice stores in order gives a store identical to the one a single run over the
 * whole input writes.
 *
 * The inputs must be the slices 0..N-1 of one input, each exactly once and in that order, as
 * their attributes slice_k, slice_n and input_fingerprint record; each must be complete and
 * valid (elmo_store_open checks its counts and offsets), and they must agree on everything that
 * makes their rows comparable: outputs, P, precision, the stateless regime, the weights'
 * sha256, the options.json text and the elmo mix settings.  Anything else is refused, naming
 * the offending file, before the output is touched.
 *
 * The output follows io/outfile.h: OUT must be a regular file or absent and none of the inputs
 * (by device and inode), rank 0 holds OUT.lock, the store is written as OUT.partial and renamed
 * over OUT only once it is marked complete.  A failure or a stop request (SIGINT, SIGTERM,
 * SIGUSR1, polled between chunks; exit 3) removes OUT.partial and leaves an earlier OUT as it
 * was.
 *
 * Every dataset is the concatenation of the inputs' datasets; the offset arrays
 * (sentences/offset, sentences/id_offset, sentences/text_offset, tokens/text_offset) are
 * rebased by what the earlier inputs hold, and sentences/line is kept as it is (slices carry
 * global line numbers).  Root attributes are the first input's (input_fingerprint included,
 * slice_k and slice_n left out), with complete = 1 set only at the very end (elmo_store_finish); the deflate level is the first non-empty input's.  float16
 * rows are read as float and written back, which is an exact round trip.
 *
 * Collective over MPI_COMM_WORLD: it runs as a singleton or under mpirun/srun.  Every rank opens
 * the inputs for reading (serial HDF5) and the output is written collectively; rows are copied
 * in chunks of about MERGE_CHUNK_BYTES, each chunk split over the ranks, so memory stays bounded
 * whatever the size of the stores.
 */
#include <errno.h>
#include <hdf5.h>
#include <libgen.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "driver/commands.h"
#include "io/outfile.h"
#include "io/store.h"
#include "model/status.h"

#ifndef MERGE_CHUNK_BYTES /* a test build may set a tiny one to exercise the chunking */
#define MERGE_CHUNK_BYTES ((int64_t)8 << 20)
#endif
#define MERGE_MAX_MIX_WEIGHTS 1024

/* The row counts of an input, indexed by enum count. */
enum count { CNT_SENT, CNT_TOK, CNT_ID, CNT_TEXT, CNT_TOKTEXT, CNT_N };

struct merge_in {
    const char *path;
    struct elmo_store *st;
    struct elmo_store_info info;
    int64_t cnt[CNT_N]; /* sentences, tokens, id bytes, sentence text bytes, token bytes */
    int64_t first_line, last_line; /* of its first and last sentence (when it has any) */
    int64_t slice_k, slice_n;      /* which slice of the run it is: slice_k of 0..slice_n-1 */
    char *fingerprint;             /* owned: input_fingerprint, the corpus the slices split */
    char *options_json;            /* owned */
    int compress;                  /* deflate level of its embedding datasets (0 = none) */
    bool compress_known;           /* false when it has no chunked embedding dataset (no rows) */
    float gamma;
    int layer_norm;
    int n_mix;
    float mix[MERGE_MAX_MIX_WEIGHTS];
};

enum dtype { T_I64, T_U8, T_F32 };

/* One dataset of the store: its row count and, for offset arrays, what its values count. */
struct dsdef {
    char name[40];
    enum dtype type;
    enum count rows; /* rows of an input (an offset array has one more, written at the end) */
    int base;        /* offset arrays: the enum count their values index, else -1 */
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Prints the current error as one line (HDF5's reasons may hold line breaks). */
static void print_error(void) {
    fputs("elmo merge: error: ", stderr);
    for (const char *m = elmo_errmsg(); *m; m++)
        if (*m != '\n' || m[1]) fputc(*m == '\n' ? ' ' : *m, stderr);
    fputc('\n', stderr);
}

/*
 * All ranks agree on a local result.  The lowest failing rank prints its message; every rank
 * returns that rank's status (0 when all succeeded).  Collective.
 */
static int agree(int rc) {
    int rank = elmo_rank(), size = elmo_size();
    int mine = rc < 0 ? rank : size, first = size;
    if (size == 1) {
        if (rc < 0) print_error();
        return rc < 0 ? rc : 0;
    }
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "elmo merge: MPI_Allreduce failed");
        elmo_die(ELMO_ERR_MPI);
    }
    if (first == size) return 0;
    if (first == rank) print_error();
    int code = rc;
    if (MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "elmo merge: MPI_Bcast failed");
        elmo_die(ELMO_ERR_MPI);
    }
    return code < 0 ? code : ELMO_ERR_REPORTED;
}

/* ---- reading an input -------------------------------------------------------------------- */

/* Records "MESSAGE: HDF5's reason" as ELMO_ERR_HDF5 and returns it. */
static int h5_fail(const char *path, const char *what) {
    char why[512];
    elmo__h5_reason(why, sizeof why);
    return elmo_error(ELMO_ERR_HDF5, "%s: %s: %s", path, what, why);
}

/* Reads a scalar attribute of the root as `mtype` into buf; absent attributes leave buf. */
static int read_scalar_attr(hid_t file, const char *name, hid_t mtype, void *buf,
                            const char *path) {
    htri_t ex = H5Aexists(file, name);
    if (ex < 0) return h5_fail(path, "cannot look for a root attribute");
    if (!ex) return 0;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0) return h5_fail(path, "cannot open a root attribute");
    herr_t e = H5Aread(a, mtype, buf);
    H5Aclose(a);
    return e < 0 ? h5_fail(path, "cannot read a root attribute") : 0;
}

/*
 * What io/store.h does not expose: the elmo mix attributes and the deflate level of the
 * embedding datasets (the first one present; they all share it).
 */
static int read_extras(struct merge_in *in) {
    int rc = 0;
    hid_t file = -1, a = -1, sp = -1, d = -1, dcpl = -1;
    in->gamma = 1.0f;
    file = H5Fopen(in->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return h5_fail(in->path, "cannot open the store");
    ELMO_CALL(read_scalar_attr(file, "elmo_gamma", H5T_NATIVE_FLOAT, &in->gamma, in->path));
    ELMO_CALL(read_scalar_attr(file, "elmo_layer_norm", H5T_NATIVE_INT, &in->layer_norm, in->path));
    htri_t ex = H5Aexists(file, "elmo_weights");
    if (ex < 0) {
        rc = h5_fail(in->path, "cannot look for attribute elmo_weights");
        goto cleanup;
    }
    if (ex) {
        a = H5Aopen(file, "elmo_weights", H5P_DEFAULT);
        if (a < 0 || (sp = H5Aget_space(a)) < 0) {
            rc = h5_fail(in->path, "cannot open attribute elmo_weights");
            goto cleanup;
        }
        hssize_t n =
            H5Sget_simple_extent_type(sp) == H5S_NULL ? 0 : H5Sget_simple_extent_npoints(sp);
        if (n < 0 || n > MERGE_MAX_MIX_WEIGHTS)
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s: attribute elmo_weights has %lld values", in->path,
                      (long long)n);
        in->n_mix = (int)n;
        if (n > 0 && H5Aread(a, H5T_NATIVE_FLOAT, in->mix) < 0) {
            rc = h5_fail(in->path, "cannot read attribute elmo_weights");
            goto cleanup;
        }
    }
    for (int i = 0; i < 8; i++) {
        if (!(in->info.outputs & (1u << i))) continue;
        char name[40];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[i].name);
        d = H5Dopen2(file, name, H5P_DEFAULT);
        if (d < 0 || (dcpl = H5Dget_create_plist(d)) < 0) {
            rc = h5_fail(in->path, "cannot open an embedding dataset");
            goto cleanup;
        }
        /* a 0-row dataset is stored contiguous, without filters: it tells nothing */
        if (H5Dget_storage_size(d) > 0 || H5Pget_layout(dcpl) == H5D_CHUNKED) {
            in->compress_known = true;
            int nf = H5Pget_nfilters(dcpl);
            for (int f = 0; f < nf; f++) {
                unsigned flags = 0, cd[8] = {0};
                size_t ncd = 8;
                H5Z_filter_t id =
                    H5Pget_filter2(dcpl, (unsigned)f, &flags, &ncd, cd, 0, NULL, NULL);
                if (id == H5Z_FILTER_DEFLATE && ncd >= 1) in->compress = (int)cd[0];
            }
        }
        H5Pclose(dcpl);
        H5Dclose(d);
        dcpl = d = -1;
        if (in->compress_known) break;
    }
cleanup:
    if (dcpl >= 0) H5Pclose(dcpl);
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    H5Fclose(file);
    return rc;
}

/*
 * Opens one input (elmo_store_open validates its counts, offsets and shapes) and reads its
 * settings; refuses an incomplete store, a streams store, and a store that does not say which
 * slice of which input it is.
 */
static int open_input(struct merge_in *in) {
    ELMO_TRY(elmo_store_open(&in->st, in->path, &in->info));
    ELMO_CHECK(in->info.complete, ELMO_ERR_STATE,
               "%s is incomplete (complete = 0): the job that wrote it did not finish; rerun "
               "that job (it resumes from its journal) before merging",
               in->path);
    ELMO_CHECK(!strcmp(in->info.regime, "stateless"), ELMO_ERR_MISMATCH,
               "%s has the state regime '%s': merge joins stateless stores only (in the "
               "streams regime a sentence depends on the ones before it)",
               in->path, in->info.regime[0] ? in->info.regime : "(not recorded)");
    int got_k = 0, got_n = 0;
    ELMO_TRY(got_k = elmo_store_attr_int64(in->st, "slice_k", &in->slice_k));
    ELMO_TRY(got_n = elmo_store_attr_int64(in->st, "slice_n", &in->slice_n));
    in->fingerprint = elmo_store_attr_string(in->st, "input_fingerprint");
    ELMO_CHECK(got_k && got_n && in->fingerprint, ELMO_ERR_MISMATCH,
               "%s records no %s: it is not the store of a slice (`elmo embed --slice K/N`), "
               "and merge joins only the slices 0..N-1 of one input",
               in->path, !got_k ? "slice_k" : !got_n ? "slice_n" : "input_fingerprint");
    ELMO_CHECK(in->slice_n >= 1 && in->slice_n <= 1000000 && in->slice_k >= 0 &&
                   in->slice_k < in->slice_n,
               ELMO_ERR_FORMAT,
               "%s: slice_k = %lld, slice_n = %lld is no slice K of 0..N-1: the store is damaged",
               in->path, (long long)in->slice_k, (long long)in->slice_n);
    ELMO_CHECK(in->fingerprint[0], ELMO_ERR_FORMAT,
               "%s: attribute input_fingerprint is empty: the store is damaged", in->path);
    in->cnt[CNT_SENT] = in->info.n_sent;
    in->cnt[CNT_TOK] = in->info.n_tok;
    in->cnt[CNT_ID] = in->info.id_bytes;
    in->cnt[CNT_TEXT] = in->info.sent_text_bytes;
    in->cnt[CNT_TOKTEXT] = in->info.tok_text_bytes;
    if (in->cnt[CNT_SENT] > 0) {
        ELMO_TRY(elmo_store_read_i64(in->st, "sentences/line", 0, 1, &in->first_line));
        ELMO_TRY(elmo_store_read_i64(in->st, "sentences/line", in->cnt[CNT_SENT] - 1, 1,
                                     &in->last_line));
    }
    in->options_json = elmo_store_attr_string(in->st, "options_json");
    return read_extras(in);
}

/* Refuses an input b whose rows are not comparable with those of the first input a. */
static int check_match(const struct merge_in *a, const struct merge_in *b) {
    const char *what = NULL;
    if (a->info.outputs != b->info.outputs) what = "outputs";
    else if (a->info.P != b->info.P) what = "projection dim P";
    else if (a->info.precision != b->info.precision) what = "precision";
    else if (strcmp(a->info.weights_sha256, b->info.weights_sha256) != 0) what = "weights sha256";
    else if (!a->options_json || !b->options_json || strcmp(a->options_json, b->options_json))
        what = "model options (options_json)";
    else if (a->n_mix != b->n_mix || memcmp(a->mix, b->mix, sizeof(float) * (size_t)a->n_mix) ||
             memcmp(&a->gamma, &b->gamma, sizeof a->gamma) || a->layer_norm != b->layer_norm)
        what = "elmo mix settings (mix_weights, gamma, layer_norm)";
    ELMO_CHECK(!what, ELMO_ERR_MISMATCH,
               "%s and %s differ in their %s: they are not slices of one job", a->path, b->path,
               what);
    return 0;
}

/*
 * The inputs must be the slices 0..N-1 of one input, each exactly once, in that order: one
 * slice count, one input fingerprint, no slice twice, none missing.  The message names the
 * first offending file.
 */
static int check_slices(const struct merge_in *in, int n_in) {
    const struct merge_in *a = &in[0];
    for (int k = 1; k < n_in; k++) {
        const struct merge_in *b = &in[k];
        ELMO_CHECK(b->slice_n == a->slice_n, ELMO_ERR_MISMATCH,
                   "%s is slice %lld of 0..%lld but %s is slice %lld of 0..%lld: they are not "
                   "slices of one run",
                   b->path, (long long)b->slice_k, (long long)b->slice_n - 1, a->path,
                   (long long)a->slice_k, (long long)a->slice_n - 1);
        ELMO_CHECK(!strcmp(b->fingerprint, a->fingerprint), ELMO_ERR_MISMATCH,
                   "%s is a slice of another input than %s (input_fingerprint '%.60s' vs "
                   "'%.60s'): merge joins the slices of one input",
                   b->path, a->path, b->fingerprint, a->fingerprint);
    }
    for (int k = 0; k < n_in; k++)
        for (int j = 0; j < k; j++)
            ELMO_CHECK(in[j].slice_k != in[k].slice_k, ELMO_ERR_MISMATCH,
                       "%s and %s are both slice %lld of 0..%lld: give each slice once",
                       in[j].path, in[k].path, (long long)in[k].slice_k,
                       (long long)in[k].slice_n - 1);
    /* distinct slice numbers below slice_n: fewer inputs than slices means some are missing */
    if ((int64_t)n_in < a->slice_n) {
        char missing[256] = "";
        size_t at = 0;
        int shown = 0;
        for (int64_t s = 0; s < a->slice_n && shown < 8; s++) {
            bool have = false;
            for (int k = 0; k < n_in && !have; k++) have = in[k].slice_k == s;
            if (have) continue;
            int w = snprintf(missing + at, sizeof missing - at, "%s%lld", shown ? ", " : "",
                             (long long)s);
            if (w < 0 || (size_t)w >= sizeof missing - at) break;
            at += (size_t)w;
            shown++;
        }
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%lld of the %lld slices of %s's input are missing (slice %s%s): "
                          "merge needs every slice 0..%lld",
                          (long long)(a->slice_n - n_in), (long long)a->slice_n, a->path, missing,
                          a->slice_n - n_in > shown ? ", ..." : "", (long long)a->slice_n - 1);
    }
    for (int k = 0; k < n_in; k++)
        ELMO_CHECK(in[k].slice_k == k, ELMO_ERR_MISMATCH,
                   "%s is slice %lld but is given in place %d: give the slices in order "
                   "0..%lld (a shell glob puts slice-10 before slice-2)",
                   in[k].path, (long long)in[k].slice_k, k, (long long)a->slice_n - 1);
    return 0;
}

/* ---- copying ----------------------------------------------------------------------------- */

/*
 * A stop request (SIGINT, SIGTERM, SIGUSR1) on any rank stops every rank between two chunks:
 * ELMO_ERR_INTERRUPTED everywhere, so that the output is abandoned alike.  Collective.
 */
static int poll_stop(void) {
    int any = elmo_stop_agreed();
    if (!any) return 0;
    return elmo_error(ELMO_ERR_INTERRUPTED, "interrupted by signal %d while writing", any);
}

struct merge {
    struct merge_in *in;
    int n_in;
    struct elmo_store *out;
    bool out_broken; /* a write, create or close of the output failed (on every rank alike) */
    int64_t total[CNT_N];
    void *buf;
    size_t buf_bytes;
};

static size_t elem_size(enum dtype t) { return t == T_I64 ? 8 : t == T_U8 ? 1 : 4; }

static int read_rows(struct merge_in *in, const struct dsdef *ds, int64_t row0, int64_t n,
                     void *buf) {
    switch (ds->type) {
    case T_I64: return elmo_store_read_i64(in->st, ds->name, row0, n, buf);
    case T_U8: return elmo_store_read_u8(in->st, ds->name, row0, n, buf);
    default: return elmo_store_read_f32(in->st, ds->name, row0, n, buf);
    }
}

static int write_rows(struct elmo_store *out, const struct dsdef *ds, int64_t row0, int64_t n,
                      const void *buf) {
    switch (ds->type) {
    case T_I64: return elmo_store_write_i64(out, ds->name, row0, n, buf);
    case T_U8: return elmo_store_write_u8(out, ds->name, row0, n, buf);
    default: return elmo_store_write_f32(out, ds->name, row0, n, buf);
    }
}

/*
 * Copies one dataset of every input into the output.  Collective: every rank runs the same
 * loop (the counts are the same everywhere) and writes its share of each chunk.
 */
static int copy_dataset(struct merge *m, const struct dsdef *ds, int64_t width) {
    int rank = elmo_rank(), size = elmo_size();
    int64_t row_bytes = width * (int64_t)elem_size(ds->type);
    int64_t chunk = MERGE_CHUNK_BYTES / (row_bytes > 0 ? row_bytes : 1);
    if (chunk < 1) chunk = 1;
    size_t need = (size_t)(chunk * row_bytes) + 8;
    int rc = 0;
    if (need > m->buf_bytes) {
        void *p = realloc(m->buf, need);
        if (!p) rc = elmo_error(ELMO_ERR_NOMEM, "out of memory for a %zu-byte buffer", need);
        else {
            m->buf = p;
            m->buf_bytes = need;
        }
    }
    ELMO_TRY(agree(rc));
    int64_t out_row = 0, base = 0;
    for (int k = 0; k < m->n_in; k++) {
        struct merge_in *in = &m->in[k];
        int64_t rows = in->cnt[ds->rows], lim = ds->base >= 0 ? in->cnt[ds->base] : 0;
        for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
            ELMO_TRY(agree(poll_stop()));
            int64_t len = rows - c0 < chunk ? rows - c0 : chunk;
            int64_t a = c0 + len * rank / size, b = c0 + len * (rank + 1) / size;
            rc = read_rows(in, ds, a, b - a, m->buf);
            if (rc == 0 && ds->base >= 0) {
                int64_t *v = m->buf;
                for (int64_t i = 0; i < b - a && rc == 0; i++)
                    if (v[i] < 0 || v[i] > lim || (i > 0 && v[i] < v[i - 1]))
                        rc = elmo_error(ELMO_ERR_FORMAT,
                                        "%s: /%s[%lld] = %lld is out of order or outside [0, "
                                        "%lld]: the store is damaged",
                                        in->path, ds->name, (long long)(a + i), (long long)v[i],
                                        (long long)lim);
                for (int64_t i = 0; i < b - a; i++) v[i] += base;
            }
            ELMO_TRY(agree(rc));
            rc = agree(write_rows(m->out, ds, out_row + a, b - a, m->buf));
            if (rc < 0) m->out_broken = true;
            ELMO_TRY(rc);
        }
        out_row += rows;
        if (ds->base >= 0) base += lim;
    }
    if (ds->base >= 0) {
        /* the closing value of the offset array: the length of the whole blob */
        int64_t end = m->total[ds->base];
        rc = agree(elmo_store_write_i64(m->out, ds->name, out_row, rank == 0 ? 1 : 0, &end));
        if (rc < 0) m->out_broken = true;
        ELMO_TRY(rc);
    }
    return 0;
}

static int merge_all(struct merge *m) {
    static const struct dsdef fixed[] = {
        {"sentences/offset", T_I64, CNT_SENT, CNT_TOK},
        {"sentences/line", T_I64, CNT_SENT, -1},
        {"sentences/id_offset", T_I64, CNT_SENT, CNT_ID},
        {"sentences/id_blob", T_U8, CNT_ID, -1},
        {"sentences/text_offset", T_I64, CNT_SENT, CNT_TEXT},
        {"sentences/text_blob", T_U8, CNT_TEXT, -1},
        {"tokens/text_offset", T_I64, CNT_TOK, CNT_TOKTEXT},
        {"tokens/text_blob", T_U8, CNT_TOKTEXT, -1},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        ELMO_TRY(copy_dataset(m, &fixed[i], 1));
    for (int i = 0; i < 8; i++) {
        unsigned bit = 1u << i;
        if (!(m->in[0].info.outputs & bit)) continue;
        struct dsdef ds = {"", T_F32, bit == ELMO_OUT_DEFAULT ? CNT_SENT : CNT_TOK, -1};
        snprintf(ds.name, sizeof ds.name, "embeddings/%s", elmo_outputs[i].name);
        /* The width (2P, P or 3 x 2P) is the same in every input: same outputs and P. */
        int nd = 0, rc = 0;
        int64_t d[3] = {0, 1, 1};
        for (int k = 0; k < m->n_in && rc == 0; k++) {
            int64_t dk[3];
            rc = elmo_store_dims(m->in[k].st, ds.name, &nd, dk);
            if (rc == 0 && k == 0) memcpy(d, dk, sizeof d);
            if (rc == 0 && (dk[0] != m->in[k].cnt[ds.rows] || dk[1] != d[1] || dk[2] != d[2]))
                rc = elmo_error(ELMO_ERR_FORMAT, "%s: /%s has the wrong shape", m->in[k].path,
                                ds.name);
        }
        ELMO_TRY(agree(rc));
        ELMO_TRY(copy_dataset(m, &ds, d[1] * d[2]));
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------- */

/*
 * After a failed write: what MPI-IO's message may not say.  Prints the file size limit or the
 * free space of OUT's file system when either is smaller than the inputs together (about the
 * size of the merged store).
 */
static void explain_write_failure(const struct merge *m, const char *out, const char *partial) {
    uint64_t need = 0;
    struct stat sb;
    for (int k = 0; k < m->n_in; k++)
        if (stat(m->in[k].path, &sb) == 0) need += (uint64_t)sb.st_size;
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        (uint64_t)lim.rlim_cur < need)
        fprintf(stderr,
                "elmo merge: %s: File too large: the file size limit (ulimit -f) is %llu bytes, "
                "the inputs hold %llu\n",
                partial, (unsigned long long)lim.rlim_cur, (unsigned long long)need);
    char dir[ELMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", out);
    struct statvfs fs;
    if (statvfs(dirname(dir), &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < need)
        fprintf(stderr,
                "elmo merge: %s: No space left on device: its file system has %llu bytes free, "
                "the inputs hold %llu\n",
                partial, (unsigned long long)fs.f_bavail * fs.f_frsize, (unsigned long long)need);
}

/* Parses the flags into opts (--output) and the input paths; returns -1 to go on, else an exit
   code. */
static int parse_args(int argc, char **argv, struct elmo_job *opts, const char ***ins, int *n_in) {
    char **pos = elmo_xcalloc((size_t)argc + 1, sizeof *pos);
    *ins = (const char **)pos;
    *n_in = 0;
    int code = elmo_tool_flags(ELMO_TOOL_MERGE, argc, argv, opts, pos, n_in);
    if (code) return code;
    if (!opts->output[0] || *n_in == 0) {
        if (elmo_rank() == 0) {
            if (!opts->output[0]) fprintf(stderr, "elmo merge: --output is required\n");
            else fprintf(stderr, "elmo merge: no input stores\n");
            elmo_command_help(elmo_command_of_kind(ELMO_TOOL_MERGE), stderr);
        }
        return ELMO_EXIT_USAGE;
    }
    return -1;
}

/*
 * Rank 0's step of the output discipline (io/outfile.h), agreed by every rank: OUT, OUT.partial
 * and OUT.lock are regular files or absent and none of them is an input (by device and inode),
 * then the lock is taken and a partial left by a dead earlier run is removed, so that whatever
 * is at OUT.partial from here on is this run's.  Collective.
 */
static int prepare_output(struct elmo_out *o, const char *const *ins, int n_in, bool *locked) {
    int rc = 0;
    if (elmo_rank() == 0) {
        rc = elmo_out_check(o, ins, n_in);
        if (rc == 0) rc = elmo_out_lock(o);
        if (rc == 0) *locked = true;
        if (rc == 0 && unlink(o->partial) != 0 && errno != ENOENT)
            rc = elmo_error(ELMO_ERR_IO,
                            "%s: cannot remove the partial output of an earlier run: %s",
                            o->partial, strerror(errno));
        if (rc == 0) elmo_out_claim_partial(o);
    }
    return agree(rc);
}

int elmo_cmd_merge(int argc, char **argv) {
    const char **paths = NULL;
    int n_in = 0;
    struct elmo_job opts;
    int code = parse_args(argc, argv, &opts, &paths, &n_in);
    if (code >= 0) {
        free(paths);
        return code;
    }
    const char *out = opts.output;
    int rank = elmo_rank(), rc = 0;
    double t0 = now();
    struct merge m = {0};
    struct elmo_out o;
    char *yaml = NULL;
    bool locked = false, created = false;
    memset(&o, 0, sizeof o);
    o.lock_fd = -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    m.n_in = n_in;
    m.in = elmo_xcalloc((size_t)n_in, sizeof *m.in);

    /* 1. every input, validated: every rank opens every input (read-only) and the checks give
     *    the same verdict everywhere */
    int lrc = elmo_out_init(&o, "--output", out);
    for (int k = 0; k < n_in && lrc == 0; k++) {
        m.in[k].path = paths[k];
        lrc = open_input(&m.in[k]);
        if (lrc == 0) lrc = check_match(&m.in[0], &m.in[k]);
    }
    if (lrc == 0) lrc = check_slices(m.in, n_in);
    ELMO_CALL(agree(lrc));
    for (int k = 0; k < n_in; k++)
        for (int c = 0; c < CNT_N; c++) m.total[c] += m.in[k].cnt[c];
    if (rank == 0) {
        for (int k = 0; k < n_in; k++)
            if (m.in[k].cnt[CNT_SENT] > 0)
                fprintf(stderr,
                        "elmo merge: %s: slice %lld, %lld sentences (lines %lld..%lld), %lld "
                        "tokens\n",
                        m.in[k].path, (long long)m.in[k].slice_k, (long long)m.in[k].cnt[CNT_SENT],
                        (long long)m.in[k].first_line, (long long)m.in[k].last_line,
                        (long long)m.in[k].cnt[CNT_TOK]);
            else
                fprintf(stderr, "elmo merge: %s: slice %lld, empty (no sentences)\n",
                        m.in[k].path, (long long)m.in[k].slice_k);
        fflush(stderr);
    }

    /* 2. the output: checked against the inputs, locked, written aside as OUT.partial */
    ELMO_CALL(prepare_output(&o, paths, n_in, &locked));
    const struct merge_in *f = &m.in[0];
    int compress = 0;
    for (int k = n_in - 1; k >= 0; k--)
        if (m.in[k].compress_known) compress = m.in[k].compress;
    struct elmo_store_layout lay = {.n_sent = m.total[CNT_SENT],
                                    .n_tok = m.total[CNT_TOK],
                                    .id_bytes = m.total[CNT_ID],
                                    .sent_text_bytes = m.total[CNT_TEXT],
                                    .tok_text_bytes = m.total[CNT_TOKTEXT],
                                    .outputs = f->info.outputs,
                                    .P = f->info.P,
                                    .precision = f->info.precision,
                                    .compress = compress};
    yaml = elmo_store_attr_string(f->st, "job_yaml");
    struct elmo_store_attrs attrs = {.options_json = f->options_json,
                                     .weights_sha256 = f->info.weights_sha256,
                                     .regime = f->info.regime,
                                     .job_yaml = yaml ? yaml : "",
                                     .elmo_weights = f->mix,
                                     .n_elmo_weights = f->n_mix,
                                     .elmo_gamma = f->gamma,
                                     .elmo_layer_norm = f->layer_norm != 0};
    /* elmo_store_create agrees on the layout and fails on every rank alike */
    created = true;
    rc = elmo_store_create(&m.out, o.partial, MPI_COMM_WORLD, &lay, &attrs);
    if (rc < 0) {
        if (rank == 0) print_error();
        m.out_broken = true;
        goto cleanup;
    }
    /* the merged store is the whole input's: its fingerprint, and no slice numbers */
    rc = agree(elmo_store_put_attr_string(m.out, "input_fingerprint", f->fingerprint));
    if (rc < 0) m.out_broken = true;
    ELMO_CALL(rc);
    ELMO_CALL(merge_all(&m));
    ELMO_CALL(agree(poll_stop()));
    rc = elmo_store_finish(m.out); /* complete = 1 in OUT.partial, closed */
    m.out = NULL;
    rc = agree(rc);
    if (rc < 0) m.out_broken = true;
    ELMO_CALL(rc);
    ELMO_CALL(agree(rank == 0 ? elmo_out_commit(&o) : 0));
    if (rank == 0)
        fprintf(stderr,
                "elmo merge: wrote %s: %lld sentences, %lld tokens from %d slices on %d "
                "rank%s in %.2f s (complete)\n",
                out, (long long)m.total[CNT_SENT], (long long)m.total[CNT_TOK], n_in, elmo_size(),
                elmo_size() == 1 ? "" : "s", now() - t0);
cleanup:
    /* A healthy output is closed collectively, like the failure that led here; one whose write
     * failed is not: its ranks would hang in the collective close, and HDF5 1.10 crashes at
     * shutdown on a file whose close failed.  That run ends with MPI_Abort below. */
    if (m.out && !m.out_broken) elmo_store_close(m.out);
    if (rc < 0 && created) {
        /* no half-written output: once every rank is done with it, the partial goes and an
         * earlier OUT stays as it was */
        if (!m.out_broken) MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0 && o.partial_created) {
            elmo_out_abandon(&o);
            struct stat sb;
            if (stat(out, &sb) == 0)
                fprintf(stderr, "elmo merge: removed the unfinished %s; %s is unchanged\n",
                        o.partial, out);
            else
                fprintf(stderr, "elmo merge: removed the unfinished %s; %s was not written\n",
                        o.partial, out);
        }
    }
    if (m.out_broken && rank == 0) explain_write_failure(&m, out, o.partial);
    if (locked) elmo_out_unlock(&o);
    if (m.out_broken) {
        /* the partial is gone and the error printed: stop every rank without HDF5's shutdown */
        fflush(stderr);
        if (rank == 0) MPI_Abort(MPI_COMM_WORLD, elmo_exit_code(rc));
        MPI_Barrier(MPI_COMM_WORLD); /* the other ranks wait for rank 0's abort */
    }
    for (int k = 0; k < n_in; k++) {
        elmo_store_close(m.in[k].st);
        free(m.in[k].options_json);
        free(m.in[k].fingerprint);
    }
    free(m.in);
    free(m.buf);
    free(yaml);
    free(paths);
    return elmo_exit_code(rc);
}

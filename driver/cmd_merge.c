/*
 * cmd_merge.c: `elmo merge --output OUT.h5 IN0.h5 IN1.h5 ...` joins complete stateless stores,
 * in the order given, into one store.  Its use is the Slurm array variant: task k of N runs
 * `elmo embed --slice k/N` and writes the store of its slice; merging the N slice stores in
 * order gives a store identical to the one a single run over the whole input writes.
 *
 * The inputs must agree on everything that makes their rows comparable: outputs, P, precision,
 * the stateless regime, the weights' sha256, the options.json text and the elmo mix settings.
 * An incomplete input, a mismatch, or inputs out of line order (slice-10 before slice-2, as a
 * shell glob sorts them) are refused before the output is created.
 *
 * Every dataset is the concatenation of the inputs' datasets; the offset arrays
 * (sentences/offset, sentences/id_offset, sentences/text_offset, tokens/text_offset) are
 * rebased by what the earlier inputs hold, and sentences/line is kept as it is (slices carry
 * global line numbers).  Root attributes are the first input's, with complete = 1 set only at
 * the very end (elmo_store_finish); the deflate level is the first non-empty input's.  float16
 * rows are read as float and written back, which is an exact round trip.
 *
 * Collective over MPI_COMM_WORLD: it runs as a singleton or under mpirun/srun.  Every rank opens
 * the inputs for reading (serial HDF5) and the output is written collectively; rows are copied
 * in chunks of about MERGE_CHUNK_BYTES, each chunk split over the ranks, so memory stays bounded
 * whatever the size of the stores.
 */
#include <hdf5.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/commands.h"
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

/*
 * All ranks agree on a local result.  The lowest failing rank prints its message; every rank
 * returns that rank's status (0 when all succeeded).  Collective.
 */
static int agree(int rc) {
    int rank = elmo_rank(), size = elmo_size();
    int mine = rc < 0 ? rank : size, first = size;
    if (size == 1) {
        if (rc < 0) fprintf(stderr, "elmo merge: error: %s\n", elmo_errmsg());
        return rc < 0 ? rc : 0;
    }
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "elmo merge: MPI_Allreduce failed");
        elmo_die(ELMO_ERR_MPI);
    }
    if (first == size) return 0;
    if (first == rank) fprintf(stderr, "elmo merge: error: %s\n", elmo_errmsg());
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
        snprintf(name, sizeof name, "embeddings/%s", elmo_output_names[i]);
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

/* The length of a 1-D dataset of an opened store. */
static int dim0(struct merge_in *in, const char *name, int64_t *n) {
    int nd = 0;
    int64_t d[3];
    ELMO_TRY(elmo_store_dims(in->st, name, &nd, d));
    ELMO_CHECK(nd == 1, ELMO_ERR_FORMAT, "%s: /%s has rank %d, not 1", in->path, name, nd);
    *n = d[0];
    return 0;
}

/* Checks that an offset array of n + 1 values starts at 0 and ends at the length of its blob. */
static int check_ends(struct merge_in *in, const char *name, int64_t n, int64_t end) {
    int64_t first = -1, last = -1;
    ELMO_TRY(elmo_store_read_i64(in->st, name, 0, 1, &first));
    ELMO_TRY(elmo_store_read_i64(in->st, name, n, 1, &last));
    ELMO_CHECK(first == 0 && last == end, ELMO_ERR_FORMAT,
               "%s: /%s runs from %lld to %lld, not from 0 to %lld: the store is damaged", in->path,
               name, (long long)first, (long long)last, (long long)end);
    return 0;
}

/* Opens one input and reads its counts and settings; refuses an incomplete store. */
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
    int64_t n_off = 0, t_off = 0, id_off = 0, tx_off = 0;
    ELMO_TRY(dim0(in, "sentences/offset", &n_off));
    ELMO_TRY(dim0(in, "sentences/id_offset", &id_off));
    ELMO_TRY(dim0(in, "sentences/text_offset", &tx_off));
    ELMO_TRY(dim0(in, "tokens/text_offset", &t_off));
    ELMO_TRY(dim0(in, "sentences/id_blob", &in->cnt[CNT_ID]));
    ELMO_TRY(dim0(in, "sentences/text_blob", &in->cnt[CNT_TEXT]));
    ELMO_TRY(dim0(in, "tokens/text_blob", &in->cnt[CNT_TOKTEXT]));
    in->cnt[CNT_SENT] = in->info.n_sent;
    in->cnt[CNT_TOK] = in->info.n_tok;
    ELMO_CHECK(n_off == in->info.n_sent + 1 && id_off == n_off && tx_off == n_off &&
                   t_off == in->info.n_tok + 1,
               ELMO_ERR_FORMAT,
               "%s: its offset arrays do not match n_sentences = %lld, n_tokens = %lld: the "
               "store is damaged",
               in->path, (long long)in->info.n_sent, (long long)in->info.n_tok);
    ELMO_TRY(check_ends(in, "sentences/offset", in->cnt[CNT_SENT], in->cnt[CNT_TOK]));
    ELMO_TRY(check_ends(in, "sentences/id_offset", in->cnt[CNT_SENT], in->cnt[CNT_ID]));
    ELMO_TRY(check_ends(in, "sentences/text_offset", in->cnt[CNT_SENT], in->cnt[CNT_TEXT]));
    ELMO_TRY(check_ends(in, "tokens/text_offset", in->cnt[CNT_TOK], in->cnt[CNT_TOKTEXT]));
    if (in->cnt[CNT_SENT] > 0) {
        ELMO_TRY(elmo_store_read_i64(in->st, "sentences/line", 0, 1, &in->first_line));
        ELMO_TRY(elmo_store_read_i64(in->st, "sentences/line", in->cnt[CNT_SENT] - 1, 1,
                                     &in->last_line));
    }
    in->options_json = elmo_store_attr_string(in->st, "options_json");
    return read_extras(in);
}

/*
 * Refuses an input b that does not match the first input a, or whose first line does not come
 * after the last line of the inputs before it (prev_last, of the store prev_path).
 */
static int check_match(const struct merge_in *a, const struct merge_in *b, int64_t prev_last,
                       const char *prev_path) {
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
    if (prev_path && b->cnt[CNT_SENT] > 0)
        ELMO_CHECK(prev_last < b->first_line, ELMO_ERR_MISMATCH,
                   "%s starts at input line %lld but %s, given before it, ends at line %lld: "
                   "give the slices in order 0..N-1 (a shell glob puts slice-10 before slice-2)",
                   b->path, (long long)b->first_line, prev_path, (long long)prev_last);
    return 0;
}

/* ---- copying ----------------------------------------------------------------------------- */

struct merge {
    struct merge_in *in;
    int n_in;
    struct elmo_store *out;
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
            ELMO_TRY(agree(write_rows(m->out, ds, out_row + a, b - a, m->buf)));
        }
        out_row += rows;
        if (ds->base >= 0) base += lim;
    }
    if (ds->base >= 0) {
        /* the closing value of the offset array: the length of the whole blob */
        int64_t end = m->total[ds->base];
        ELMO_TRY(agree(elmo_store_write_i64(m->out, ds->name, out_row, rank == 0 ? 1 : 0, &end)));
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
        snprintf(ds.name, sizeof ds.name, "embeddings/%s", elmo_output_names[i]);
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

static void merge_usage(FILE *f) {
    fprintf(f, "usage: [mpirun -n N] elmo merge --output OUT.h5 IN0.h5 IN1.h5 ...\n"
               "  Joins complete stateless stores, in the order given, into one store: the slice\n"
               "  stores of `elmo embed --slice k/N` (k = 0..N-1) give the store of a single run.\n"
               "  The inputs must share outputs, P, precision, weights, options and mix settings;\n"
               "  incomplete, mismatched or out-of-order inputs are refused.  OUT is marked\n"
               "  complete only when every row is in; it must not be one of the inputs.\n");
}

/* Parses the flags; returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, const char **out, const char ***ins, int *n_in) {
    int help = 0, bad = 0;
    *ins = elmo_xcalloc((size_t)argc + 1, sizeof **ins);
    *n_in = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) help = 1;
        else if ((!strcmp(a, "--output") || !strcmp(a, "-o")) && i + 1 < argc) *out = argv[++i];
        else if (!strncmp(a, "--output=", 9)) *out = a + 9;
        else if (a[0] == '-' && a[1]) {
            if (elmo_rank() == 0) fprintf(stderr, "elmo merge: unknown flag %s\n", a);
            bad = 1;
        } else (*ins)[(*n_in)++] = a;
    }
    if (help) {
        if (elmo_rank() == 0) merge_usage(stdout);
        return ELMO_EXIT_OK;
    }
    if (bad || !*out || !**out || *n_in == 0) {
        if (elmo_rank() == 0) {
            if (!bad && (!*out || !**out)) fprintf(stderr, "elmo merge: --output is required\n");
            else if (!bad) fprintf(stderr, "elmo merge: no input stores\n");
            merge_usage(stderr);
        }
        return ELMO_EXIT_USAGE;
    }
    return -1;
}

/* Refuses an output path that names one of the inputs (creating it would truncate it). */
static int check_output(const char *out, const char *const *ins, int n_in) {
    struct stat so, si;
    if (stat(out, &so) != 0) return 0;
    for (int k = 0; k < n_in; k++)
        ELMO_CHECK(stat(ins[k], &si) != 0 || so.st_dev != si.st_dev || so.st_ino != si.st_ino,
                   ELMO_ERR_ARG, "--output %s is the input %s: write the merged store elsewhere",
                   out, ins[k]);
    return 0;
}

int elmo_cmd_merge(int argc, char **argv) {
    const char *out = NULL, **paths = NULL;
    int n_in = 0;
    int code = parse_args(argc, argv, &out, &paths, &n_in);
    if (code >= 0) {
        free(paths);
        return code;
    }
    int rank = elmo_rank(), rc = 0;
    double t0 = now();
    struct merge m = {0};
    char *yaml = NULL;
    bool created = false;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    m.n_in = n_in;
    m.in = elmo_xcalloc((size_t)n_in, sizeof *m.in);

    ELMO_CALL(agree(check_output(out, paths, n_in)));
    /* every rank opens every input (read-only); the checks give the same verdict everywhere */
    int lrc = 0;
    int64_t prev_last = 0;        /* the last line of the non-empty inputs so far */
    const char *prev_path = NULL; /* the input that holds it */
    for (int k = 0; k < n_in && lrc == 0; k++) {
        m.in[k].path = paths[k];
        lrc = open_input(&m.in[k]);
        if (lrc == 0) lrc = check_match(&m.in[0], &m.in[k], prev_last, prev_path);
        if (lrc == 0 && m.in[k].cnt[CNT_SENT] > 0) {
            prev_last = m.in[k].last_line;
            prev_path = m.in[k].path;
        }
    }
    ELMO_CALL(agree(lrc));
    for (int k = 0; k < n_in; k++)
        for (int c = 0; c < CNT_N; c++) m.total[c] += m.in[k].cnt[c];
    if (rank == 0) {
        for (int k = 0; k < n_in; k++)
            if (m.in[k].cnt[CNT_SENT] > 0)
                fprintf(stderr, "elmo merge: %s: %lld sentences (lines %lld..%lld), %lld tokens\n",
                        m.in[k].path, (long long)m.in[k].cnt[CNT_SENT],
                        (long long)m.in[k].first_line, (long long)m.in[k].last_line,
                        (long long)m.in[k].cnt[CNT_TOK]);
            else fprintf(stderr, "elmo merge: %s: empty (no sentences)\n", m.in[k].path);
        fflush(stderr);
    }

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
    rc = elmo_store_create(&m.out, out, MPI_COMM_WORLD, &lay, &attrs);
    if (rc < 0) {
        if (rank == 0) fprintf(stderr, "elmo merge: error: %s\n", elmo_errmsg());
        goto cleanup;
    }
    created = true;
    ELMO_CALL(merge_all(&m));
    rc = elmo_store_finish(m.out);
    m.out = NULL;
    ELMO_CALL(agree(rc));
    if (rank == 0)
        fprintf(stderr,
                "elmo merge: wrote %s: %lld sentences, %lld tokens from %d stores on %d "
                "rank%s in %.2f s (complete)\n",
                out, (long long)m.total[CNT_SENT], (long long)m.total[CNT_TOK], n_in, elmo_size(),
                elmo_size() == 1 ? "" : "s", now() - t0);
cleanup:
    if (m.out) elmo_store_close(m.out);
    if (rc < 0 && created) {
        /* no half-written output: wait until every rank has closed it, then remove it */
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0 && unlink(out) == 0)
            fprintf(stderr, "elmo merge: removed the unfinished %s\n", out);
    }
    for (int k = 0; k < n_in; k++) {
        elmo_store_close(m.in[k].st);
        free(m.in[k].options_json);
    }
    free(m.in);
    free(m.buf);
    free(yaml);
    free(paths);
    return elmo_exit_code(rc);
}

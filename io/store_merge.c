/*
 * store_merge.c: the store work of `elmo merge` (see store_merge.h).
 *
 * Every rank opens every input (serial HDF5, read-only) and the output is written collectively;
 * rows are copied in chunks of about MERGE_CHUNK_BYTES, each chunk split over the ranks, so
 * memory stays bounded whatever the size of the stores.
 */
#include "io/store_merge.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "model/status.h"

#ifndef MERGE_CHUNK_BYTES /* a test build may set a tiny one to exercise the chunking */
#define MERGE_CHUNK_BYTES ((int64_t)8 << 20)
#endif

enum dtype { T_I64, T_U8, T_F32 };

/* One dataset of the store: its row count and, for offset arrays, what its values count. */
struct dsdef {
    char name[40];
    enum dtype type;
    enum elmo_merge_count rows; /* rows of an input (an offset array has one more, at the end) */
    int base; /* offset arrays: the enum elmo_merge_count their values index, else -1 */
};

/* ---- reading an input -------------------------------------------------------------------- */

/* The elmo mix attributes of an open input file (gamma 1 and no weights when absent). */
static int read_mix(struct elmo_merge_in *in, hid_t file) {
    int rc = 0;
    hid_t a = -1, sp = -1;
    ELMO_CALL(elmo_h5_attr_read(file, "elmo_gamma", H5T_NATIVE_FLOAT, &in->gamma, in->path,
                                "a root attribute"));
    ELMO_CALL(elmo_h5_attr_read(file, "elmo_layer_norm", H5T_NATIVE_INT, &in->layer_norm,
                                in->path, "a root attribute"));
    ELMO_CALL(elmo_h5_attr_open(file, "elmo_weights", &a, in->path, "attribute elmo_weights"));
    rc = 0;
    if (a < 0) goto cleanup;
    sp = H5Aget_space(a);
    if (sp < 0) {
        rc = elmo_h5_fail("%s: cannot open attribute elmo_weights", in->path);
        goto cleanup;
    }
    hssize_t n = H5Sget_simple_extent_type(sp) == H5S_NULL ? 0 : H5Sget_simple_extent_npoints(sp);
    if (n < 0 || n > ELMO_MERGE_MAX_MIX_WEIGHTS)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: attribute elmo_weights has %lld values", in->path,
                  (long long)n);
    in->n_mix = (int)n;
    if (n > 0 && H5Aread(a, H5T_NATIVE_FLOAT, in->mix) < 0)
        rc = elmo_h5_fail("%s: cannot read attribute elmo_weights", in->path);
cleanup:
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return rc;
}

/* The deflate level of the first embedding dataset that has rows (they all share it); a 0-row
 * dataset is stored contiguous, without filters: it tells nothing. */
static int read_deflate(struct elmo_merge_in *in, hid_t file) {
    int rc = 0;
    hid_t d = -1, dcpl = -1;
    for (int i = 0; i < 8 && !in->compress_known; i++) {
        if (!(in->info.outputs & (1u << i))) continue;
        char name[40];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[i].name);
        d = H5Dopen2(file, name, H5P_DEFAULT);
        if (d < 0 || (dcpl = H5Dget_create_plist(d)) < 0) {
            rc = elmo_h5_fail("%s: cannot open an embedding dataset", in->path);
            goto cleanup;
        }
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
    }
cleanup:
    if (dcpl >= 0) H5Pclose(dcpl);
    if (d >= 0) H5Dclose(d);
    return rc;
}

/* What io/store.h does not expose: the elmo mix attributes and the deflate level. */
static int read_extras(struct elmo_merge_in *in) {
    in->gamma = 1.0f;
    hid_t file = H5Fopen(in->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return elmo_h5_fail("%s: cannot open the store", in->path);
    int rc = read_mix(in, file);
    if (rc == 0) rc = read_deflate(in, file);
    H5Fclose(file);
    return rc;
}

int elmo_merge_open_input(struct elmo_merge_in *in) {
    elmo_h5_silence();
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
    in->cnt[ELMO_CNT_SENT] = in->info.n_sent;
    in->cnt[ELMO_CNT_TOK] = in->info.n_tok;
    in->cnt[ELMO_CNT_ID] = in->info.id_bytes;
    in->cnt[ELMO_CNT_TEXT] = in->info.sent_text_bytes;
    in->cnt[ELMO_CNT_TOKTEXT] = in->info.tok_text_bytes;
    if (in->cnt[ELMO_CNT_SENT] > 0) {
        ELMO_TRY(elmo_store_read_i64(in->st, "sentences/line", 0, 1, &in->first_line));
        ELMO_TRY(elmo_store_read_i64(in->st, "sentences/line", in->cnt[ELMO_CNT_SENT] - 1, 1,
                                     &in->last_line));
    }
    in->options_json = elmo_store_attr_string(in->st, "options_json");
    return read_extras(in);
}


int elmo_merge_check_match(const struct elmo_merge_in *a, const struct elmo_merge_in *b) {
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

/* One slice count, one input fingerprint, no slice twice, none missing, in order. */
int elmo_merge_check_slices(const struct elmo_merge_in *in, int n_in) {
    const struct elmo_merge_in *a = &in[0];
    for (int k = 1; k < n_in; k++) {
        const struct elmo_merge_in *b = &in[k];
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

static size_t elem_size(enum dtype t) { return t == T_I64 ? 8 : t == T_U8 ? 1 : 4; }

static int read_rows(struct elmo_merge_in *in, const struct dsdef *ds, int64_t row0, int64_t n,
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

/* Grows the copy buffer to at least need bytes. */
static int reserve(struct elmo_merge *m, size_t need) {
    if (need <= m->buf_bytes) return 0;
    void *p = realloc(m->buf, need);
    if (!p) return elmo_error(ELMO_ERR_NOMEM, "out of memory for a %zu-byte buffer", need);
    m->buf = p;
    m->buf_bytes = need;
    return 0;
}

/* Reads rows [a, a + n) of one input's dataset into buf; an offset array's values are checked
 * to rise within [0, lim] and rebased by base (what the earlier inputs hold). */
static int read_chunk(struct elmo_merge_in *in, const struct dsdef *ds, int64_t a, int64_t n,
                      void *buf, int64_t lim, int64_t base) {
    ELMO_TRY(read_rows(in, ds, a, n, buf));
    if (ds->base < 0) return 0;
    int64_t *v = buf;
    for (int64_t i = 0; i < n; i++)
        if (v[i] < 0 || v[i] > lim || (i > 0 && v[i] < v[i - 1]))
            return elmo_error(ELMO_ERR_FORMAT,
                              "%s: /%s[%lld] = %lld is out of order or outside [0, %lld]: the "
                              "store is damaged",
                              in->path, ds->name, (long long)(a + i), (long long)v[i],
                              (long long)lim);
    for (int64_t i = 0; i < n; i++) v[i] += base;
    return 0;
}

/* A write of the output, agreed; a failure marks the output broken. */
static int agreed_write(struct elmo_merge *m, const struct elmo_merge_hooks *h, int rc) {
    rc = h->agree(rc);
    if (rc < 0) m->out_broken = true;
    return rc;
}

/*
 * Copies one dataset of every input into the output.  Collective: every rank runs the same
 * loop (the counts are the same everywhere) and writes its share of each chunk.
 */
static int copy_dataset(struct elmo_merge *m, const struct elmo_merge_hooks *h,
                        const struct dsdef *ds, int64_t width) {
    int rank = m->rank, size = m->size;
    int64_t row_bytes = width * (int64_t)elem_size(ds->type);
    int64_t chunk = MERGE_CHUNK_BYTES / (row_bytes > 0 ? row_bytes : 1);
    if (chunk < 1) chunk = 1;
    ELMO_TRY(h->agree(reserve(m, (size_t)(chunk * row_bytes) + 8)));
    int64_t out_row = 0, base = 0;
    for (int k = 0; k < m->n_in; k++) {
        struct elmo_merge_in *in = &m->in[k];
        int64_t rows = in->cnt[ds->rows], lim = ds->base >= 0 ? in->cnt[ds->base] : 0;
        for (int64_t c0 = 0; c0 < rows; c0 += chunk) {
            ELMO_TRY(h->agree(h->stop()));
            int64_t len = rows - c0 < chunk ? rows - c0 : chunk;
            int64_t a = c0 + len * rank / size, b = c0 + len * (rank + 1) / size;
            ELMO_TRY(h->agree(read_chunk(in, ds, a, b - a, m->buf, lim, base)));
            ELMO_TRY(agreed_write(m, h, write_rows(m->out, ds, out_row + a, b - a, m->buf)));
        }
        out_row += rows;
        if (ds->base >= 0) base += lim;
    }
    if (ds->base < 0) return 0;
    /* the closing value of the offset array: the length of the whole blob */
    int64_t end = m->total[ds->base];
    return agreed_write(
        m, h, elmo_store_write_i64(m->out, ds->name, out_row, rank == 0 ? 1 : 0, &end));
}

int elmo_merge_copy(struct elmo_merge *m, const struct elmo_merge_hooks *h) {
    static const struct dsdef fixed[] = {
        {"sentences/offset", T_I64, ELMO_CNT_SENT, ELMO_CNT_TOK},
        {"sentences/line", T_I64, ELMO_CNT_SENT, -1},
        {"sentences/id_offset", T_I64, ELMO_CNT_SENT, ELMO_CNT_ID},
        {"sentences/id_blob", T_U8, ELMO_CNT_ID, -1},
        {"sentences/text_offset", T_I64, ELMO_CNT_SENT, ELMO_CNT_TEXT},
        {"sentences/text_blob", T_U8, ELMO_CNT_TEXT, -1},
        {"tokens/text_offset", T_I64, ELMO_CNT_TOK, ELMO_CNT_TOKTEXT},
        {"tokens/text_blob", T_U8, ELMO_CNT_TOKTEXT, -1},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        ELMO_TRY(copy_dataset(m, h, &fixed[i], 1));
    for (int i = 0; i < 8; i++) {
        unsigned bit = 1u << i;
        if (!(m->in[0].info.outputs & bit)) continue;
        struct dsdef ds = {"", T_F32, bit == ELMO_OUT_DEFAULT ? ELMO_CNT_SENT : ELMO_CNT_TOK, -1};
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
        ELMO_TRY(h->agree(rc));
        ELMO_TRY(copy_dataset(m, h, &ds, d[1] * d[2]));
    }
    return 0;
}

/* ---- the output ------------------------------------------------------------------------- */

int elmo_merge_create(struct elmo_merge *m, const char *partial, MPI_Comm comm) {
    const struct elmo_merge_in *f = &m->in[0];
    int compress = 0;
    for (int k = m->n_in - 1; k >= 0; k--)
        if (m->in[k].compress_known) compress = m->in[k].compress;
    struct elmo_store_layout lay = {.n_sent = m->total[ELMO_CNT_SENT],
                                    .n_tok = m->total[ELMO_CNT_TOK],
                                    .id_bytes = m->total[ELMO_CNT_ID],
                                    .sent_text_bytes = m->total[ELMO_CNT_TEXT],
                                    .tok_text_bytes = m->total[ELMO_CNT_TOKTEXT],
                                    .outputs = f->info.outputs,
                                    .P = f->info.P,
                                    .precision = f->info.precision,
                                    .compress = compress};
    m->job_yaml = elmo_store_attr_string(f->st, "job_yaml");
    struct elmo_store_attrs attrs = {.options_json = f->options_json,
                                     .weights_sha256 = f->info.weights_sha256,
                                     .regime = f->info.regime,
                                     .job_yaml = m->job_yaml ? m->job_yaml : "",
                                     .elmo_weights = f->mix,
                                     .n_elmo_weights = f->n_mix,
                                     .elmo_gamma = f->gamma,
                                     .elmo_layer_norm = f->layer_norm != 0};
    return elmo_store_create(&m->out, partial, comm, &lay, &attrs);
}

void elmo_merge_in_free(struct elmo_merge_in *in) {
    elmo_store_close(in->st);
    free(in->options_json);
    free(in->fingerprint);
    in->st = NULL;
    in->options_json = in->fingerprint = NULL;
}

void elmo_merge_free(struct elmo_merge *m) {
    for (int k = 0; k < m->n_in; k++) elmo_merge_in_free(&m->in[k]);
    free(m->in);
    free(m->buf);
    free(m->job_yaml);
    m->in = NULL;
    m->buf = NULL;
    m->job_yaml = NULL;
}

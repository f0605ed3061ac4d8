/*
 * store.c: the embedding store (io/store.h), one HDF5 file per job.
 *
 * Writing goes through parallel HDF5 (the MPI-IO driver) on a duplicate of the caller's
 * communicator, with collective metadata operations and collective raw-data transfers for every
 * write, which the filtered (deflate) datasets require.  Every write call first agrees on its
 * arguments across the ranks (one MPI_Allreduce), so that a bad call on one rank fails on all of
 * them instead of leaving the others waiting inside HDF5.
 *
 * float16 is stored as a 2-byte IEEE little-endian float (h5py reads it as <f2).  HDF5 1.10 has
 * no predefined half type, so one is derived from IEEE_F32LE.  The program converts to half
 * itself and hands HDF5 the raw 16-bit words with that same type as the memory type, so that no
 * HDF5 type conversion runs (conversion would make parallel HDF5 fall back to independent I/O).
 *
 * Strings (attributes only) are scalar variable-length UTF-8 strings: h5py returns those as str
 * (it returns fixed-length strings as bytes).  Ids and token texts are byte blobs plus offsets,
 * since parallel HDF5 1.10 cannot write variable-length string datasets.
 *
 * Reading uses the default (serial) driver and any process may do it.
 */
#include "io/store.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h"
#include "model/status.h"

#define STORE_FORMAT_VERSION 1
#define STORE_MAX_DATASETS 16
#define CHUNK_MAX_BYTES (1 << 20)
#define CHUNK_MAX_ROWS 1024
#define READ_CHUNK_CACHE (16u << 20)

enum ds_type { DS_I64, DS_U8, DS_FLOAT };

struct ds {
    char name[40];     /* path below the root, e.g. "embeddings/elmo" */
    enum ds_type type;
    int nd;            /* 1, 2 or 3 */
    hsize_t dims[3];
    int64_t width;     /* elements per row: dims[1] * dims[2] */
    bool half;         /* float stored as float16 */
    hid_t id;          /* open dataset, or -1 */
    hid_t ftype;       /* reading: the dataset's file type, or -1 */
};

struct elmo_store {
    char *path;
    hid_t file;
    hid_t f16;          /* the float16 type (file and memory) */
    hid_t dxpl;         /* collective transfer list when writing, H5P_DEFAULT when reading */
    MPI_Comm comm;      /* duplicate of the creator's communicator; MPI_COMM_NULL when reading */
    int rank;
    bool writing;
    bool contiguous;    /* created for direct writes (elmo_store_map) */
    int n_independent;  /* writes that HDF5 did not do collectively (should stay 0) */
    int n_ds;
    struct ds ds[STORE_MAX_DATASETS];
};

/* ---- errors ------------------------------------------------------------------------------ */

static int mpi_fail(int code, const char *what, const char *path) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "code %d", code);
    return elmo_error(ELMO_ERR_MPI, "%s: %s failed: %s", path, what, text);
}

/* In a function with `int rc` and `cleanup:`: an HDF5 call that must not be negative. */
#define H5CALL(expr, ...)                          \
    do {                                           \
        if ((expr) < 0) {                          \
            rc = elmo_h5_fail(__VA_ARGS__);        \
            goto cleanup;                          \
        }                                          \
    } while (0)

#define MPICALL(expr, path)                                   \
    do {                                                      \
        int mpi__e = (expr);                                  \
        if (mpi__e != MPI_SUCCESS) {                          \
            rc = mpi_fail(mpi__e, #expr, (path));             \
            goto cleanup;                                     \
        }                                                     \
    } while (0)

/* ---- float16 ----------------------------------------------------------------------------- */

uint16_t elmo_f32_to_f16(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
    uint32_t exp = (b >> 23) & 0xffu, man = b & 0x7fffffu;
    if (exp == 0xff) /* inf, or NaN kept quiet with the top payload bits */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
    if (e <= 0) {
        /* subnormal half (or zero): value / 2^-24 = (1.m * 2^23) >> (14 - e), rounded */
        if (e < -10) return sign; /* below half the smallest subnormal (incl. float subnormals) */
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) h++;
        return (uint16_t)(sign | h); /* a carry gives 0x400, the smallest normal: correct */
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry may reach inf: correct */
    return (uint16_t)(sign | h);
}

float elmo_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t b;
    if (exp == 0) {
        float f = (float)man * 0x1p-24f; /* zero or subnormal, exact */
        memcpy(&b, &f, sizeof b);
        b |= sign;
    } else if (exp == 31) {
        b = sign | 0x7f800000u | (man << 13);
    } else {
        b = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* A 2-byte IEEE little-endian float: sign bit 15, exponent bits 10..14 (bias 15), mantissa 0..9. */
static hid_t make_f16_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return -1;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_precision(t, 16) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* ---- the dataset table ------------------------------------------------------------------- */

static void table_init(struct elmo_store *st) {
    st->n_ds = 0;
    for (int i = 0; i < STORE_MAX_DATASETS; i++) st->ds[i].id = st->ds[i].ftype = -1;
}

static struct ds *table_find(struct elmo_store *st, const char *name) {
    if (name[0] == '/') name++;
    for (int i = 0; i < st->n_ds; i++)
        if (!strcmp(st->ds[i].name, name)) return &st->ds[i];
    return NULL;
}

static void table_close(struct elmo_store *st) {
    for (int i = 0; i < st->n_ds; i++) {
        if (st->ds[i].id >= 0) H5Dclose(st->ds[i].id);
        if (st->ds[i].ftype >= 0) H5Tclose(st->ds[i].ftype);
        st->ds[i].id = st->ds[i].ftype = -1;
    }
}

static void store_free(struct elmo_store *st) {
    if (!st) return;
    table_close(st);
    if (st->f16 >= 0) H5Tclose(st->f16);
    if (st->dxpl >= 0 && st->dxpl != H5P_DEFAULT) H5Pclose(st->dxpl);
    if (st->file >= 0) H5Fclose(st->file);
    if (st->comm != MPI_COMM_NULL) MPI_Comm_free(&st->comm);
    free(st->path);
    free(st);
}

static struct elmo_store *store_new(const char *path) {
    struct elmo_store *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->path = strdup(path);
    if (!st->path) {
        free(st);
        return NULL;
    }
    st->file = st->f16 = st->dxpl = -1;
    st->comm = MPI_COMM_NULL;
    table_init(st);
    return st;
}

/* ---- creating ---------------------------------------------------------------------------- */

/* Broadcasts rank 0's string (NULL counts as "") into an owned copy on every rank. */
static int bcast_string(const char *s, char **out, MPI_Comm comm, int rank, const char *path) {
    int rc = 0;
    unsigned long long len = (rank == 0 && s) ? strlen(s) : 0;
    *out = NULL;
    MPICALL(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, comm), path);
    char *copy = malloc(len + 1);
    int ok = copy != NULL, all_ok = 0;
    MPICALL(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm), path);
    if (!all_ok) {
        free(copy);
        return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory for a %llu-byte attribute", path,
                          len);
    }
    if (rank == 0 && len) memcpy(copy, s, len);
    for (unsigned long long at = 0; at < len;) {
        int part = len - at > (1u << 30) ? (1 << 30) : (int)(len - at);
        rc = MPI_Bcast(copy + at, part, MPI_CHAR, 0, comm);
        if (rc != MPI_SUCCESS) {
            free(copy);
            return mpi_fail(rc, "MPI_Bcast", path);
        }
        at += (unsigned long long)part;
    }
    copy[len] = '\0';
    *out = copy;
cleanup:
    return rc;
}

/* A scalar attribute whose file and memory types are the same. */
static int put_scalar(hid_t obj, const char *name, hid_t type, const void *v, const char *path) {
    return elmo_h5_attr_write_n(obj, name, type, type, 1, v, path);
}

/* Rows per chunk: whole rows, at most CHUNK_MAX_ROWS and about CHUNK_MAX_BYTES. */
static hsize_t chunk_rows(hsize_t rows, size_t row_bytes) {
    hsize_t r = row_bytes ? CHUNK_MAX_BYTES / row_bytes : CHUNK_MAX_ROWS;
    if (r < 1) r = 1;
    if (r > CHUNK_MAX_ROWS) r = CHUNK_MAX_ROWS;
    if (r > rows) r = rows;
    return r;
}

static int add_dataset(struct elmo_store *st, const char *name, enum ds_type type, int nd,
                       const hsize_t *dims, int compress) {
    int rc = 0;
    hid_t dcpl = -1, space = -1;
    hid_t ftype = type == DS_I64 ? H5T_STD_I64LE : type == DS_U8 ? H5T_STD_U8LE
                  : st->f16 >= 0 ? st->f16 : H5T_IEEE_F32LE;
    if (st->n_ds >= STORE_MAX_DATASETS)
        return elmo_error(ELMO_ERR_STATE, "%s: too many datasets", st->path);
    struct ds *d = &st->ds[st->n_ds];
    memset(d, 0, sizeof *d);
    d->id = d->ftype = -1;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->type = type;
    d->nd = nd;
    d->width = 1;
    for (int i = 0; i < 3; i++) d->dims[i] = i < nd ? dims[i] : 1;
    for (int i = 1; i < nd; i++) d->width *= (int64_t)dims[i];
    d->half = type == DS_FLOAT && st->f16 >= 0;

    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5CALL(dcpl, "%s: %s: cannot create a property list", st->path, name);
    /* Every element gets written; skip writing fill values first. */
    H5CALL(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "%s: %s: fill time", st->path, name);
    if (st->contiguous) /* direct writes: the file offset is known before any row is written */
        H5CALL(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), "%s: %s: allocation time",
               st->path, name);
    else if (type == DS_FLOAT && dims[0] > 0) {
        /* Chunks need a non-zero size no larger than the (fixed) dataset: a 0-row dataset
         * stays contiguous and is never written. */
        size_t elem = d->half ? 2 : 4;
        hsize_t chunk[3] = {chunk_rows(dims[0], (size_t)d->width * elem), dims[1],
                            nd > 2 ? dims[2] : 1};
        H5CALL(H5Pset_chunk(dcpl, nd, chunk), "%s: %s: cannot set chunking", st->path, name);
        if (compress > 0) {
            H5CALL(H5Pset_shuffle(dcpl), "%s: %s: cannot set the shuffle filter", st->path, name);
            H5CALL(H5Pset_deflate(dcpl, (unsigned)compress), "%s: %s: cannot set deflate",
                   st->path, name);
        }
    }
    space = H5Screate_simple(nd, dims, NULL);
    H5CALL(space, "%s: %s: cannot create a dataspace", st->path, name);
    d->id = H5Dcreate2(st->file, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5CALL(d->id, "%s: cannot create dataset /%s", st->path, name);
    st->n_ds++;
cleanup:
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return rc;
}

static int check_layout(const struct elmo_store_layout *lay, const char *path) {
    ELMO_CHECK(lay->n_sent >= 0 && lay->n_tok >= 0 && lay->id_bytes >= 0 &&
                   lay->sent_text_bytes >= 0 && lay->tok_text_bytes >= 0,
               ELMO_ERR_ARG, "%s: negative size in the store layout", path);
    ELMO_CHECK(lay->outputs < 256u, ELMO_ERR_ARG, "%s: unknown output bits 0x%x", path,
               lay->outputs);
    ELMO_CHECK(lay->outputs == 0 || (lay->P > 0 && lay->P <= (1 << 20)), ELMO_ERR_ARG,
               "%s: projection dim P = %d is out of range", path, lay->P);
    ELMO_CHECK(lay->precision == ELMO_PREC_F32 || lay->precision == ELMO_PREC_F16, ELMO_ERR_ARG,
               "%s: unknown precision %d", path, (int)lay->precision);
    ELMO_CHECK(lay->compress >= 0 && lay->compress <= 9, ELMO_ERR_ARG,
               "%s: deflate level %d is not in 0..9", path, lay->compress);
    ELMO_CHECK(!lay->contiguous || lay->compress == 0, ELMO_ERR_ARG,
               "%s: a contiguous store cannot be compressed", path);
    return 0;
}

/* Every rank must pass the same layout: compare with rank 0's. */
static int agree_layout(const struct elmo_store_layout *lay, MPI_Comm comm, int rank,
                        const char *path) {
    int rc = 0;
    int64_t v[9] = {lay->n_sent, lay->sent_text_bytes, lay->n_tok, lay->id_bytes,
                    lay->tok_text_bytes, (int64_t)lay->outputs, lay->P,
                    (int64_t)lay->precision, lay->compress};
    int64_t v0[9];
    memcpy(v0, v, sizeof v);
    MPICALL(MPI_Bcast(v0, 9, MPI_INT64_T, 0, comm), path);
    int differs = memcmp(v, v0, sizeof v) != 0, any = 0;
    MPICALL(MPI_Allreduce(&differs, &any, 1, MPI_INT, MPI_MAX, comm), path);
    if (any)
        return elmo_error(ELMO_ERR_ARG, "%s: the ranks passed different store layouts%s", path,
                          differs ? " (this rank's differs from rank 0's)" : "");
cleanup:
    return rc;
}

static const char *precision_name(enum elmo_precision p) {
    return p == ELMO_PREC_F16 ? "f16" : "f32";
}

static void outputs_string(unsigned bits, char *buf, size_t size) {
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < ELMO_N_OUTPUTS; i++)
        if (bits & (1u << i)) {
            int n = snprintf(buf + at, size - at, "%s%s", at ? "," : "", elmo_outputs[i].name);
            if (n < 0 || (size_t)n >= size - at) break;
            at += (size_t)n;
        }
}

static int write_attrs(struct elmo_store *st, const struct elmo_store_layout *lay,
                       const struct elmo_store_attrs *attrs) {
    int rc = 0;
    char *s_opts = NULL, *s_sha = NULL, *s_regime = NULL, *s_yaml = NULL;
    float *w = NULL;
    hid_t wspace = -1;
    const struct elmo_store_attrs none = {0};
    if (!attrs) attrs = &none;
    /* The attribute values are rank 0's (the other ranks pass the same, or should). */
    ELMO_CALL(bcast_string(attrs->options_json, &s_opts, st->comm, st->rank, st->path));
    ELMO_CALL(bcast_string(attrs->weights_sha256, &s_sha, st->comm, st->rank, st->path));
    ELMO_CALL(bcast_string(attrs->regime ? attrs->regime : "stateless", &s_regime, st->comm,
                           st->rank, st->path));
    ELMO_CALL(bcast_string(attrs->job_yaml, &s_yaml, st->comm, st->rank, st->path));
    int nw = attrs->elmo_weights && attrs->n_elmo_weights > 0 ? attrs->n_elmo_weights : 0;
    float gamma = attrs->elmo_gamma;
    int layer_norm = attrs->elmo_layer_norm ? 1 : 0;
    MPICALL(MPI_Bcast(&nw, 1, MPI_INT, 0, st->comm), st->path);
    MPICALL(MPI_Bcast(&gamma, 1, MPI_FLOAT, 0, st->comm), st->path);
    MPICALL(MPI_Bcast(&layer_norm, 1, MPI_INT, 0, st->comm), st->path);
    if (nw < 0 || nw > 1024)
        ELMO_FAIL(ELMO_ERR_ARG, "%s: %d elmo weights is out of range", st->path, nw);
    w = calloc((size_t)nw + 1, sizeof *w);
    if (!w) ELMO_FAIL(ELMO_ERR_NOMEM, "%s: out of memory", st->path);
    if (st->rank == 0 && nw) memcpy(w, attrs->elmo_weights, (size_t)nw * sizeof *w);
    MPICALL(MPI_Bcast(w, nw, MPI_FLOAT, 0, st->comm), st->path);

    int complete = 0, format = STORE_FORMAT_VERSION;
    int64_t n_sent = lay->n_sent, n_tok = lay->n_tok;
    char outs[128];
    outputs_string(lay->outputs, outs, sizeof outs);
    hid_t root = st->file;
    ELMO_CALL(put_scalar(root, "complete", H5T_STD_I32LE, &complete, st->path));
    ELMO_CALL(put_scalar(root, "format_version", H5T_STD_I32LE, &format, st->path));
    ELMO_CALL(elmo_h5_attr_write_string(root, "version", ELMO_VERSION, st->path));
    ELMO_CALL(elmo_h5_attr_write_string(root, "options_json", s_opts, st->path));
    ELMO_CALL(elmo_h5_attr_write_string(root, "weights_sha256", s_sha, st->path));
    ELMO_CALL(elmo_h5_attr_write_string(root, "regime", s_regime, st->path));
    ELMO_CALL(elmo_h5_attr_write_string(root, "precision", precision_name(lay->precision),
                                        st->path));
    ELMO_CALL(elmo_h5_attr_write_string(root, "job_yaml", s_yaml, st->path));
    ELMO_CALL(put_scalar(root, "n_sentences", H5T_STD_I64LE, &n_sent, st->path));
    ELMO_CALL(put_scalar(root, "n_tokens", H5T_STD_I64LE, &n_tok, st->path));
    ELMO_CALL(elmo_h5_attr_write_string(root, "outputs", outs, st->path));
    if (nw > 0) {
        hsize_t dim = (hsize_t)nw;
        wspace = H5Screate_simple(1, &dim, NULL);
    } else {
        wspace = H5Screate(H5S_NULL); /* h5py: Empty */
    }
    H5CALL(wspace, "%s: attribute elmo_weights: cannot create a dataspace", st->path);
    ELMO_CALL(elmo_h5_attr_write(root, "elmo_weights", H5T_IEEE_F32LE, H5T_IEEE_F32LE, wspace, w,
                                 st->path));
    ELMO_CALL(put_scalar(root, "elmo_gamma", H5T_IEEE_F32LE, &gamma, st->path));
    ELMO_CALL(put_scalar(root, "elmo_layer_norm", H5T_STD_I32LE, &layer_norm, st->path));
cleanup:
    if (wspace >= 0) H5Sclose(wspace);
    free(s_opts);
    free(s_sha);
    free(s_regime);
    free(s_yaml);
    free(w);
    return rc;
}

static int make_group(struct elmo_store *st, const char *name) {
    hid_t g = H5Gcreate2(st->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return elmo_h5_fail("%s: cannot create group /%s", st->path, name);
    H5Gclose(g);
    return 0;
}

int elmo_store_create(struct elmo_store **out, const char *path, MPI_Comm comm,
                      const struct elmo_store_layout *lay, const struct elmo_store_attrs *attrs) {
    int rc = 0;
    hid_t fapl = -1;
    *out = NULL;
    elmo_h5_silence();
    struct elmo_store *st = store_new(path);
    if (!st) return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory", path);
    st->writing = true;
    MPICALL(MPI_Comm_dup(comm, &st->comm), path);
    MPICALL(MPI_Comm_set_errhandler(st->comm, MPI_ERRORS_RETURN), path);
    MPICALL(MPI_Comm_rank(st->comm, &st->rank), path);
    ELMO_CALL(agree_layout(lay, st->comm, st->rank, path));
    ELMO_CALL(check_layout(lay, path)); /* same layout everywhere: same verdict everywhere */

    /* A contiguous store is created by one process with the default (POSIX) driver, which
     * extends the file to its full size at close. */
    st->contiguous = lay->contiguous;
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5CALL(fapl, "%s: cannot create a file access list", path);
    if (!st->contiguous) {
        H5CALL(H5Pset_fapl_mpio(fapl, st->comm, MPI_INFO_NULL), "%s: cannot select MPI-IO",
               path);
        H5CALL(H5Pset_all_coll_metadata_ops(fapl, 1), "%s: collective metadata reads", path);
        H5CALL(H5Pset_coll_metadata_write(fapl, 1), "%s: collective metadata writes", path);
    }
    st->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5CALL(st->file, "%s: cannot create the store", path);
    st->dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5CALL(st->dxpl, "%s: cannot create a transfer list", path);
    if (!st->contiguous)
        H5CALL(H5Pset_dxpl_mpio(st->dxpl, H5FD_MPIO_COLLECTIVE), "%s: collective transfers",
               path);
    if (lay->precision == ELMO_PREC_F16) {
        st->f16 = make_f16_type();
        H5CALL(st->f16, "%s: cannot build the float16 type", path);
    }

    ELMO_CALL(make_group(st, "sentences"));
    ELMO_CALL(make_group(st, "tokens"));
    ELMO_CALL(make_group(st, "embeddings"));
    hsize_t N = (hsize_t)lay->n_sent, T = (hsize_t)lay->n_tok;
    hsize_t n1 = N + 1, t1 = T + 1, bi = (hsize_t)lay->id_bytes,
            bs = (hsize_t)lay->sent_text_bytes, bt = (hsize_t)lay->tok_text_bytes;
    ELMO_CALL(add_dataset(st, "sentences/offset", DS_I64, 1, &n1, 0));
    ELMO_CALL(add_dataset(st, "sentences/line", DS_I64, 1, &N, 0));
    ELMO_CALL(add_dataset(st, "sentences/id_offset", DS_I64, 1, &n1, 0));
    ELMO_CALL(add_dataset(st, "sentences/id_blob", DS_U8, 1, &bi, 0));
    ELMO_CALL(add_dataset(st, "sentences/text_offset", DS_I64, 1, &n1, 0));
    ELMO_CALL(add_dataset(st, "sentences/text_blob", DS_U8, 1, &bs, 0));
    ELMO_CALL(add_dataset(st, "tokens/text_offset", DS_I64, 1, &t1, 0));
    ELMO_CALL(add_dataset(st, "tokens/text_blob", DS_U8, 1, &bt, 0));
    hsize_t P = (hsize_t)lay->P;
    for (int i = 0; i < ELMO_N_OUTPUTS; i++) {
        if (!(lay->outputs & (1u << i))) continue;
        char name[40];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[i].name);
        /* (rows, width), or (rows, 3, 2P) for the 3-layer view */
        const struct elmo_output *o = &elmo_outputs[i];
        hsize_t w = (hsize_t)o->width_p * P;
        hsize_t dims[3] = {o->per_sentence ? N : T, o->layers > 1 ? (hsize_t)o->layers : w,
                           o->layers > 1 ? w : 0};
        ELMO_CALL(add_dataset(st, name, DS_FLOAT, o->layers > 1 ? 3 : 2, dims,
                              lay->compress));
    }
    ELMO_CALL(write_attrs(st, lay, attrs));
    H5Pclose(fapl);
    *out = st;
    return 0;
cleanup:
    if (fapl >= 0) H5Pclose(fapl);
    store_free(st);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------- */

static int write_rows(struct elmo_store *st, const char *name, enum ds_type want, int64_t row0,
                      int64_t n, const void *data) {
    int rc = 0, bad = 0;
    char why[512] = "";
    hid_t fspace = -1, mspace = -1;
    uint16_t *half = NULL;
    if (!st || !st->writing)
        return elmo_error(ELMO_ERR_STATE, "store write of %s: the store is not open for writing",
                          name ? name : "(null)");
    struct ds *d = name ? table_find(st, name) : NULL;
    /* Local checks; all ranks then agree before entering the collective write. */
    if (!d)
        bad = snprintf(why, sizeof why, "%s: no dataset /%s in this store", st->path,
                       name ? name : "(null)") > 0;
    else if (d->type != want)
        bad = snprintf(why, sizeof why, "%s: /%s holds %s, not %s", st->path, d->name,
                       d->type == DS_I64 ? "int64" : d->type == DS_U8 ? "uint8" : "floats",
                       want == DS_I64 ? "int64" : want == DS_U8 ? "uint8" : "floats") > 0;
    else if (row0 < 0 || n < 0 || (uint64_t)row0 + (uint64_t)n > (uint64_t)d->dims[0])
        bad = snprintf(why, sizeof why, "%s: /%s: rows [%lld, %lld) are outside [0, %llu)",
                       st->path, d->name, (long long)row0, (long long)(row0 + n),
                       (unsigned long long)d->dims[0]) > 0;
    else if (n > 0 && !data)
        bad = snprintf(why, sizeof why, "%s: /%s: no data", st->path, d->name) > 0;
    else if (n > 0 && d->half) {
        size_t count = (size_t)n * (size_t)d->width;
        half = malloc(count * sizeof *half);
        if (!half)
            bad = snprintf(why, sizeof why, "%s: /%s: out of memory converting %zu values",
                           st->path, d->name, count) > 0;
        else
            for (size_t i = 0; i < count; i++) half[i] = elmo_f32_to_f16(((const float *)data)[i]);
    }
    int any = 0;
    MPICALL(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, st->comm), st->path);
    if (bad) ELMO_FAIL(ELMO_ERR_ARG, "%s", why);
    if (any)
        ELMO_FAIL(ELMO_ERR_ARG, "%s: write of /%s failed on another rank", st->path, d->name);
    /* A 0-row dataset has no storage; a collective write to it fails in HDF5 1.10.8
     * ("addr overflow"), so it is skipped on every rank alike. */
    if (d->dims[0] == 0) goto cleanup;

    fspace = H5Dget_space(d->id);
    H5CALL(fspace, "%s: /%s: cannot get the dataspace", st->path, d->name);
    if (n > 0) {
        hsize_t start[3] = {(hsize_t)row0, 0, 0}, count[3] = {(hsize_t)n, d->dims[1], d->dims[2]};
        H5CALL(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL),
               "%s: /%s: cannot select rows", st->path, d->name);
        mspace = H5Screate_simple(d->nd, count, NULL);
        H5CALL(mspace, "%s: /%s: cannot create a memory dataspace", st->path, d->name);
    } else {
        /* Nothing from this rank, but it still takes part in the collective write. */
        hsize_t one = 1;
        H5CALL(H5Sselect_none(fspace), "%s: /%s: cannot select nothing", st->path, d->name);
        mspace = H5Screate_simple(1, &one, NULL);
        H5CALL(mspace, "%s: /%s: cannot create a memory dataspace", st->path, d->name);
        H5CALL(H5Sselect_none(mspace), "%s: /%s: cannot select nothing", st->path, d->name);
    }
    static const uint8_t dummy[16];
    hid_t mtype = d->type == DS_I64 ? H5T_NATIVE_INT64 : d->type == DS_U8 ? H5T_NATIVE_UINT8
                  : d->half ? st->f16 : H5T_NATIVE_FLOAT;
    const void *buf = n == 0 ? (const void *)dummy : half ? (const void *)half : data;
    H5CALL(H5Dwrite(d->id, mtype, mspace, fspace, st->dxpl, buf),
           "%s: cannot write rows [%lld, %lld) of /%s", st->path, (long long)row0,
           (long long)(row0 + n), d->name);
    uint32_t local_cause = 0, global_cause = 0;
    if (!st->contiguous && H5Pget_mpio_no_collective_cause(st->dxpl, &local_cause, &global_cause) >= 0 &&
        global_cause != 0)
        st->n_independent++;
cleanup:
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    free(half);
    return rc;
}

int elmo_store_write_i64(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                         const int64_t *data) {
    return write_rows(st, name, DS_I64, row0, n, data);
}

int elmo_store_write_u8(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                        const uint8_t *data) {
    return write_rows(st, name, DS_U8, row0, n, data);
}

int elmo_store_write_f32(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                         const float *data) {
    return write_rows(st, name, DS_FLOAT, row0, n, data);
}

int elmo__store_independent_writes(const struct elmo_store *st) {
    return st ? st->n_independent : 0;
}

/* Closes every id and the file; reports a failure of the final close (which flushes). */
static int close_file(struct elmo_store *st) {
    int rc = 0;
    table_close(st);
    if (st->f16 >= 0) H5Tclose(st->f16);
    st->f16 = -1;
    if (st->dxpl >= 0 && st->dxpl != H5P_DEFAULT) H5Pclose(st->dxpl);
    st->dxpl = -1;
    if (st->file >= 0) {
        herr_t e = H5Fclose(st->file);
        st->file = -1;
        if (e < 0) rc = elmo_h5_fail("%s: cannot close the store", st->path);
    }
    return rc;
}

int elmo_store_finish(struct elmo_store *st) {
    int rc = 0;
    hid_t a = -1;
    if (!st || !st->writing)
        return elmo_error(ELMO_ERR_STATE, "elmo_store_finish: the store is not open for writing");
    /* Everything is on disk before the flag says so. */
    H5CALL(H5Fflush(st->file, H5F_SCOPE_GLOBAL), "%s: cannot flush the store", st->path);
    a = H5Aopen(st->file, "complete", H5P_DEFAULT);
    H5CALL(a, "%s: cannot open attribute complete", st->path);
    int one = 1;
    H5CALL(H5Awrite(a, H5T_NATIVE_INT, &one), "%s: cannot write attribute complete", st->path);
    H5Aclose(a);
    a = -1;
    rc = close_file(st);
cleanup:
    if (a >= 0) H5Aclose(a);
    if (rc < 0) close_file(st);
    store_free(st);
    return rc;
}

void elmo_store_close(struct elmo_store *st) {
    if (!st) return;
    close_file(st);
    store_free(st);
}

/* ---- direct writes ----------------------------------------------------------------------- */

static const char *const map_names[ELMO_DS_EMB0] = {
    "sentences/offset", "sentences/line", "sentences/id_offset", "sentences/id_blob",
    "sentences/text_offset", "sentences/text_blob", "tokens/text_offset", "tokens/text_blob"};

/* One dataset's place in the file: contiguous, little-endian, storage allocated. */
static int map_one(struct elmo_store *st, const char *name, int i, struct elmo_store_map *m) {
    int rc = 0;
    hid_t d = -1, sp = -1, ty = -1, pl = -1;
    hsize_t dims[3] = {0, 1, 1};
    d = H5Dopen2(st->file, name, H5P_DEFAULT);
    H5CALL(d, "%s: cannot open /%s", st->path, name);
    sp = H5Dget_space(d);
    ty = H5Dget_type(d);
    pl = H5Dget_create_plist(d);
    H5CALL(sp < 0 || ty < 0 || pl < 0 ? -1 : 0, "%s: /%s: cannot read its layout", st->path,
           name);
    int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
    if (nd < 1 || nd > 3 || H5Pget_layout(pl) != H5D_CONTIGUOUS ||
        (H5Tget_size(ty) > 1 && H5Tget_order(ty) != H5T_ORDER_LE))
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: /%s is not a contiguous little-endian dataset", st->path,
                  name);
    haddr_t off = H5Dget_offset(d);
    m->rows[i] = (int64_t)dims[0];
    m->row_bytes[i] = (int64_t)(H5Tget_size(ty) * (nd > 1 ? dims[1] : 1) * (nd > 2 ? dims[2] : 1));
    m->off[i] = dims[0] > 0 && off != HADDR_UNDEF ? (int64_t)off : -1;
    if (dims[0] > 0 && m->off[i] < 0)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: /%s has no storage allocated", st->path, name);
cleanup:
    H5Eclear2(H5E_DEFAULT);
    if (pl >= 0) H5Pclose(pl);
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    return rc;
}

int elmo_store_map(struct elmo_store *st, struct elmo_store_map *map) {
    for (int i = 0; i < ELMO_DS_COUNT; i++) {
        map->off[i] = -1;
        map->rows[i] = map->row_bytes[i] = 0;
    }
    for (int i = 0; i < ELMO_DS_EMB0; i++) ELMO_TRY(map_one(st, map_names[i], i, map));
    for (int k = 0; k < ELMO_N_OUTPUTS; k++) {
        char name[40];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[k].name);
        if (H5Lexists(st->file, name, H5P_DEFAULT) > 0)
            ELMO_TRY(map_one(st, name, ELMO_DS_EMB0 + k, map));
    }
    return 0;
}

int elmo_store_mark_complete(const char *path) {
    int rc = 0, one = 1;
    hid_t f = -1, a = -1;
    elmo_h5_silence();
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5CALL(f, "%s: cannot open the store to complete it", path);
    H5CALL(H5Fflush(f, H5F_SCOPE_GLOBAL), "%s: cannot flush the store", path);
    a = H5Aopen(f, "complete", H5P_DEFAULT);
    H5CALL(a, "%s: cannot open attribute complete", path);
    H5CALL(H5Awrite(a, H5T_NATIVE_INT, &one), "%s: cannot write attribute complete", path);
cleanup:
    if (a >= 0) H5Aclose(a);
    if (f >= 0 && H5Fclose(f) < 0 && rc == 0) rc = elmo_h5_fail("%s: cannot close the store", path);
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------- */

static bool name_is_known(const char *name) {
    static const char *const fixed[] = {
        "sentences/offset", "sentences/line", "sentences/id_offset", "sentences/id_blob",
        "sentences/text_offset", "sentences/text_blob", "tokens/text_offset", "tokens/text_blob",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(name, fixed[i])) return true;
    if (!strncmp(name, "embeddings/", 11))
        for (int i = 0; i < ELMO_N_OUTPUTS; i++)
            if (!strcmp(name + 11, elmo_outputs[i].name)) return true;
    return false;
}

static bool link_exists(hid_t file, const char *name) {
    /* H5Lexists needs each parent to exist: check the group first. */
    const char *slash = strchr(name, '/');
    if (slash) {
        char group[64];
        size_t n = (size_t)(slash - name);
        if (n >= sizeof group) return false;
        memcpy(group, name, n);
        group[n] = '\0';
        if (H5Lexists(file, group, H5P_DEFAULT) <= 0) return false;
    }
    return H5Lexists(file, name, H5P_DEFAULT) > 0;
}

/* Opens a dataset of a store opened for reading (once; the id is kept). */
static int open_ds(struct elmo_store *st, const char *name, struct ds **out) {
    int rc = 0;
    hid_t dapl = -1, space = -1;
    if (name[0] == '/') name++;
    struct ds *d = table_find(st, name);
    if (d) {
        *out = d;
        return 0;
    }
    if (!name_is_known(name) || !link_exists(st->file, name))
        return elmo_error(ELMO_ERR_ARG, "%s: no dataset /%s in this store", st->path, name);
    if (st->n_ds >= STORE_MAX_DATASETS)
        return elmo_error(ELMO_ERR_STATE, "%s: too many datasets", st->path);
    d = &st->ds[st->n_ds];
    memset(d, 0, sizeof *d);
    d->id = d->ftype = -1;
    snprintf(d->name, sizeof d->name, "%s", name);
    /* Room for several chunks, so that reading sentence by sentence decompresses each once. */
    dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5CALL(dapl, "%s: /%s: cannot create an access list", st->path, name);
    H5CALL(H5Pset_chunk_cache(dapl, 1021, READ_CHUNK_CACHE, 1.0), "%s: /%s: chunk cache",
           st->path, name);
    d->id = H5Dopen2(st->file, name, dapl);
    H5CALL(d->id, "%s: cannot open dataset /%s", st->path, name);
    d->ftype = H5Dget_type(d->id);
    H5CALL(d->ftype, "%s: /%s: cannot get the type", st->path, name);
    H5T_class_t cls = H5Tget_class(d->ftype);
    size_t size = H5Tget_size(d->ftype);
    if (cls == H5T_INTEGER && size == 8) d->type = DS_I64;
    else if (cls == H5T_INTEGER && size == 1) d->type = DS_U8;
    else if (cls == H5T_FLOAT && (size == 4 || size == 2)) d->type = DS_FLOAT;
    else ELMO_FAIL(ELMO_ERR_FORMAT, "%s: /%s has an unexpected type", st->path, name);
    d->half = cls == H5T_FLOAT && size == 2;
    space = H5Dget_space(d->id);
    H5CALL(space, "%s: /%s: cannot get the dataspace", st->path, name);
    int nd = H5Sget_simple_extent_ndims(space);
    H5CALL(nd, "%s: /%s: cannot get the rank", st->path, name);
    if (nd < 1 || nd > 3) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: /%s has rank %d", st->path, name, nd);
    d->nd = nd;
    d->dims[1] = d->dims[2] = 1;
    H5CALL(H5Sget_simple_extent_dims(space, d->dims, NULL), "%s: /%s: dims", st->path, name);
    d->width = (int64_t)(d->dims[1] * d->dims[2]);
    st->n_ds++;
    *out = d;
cleanup:
    if (space >= 0) H5Sclose(space);
    if (dapl >= 0) H5Pclose(dapl);
    if (rc < 0 && d) {
        if (d->id >= 0) H5Dclose(d->id);
        if (d->ftype >= 0) H5Tclose(d->ftype);
        d->id = d->ftype = -1;
    }
    return rc;
}

int elmo_store_dims(struct elmo_store *st, const char *name, int *ndim, int64_t dims[3]) {
    struct ds *d = NULL;
    ELMO_CHECK(st && !st->writing, ELMO_ERR_STATE, "elmo_store_dims: store not open for reading");
    ELMO_TRY(open_ds(st, name, &d));
    *ndim = d->nd;
    for (int i = 0; i < 3; i++) dims[i] = i < d->nd ? (int64_t)d->dims[i] : 1;
    return 0;
}

static int read_rows(struct elmo_store *st, const char *name, enum ds_type want, int64_t row0,
                     int64_t n, void *data) {
    int rc = 0;
    hid_t fspace = -1, mspace = -1;
    uint16_t *half = NULL;
    struct ds *d = NULL;
    ELMO_CHECK(st && !st->writing, ELMO_ERR_STATE, "store read of %s: store not open for reading",
               name ? name : "(null)");
    ELMO_CHECK(name, ELMO_ERR_ARG, "%s: no dataset name", st->path);
    ELMO_TRY(open_ds(st, name, &d));
    ELMO_CHECK(d->type == want, ELMO_ERR_ARG, "%s: /%s does not hold %s", st->path, d->name,
               want == DS_I64 ? "int64" : want == DS_U8 ? "uint8" : "floats");
    ELMO_CHECK(row0 >= 0 && n >= 0 && (uint64_t)row0 + (uint64_t)n <= (uint64_t)d->dims[0],
               ELMO_ERR_RANGE, "%s: /%s: rows [%lld, %lld) are outside [0, %llu)", st->path,
               d->name, (long long)row0, (long long)(row0 + n), (unsigned long long)d->dims[0]);
    if (n == 0) return 0;
    size_t count_el = (size_t)n * (size_t)d->width;
    if (d->half) {
        half = malloc(count_el * sizeof *half);
        if (!half)
            return elmo_error(ELMO_ERR_NOMEM, "%s: /%s: out of memory reading %zu values",
                              st->path, d->name, count_el);
    }
    fspace = H5Dget_space(d->id);
    H5CALL(fspace, "%s: /%s: cannot get the dataspace", st->path, d->name);
    hsize_t start[3] = {(hsize_t)row0, 0, 0}, count[3] = {(hsize_t)n, d->dims[1], d->dims[2]};
    H5CALL(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL),
           "%s: /%s: cannot select rows", st->path, d->name);
    mspace = H5Screate_simple(d->nd, count, NULL);
    H5CALL(mspace, "%s: /%s: cannot create a memory dataspace", st->path, d->name);
    /* float16 is read raw (memory type = the file's type) and converted here. */
    hid_t mtype = d->type == DS_I64 ? H5T_NATIVE_INT64 : d->type == DS_U8 ? H5T_NATIVE_UINT8
                  : d->half ? d->ftype : H5T_NATIVE_FLOAT;
    H5CALL(H5Dread(d->id, mtype, mspace, fspace, H5P_DEFAULT, half ? (void *)half : data),
           "%s: cannot read rows [%lld, %lld) of /%s", st->path, (long long)row0,
           (long long)(row0 + n), d->name);
    if (half)
        for (size_t i = 0; i < count_el; i++) ((float *)data)[i] = elmo_f16_to_f32(half[i]);
cleanup:
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    free(half);
    return rc;
}

int elmo_store_read_i64(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                        int64_t *data) {
    return read_rows(st, name, DS_I64, row0, n, data);
}

int elmo_store_read_u8(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                       uint8_t *data) {
    return read_rows(st, name, DS_U8, row0, n, data);
}

int elmo_store_read_f32(struct elmo_store *st, const char *name, int64_t row0, int64_t n,
                        float *data) {
    return read_rows(st, name, DS_FLOAT, row0, n, data);
}

/* Reads a scalar integer attribute; 1 if present and read, 0 if absent, <0 on error. */
static int attr_int64(hid_t obj, const char *name, int64_t *v, const char *path) {
    int rc = 0;
    hid_t a = -1, t = -1, sp = -1;
    char what[160];
    snprintf(what, sizeof what, "attribute %s", name);
    int got = elmo_h5_attr_open(obj, name, &a, path, what);
    if (got <= 0) return got;
    t = H5Aget_type(a);
    H5CALL(t, "%s: attribute %s: cannot get its type", path, name);
    if (H5Tget_class(t) != H5T_INTEGER)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: attribute %s is not an integer", path, name);
    /* one value only: reading an array into *v would overrun it */
    sp = H5Aget_space(a);
    H5CALL(sp, "%s: attribute %s: cannot get its dataspace", path, name);
    hssize_t npoints = H5Sget_simple_extent_npoints(sp);
    if (H5Sget_simple_extent_type(sp) == H5S_NULL || npoints != 1)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: attribute %s holds %lld values, not one", path, name,
                  H5Sget_simple_extent_type(sp) == H5S_NULL ? 0LL : (long long)npoints);
    H5CALL(H5Aread(a, H5T_NATIVE_INT64, v), "%s: cannot read attribute %s", path, name);
    rc = 1;
cleanup:
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return rc;
}

char *elmo_store_attr_string(struct elmo_store *st, const char *name) {
    if (!st || st->file < 0 || !name) return NULL;
    return elmo_h5_attr_string(st->file, name);
}

static void copy_attr(struct elmo_store *st, const char *name, char *dst, size_t size) {
    char *s = elmo_h5_attr_string(st->file, name);
    snprintf(dst, size, "%s", s ? s : "");
    free(s);
}


int elmo_store_attr_int64(struct elmo_store *st, const char *name, int64_t *v) {
    ELMO_CHECK(st && st->file >= 0 && name && v, ELMO_ERR_STATE,
               "elmo_store_attr_int64: the store is not open");
    return attr_int64(st->file, name, v, st->path);
}

/* ---- validating a store opened for reading ----------------------------------------------- */

/*
 * Nothing in a store is trusted until checked: the counts are attributes and every index is an
 * array of offsets, and a damaged or hand-edited file can make either say anything.  The
 * structure (attributes against dataset shapes) is checked for every store; the contents of the
 * index arrays and the dataset storage only for a complete store, since an incomplete store's
 * rows are unwritten by definition and every reader refuses it anyway.
 */

/* Opens a 1-D dataset of the index and checks its type and length. */
static int expect_index(struct elmo_store *st, const char *name, enum ds_type type, int64_t len,
                        const char *why, struct ds **out) {
    struct ds *d = NULL;
    if (!link_exists(st->file, name))
        return elmo_error(ELMO_ERR_FORMAT, "%s: dataset /%s is missing: the store is damaged",
                          st->path, name);
    ELMO_TRY(open_ds(st, name, &d));
    ELMO_CHECK(d->nd == 1 && d->type == type, ELMO_ERR_FORMAT,
               "%s: /%s is not a 1-D %s array: the store is damaged", st->path, name,
               type == DS_I64 ? "int64" : "uint8");
    ELMO_CHECK((int64_t)d->dims[0] == len, ELMO_ERR_FORMAT,
               "%s: /%s has %llu values, but %s needs %lld: the store is damaged (truncated or "
               "edited)",
               st->path, name, (unsigned long long)d->dims[0], why, (long long)len);
    *out = d;
    return 0;
}

/*
 * A dataset without filters must have storage for every value its shape declares; less means
 * the file was cut short or the rows were never written.  Filtered (compressed) datasets are
 * smaller by design and are checked by reading them.
 */
static int check_storage(struct elmo_store *st, const struct ds *d) {
    int rc = 0;
    hid_t dcpl = H5Dget_create_plist(d->id);
    H5CALL(dcpl, "%s: /%s: cannot get its creation properties", st->path, d->name);
    int nf = H5Pget_nfilters(dcpl);
    H5CALL(nf, "%s: /%s: cannot count its filters", st->path, d->name);
    if (nf == 0) {
        size_t elem = d->type == DS_I64 ? 8 : d->type == DS_U8 ? 1 : d->half ? 2 : 4;
        uint64_t need = (uint64_t)d->dims[0] * (uint64_t)d->width * elem;
        uint64_t have = (uint64_t)H5Dget_storage_size(d->id);
        if (have < need)
            ELMO_FAIL(ELMO_ERR_FORMAT,
                      "%s: /%s is truncated: its shape needs %llu bytes but the file holds %llu "
                      "of them: the store is damaged",
                      st->path, d->name, (unsigned long long)need, (unsigned long long)have);
    }
cleanup:
    if (dcpl >= 0) H5Pclose(dcpl);
    return rc;
}

/*
 * Reads an offset array of n + 1 values in bounded pieces and checks that it starts at 0, never
 * decreases, and ends at `end` (what its values index: the token count or a blob's length).
 */
static int check_offsets(struct elmo_store *st, const char *name, int64_t n, int64_t end,
                         const char *end_what) {
    enum { PIECE = 1 << 18 };
    int rc = 0;
    int64_t *v = malloc(PIECE * sizeof *v), prev = 0;
    if (!v) return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory checking /%s", st->path, name);
    for (int64_t at = 0; at <= n; at += PIECE) {
        int64_t len = n + 1 - at < PIECE ? n + 1 - at : PIECE;
        ELMO_CALL(read_rows(st, name, DS_I64, at, len, v));
        for (int64_t i = 0; i < len; i++) {
            int64_t k = at + i, x = v[i];
            if (k == 0 && x != 0)
                ELMO_FAIL(ELMO_ERR_FORMAT,
                          "%s: /%s[0] = %lld: offsets must start at 0: the store is damaged",
                          st->path, name, (long long)x);
            if (x < prev)
                ELMO_FAIL(ELMO_ERR_FORMAT,
                          "%s: /%s[%lld] = %lld is less than /%s[%lld] = %lld: offsets must not "
                          "decrease: the store is damaged",
                          st->path, name, (long long)k, (long long)x, name, (long long)(k - 1),
                          (long long)prev);
            if (x > end)
                ELMO_FAIL(ELMO_ERR_FORMAT,
                          "%s: /%s[%lld] = %lld is past the end (%s = %lld): the store is "
                          "damaged",
                          st->path, name, (long long)k, (long long)x, end_what, (long long)end);
            prev = x;
        }
    }
    if (prev != end)
        ELMO_FAIL(ELMO_ERR_FORMAT,
                  "%s: /%s ends at %lld, not at %s = %lld: the store is damaged (truncated?)",
                  st->path, name, (long long)prev, end_what, (long long)end);
cleanup:
    free(v);
    return rc;
}

/* Checks the store's counts, index and embedding shapes (see above) and fills inf's counts. */
static int validate(struct elmo_store *st, struct elmo_store_info *inf) {
    const char *path = st->path;
    int64_t N = inf->n_sent, T = inf->n_tok;
    ELMO_CHECK(N >= 0 && N <= ELMO_STORE_MAX_ROWS, ELMO_ERR_FORMAT,
               "%s: attribute n_sentences = %lld is %s: the store is damaged", path, (long long)N,
               N < 0 ? "negative" : "beyond any store");
    ELMO_CHECK(T >= 0 && T <= ELMO_STORE_MAX_ROWS, ELMO_ERR_FORMAT,
               "%s: attribute n_tokens = %lld is %s: the store is damaged", path, (long long)T,
               T < 0 ? "negative" : "beyond any store");
    char why_n[64], why_t[64];
    snprintf(why_n, sizeof why_n, "n_sentences = %lld", (long long)N);
    snprintf(why_t, sizeof why_t, "n_tokens = %lld", (long long)T);
    struct ds *d = NULL;
    ELMO_TRY(expect_index(st, "sentences/offset", DS_I64, N + 1, why_n, &d));
    ELMO_TRY(expect_index(st, "sentences/line", DS_I64, N, why_n, &d));
    ELMO_TRY(expect_index(st, "sentences/id_offset", DS_I64, N + 1, why_n, &d));
    ELMO_TRY(expect_index(st, "sentences/text_offset", DS_I64, N + 1, why_n, &d));
    ELMO_TRY(expect_index(st, "tokens/text_offset", DS_I64, T + 1, why_t, &d));
    /* the blobs may have any length; their offsets say how much of them is used */
    int64_t blob[3];
    const char *blobs[3] = {"sentences/id_blob", "sentences/text_blob", "tokens/text_blob"};
    for (int i = 0; i < 3; i++) {
        if (!link_exists(st->file, blobs[i]))
            return elmo_error(ELMO_ERR_FORMAT, "%s: dataset /%s is missing: the store is damaged",
                              path, blobs[i]);
        ELMO_TRY(open_ds(st, blobs[i], &d));
        ELMO_CHECK(d->nd == 1 && d->type == DS_U8, ELMO_ERR_FORMAT,
                   "%s: /%s is not a 1-D uint8 array: the store is damaged", path, blobs[i]);
        blob[i] = (int64_t)d->dims[0];
    }
    inf->id_bytes = blob[0];
    inf->sent_text_bytes = blob[1];
    inf->tok_text_bytes = blob[2];

    /* embeddings: rows by N or T, widths by one P, floats of the recorded precision */
    inf->P = 0;
    inf->outputs = 0;
    for (int i = 0; i < ELMO_N_OUTPUTS; i++) {
        char name[40];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[i].name);
        if (!link_exists(st->file, name)) continue;
        const struct elmo_output *o = &elmo_outputs[i];
        inf->outputs |= o->bit;
        ELMO_TRY(open_ds(st, name, &d));
        int want_nd = o->layers > 1 ? 3 : 2;
        int64_t rows = o->per_sentence ? N : T;
        ELMO_CHECK(d->type == DS_FLOAT && d->nd == want_nd, ELMO_ERR_FORMAT,
                   "%s: /%s is not a %d-D float array: the store is damaged", path, name,
                   want_nd);
        ELMO_CHECK(d->half == (inf->precision == ELMO_PREC_F16), ELMO_ERR_FORMAT,
                   "%s: /%s holds %s values but the store's precision is %s: the store is "
                   "damaged",
                   path, name, d->half ? "float16" : "float32", precision_name(inf->precision));
        ELMO_CHECK((int64_t)d->dims[0] == rows, ELMO_ERR_FORMAT,
                   "%s: /%s has %llu rows, but %s needs %lld: the store is damaged (truncated or "
                   "edited)",
                   path, name, (unsigned long long)d->dims[0],
                   o->per_sentence ? why_n : why_t, (long long)rows);
        ELMO_CHECK(o->layers == 1 || (int64_t)d->dims[1] == o->layers, ELMO_ERR_FORMAT,
                   "%s: /%s has %llu layers, not 3: the store is damaged", path, name,
                   (unsigned long long)d->dims[1]);
        int64_t w = (int64_t)d->dims[d->nd - 1];
        int64_t p = w / o->width_p;
        ELMO_CHECK(p >= 1 && p <= (1 << 20) && w % o->width_p == 0,
                   ELMO_ERR_FORMAT, "%s: /%s is %lld wide, which no projection dim gives: the "
                   "store is damaged", path, name, (long long)w);
        if (inf->P == 0) inf->P = (int)p;
        ELMO_CHECK(p == inf->P, ELMO_ERR_FORMAT,
                   "%s: /%s is %lld wide, which does not match P = %d of the other outputs: the "
                   "store is damaged",
                   path, name, (long long)w, inf->P);
    }
    if (!inf->complete) return 0;

    for (int i = 0; i < st->n_ds; i++) ELMO_TRY(check_storage(st, &st->ds[i]));
    char end_blob[3][64];
    for (int i = 0; i < 3; i++)
        snprintf(end_blob[i], sizeof end_blob[i], "the length of /%s", blobs[i]);
    ELMO_TRY(check_offsets(st, "sentences/offset", N, T, "n_tokens"));
    ELMO_TRY(check_offsets(st, "sentences/id_offset", N, blob[0], end_blob[0]));
    ELMO_TRY(check_offsets(st, "sentences/text_offset", N, blob[1], end_blob[1]));
    ELMO_TRY(check_offsets(st, "tokens/text_offset", T, blob[2], end_blob[2]));
    return 0;
}

int elmo_store_open(struct elmo_store **out, const char *path, struct elmo_store_info *info) {
    int rc = 0;
    struct stat sb;
    *out = NULL;
    elmo_h5_silence();
    if (stat(path, &sb) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return elmo_error(ELMO_ERR_IO, "%s: not a regular file", path);
    htri_t is_h5 = H5Fis_hdf5(path);
    if (is_h5 <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return elmo_error(ELMO_ERR_FORMAT, "%s is not an elmo store (not an HDF5 file)", path);
    }
    struct elmo_store *st = store_new(path);
    if (!st) return elmo_error(ELMO_ERR_NOMEM, "%s: out of memory", path);
    st->dxpl = H5P_DEFAULT;
    st->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    H5CALL(st->file, "%s: cannot open the store", path);
    int64_t format = 0, v = 0;
    int got = attr_int64(st->file, "format_version", &format, path);
    ELMO_CALL(got);
    if (!got || !link_exists(st->file, "sentences/offset") ||
        H5Lexists(st->file, "embeddings", H5P_DEFAULT) <= 0)
        ELMO_FAIL(ELMO_ERR_FORMAT,
                  "%s is not an elmo store (an HDF5 file without the store's layout)", path);
    if (format > STORE_FORMAT_VERSION)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: store format %lld is newer than this program's (%d)",
                  path, (long long)format, STORE_FORMAT_VERSION);

    struct elmo_store_info inf;
    memset(&inf, 0, sizeof inf);
    ELMO_CALL(got = attr_int64(st->file, "complete", &v, path));
    inf.complete = got && v == 1;
    ELMO_CALL(got = attr_int64(st->file, "n_sentences", &inf.n_sent, path));
    if (!got) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: attribute n_sentences is missing", path);
    ELMO_CALL(got = attr_int64(st->file, "n_tokens", &inf.n_tok, path));
    if (!got) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: attribute n_tokens is missing", path);
    char prec[16];
    copy_attr(st, "precision", prec, sizeof prec);
    if (strcmp(prec, "f16") != 0 && strcmp(prec, "f32") != 0)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: attribute precision is '%s', not f32 or f16", path,
                  prec);
    inf.precision = !strcmp(prec, "f16") ? ELMO_PREC_F16 : ELMO_PREC_F32;
    copy_attr(st, "regime", inf.regime, sizeof inf.regime);
    copy_attr(st, "weights_sha256", inf.weights_sha256, sizeof inf.weights_sha256);
    copy_attr(st, "version", inf.version, sizeof inf.version);
    ELMO_CALL(validate(st, &inf));
    if (info) *info = inf;
    *out = st;
    return 0;
cleanup:
    store_free(st);
    return rc;
}

/* ---- attributes added after creation ----------------------------------------------------- */

int elmo_store_put_attr_string(struct elmo_store *st, const char *name, const char *value) {
    int rc = 0;
    char *v = NULL;
    if (!st || !st->writing)
        return elmo_error(ELMO_ERR_STATE, "attribute %s: the store is not open for writing", name);
    ELMO_CALL(bcast_string(value, &v, st->comm, st->rank, st->path));
    ELMO_CALL(elmo_h5_attr_write_string(st->file, name, v, st->path));
cleanup:
    free(v);
    return rc;
}

int elmo_store_put_attr_i64(struct elmo_store *st, const char *name, int64_t value) {
    int rc = 0;
    if (!st || !st->writing)
        return elmo_error(ELMO_ERR_STATE, "attribute %s: the store is not open for writing", name);
    MPICALL(MPI_Bcast(&value, 1, MPI_INT64_T, 0, st->comm), st->path);
    ELMO_CALL(put_scalar(st->file, name, H5T_STD_I64LE, &value, st->path));
cleanup:
    return rc;
}

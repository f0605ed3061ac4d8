/*
 * lm_files.c: the pretraining checkpoint (serial HDF5), the vocabulary file and train.json
 * (jansson).  See lm_files.h for the contents.
 *
 * Checkpoint layout (all little-endian, contiguous):
 *   /model              float32 (n_model)          the model block, elmo_model_params layout
 *   /softmax/W          float32 (V, P)             softmax weights (bilm-tf softmax_W)
 *   /softmax/b          float32 (V)                softmax bias
 *   /optimizer          float32 (n_state, n_total) Adagrad accumulator, or Adam m and v, over
 *                                                  the whole parameter block
 *   /stream_state       float32 (rows, row_floats) carried LSTM state per batch row
 *   /history            float64 (n_epochs, 8)      epoch, steps, train loss, ppl fwd, bwd, avg,
 *                                                  tokens/s, seconds (absent when empty)
 *   attributes of /     format, options_json, config_json, step, epoch, step_in_epoch, seed,
 *                       rng, partial (4 float64), optim_t, n_total
 */
#include "io/lm_files.h"

#include <errno.h>
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "model/status.h"

#define CKPT_FORMAT "elmo-pretrain-checkpoint 1"

static size_t pad16(size_t n) { return (n + 15) / 16 * 16; }

/* ------------------------------------------------------------------------------------------ */
/* HDF5 helpers: each returns 0 or negative (the caller names the file and the item) */

/* The checkpoint's attributes: fixed-length strings and numbers (n values, scalar when 1). */
static int put_str(hid_t loc, const char *name, const char *value) {
    return elmo_h5_attr_write_fixed_string(loc, name, value, NULL);
}

static int put_num(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int n,
                   const void *value) {
    return elmo_h5_attr_write_n(loc, name, file_type, mem_type, n, value, NULL);
}

/* A numeric attribute as mem_type: 0 when read, -1 when absent or unreadable. */
static int read_attr_num(hid_t loc, const char *name, hid_t mem_type, void *value) {
    return elmo_h5_attr_read(loc, name, mem_type, value, NULL, name) == 1 ? 0 : -1;
}

/* A dataset, with the groups of its path created as needed. */
static int write_ds(hid_t file, const char *name, hid_t file_type, hid_t mem_type, int ndim,
                    const hsize_t *dims, const void *data) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0) return -1;
    int rc = H5Pset_create_intermediate_group(lcpl, 1) < 0
                 ? -1
                 : elmo_h5_write_dataset(file, name, file_type, mem_type, ndim, dims, data, lcpl,
                                         H5P_DEFAULT, NULL);
    H5Pclose(lcpl);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* checkpoint */

int elmo_lm_ckpt_save(const char *path, const struct elmo_lm_ckpt *c) {
    elmo_h5_silence();
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return elmo_error(ELMO_ERR_ARG, "%s: path too long", path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return elmo_error(ELMO_ERR_HDF5, "%s: cannot create the checkpoint", tmp);
    const char *what = NULL;
    size_t V = (size_t)c->V, P = (size_t)c->P;
    hsize_t d1[1], d2[2];
    d1[0] = c->n_model;
    if (write_ds(f, "model", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, c->param) < 0)
        what = "dataset model";
    d2[0] = V, d2[1] = P;
    if (!what && write_ds(f, "softmax/W", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2,
                          c->param + c->n_model) < 0)
        what = "dataset softmax/W";
    d1[0] = V;
    if (!what && write_ds(f, "softmax/b", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1,
                          c->param + c->n_model + pad16(V * P)) < 0)
        what = "dataset softmax/b";
    d2[0] = (hsize_t)c->n_state, d2[1] = c->n_total;
    if (!what && write_ds(f, "optimizer", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, c->optim) < 0)
        what = "dataset optimizer";
    d2[0] = (hsize_t)c->rows, d2[1] = c->row_floats;
    if (!what && write_ds(f, "stream_state", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, c->state) < 0)
        what = "dataset stream_state";
    if (!what && c->n_epochs > 0) {
        double *h = malloc(sizeof(double) * 8 * (size_t)c->n_epochs);
        if (!h) what = "history (out of memory)";
        for (int i = 0; h && i < c->n_epochs; i++) {
            const struct elmo_lm_epoch *e = &c->history[i];
            double row[8] = {e->epoch,   (double)e->steps, e->train_loss,   e->ppl_fwd,
                             e->ppl_bwd, e->ppl_avg,       e->tokens_per_s, e->seconds};
            memcpy(h + 8 * i, row, sizeof row);
        }
        d2[0] = (hsize_t)c->n_epochs, d2[1] = 8;
        if (h && write_ds(f, "history", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d2, h) < 0)
            what = "dataset history";
        free(h);
    }
    uint64_t n_total = c->n_total, seed = c->seed;
    int64_t step = c->step, sie = c->step_in_epoch, t = c->optim_t;
    int32_t epoch = c->epoch, n_epochs = c->n_epochs;
    static const char rng[] = "counter-based: every draw is seeded by (seed, epoch, step, row)";
    if (!what && (put_str(f, "format", CKPT_FORMAT) < 0 ||
                  put_str(f, "options_json", c->options_json) < 0 ||
                  put_str(f, "config_json", c->config_json) < 0 || put_str(f, "rng", rng) < 0 ||
                  put_num(f, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &step) < 0 ||
                  put_num(f, "epoch", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &epoch) < 0 ||
                  put_num(f, "step_in_epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &sie) < 0 ||
                  put_num(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &seed) < 0 ||
                  put_num(f, "partial", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, c->partial) < 0 ||
                  put_num(f, "n_epochs", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &n_epochs) < 0 ||
                  put_num(f, "optim_t", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &t) < 0 ||
                  put_num(f, "n_total", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &n_total) < 0))
        what = "attributes";
    if (H5Fclose(f) < 0 && !what) what = "closing";
    if (what) {
        remove(tmp);
        return elmo_error(ELMO_ERR_HDF5, "%s: writing the checkpoint failed (%s)", tmp, what);
    }
    if (rename(tmp, path) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    return ELMO_OK;
}

void elmo_lm_ckpt_free(struct elmo_lm_ckpt *c) {
    free(c->options_json);
    free(c->config_json);
    free(c->history);
    c->options_json = c->config_json = NULL;
    c->history = NULL;
}

int elmo_lm_ckpt_read_meta(const char *path, struct elmo_lm_ckpt *c) {
    elmo_h5_silence();
    memset(c, 0, sizeof *c);
    FILE *probe = fopen(path, "rb");
    if (!probe) return elmo_error(ELMO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return elmo_error(ELMO_ERR_HDF5, "%s: not a readable HDF5 file", path);
    int rc = ELMO_OK;
    char *format = elmo_h5_attr_string(f, "format");
    uint64_t n_total = 0, seed = 0;
    if (!format || strcmp(format, CKPT_FORMAT) != 0)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: not a pretraining checkpoint (format '%s', expected '%s')",
                  path, format ? format : "none", CKPT_FORMAT);
    c->options_json = elmo_h5_attr_string(f, "options_json");
    c->config_json = elmo_h5_attr_string(f, "config_json");
    if (!c->options_json || !c->config_json ||
        read_attr_num(f, "step", H5T_NATIVE_INT64, &c->step) < 0 ||
        read_attr_num(f, "epoch", H5T_NATIVE_INT32, &c->epoch) < 0 ||
        read_attr_num(f, "step_in_epoch", H5T_NATIVE_INT64, &c->step_in_epoch) < 0 ||
        read_attr_num(f, "seed", H5T_NATIVE_UINT64, &seed) < 0 ||
        read_attr_num(f, "partial", H5T_NATIVE_DOUBLE, c->partial) < 0 ||
        read_attr_num(f, "n_epochs", H5T_NATIVE_INT32, &c->n_epochs) < 0 ||
        read_attr_num(f, "optim_t", H5T_NATIVE_INT64, &c->optim_t) < 0 ||
        read_attr_num(f, "n_total", H5T_NATIVE_UINT64, &n_total) < 0)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: a checkpoint attribute is missing or unreadable", path);
    c->seed = seed;
    c->n_total = (size_t)n_total;
    /* sizes from the datasets */
    hsize_t dims[2];
    hid_t ds = H5Dopen2(f, "softmax/W", H5P_DEFAULT);
    if (ds < 0) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: dataset softmax/W missing", path);
    hid_t sp = H5Dget_space(ds);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    c->V = (int32_t)dims[0], c->P = (int32_t)dims[1];
    H5Sclose(sp);
    H5Dclose(ds);
    ds = H5Dopen2(f, "model", H5P_DEFAULT);
    if (ds < 0) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: dataset model missing", path);
    sp = H5Dget_space(ds);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    c->n_model = (size_t)dims[0];
    H5Sclose(sp);
    H5Dclose(ds);
    ds = H5Dopen2(f, "optimizer", H5P_DEFAULT);
    if (ds < 0) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: dataset optimizer missing", path);
    sp = H5Dget_space(ds);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    c->n_state = (int32_t)dims[0];
    H5Sclose(sp);
    H5Dclose(ds);
    ds = H5Dopen2(f, "stream_state", H5P_DEFAULT);
    if (ds < 0) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: dataset stream_state missing", path);
    sp = H5Dget_space(ds);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    c->rows = (int32_t)dims[0], c->row_floats = (size_t)dims[1];
    H5Sclose(sp);
    H5Dclose(ds);
    if (c->n_epochs < 0 || c->n_epochs > 1000000)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: %d epochs in the history", path, c->n_epochs);
    if (c->n_epochs > 0) {
        double *h = malloc(sizeof(double) * 8 * (size_t)c->n_epochs);
        c->history = calloc((size_t)c->n_epochs, sizeof *c->history);
        if (!h || !c->history) {
            free(h);
            ELMO_FAIL(ELMO_ERR_NOMEM, "%s: out of memory for the history", path);
        }
        if (elmo_h5_read_dataset(f, "history", H5T_NATIVE_DOUBLE, 8 * (size_t)c->n_epochs, h) < 0) {
            free(h);
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s: dataset history unreadable", path);
        }
        for (int i = 0; i < c->n_epochs; i++) {
            const double *r = h + 8 * i;
            c->history[i] = (struct elmo_lm_epoch){(int32_t)r[0], (int64_t)r[1], r[2], r[3],
                                                   r[4],          r[5],          r[6], r[7]};
        }
        free(h);
    }
cleanup:
    free(format);
    H5Fclose(f);
    if (rc < 0) elmo_lm_ckpt_free(c);
    return rc;
}

int elmo_lm_ckpt_read_data(const char *path, struct elmo_lm_ckpt *c) {
    elmo_h5_silence();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return elmo_error(ELMO_ERR_HDF5, "%s: not a readable HDF5 file", path);
    size_t V = (size_t)c->V, P = (size_t)c->P;
    const char *bad = NULL;
    int r = 0;
    memset(c->param, 0, sizeof(float) * c->n_total);
    struct {
        const char *name;
        size_t n;
        float *data;
    } ds[] = {
        {"model", c->n_model, c->param},
        {"softmax/W", V * P, c->param + c->n_model},
        {"softmax/b", V, c->param + c->n_model + pad16(V * P)},
        {"optimizer", (size_t)c->n_state * c->n_total, c->optim},
        {"stream_state", (size_t)c->rows * c->row_floats, c->state},
    };
    for (size_t i = 0; i < sizeof ds / sizeof ds[0] && !bad; i++)
        if ((r = elmo_h5_read_dataset(f, ds[i].name, H5T_NATIVE_FLOAT, ds[i].n, ds[i].data)) < 0)
            bad = ds[i].name;
    H5Fclose(f);
    if (bad)
        return elmo_error(r == -2 ? ELMO_ERR_SHAPE : ELMO_ERR_HDF5, "%s: dataset %s: %s", path, bad,
                          r == -2 ? "size differs from this run's" : "unreadable");
    return ELMO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* vocab.txt, train.json */

int elmo_lm_vocab_save(const char *path, const char *const *words, int32_t n) {
    FILE *f = fopen(path, "w");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = 1;
    for (int32_t i = 0; i < n && ok; i++) ok = fprintf(f, "%s\n", words[i]) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return ELMO_OK;
}

/* A finite number, or null. */
static json_t *num_or_null(double x) { return isfinite(x) ? json_real(x) : json_null(); }

int elmo_lm_report_save(const char *path, const struct elmo_lm_report *r) {
    json_error_t err;
    json_t *root = json_object();
    json_t *settings = json_loads(r->settings_json, 0, &err);
    json_t *data = json_loads(r->data_json, 0, &err);
    json_t *options = json_loads(r->options_json, 0, &err);
    if (!root || !settings || !data || !options) {
        json_decref(root);
        json_decref(settings);
        json_decref(data);
        json_decref(options);
        return elmo_error(ELMO_ERR_FORMAT, "%s: cannot build the report", path);
    }
    json_object_set_new(root, "settings", settings);
    json_object_set_new(root, "options", options);
    json_object_set_new(root, "data", data);
    json_object_set_new(root, "unigram_heldout_ppl", num_or_null(r->unigram_ppl));
    json_t *epochs = json_array();
    for (int i = 0; i < r->n_epochs; i++) {
        const struct elmo_lm_epoch *e = &r->epochs[i];
        json_t *o = json_object();
        json_object_set_new(o, "epoch", json_integer(e->epoch));
        json_object_set_new(o, "steps", json_integer(e->steps));
        json_object_set_new(o, "train_loss", num_or_null(e->train_loss));
        json_object_set_new(o, "heldout_ppl_fwd", num_or_null(e->ppl_fwd));
        json_object_set_new(o, "heldout_ppl_bwd", num_or_null(e->ppl_bwd));
        json_object_set_new(o, "heldout_ppl_avg", num_or_null(e->ppl_avg));
        json_object_set_new(o, "tokens_per_s", num_or_null(e->tokens_per_s));
        json_object_set_new(o, "seconds", num_or_null(e->seconds));
        json_array_append_new(epochs, o);
    }
    json_object_set_new(root, "epochs", epochs);
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        json_decref(root);
        return elmo_error(ELMO_ERR_ARG, "%s: path too long", path);
    }
    int rc =
        json_dump_file(root, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(root);
    if (rc != 0) return elmo_error(ELMO_ERR_IO, "%s: cannot write", tmp);
    if (rename(tmp, path) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    return ELMO_OK;
}

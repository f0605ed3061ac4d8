/*
 * tagger_file.c: save and load the trained tagger (see tagger_file.h), with the serial HDF5
 * API.  Strings are scalar variable-length UTF-8 attributes (h5py reads them as str).
 */
#include "io/tagger_file.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "io/outfile.h"
#include "model/status.h"

#define FORMAT_NAME    "elmo-tagger"
#define FORMAT_VERSION 2 /* 1: no output, E, ortho attributes, no /glove rows */

void elmo_tagger_meta_free(struct elmo_tagger_meta *m) {
    free(m->options_json);
    free(m->job_yaml);
    m->options_json = NULL;
    m->job_yaml = NULL;
    elmo_glove_free(&m->glove);
}

/* ---- writing ---- */

static int put_string(hid_t obj, const char *name, const char *value) {
    return elmo_h5_attr_write_string(obj, name, value, NULL);
}

static int put_int(hid_t obj, const char *name, long long v) {
    int64_t x = v;
    return elmo_h5_attr_write_n(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &x, NULL);
}

static int put_double(hid_t obj, const char *name, double v) {
    return elmo_h5_attr_write_n(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &v, NULL);
}

/* The parameter tensors the config uses, as params/<name>; on failure *what names the one. */
static int write_params(hid_t f, const struct elmo_tagger *t, hid_t lcpl, hid_t dcpl,
                        const char **what) {
    struct elmo_tagger_tensor tt[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(&t->cfg, tt);
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) {
        char name[96];
        if (tt[i].numel == 0) continue; /* a tensor the config does not use */
        snprintf(name, sizeof name, "params/%s", tt[i].name);
        hsize_t dims[2] = {(hsize_t)tt[i].dims[0], (hsize_t)tt[i].dims[1]};
        if (elmo_h5_write_dataset(f, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, tt[i].ndim, dims,
                                  t->block + tt[i].offset, lcpl, dcpl, NULL) < 0) {
            *what = tt[i].name;
            return -1;
        }
    }
    return 0;
}

/* The GloVe rows as /glove/words (bytes) and /glove/vectors (n, dim). */
static int write_glove(hid_t f, const struct elmo_glove *gv, hid_t lcpl, hid_t dcpl,
                       const char **what) {
    int bad = 0;
    hsize_t wd[1] = {(hsize_t)gv->words_bytes}, vd[2] = {(hsize_t)gv->n, (hsize_t)gv->dim};
    hid_t ws = H5Screate_simple(1, wd, NULL), vs = H5Screate_simple(2, vd, NULL);
    hid_t w =
        ws < 0 ? -1 : H5Dcreate2(f, "glove/words", H5T_STD_U8LE, ws, lcpl, dcpl, H5P_DEFAULT);
    hid_t v =
        vs < 0 ? -1 : H5Dcreate2(f, "glove/vectors", H5T_IEEE_F32LE, vs, lcpl, dcpl, H5P_DEFAULT);
    if (w < 0 || v < 0 ||
        H5Dwrite(w, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, gv->words) < 0 ||
        H5Dwrite(v, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, gv->vec) < 0)
        bad = 1, *what = "the GloVe rows";
    if (w >= 0) H5Dclose(w);
    if (v >= 0) H5Dclose(v);
    if (ws >= 0) H5Sclose(ws);
    if (vs >= 0) H5Sclose(vs);
    return bad ? -1 : 0;
}

/* The format, the config and the training record as attributes of the root, in this order;
 * stops at the first that fails and names it in *what. */
static int write_attrs(hid_t f, const struct elmo_tagger *t, const struct elmo_tagger_meta *meta,
                       const char **what) {
    int bad = 0;
    char *tags = elmo_tagset_join(&meta->tags);
    const struct elmo_tagger_config *c = &t->cfg;
#define PUT(expr, name)                                \
    do {                                               \
        if (!bad && (expr) < 0) bad = 1, *what = name; \
    } while (0)
    PUT(put_string(f, "format", FORMAT_NAME), "format");
    PUT(put_int(f, "format_version", FORMAT_VERSION), "format_version");
    PUT(put_string(f, "version", ELMO_VERSION), "version");
    PUT(put_string(f, "tags", tags), "tags");
    PUT(put_string(f, "features", meta->features), "features");
    PUT(put_int(f, "ortho", meta->ortho), "ortho");
    PUT(put_string(f, "output", c->output == ELMO_TAGGER_CRF ? "crf" : "softmax"), "output");
    PUT(put_int(f, "E", c->E), "E");
    PUT(put_int(f, "mask_urls_users", meta->mask_urls_users), "mask_urls_users");
    PUT(put_int(f, "K", c->K), "K");
    PUT(put_int(f, "D", c->D), "D");
    PUT(put_int(f, "H", c->H), "H");
    PUT(put_int(f, "n_tags", c->n_tags), "n_tags");
    PUT(put_double(f, "keep", c->keep), "keep");
    PUT(put_double(f, "forget_bias", c->forget_bias), "forget_bias");
    PUT(put_double(f, "lr", meta->lr), "lr");
    PUT(put_double(f, "lr_decay", meta->lr_decay), "lr_decay");
    PUT(put_double(f, "clip", meta->clip), "clip");
    PUT(put_int(f, "batch_size", meta->batch_size), "batch_size");
    PUT(put_int(f, "epochs", meta->epochs), "epochs");
    PUT(put_int(f, "best_epoch", meta->best_epoch), "best_epoch");
    PUT(put_int(f, "ranks", meta->ranks), "ranks");
    PUT(elmo_h5_attr_write_n(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &meta->seed, NULL),
        "seed");
    PUT(put_double(f, "dev_f1", meta->dev_f1), "dev_f1");
    PUT(put_string(f, "weights_sha256", meta->weights_sha256), "weights_sha256");
    PUT(put_string(f, "options_json", meta->options_json), "options_json");
    PUT(put_string(f, "options_sha256", meta->options_sha256), "options_sha256");
    PUT(put_string(f, "bilm_options", meta->bilm_options), "bilm_options");
    PUT(put_string(f, "bilm_weights", meta->bilm_weights), "bilm_weights");
    PUT(put_string(f, "glove_path", meta->glove_path), "glove_path");
    PUT(put_string(f, "glove_sha256", meta->glove_sha256), "glove_sha256");
    PUT(put_string(f, "job_yaml", meta->job_yaml), "job_yaml");
#undef PUT
    free(tags);
    return bad ? -1 : 0;
}

/* Writes the tagger into file (a new file); path names it in messages. */
static int save_to(const char *file, const char *path, const struct elmo_tagger *t,
                   const struct elmo_tagger_meta *meta) {
    elmo_h5_silence();
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return elmo_error(ELMO_ERR_HDF5, "%s: cannot create the tagger file", file);
    const char *what = "";
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_obj_track_times(dcpl, 0);
    bool bad = write_params(f, t, lcpl, dcpl, &what) < 0 ||
               (meta->glove.n > 0 && write_glove(f, &meta->glove, lcpl, dcpl, &what) < 0) ||
               write_attrs(f, t, meta, &what) < 0;
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    if (H5Fclose(f) < 0 && !bad) bad = true, what = "(closing)";
    if (bad) return elmo_error(ELMO_ERR_HDF5, "%s: cannot write %s", path, what);
    return 0;
}

int elmo_tagger_save(const char *path, const struct elmo_tagger *t,
                     const struct elmo_tagger_meta *meta) {
    char partial[ELMO_PATH_MAX + 16];
    if (snprintf(partial, sizeof partial, "%s.partial", path) >= (int)sizeof partial)
        return elmo_error(ELMO_ERR_ARG, "tagger path too long: %s", path);
    int rc = save_to(partial, path, t, meta);
    if (rc == 0) rc = elmo_commit_file(partial, path);
    if (rc < 0) unlink(partial);
    return rc;
}

/* ---- reading ---- */

/* A numeric attribute as mtype: 0 when read, -1 when absent or unreadable. */
static int get_scalar(hid_t f, const char *name, hid_t mtype, void *v) {
    return elmo_h5_attr_read(f, name, mtype, v, NULL, name) == 1 ? 0 : -1;
}

static int get_int(hid_t f, const char *name, long long *v) {
    int64_t x;
    if (get_scalar(f, name, H5T_NATIVE_INT64, &x) < 0) return -1;
    *v = x;
    return 0;
}

static int get_double(hid_t f, const char *name, double *v) {
    return get_scalar(f, name, H5T_NATIVE_DOUBLE, v);
}

/* A string attribute as an owned string, or NULL. */
static char *get_string(hid_t f, const char *name) { return elmo_h5_attr_string(f, name); }

/* A string attribute into a fixed buffer ("" when absent). */
static void get_string_into(hid_t f, const char *name, char *out, size_t n) {
    char *s = get_string(f, name);
    snprintf(out, n, "%s", s ? s : "");
    free(s);
}

/* The dims of dataset name (rank 1 or 2) into dims; -1 when missing or of another rank. */
static hid_t open_ds(hid_t f, const char *name, int ndim, hsize_t *dims) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (nd == ndim) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (sp >= 0) H5Sclose(sp);
    if (nd != ndim) {
        H5Dclose(ds);
        return -1;
    }
    return ds;
}

/* The stored GloVe rows (/glove/words and /glove/vectors) into g. */
static int load_glove(hid_t f, const char *path, struct elmo_glove *g) {
    hsize_t wd[1] = {0}, vd[2] = {0, 0};
    hid_t w = open_ds(f, "glove/words", 1, wd), v = open_ds(f, "glove/vectors", 2, vd);
    int rc = 0;
    char *words = NULL;
    float *vec = NULL;
    if (w < 0 || v < 0 || wd[0] == 0 || vd[0] == 0 || vd[1] == 0 || vd[1] > 65536) {
        rc = elmo_error(ELMO_ERR_FORMAT, "%s: /glove needs datasets words (bytes) and vectors "
                        "(n, dim)", path);
    } else {
        words = elmo_malloc((size_t)wd[0], "GloVe words");
        vec = elmo_malloc(sizeof(float) * (size_t)vd[0] * (size_t)vd[1], "GloVe rows");
        if (!words || !vec) rc = ELMO_ERR_NOMEM;
        else if (H5Dread(w, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, words) < 0 ||
                 H5Dread(v, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, vec) < 0)
            rc = elmo_error(ELMO_ERR_HDF5, "%s: cannot read the GloVe rows", path);
        else if (elmo_glove_from_rows(g, (int)vd[1], (int64_t)vd[0], words, (size_t)wd[0], vec) < 0)
            rc = elmo_error(ELMO_ERR_FORMAT, "%s: %s", path, elmo_errmsg());
    }
    if (w >= 0) H5Dclose(w);
    if (v >= 0) H5Dclose(v);
    free(words);
    free(vec);
    return rc;
}

/* Opens path read-only as a tagger file candidate: it must exist and be HDF5. */
static int open_file(const char *path, hid_t *f) {
    FILE *probe = fopen(path, "rb");
    if (!probe) return elmo_error(ELMO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0)
        return elmo_error(ELMO_ERR_FORMAT, "%s: not an HDF5 file (not a tagger)", path);
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0) return elmo_error(ELMO_ERR_HDF5, "%s: cannot open as HDF5", path);
    return 0;
}

/* The format name and version; *ver gets the version. */
static int check_format(hid_t f, const char *path, long long *ver) {
    char *s = get_string(f, "format");
    bool ok = s && strcmp(s, FORMAT_NAME) == 0;
    free(s);
    ELMO_CHECK(ok, ELMO_ERR_FORMAT, "%s: not a tagger file (attribute format is not '%s')", path,
               FORMAT_NAME);
    ELMO_CHECK(get_int(f, "format_version", ver) == 0, ELMO_ERR_FORMAT,
               "%s: the tagger file has no format_version", path);
    ELMO_CHECK(*ver >= 1 && *ver <= FORMAT_VERSION, ELMO_ERR_FORMAT,
               "%s: tagger format version %lld; this program reads versions 1 to %d (a newer "
               "elmo wrote it: retrain it or use that version)",
               path, *ver, FORMAT_VERSION);
    return 0;
}

/* The model config (output layer, extra inputs and ortho from version 2 on) into cfg; *n_tags
 * gets the n_tags attribute as stored. */
static int read_config(hid_t f, const char *path, long long ver, struct elmo_tagger_config *cfg,
                       long long *n_tags, struct elmo_tagger_meta *meta) {
    long long K, D, H, V, E = 0, ortho = 0;
    double keep, fb;
    int output = ELMO_TAGGER_SOFTMAX;
    if (ver >= 2) {
        char *s = get_string(f, "output");
        bool ok = s && (strcmp(s, "softmax") == 0 || strcmp(s, "crf") == 0);
        if (ok) output = !strcmp(s, "crf") ? ELMO_TAGGER_CRF : ELMO_TAGGER_SOFTMAX;
        free(s);
        ELMO_CHECK(ok, ELMO_ERR_FORMAT, "%s: attribute output is not softmax or crf", path);
        ELMO_CHECK(get_int(f, "E", &E) == 0, ELMO_ERR_FORMAT,
                   "%s: attribute E (extra inputs) is missing", path);
        get_int(f, "ortho", &ortho);
    }
    meta->ortho = ortho != 0;
    if (get_int(f, "K", &K) < 0 || get_int(f, "D", &D) < 0 || get_int(f, "H", &H) < 0 ||
        get_int(f, "n_tags", &V) < 0 || get_double(f, "keep", &keep) < 0 ||
        get_double(f, "forget_bias", &fb) < 0)
        return elmo_error(ELMO_ERR_FORMAT,
                          "%s: the tagger config (K, D, H, n_tags, keep, forget_bias) "
                          "is incomplete",
                          path);
    *n_tags = V;
    *cfg = (struct elmo_tagger_config){(int)K,      (int)D,    (int)H, (int)V,
                                       (float)keep, (float)fb, (int)E, output};
    if (elmo_tagger_config_check(cfg) < 0)
        return elmo_error(ELMO_ERR_FORMAT, "%s: %s", path, elmo_errmsg());
    return 0;
}

/* The tag set (n_tags names) and the training record into meta; absent records stay zero. */
static int read_meta(hid_t f, const char *path, long long V, struct elmo_tagger_meta *meta) {
    long long mask = 0, v;
    char *tags = get_string(f, "tags");
    int rc = tags ? elmo_tagset_split(tags, &meta->tags) : -1;
    free(tags);
    if (rc < 0 || meta->tags.n != V)
        return elmo_error(ELMO_ERR_FORMAT, "%s: the tag set does not hold n_tags = %lld names",
                          path, V);
    char *s = get_string(f, "features");
    snprintf(meta->features, sizeof meta->features, "%s", s ? s : "elmo");
    free(s);
    get_int(f, "mask_urls_users", &mask);
    meta->mask_urls_users = mask != 0;
    get_double(f, "lr", &meta->lr);
    get_double(f, "lr_decay", &meta->lr_decay);
    get_double(f, "clip", &meta->clip);
    if (get_int(f, "batch_size", &v) == 0) meta->batch_size = (int)v;
    if (get_int(f, "epochs", &v) == 0) meta->epochs = (int)v;
    if (get_int(f, "best_epoch", &v) == 0) meta->best_epoch = (int)v;
    if (get_int(f, "ranks", &v) == 0) meta->ranks = (int)v;
    get_scalar(f, "seed", H5T_NATIVE_UINT64, &meta->seed);
    get_double(f, "dev_f1", &meta->dev_f1);
    get_string_into(f, "weights_sha256", meta->weights_sha256, sizeof meta->weights_sha256);
    get_string_into(f, "options_sha256", meta->options_sha256, sizeof meta->options_sha256);
    get_string_into(f, "bilm_options", meta->bilm_options, sizeof meta->bilm_options);
    get_string_into(f, "bilm_weights", meta->bilm_weights, sizeof meta->bilm_weights);
    get_string_into(f, "glove_path", meta->glove_path, sizeof meta->glove_path);
    get_string_into(f, "glove_sha256", meta->glove_sha256, sizeof meta->glove_sha256);
    meta->options_json = get_string(f, "options_json");
    meta->job_yaml = get_string(f, "job_yaml");
    return 0;
}

/* Dataset params/<name> of tensor tt into its place in t->block, checking its shape. */
static int read_tensor(hid_t f, const char *path, const struct elmo_tagger_tensor *tt,
                       struct elmo_tagger *t) {
    char name[96];
    snprintf(name, sizeof name, "params/%s", tt->name);
    hid_t ds = H5Lexists(f, "params", H5P_DEFAULT) > 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    if (ds < 0) {
        H5Eclear2(H5E_DEFAULT);
        return elmo_error(ELMO_ERR_FORMAT, "%s: dataset %s is missing", path, name);
    }
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[4] = {0, 0, 0, 0};
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd >= 1 && nd <= 2) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    bool ok = nd == tt->ndim && (int64_t)dims[0] == tt->dims[0] &&
              (nd == 1 || (int64_t)dims[1] == tt->dims[1]);
    herr_t st =
        ok ? H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->block + tt->offset)
           : -1;
    H5Dclose(ds);
    if (!ok)
        return elmo_error(ELMO_ERR_FORMAT, "%s: dataset %s does not have the shape of the config",
                          path, name);
    if (st < 0) return elmo_error(ELMO_ERR_HDF5, "%s: cannot read dataset %s", path, name);
    return 0;
}

/* Every non-empty tensor of the config's layout into t (already initialised for cfg). */
static int read_params(hid_t f, const char *path, const struct elmo_tagger_config *cfg,
                       struct elmo_tagger *t) {
    struct elmo_tagger_tensor tt[ELMO_TAGGER_TENSORS];
    elmo_tagger_layout(cfg, tt);
    for (int i = 0; i < ELMO_TAGGER_TENSORS; i++) {
        if (tt[i].numel == 0) continue;
        int rc = read_tensor(f, path, &tt[i], t);
        if (rc < 0) return rc;
    }
    return 0;
}

int elmo_tagger_load(const char *path, struct elmo_tagger *t, struct elmo_tagger_meta *meta) {
    memset(t, 0, sizeof *t);
    memset(meta, 0, sizeof *meta);
    elmo_h5_silence();
    hid_t f = -1;
    int rc = open_file(path, &f);
    if (rc < 0) return rc;
    long long ver = 0, n_tags = 0;
    struct elmo_tagger_config cfg;
    ELMO_CALL(check_format(f, path, &ver));
    ELMO_CALL(read_config(f, path, ver, &cfg, &n_tags, meta));
    ELMO_CALL(read_meta(f, path, n_tags, meta));
    H5Eclear2(H5E_DEFAULT);
    ELMO_CALL(elmo_tagger_init(t, &cfg));
    ELMO_CALL(read_params(f, path, &cfg, t));
    if (H5Lexists(f, "glove", H5P_DEFAULT) > 0) ELMO_CALL(load_glove(f, path, &meta->glove));
    H5Eclear2(H5E_DEFAULT);
cleanup:
    H5Fclose(f);
    if (rc < 0) {
        elmo_tagger_free(t);
        elmo_tagger_meta_free(meta);
    }
    return rc;
}

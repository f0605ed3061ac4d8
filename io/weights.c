/*
 * weights.c: options.json through jansson, and the weight HDF5 file through the serial HDF5
 * API (default driver).  HDF5's automatic error printing is switched off; the innermost HDF5
 * message is folded into our own, which names the file and the dataset.
 *
 * Loading checks the whole file against the options before reading any data, so a wrong file
 * fails fast and says which dataset is wrong instead of failing half-way.
 */
#define _DEFAULT_SOURCE /* mmap */
#include "io/weights.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "model/status.h"

/* ------------------------------------------------------------------------------------------ */
/* options.json */

/* Looks up a dotted key ("lstm.dim") under root; NULL when any part is missing. */
static json_t *lookup(json_t *root, const char *key) {
    char part[64];
    json_t *node = root;
    const char *p = key;
    while (node && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part) return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        node = json_is_object(node) ? json_object_get(node, part) : NULL;
        p = dot ? dot + 1 : p + n;
    }
    return node;
}

static int get_int(json_t *root, const char *origin, const char *key, int lo, int hi, int *out) {
    json_t *v = lookup(root, key);
    if (!v) return elmo_error(ELMO_ERR_FORMAT, "%s: key %s: missing", origin, key);
    double x;
    if (json_is_integer(v)) x = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
        x = json_real_value(v);
    else return elmo_error(ELMO_ERR_FORMAT, "%s: key %s: not an integer", origin, key);
    if (x < lo || x > hi)
        return elmo_error(ELMO_ERR_RANGE, "%s: key %s: %g is not in %d..%d", origin, key, x, lo,
                          hi);
    *out = (int)x;
    return ELMO_OK;
}

/* A clip value: absent, null, false or 0 mean "no clipping" (both references). */
static int get_clip(json_t *root, const char *origin, const char *key, float *out) {
    json_t *v = lookup(root, key);
    *out = 0.0f;
    if (!v || json_is_null(v) || json_is_false(v)) return ELMO_OK;
    if (!json_is_number(v))
        return elmo_error(ELMO_ERR_FORMAT, "%s: key %s: not a number", origin, key);
    double x = json_number_value(v);
    if (!(x >= 0 && x <= FLT_MAX)) /* stored as a float: 1e39 would become infinite */
        return elmo_error(ELMO_ERR_RANGE, "%s: key %s: %g is not a finite number >= 0", origin, key,
                          x);
    *out = (float)x;
    return ELMO_OK;
}

static int parse_root(json_t *root, const char *origin, struct elmo_options *o) {
    memset(o, 0, sizeof *o);
    if (!json_is_object(root)) return elmo_error(ELMO_ERR_FORMAT, "%s: not a JSON object", origin);
    ELMO_TRY(get_int(root, origin, "lstm.dim", 1, 65536, &o->D));
    ELMO_TRY(get_int(root, origin, "lstm.projection_dim", 1, 65536, &o->P));
    ELMO_TRY(get_int(root, origin, "lstm.n_layers", 1, ELMO_MAX_LAYERS, &o->L));
    ELMO_TRY(get_clip(root, origin, "lstm.cell_clip", &o->cell_clip));
    ELMO_TRY(get_clip(root, origin, "lstm.proj_clip", &o->proj_clip));
    json_t *skip = lookup(root, "lstm.use_skip_connections");
    if (skip && !json_is_boolean(skip) && !json_is_null(skip))
        return elmo_error(ELMO_ERR_FORMAT, "%s: key lstm.use_skip_connections: not a boolean",
                          origin);
    o->skip = skip && json_is_true(skip);
    ELMO_TRY(get_int(root, origin, "char_cnn.embedding.dim", 1, 4096, &o->E));
    ELMO_TRY(get_int(root, origin, "char_cnn.n_highway", 0, ELMO_MAX_HIGHWAY, &o->n_highway));
    ELMO_TRY(get_int(root, origin, "char_cnn.n_characters", 261, 262, &o->n_characters));
    ELMO_TRY(get_int(root, origin, "char_cnn.max_characters_per_token", ELMO_MAXC, ELMO_MAXC,
                     &o->max_chars));
    json_t *act = lookup(root, "char_cnn.activation");
    if (!act) return elmo_error(ELMO_ERR_FORMAT, "%s: key char_cnn.activation: missing", origin);
    if (!json_is_string(act))
        return elmo_error(ELMO_ERR_FORMAT, "%s: key char_cnn.activation: not a string", origin);
    if (!strcmp(json_string_value(act), "relu")) o->activation = ELMO_ACT_RELU;
    else if (!strcmp(json_string_value(act), "tanh")) o->activation = ELMO_ACT_TANH;
    else
        return elmo_error(ELMO_ERR_RANGE,
                          "%s: key char_cnn.activation: '%s', expected relu or tanh", origin,
                          json_string_value(act));
    json_t *filters = lookup(root, "char_cnn.filters");
    if (!filters) return elmo_error(ELMO_ERR_FORMAT, "%s: key char_cnn.filters: missing", origin);
    if (!json_is_array(filters) || json_array_size(filters) < 1 ||
        json_array_size(filters) > ELMO_MAX_FILTERS)
        return elmo_error(ELMO_ERR_FORMAT,
                          "%s: key char_cnn.filters: not a list of 1..%d [width, count] pairs",
                          origin, ELMO_MAX_FILTERS);
    o->n_filters = (int)json_array_size(filters);
    for (int i = 0; i < o->n_filters; i++) {
        json_t *pair = json_array_get(filters, (size_t)i);
        json_t *w = json_array_get(pair, 0), *n = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(w) ||
            !json_is_integer(n))
            return elmo_error(ELMO_ERR_FORMAT,
                              "%s: key char_cnn.filters[%d]: not a [width, count] pair of "
                              "integers",
                              origin, i);
        json_int_t wi = json_integer_value(w), ni = json_integer_value(n);
        if (wi < 1 || wi > ELMO_MAXC || ni < 1 || ni > 65536)
            return elmo_error(ELMO_ERR_RANGE,
                              "%s: key char_cnn.filters[%d]: [%lld, %lld] out of range (width "
                              "1..%d, count 1..65536)",
                              origin, i, (long long)wi, (long long)ni, ELMO_MAXC);
        o->filter_width[i] = (int)wi;
        o->filter_count[i] = (int)ni;
        o->F += (int)ni;
    }
    o->has_cnn_proj = o->F != o->P;
    o->has_lstm_proj = o->P != o->D;
    int rc = elmo_options_check(o);
    if (rc < 0) return elmo_error_prefix(rc, "%s: ", origin);
    return ELMO_OK;
}

int elmo_options_parse(const char *text, const char *origin, struct elmo_options *opt) {
    json_error_t err;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return elmo_error(ELMO_ERR_FORMAT, "%s:%d:%d: bad JSON: %s", origin, err.line, err.column,
                          err.text);
    int rc = parse_root(root, origin, opt);
    json_decref(root);
    return rc;
}

int elmo_options_load(const char *path, struct elmo_options *opt) {
    FILE *f = fopen(path, "rb");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(f);
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return elmo_error(ELMO_ERR_FORMAT, "%s:%d:%d: bad JSON: %s", path, err.line, err.column,
                          err.text);
    int rc = parse_root(root, path, opt);
    json_decref(root);
    return rc;
}

/* An integral value as a JSON integer (3, as the official files write it), else a real. */
static json_t *number(float x) {
    if (x == floorf(x) && fabsf(x) < 1e9f) return json_integer((json_int_t)x);
    return json_real(x);
}

int elmo_options_to_json(const struct elmo_options *o, char **out) {
    *out = NULL;
    json_t *filters = json_array();
    for (int i = 0; i < o->n_filters; i++)
        json_array_append_new(filters, json_pack("[ii]", o->filter_width[i], o->filter_count[i]));
    json_t *root =
        json_pack("{s:{s:b,s:i,s:o,s:o,s:i,s:i},s:{s:s,s:o,s:i,s:{s:i},s:i,s:i}}", "lstm",
                  "use_skip_connections", (int)o->skip, "projection_dim", o->P, "cell_clip",
                  number(o->cell_clip), "proj_clip", number(o->proj_clip), "dim", o->D, "n_layers",
                  o->L, "char_cnn", "activation", o->activation == ELMO_ACT_TANH ? "tanh" : "relu",
                  "filters", filters, "n_highway", o->n_highway, "embedding", "dim", o->E,
                  "n_characters", o->n_characters, "max_characters_per_token", o->max_chars);
    if (!root) return elmo_error(ELMO_ERR_NOMEM, "cannot build the options JSON");
    *out = json_dumps(root, JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!*out) return elmo_error(ELMO_ERR_NOMEM, "cannot format the options JSON");
    return ELMO_OK;
}

int elmo_options_save(const char *path, const struct elmo_options *opt) {
    char *text;
    ELMO_TRY(elmo_options_to_json(opt, &text));
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(text);
        return elmo_error(ELMO_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    free(text);
    if (!ok) return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return ELMO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* HDF5 helpers */

/* HDF5's reason for the current failure (elmo_h5_reason), for one message; clears the stack. */
static const char *h5_reason(void) {
    static _Thread_local char msg[256];
    elmo_h5_reason(msg, sizeof msg);
    return msg;
}

/* 1 when every component of the path exists (a link), 0 otherwise. */
static int path_exists(hid_t file, const char *name) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", name);
    for (char *p = buf;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            *p = c;
            if (!c) return 1;
        }
    }
}

static void fmt_shape(char *buf, size_t cap, int ndim, const hsize_t *dims) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", i ? ", " : "",
                              (unsigned long long)dims[i]);
    if (n < cap) snprintf(buf + n, cap - n, "%s)", ndim == 1 ? "," : "");
}

/* Checks one dataset's presence, type and shape against p (data is not read). */
static int check_dataset(hid_t file, const char *path, const struct elmo_param *p) {
    if (!path_exists(file, p->name))
        return elmo_error(ELMO_ERR_FORMAT, "%s: dataset %s: missing", path, p->name);
    hid_t ds = H5Dopen2(file, p->name, H5P_DEFAULT);
    if (ds < 0)
        return elmo_error(ELMO_ERR_FORMAT, "%s: dataset %s: cannot open as a dataset: %s", path,
                          p->name, h5_reason());
    int rc = ELMO_OK;
    hid_t ty = H5Dget_type(ds), sp = H5Dget_space(ds);
    if (ty < 0 || sp < 0) {
        rc = elmo_error(ELMO_ERR_HDF5, "%s: dataset %s: unreadable header: %s", path, p->name,
                        h5_reason());
        goto done;
    }
    if (H5Tget_class(ty) != H5T_FLOAT) {
        rc = elmo_error(ELMO_ERR_FORMAT, "%s: dataset %s: the type is not float", path, p->name);
        goto done;
    }
    hsize_t dims[H5S_MAX_RANK], want[4];
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd < 0 || nd > H5S_MAX_RANK) {
        rc = elmo_error(ELMO_ERR_FORMAT, "%s: dataset %s: not a simple dataspace", path, p->name);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    int same = nd == p->ndim;
    for (int i = 0; i < p->ndim; i++) {
        want[i] = (hsize_t)p->dims[i];
        if (same && dims[i] != want[i]) same = 0;
    }
    if (!same) {
        char got[128], exp[128];
        fmt_shape(got, sizeof got, nd, dims);
        fmt_shape(exp, sizeof exp, p->ndim, want);
        rc = elmo_error(ELMO_ERR_SHAPE, "%s: dataset %s: shape %s, the options give %s", path,
                        p->name, got, exp);
    }
done:
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}

/* The weight file mapped read-only (size 0 and base NULL when it could not be mapped). */
struct mapped {
    const char *base;
    size_t size;
};

/* Maps path read-only; a failure leaves m empty (the datasets are then read by H5Dread). */
static void map_file(const char *path, struct mapped *m) {
    m->base = NULL, m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) m->base = p, m->size = (size_t)st.st_size;
    }
    close(fd);
}

static void unmap_file(struct mapped *m) {
    if (m->base) munmap((void *)m->base, m->size);
    m->base = NULL, m->size = 0;
}

/*
 * Where the n floats of ds lie in the mapped file, or NULL when they must go through H5Dread:
 * only a contiguous, allocated dataset in this file (no external storage) whose file type is
 * the memory's float has its bytes there as they are.
 */
static const float *mapped_data(hid_t ds, const struct mapped *mf, size_t n) {
    if (!mf->base) return NULL;
    hid_t ty = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    bool ok = ty >= 0 && dcpl >= 0 && H5Tequal(ty, H5T_NATIVE_FLOAT) > 0 &&
              H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0;
    if (ty >= 0) H5Tclose(ty);
    if (dcpl >= 0) H5Pclose(dcpl);
    haddr_t at = ok ? H5Dget_offset(ds) : HADDR_UNDEF;
    H5Eclear2(H5E_DEFAULT);
    if (at == HADDR_UNDEF || H5Dget_storage_size(ds) != n * sizeof(float) || at > mf->size ||
        mf->size - at < n * sizeof(float) || at % sizeof(float) != 0)
        return NULL;
    return (const float *)(mf->base + at);
}

/* The largest exponent field of x[0 .. 4095] (all ones: a NaN or Inf); a fixed trip count
   that the compiler turns into vector code. */
static uint32_t block_exponent(const float *x) {
    uint32_t top = 0;
    for (size_t i = 0; i < 4096; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        u &= 0x7f800000u;
        top = u > top ? u : top;
    }
    return top;
}

/* Index of the first NaN or Inf in x (n when there is none); the common case is one pass. */
static size_t first_nonfinite(const float *x, size_t n) {
    size_t i0 = 0;
    while (i0 + 4096 <= n && block_exponent(x + i0) != 0x7f800000u) i0 += 4096;
    for (size_t i = i0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

/* Reads p's dataset into p->data: copied from the mapped file where it lies there as it is. */
static int read_dataset(hid_t file, const char *path, const struct elmo_param *p,
                        const struct mapped *mf) {
    hid_t ds = H5Dopen2(file, p->name, H5P_DEFAULT);
    if (ds < 0)
        return elmo_error(ELMO_ERR_HDF5, "%s: dataset %s: cannot open: %s", path, p->name,
                          h5_reason());
    const size_t n = elmo_param_numel(p);
    const float *src = mapped_data(ds, mf, n);
    herr_t st = 0;
    if (src) memcpy(p->data, src, n * sizeof(float));
    else st = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->data);
    H5Dclose(ds);
    if (st < 0)
        return elmo_error(ELMO_ERR_HDF5,
                          "%s: dataset %s: read failed (truncated or corrupt file?): %s", path,
                          p->name, h5_reason());
    size_t i = first_nonfinite(p->data, n);
    if (i < n)
        return elmo_error(ELMO_ERR_NAN, "%s: dataset %s: element %zu is %s", path, p->name, i,
                          isnan(p->data[i]) ? "NaN" : "infinite");
    return ELMO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* weights */

#define MAX_PARAMS (1 + 2 * ELMO_MAX_FILTERS + 4 * ELMO_MAX_HIGHWAY + 2 + 6 * ELMO_MAX_LAYERS)

/* Opens path read-only as HDF5; *file < 0 on failure (with the message set). */
static int open_weights(const char *path, hid_t *file) {
    *file = -1;
    elmo_h5_silence();
    FILE *f = fopen(path, "rb");
    if (!f) return elmo_error(ELMO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        h5_reason();
        return elmo_error(ELMO_ERR_HDF5, "%s: not an HDF5 file (%ld bytes)", path, size);
    }
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0)
        return elmo_error(ELMO_ERR_HDF5,
                          "%s: cannot open as HDF5 (truncated or corrupt? %ld bytes): %s", path,
                          size, h5_reason());
    return ELMO_OK;
}

/* Settles the projections the options leave open from the file, then checks every dataset. */
static int check_file(hid_t file, const char *path, struct elmo_options *opt) {
    struct elmo_model shape;
    struct elmo_param params[MAX_PARAMS];
    /* where the options leave it open, the file decides (elmo-spec section 1) */
    if (opt->F == opt->P) opt->has_cnn_proj = path_exists(file, "CNN_proj/W_proj");
    if (opt->P == opt->D)
        opt->has_lstm_proj = path_exists(file, "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_0");
    memset(&shape, 0, sizeof shape);
    shape.opt = *opt;
    int n = elmo_model_params(&shape, params, MAX_PARAMS);
    ELMO_ASSERT(n <= MAX_PARAMS);
    for (int i = 0; i < n; i++) ELMO_TRY(check_dataset(file, path, &params[i]));
    return ELMO_OK;
}

/* Reads the datasets of m whose owner is part (all when owner is NULL). */
static int read_file(hid_t file, const char *path, const struct elmo_model *m, const int *owner,
                     int part) {
    struct elmo_param params[MAX_PARAMS];
    int n = elmo_model_params(m, params, MAX_PARAMS), rc = ELMO_OK;
    struct mapped mf;
    map_file(path, &mf); /* a copy from the page cache's own pages: no read(2) bounce */
    for (int i = 0; i < n && rc == ELMO_OK; i++)
        if (!owner || owner[i] == part) rc = read_dataset(file, path, &params[i], &mf);
    unmap_file(&mf);
    return rc;
}

int elmo_weights_check(const char *path, struct elmo_options *opt) {
    hid_t file;
    int rc = open_weights(path, &file);
    if (rc == ELMO_OK) rc = check_file(file, path, opt);
    if (file >= 0) H5Fclose(file);
    return rc;
}

int elmo_weights_read_part(const char *path, const struct elmo_model *m, int part, int nparts) {
    struct elmo_param params[MAX_PARAMS];
    size_t sizes[MAX_PARAMS];
    int owner[MAX_PARAMS];
    int n = elmo_model_params(m, params, MAX_PARAMS);
    for (int i = 0; i < n; i++) sizes[i] = elmo_param_numel(&params[i]);
    elmo_split_work(n, sizes, nparts, owner);
    hid_t file;
    int rc = open_weights(path, &file);
    if (rc == ELMO_OK) rc = read_file(file, path, m, owner, part);
    if (file >= 0) H5Fclose(file);
    return rc;
}

/* Points tensors[i] at params[i] in mf; 1 when every one lies there, 0 if not, or an error. */
static int locate(hid_t file, const char *path, const struct elmo_param *params, int n,
                  const struct mapped *mf, float **tensors) {
    for (int i = 0; i < n; i++) {
        hid_t ds = H5Dopen2(file, params[i].name, H5P_DEFAULT);
        if (ds < 0)
            return elmo_error(ELMO_ERR_HDF5, "%s: dataset %s: cannot open: %s", path,
                              params[i].name, h5_reason());
        tensors[i] = (float *)mapped_data(ds, mf, elmo_param_numel(&params[i]));
        H5Dclose(ds);
        if (!tensors[i]) return 0;
    }
    return 1;
}

/* Checks the tensors of this part for NaN or Inf. */
static int check_finite(const char *path, const struct elmo_param *params, int n,
                        float *const *tensors, int part, int nparts) {
    size_t sizes[MAX_PARAMS];
    int owner[MAX_PARAMS];
    for (int i = 0; i < n; i++) sizes[i] = elmo_param_numel(&params[i]);
    elmo_split_work(n, sizes, nparts, owner);
    for (int i = 0; i < n; i++) {
        size_t k = owner[i] == part ? first_nonfinite(tensors[i], sizes[i]) : sizes[i];
        if (k < sizes[i])
            return elmo_error(ELMO_ERR_NAN, "%s: dataset %s: element %zu is %s", path,
                              params[i].name, k, isnan(tensors[i][k]) ? "NaN" : "infinite");
    }
    return ELMO_OK;
}

int elmo_weights_map_part(const char *path, const struct elmo_options *opt, int part,
                          int nparts, struct elmo_weights_map *map, float **tensors) {
    struct elmo_model shape;
    struct elmo_param params[MAX_PARAMS];
    map->base = NULL, map->size = 0;
    memset(&shape, 0, sizeof shape);
    shape.opt = *opt;
    int n = elmo_model_params(&shape, params, MAX_PARAMS);
    hid_t file;
    int rc = open_weights(path, &file);
    if (rc < 0) return rc;
    struct mapped mf;
    map_file(path, &mf);
    rc = locate(file, path, params, n, &mf, tensors);
    if (rc == 1) rc = check_finite(path, params, n, tensors, part, nparts);
    else if (rc == 0) unmap_file(&mf);
    if (rc < 0) unmap_file(&mf);
    H5Fclose(file);
    map->base = (void *)mf.base, map->size = mf.size;
    return rc < 0 ? rc : ELMO_OK;
}

void elmo_weights_unmap(struct elmo_weights_map *map) {
    struct mapped mf = {map->base, map->size};
    unmap_file(&mf);
    map->base = NULL, map->size = 0;
}

int elmo_weights_load(const char *path, struct elmo_model *m) {
    struct elmo_options opt = m->opt;
    elmo_model_free(m);
    hid_t file;
    int rc = open_weights(path, &file);
    if (rc < 0) return rc;
    struct elmo_model tmp;
    memset(&tmp, 0, sizeof tmp);
    ELMO_CALL(check_file(file, path, &opt));
    ELMO_CALL(elmo_model_init(&tmp, &opt));
    ELMO_CALL(read_file(file, path, &tmp, NULL, 0));
    *m = tmp;
    memset(&tmp, 0, sizeof tmp);
cleanup:
    elmo_model_free(&tmp);
    H5Fclose(file);
    if (rc < 0) m->opt = opt;
    return rc;
}

int elmo_weights_save(const char *path, const struct elmo_model *m) {
    elmo_h5_silence();
    struct elmo_param params[MAX_PARAMS];
    int n = elmo_model_params(m, params, MAX_PARAMS);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return elmo_error(ELMO_ERR_HDF5, "%s: cannot create: %s", path, h5_reason());
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0); /* no timestamps: the same model gives the same bytes */
    int rc = ELMO_OK;
    for (int i = 0; i < n && rc == ELMO_OK; i++) {
        const struct elmo_param *p = &params[i];
        hsize_t dims[4];
        for (int k = 0; k < p->ndim; k++) dims[k] = (hsize_t)p->dims[k];
        if (elmo_h5_write_dataset(file, p->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, p->ndim, dims,
                                  p->data, lcpl, dcpl, NULL) < 0)
            rc = elmo_error(ELMO_ERR_HDF5, "%s: dataset %s: write failed: %s", path, p->name,
                            h5_reason());
    }
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    if (H5Fclose(file) < 0 && rc == ELMO_OK)
        rc = elmo_error(ELMO_ERR_HDF5, "%s: closing failed: %s", path, h5_reason());
    if (rc < 0) remove(path);
    return rc;
}

int elmo_model_load(const char *options_path, const char *weights_path, struct elmo_model *m) {
    memset(m, 0, sizeof *m);
    ELMO_TRY(elmo_options_load(options_path, &m->opt));
    return elmo_weights_load(weights_path, m);
}

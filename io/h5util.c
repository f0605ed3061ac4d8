/*
 * h5util.c: HDF5 errors, attributes and whole datasets for io/ (see h5util.h).
 */
#include "io/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/status.h"

/* ---- errors ------------------------------------------------------------------------------ */

void elmo_h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

struct walk { char desc[512]; };

/* Walking downward (from the API call to where the error arose), the last description seen is
 * the innermost one. */
static herr_t walk_cb(unsigned n, const H5E_error2_t *err, void *data) {
    (void)n;
    struct walk *w = data;
    if (err->desc && err->desc[0]) snprintf(w->desc, sizeof w->desc, "%s", err->desc);
    return 0;
}

void elmo_h5_reason(char *buf, size_t size) {
    struct walk w = {{0}};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    snprintf(buf, size, "%s", w.desc[0] ? w.desc : "unknown HDF5 error");
}

int elmo_h5_fail(const char *fmt, ...) {
    char msg[1024], why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    elmo_h5_reason(why, sizeof why);
    return elmo_error(ELMO_ERR_HDF5, "%s: %s", msg, why);
}

/* In a function with `int rc`, `cleanup:` and `const char *path`: an HDF5 call that must not
 * be negative; the message is recorded only when path is set (h5util.h). */
#define H5CALL(expr, ...)                                                 \
    do {                                                                  \
        if ((expr) < 0) {                                                 \
            rc = path ? elmo_h5_fail(__VA_ARGS__) : ELMO_ERR_HDF5;        \
            goto cleanup;                                                 \
        }                                                                 \
    } while (0)

/* ---- attributes: writing ----------------------------------------------------------------- */

int elmo_h5_attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                       const void *v, const char *path) {
    int rc = 0;
    hid_t a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    H5CALL(a, "%s: cannot create attribute %s", path, name);
    H5CALL(H5Awrite(a, mtype, v), "%s: cannot write attribute %s", path, name);
cleanup:
    if (a >= 0) H5Aclose(a);
    return rc;
}

int elmo_h5_attr_write_n(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int n,
                         const void *v, const char *path) {
    int rc = 0;
    hsize_t dim = (hsize_t)n;
    hid_t sp = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    H5CALL(sp, "%s: attribute %s: cannot create a dataspace", path, name);
    rc = elmo_h5_attr_write(obj, name, ftype, mtype, sp, v, path);
cleanup:
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

int elmo_h5_attr_write_string(hid_t obj, const char *name, const char *value, const char *path) {
    int rc = 0;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5CALL(t, "%s: attribute %s: cannot create a string type", path, name);
    H5CALL(H5Tset_size(t, H5T_VARIABLE), "%s: attribute %s: string type", path, name);
    H5CALL(H5Tset_cset(t, H5T_CSET_UTF8), "%s: attribute %s: string type", path, name);
    const char *v = value ? value : "";
    rc = elmo_h5_attr_write_n(obj, name, t, t, 1, &v, path);
cleanup:
    if (t >= 0) H5Tclose(t);
    return rc;
}

int elmo_h5_attr_write_fixed_string(hid_t obj, const char *name, const char *value,
                                    const char *path) {
    int rc = 0;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5CALL(t, "%s: attribute %s: cannot create a string type", path, name);
    H5CALL(H5Tset_size(t, strlen(value) + 1), "%s: attribute %s: string type", path, name);
    rc = elmo_h5_attr_write_n(obj, name, t, t, 1, value, path);
cleanup:
    if (t >= 0) H5Tclose(t);
    return rc;
}

/* ---- attributes: reading ----------------------------------------------------------------- */

int elmo_h5_attr_open(hid_t obj, const char *name, hid_t *a, const char *path, const char *what) {
    int rc = 0;
    *a = -1;
    htri_t ex = H5Aexists(obj, name);
    H5CALL(ex, "%s: cannot look for %s", path, what);
    if (!ex) return 0;
    *a = H5Aopen(obj, name, H5P_DEFAULT);
    H5CALL(*a, "%s: cannot open %s", path, what);
    return 1;
cleanup:
    return rc;
}

int elmo_h5_attr_read(hid_t obj, const char *name, hid_t mtype, void *v, const char *path,
                      const char *what) {
    hid_t a = -1;
    int rc = elmo_h5_attr_open(obj, name, &a, path, what);
    if (rc <= 0) return rc;
    H5CALL(H5Aread(a, mtype, v), "%s: cannot read %s", path, what);
    rc = 1;
cleanup:
    H5Aclose(a);
    return rc;
}

/* Reads the string of open attribute a (file type ftype, one element) into an owned string. */
static char *read_string(hid_t a, hid_t ftype, hid_t space) {
    char *out = NULL;
    htri_t vl = H5Tis_variable_str(ftype);
    hid_t mtype = vl < 0 ? -1 : H5Tcopy(H5T_C_S1);
    if (mtype < 0) return NULL;
    if (vl) {
        char *s = NULL;
        if (H5Tset_size(mtype, H5T_VARIABLE) >= 0 && H5Tset_cset(mtype, H5Tget_cset(ftype)) >= 0 &&
            H5Aread(a, mtype, &s) >= 0) {
            out = strdup(s ? s : "");
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &s);
        }
    } else {
        size_t size = H5Tget_size(ftype);
        char *s = calloc(size + 1, 1);
        if (s && H5Tset_size(mtype, size + 1) >= 0 && H5Tset_strpad(mtype, H5T_STR_NULLTERM) >= 0 &&
            H5Tset_cset(mtype, H5Tget_cset(ftype)) >= 0 && H5Aread(a, mtype, s) >= 0)
            out = s;
        else free(s);
    }
    H5Tclose(mtype);
    return out;
}

char *elmo_h5_attr_string(hid_t obj, const char *name) {
    char *out = NULL;
    hid_t a = -1, ftype = -1, space = -1;
    if (H5Aexists(obj, name) <= 0) goto cleanup;
    a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) goto cleanup;
    ftype = H5Aget_type(a);
    space = H5Aget_space(a);
    if (ftype < 0 || space < 0 || H5Tget_class(ftype) != H5T_STRING) goto cleanup;
    if (H5Sget_simple_extent_npoints(space) != 1) goto cleanup;
    out = read_string(a, ftype, space);
cleanup:
    H5Eclear2(H5E_DEFAULT);
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    if (a >= 0) H5Aclose(a);
    return out;
}

/* ---- datasets ---------------------------------------------------------------------------- */

int elmo_h5_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int nd,
                          const hsize_t *dims, const void *data, hid_t lcpl, hid_t dcpl,
                          const char *path) {
    int rc = 0;
    hid_t space = H5Screate_simple(nd, dims, NULL), d = -1;
    H5CALL(space, "%s: dataset %s: cannot create a dataspace", path, name);
    d = H5Dcreate2(loc, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    H5CALL(d, "%s: cannot create dataset %s", path, name);
    hsize_t count = 1;
    for (int i = 0; i < nd; i++) count *= dims[i];
    if (count > 0)
        H5CALL(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
               "%s: cannot write dataset %s", path, name);
cleanup:
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    return rc;
}

int elmo_h5_read_dataset(hid_t loc, const char *name, hid_t mtype, size_t n, void *data) {
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hssize_t got = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    int rc = -1;
    if (got >= 0 && (size_t)got != n) rc = -2;
    else if (got >= 0 && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) rc = 0;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}

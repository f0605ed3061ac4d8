/*
 * h5util.h: the HDF5 chores every file format of io/ shares: turning HDF5's error stack into a
 * message, silencing HDF5's own printing, attributes (numbers and strings) and whole datasets.
 *
 * Conventions.  A helper that takes `path` records a failure as ELMO_ERR_HDF5 with a message
 * "PATH: WHAT: HDF5's reason" (the wording is the store's; see each function) and returns it.
 * With path NULL it records nothing, leaves HDF5's error stack as it is (so that the caller can
 * name the item and ask elmo_h5_reason for the cause) and returns ELMO_ERR_HDF5.
 */
#ifndef ELMO_H5UTIL_H
#define ELMO_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

/* Stops HDF5 from printing its error stack to stderr: elmo reports errors itself. */
void elmo_h5_silence(void);

/* The innermost message of HDF5's current error stack ("unknown HDF5 error" when it holds
 * none) into buf; the stack is then cleared. */
void elmo_h5_reason(char *buf, size_t size);

/* Records "MESSAGE: HDF5's reason" as ELMO_ERR_HDF5 and returns it. */
int elmo_h5_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- attributes: writing ---- */

/* Creates attribute name of obj with file type ftype over space and writes v (memory type
 * mtype).  Failures: "PATH: cannot create attribute NAME", "PATH: cannot write attribute NAME". */
int elmo_h5_attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                       const void *v, const char *path);

/* The same over a scalar dataspace (n == 1) or a 1-D one of n values (n > 1).  A dataspace
 * failure: "PATH: attribute NAME: cannot create a dataspace". */
int elmo_h5_attr_write_n(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int n,
                         const void *v, const char *path);

/* A scalar variable-length UTF-8 string attribute (h5py reads it as str); NULL writes "". */
int elmo_h5_attr_write_string(hid_t obj, const char *name, const char *value, const char *path);

/* A scalar fixed-length ASCII string attribute of strlen(value) + 1 bytes (NUL-terminated). */
int elmo_h5_attr_write_fixed_string(hid_t obj, const char *name, const char *value,
                                    const char *path);

/* ---- attributes: reading ---- */

/*
 * Opens attribute name of obj into *a: 1 when opened (the caller closes *a), 0 when absent.
 * Failures: "PATH: cannot look for WHAT", "PATH: cannot open WHAT"; what names the attribute
 * in those messages ("attribute elmo_gamma", "a root attribute").
 */
int elmo_h5_attr_open(hid_t obj, const char *name, hid_t *a, const char *path, const char *what);

/* Reads attribute name as mtype into v: 1 when read, 0 when absent (v untouched).  Failures as
 * elmo_h5_attr_open's, and "PATH: cannot read WHAT". */
int elmo_h5_attr_read(hid_t obj, const char *name, hid_t mtype, void *v, const char *path,
                      const char *what);

/* A scalar string attribute (variable- or fixed-length) as an owned string; NULL when it is
 * absent, not one string or unreadable (nothing is recorded; HDF5's error stack is cleared). */
char *elmo_h5_attr_string(hid_t obj, const char *name);

/* ---- datasets ---- */

/*
 * Creates dataset name of loc (file type ftype, shape dims[0..nd), link and creation property
 * lists lcpl and dcpl, H5P_DEFAULT for none) and writes data (memory type mtype) when it has
 * any element.  Failures: "PATH: dataset NAME: cannot create a dataspace", "PATH: cannot create
 * dataset NAME", "PATH: cannot write dataset NAME".
 */
int elmo_h5_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int nd,
                          const hsize_t *dims, const void *data, hid_t lcpl, hid_t dcpl,
                          const char *path);

/* Reads dataset name of exactly n elements as mtype into data: 0, -2 when it holds another
 * number of elements, -1 when it is missing or unreadable.  Records nothing. */
int elmo_h5_read_dataset(hid_t loc, const char *name, hid_t mtype, size_t n, void *data);

#endif /* ELMO_H5UTIL_H */

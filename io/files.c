/*
 * files.c: whole-file reads (see files.h).
 */
#include "io/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/gz.h"
#include "model/grow.h"
#include "model/status.h"

/* Bytes asked of the source per read. */
#define READ_STEP ((size_t)1 << 16)

int elmo_read_file(const char *path, char **text, size_t *len) {
    *text = NULL;
    struct elmo_gz *g = elmo_gz_open(path);
    if (!g) return ELMO_ERR_IO; /* elmo_gz_open named the file */
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = 0;
    for (;;) {
        rc = elmo_grow((void **)&buf, &cap, n + READ_STEP + 1, 1);
        if (rc < 0) {
            rc = elmo_error_prefix(rc, "reading %s: ", path);
            break;
        }
        ssize_t got = elmo_gz_read(g, buf + n, READ_STEP);
        if (got <= 0) {
            rc = (int)got;
            break;
        }
        n += (size_t)got;
    }
    elmo_gz_close(g);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    if (len) *len = n;
    return 0;
}

char *elmo_read_text(const char *path) {
    char *text;
    return elmo_read_file(path, &text, NULL) < 0 ? NULL : text;
}

int elmo_read_stream(FILE *f, const char *name, size_t max, char **text, size_t *len) {
    *text = NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        int rc = elmo_grow((void **)&buf, &cap, n + READ_STEP + 1, 1);
        if (rc < 0) {
            free(buf);
            return elmo_error_prefix(rc, "reading %s: ", name);
        }
        size_t got = fread(buf + n, 1, READ_STEP, f);
        n += got;
        if (max > 0 && n > max) {
            free(buf);
            return elmo_error(ELMO_ERR_RANGE, "%s: over %zu bytes", name, max);
        }
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return elmo_error(ELMO_ERR_IO, "%s: cannot read: %s", name, strerror(errno));
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

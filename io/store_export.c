/*
 * store_export.c: `elmo export --format allennlp` (see store_export.h): the sentence texts as
 * Python's json.dumps writes them, then one dataset per sentence into OUT.partial.
 */
#include "io/store_export.h"

#include <errno.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"
#include "io/outfile.h"
#include "io/store.h"
#include "io/utf8.h"
#include "model/grow.h"
#include "model/status.h"

/* ---- JSON as Python's json.dumps writes it by default ------------------------------------ */

/*
 * Written here rather than by jansson, whose bytes differ from Python's: jansson writes \u
 * escapes in upper case, leaves DEL unescaped and refuses text that is not UTF-8.
 */

struct buf {
    char *p;
    size_t n, cap;
};

static int buf_put(struct buf *b, const char *s, size_t n) {
    ELMO_TRY(elmo_grow((void **)&b->p, &b->cap, b->n + n + 1, 1));
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* Appends s as a JSON string: ensure_ascii (\uXXXX, lowercase hex, surrogate pairs), the short
 * escapes \" \\ \b \f \n \r \t, and \u00XX for the other control characters and DEL. */
static int json_string(struct buf *b, const uint8_t *s, size_t n) {
    ELMO_TRY(buf_put(b, "\"", 1));
    for (size_t i = 0; i < n;) {
        uint32_t c;
        int used = elmo_utf8_decode(s + i, n - i, &c); /* invalid: U+FFFD, one byte */
        i += used ? (size_t)used : 1;
        char esc[16];
        const char *out = esc;
        size_t len;
        switch (c) {
        case '"': out = "\\\""; break;
        case '\\': out = "\\\\"; break;
        case '\b': out = "\\b"; break;
        case '\f': out = "\\f"; break;
        case '\n': out = "\\n"; break;
        case '\r': out = "\\r"; break;
        case '\t': out = "\\t"; break;
        default:
            if (c >= 0x20 && c <= 0x7e) {
                esc[0] = (char)c;
                esc[1] = '\0';
            } else if (c < 0x10000) {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
            } else {
                uint32_t v = c - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xd800 + (v >> 10)),
                         (unsigned)(0xdc00 + (v & 0x3ff)));
            }
        }
        len = strlen(out);
        ELMO_TRY(buf_put(b, out, len));
    }
    return buf_put(b, "\"", 1);
}

/*
 * {text: "index", ...} as Python builds it with d[text] = str(i) for i = 0..N-1: a key keeps
 * the place of its first occurrence and takes the value of its last.
 */
static int sentence_json(const int64_t *toff, const uint8_t *text, int64_t N, struct buf *out) {
    int rc = 0;
    size_t cap = 16;
    while (cap < (size_t)N * 2) cap *= 2;
    int64_t *slot = malloc(cap * sizeof *slot);  /* first sentence of a key, or -1 */
    int64_t *last = malloc(((size_t)N + 1) * sizeof *last); /* first occurrence: last index */
    if (!slot || !last) ELMO_FAIL(ELMO_ERR_NOMEM, "out of memory for %lld sentences", (long long)N);
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int64_t i = 0; i < N; i++) {
        const uint8_t *s = text + toff[i];
        size_t n = (size_t)(toff[i + 1] - toff[i]);
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (size_t k = 0; k < n; k++) h = (h ^ s[k]) * 1099511628211ull;
        size_t at = (size_t)h & (cap - 1);
        while (slot[at] >= 0) {
            int64_t j = slot[at];
            if ((size_t)(toff[j + 1] - toff[j]) == n && memcmp(text + toff[j], s, n) == 0) break;
            at = (at + 1) & (cap - 1);
        }
        if (slot[at] < 0) {
            slot[at] = i;
            last[i] = i;
        } else {
            last[slot[at]] = i; /* the key stays where it first came, with the last index */
            last[i] = -1;
        }
    }
    ELMO_CALL(buf_put(out, "{", 1));
    bool first = true;
    for (int64_t i = 0; i < N; i++) {
        if (last[i] < 0) continue;
        char val[40];
        int vn = snprintf(val, sizeof val, ": \"%lld\"", (long long)last[i]);
        if (!first) ELMO_CALL(buf_put(out, ", ", 2));
        first = false;
        ELMO_CALL(json_string(out, text + toff[i], (size_t)(toff[i + 1] - toff[i])));
        ELMO_CALL(buf_put(out, val, (size_t)vn));
    }
    ELMO_CALL(buf_put(out, "}", 1));
cleanup:
    free(slot);
    free(last);
    return rc;
}

/* ---- the datasets ------------------------------------------------------------------------ */

/* In a function with `int rc` and `cleanup:`: an HDF5 call that must not be negative. */
#define H5OK(expr, ...)                        \
    do {                                       \
        if ((expr) < 0) {                      \
            rc = elmo_h5_fail(__VA_ARGS__);    \
            goto cleanup;                      \
        }                                      \
    } while (0)

/* One float32 dataset of the given shape (a 0-element one is created, not written). */
static int put_dataset(hid_t file, const char *name, int nd, const hsize_t *dims,
                       const float *data, const char *out) {
    return elmo_h5_write_dataset(file, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, nd, dims, data,
                                 H5P_DEFAULT, H5P_DEFAULT, out);
}

/* A (1,) variable-length UTF-8 string dataset. */
static int put_vlen_string(hid_t file, const char *name, const char *text, const char *out) {
    int rc = 0;
    hsize_t one = 1;
    hid_t t = H5Tcopy(H5T_C_S1), space = -1, d = -1;
    H5OK(t, "%s: %s: cannot create a string type", out, name);
    H5OK(H5Tset_size(t, H5T_VARIABLE), "%s: %s: string type", out, name);
    H5OK(H5Tset_cset(t, H5T_CSET_UTF8), "%s: %s: string type", out, name);
    space = H5Screate_simple(1, &one, NULL);
    H5OK(space, "%s: %s: cannot create a dataspace", out, name);
    d = H5Dcreate2(file, name, t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5OK(d, "%s: cannot create dataset %s", out, name);
    H5OK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text), "%s: cannot write dataset %s",
         out, name);
cleanup:
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    if (t >= 0) H5Tclose(t);
    return rc;
}

/* ---- the export -------------------------------------------------------------------------- */

/* The store and everything read from it before the output is touched. */
struct source {
    const char *path;
    struct elmo_store *st;
    struct elmo_store_info info;
    bool layers;      /* the three layers stored apart, joined into (3, n, 2P) */
    bool all;         /* a (3, n, 2P) view (from `all` or the layers), else (n, 2P) */
    char dsname[64];  /* the dataset read per sentence */
    int64_t N, T, D;  /* sentences, tokens, 2P */
    int64_t *off, *toff;
    uint8_t *text;
    float *rows, *view;
    struct buf json;
};

/* Opens the store and picks the view: `all`, the three layers, else top, lstm_outputs2 or
 * average; the 3-layer view rebuilt from the layers holds the same float32 values. */
static int open_source(struct source *s) {
    int rc = 0;
    ELMO_CALL(elmo_store_open(&s->st, s->path, &s->info));
    if (!s->info.complete)
        ELMO_FAIL(ELMO_ERR_STATE,
                  "%s is incomplete (complete = 0): the job that wrote it did not finish; rerun "
                  "it to complete the store before exporting", s->path);
    unsigned outs = s->info.outputs;
    const unsigned three = ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2;
    s->layers = !(outs & ELMO_OUT_ALL) && (outs & three) == three;
    const char *src = outs & ELMO_OUT_ALL ? "all"
                      : s->layers ? "lstm_outputs2"
                      : outs & ELMO_OUT_TOP ? "top"
                      : outs & ELMO_OUT_LSTM2 ? "lstm_outputs2"
                      : outs & ELMO_OUT_AVERAGE ? "average" : NULL;
    if (!src)
        ELMO_FAIL(ELMO_ERR_FORMAT,
                  "%s has neither the three layers (word_emb, lstm_outputs1, lstm_outputs2, or "
                  "all) nor top or average; write the store with the default --outputs (or "
                  "all, top, average) to export it", s->path);
    snprintf(s->dsname, sizeof s->dsname, "embeddings/%s", src);
    int nd = 0;
    int64_t dims[3];
    ELMO_CALL(elmo_store_dims(s->st, s->dsname, &nd, dims));
    s->all = !strcmp(src, "all") || s->layers;
    s->N = s->info.n_sent, s->T = dims[0], s->D = !strcmp(src, "all") ? dims[2] : dims[1];
    if (s->layers && (int64_t)2 * s->info.P != s->D)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: word_emb is %d wide and lstm_outputs2 %lld: not the "
                  "layers of one model", s->path, s->info.P, (long long)s->D);
cleanup:
    return rc;
}

/* Reads the sentence token ranges and texts (elmo_store_open has checked every offset), sizes
 * the row buffers and builds the sentence_to_index text. */
static int read_sentences(struct source *s) {
    int rc = 0;
    int64_t N = s->N, B = s->info.sent_text_bytes;
    s->off = malloc(((size_t)N + 1) * sizeof *s->off);
    s->toff = malloc(((size_t)N + 1) * sizeof *s->toff);
    s->text = malloc((size_t)B + 1);
    if (!s->off || !s->toff || !s->text) ELMO_FAIL(ELMO_ERR_NOMEM, "%s: out of memory", s->path);
    ELMO_CALL(elmo_store_read_i64(s->st, "sentences/offset", 0, N + 1, s->off));
    ELMO_CALL(elmo_store_read_i64(s->st, "sentences/text_offset", 0, N + 1, s->toff));
    ELMO_CALL(elmo_store_read_u8(s->st, "sentences/text_blob", 0, B, s->text));
    int64_t max_n = 0;
    const int64_t *off = s->off, *toff = s->toff;
    for (int64_t i = 0; i < N; i++) {
        if (off[i] < 0 || off[i + 1] < off[i] || off[i + 1] > s->T || toff[i] < 0 ||
            toff[i + 1] < toff[i] || toff[i + 1] > B)
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s: the offsets of sentence %lld are inconsistent",
                      s->path, (long long)i);
        if (off[i + 1] - off[i] > max_n) max_n = off[i + 1] - off[i];
    }
    size_t row = (size_t)(s->all ? 3 * s->D : s->D);
    s->rows = malloc(((size_t)max_n * row + 1) * sizeof *s->rows);
    s->view = malloc(((size_t)max_n * row + 1) * sizeof *s->view);
    if (!s->rows || !s->view) ELMO_FAIL(ELMO_ERR_NOMEM, "%s: out of memory", s->path);
    ELMO_CALL(sentence_json(toff, s->text, N, &s->json));
cleanup:
    return rc;
}

/* Writes dataset "i": sentence i's rows in the chosen view. */
static int write_sentence(struct source *s, hid_t file, int64_t i, const char *partial) {
    int64_t n = s->off[i + 1] - s->off[i], row0 = s->off[i];
    size_t nn = (size_t)n, D = (size_t)s->D;
    float *rows = s->rows, *view = s->view;
    char name[32];
    snprintf(name, sizeof name, "%lld", (long long)i);
    if (s->layers) {
        /* word_emb (n, P), lstm_outputs1 and lstm_outputs2 (n, 2P) -> (3, n, 2P) */
        size_t P = D / 2;
        float *w = rows, *l1 = rows + nn * D, *l2 = rows + 2 * nn * D;
        ELMO_TRY(elmo_store_read_f32(s->st, "embeddings/word_emb", row0, n, w));
        ELMO_TRY(elmo_store_read_f32(s->st, "embeddings/lstm_outputs1", row0, n, l1));
        ELMO_TRY(elmo_store_read_f32(s->st, "embeddings/lstm_outputs2", row0, n, l2));
        for (size_t t = 0; t < nn; t++) {
            memcpy(view + t * D, w + t * P, P * sizeof *view);
            memcpy(view + t * D + P, w + t * P, P * sizeof *view);
        }
        memcpy(view + nn * D, l1, 2 * nn * D * sizeof *view);
        hsize_t shape[3] = {3, (hsize_t)n, (hsize_t)D};
        return put_dataset(file, name, 3, shape, view, partial);
    }
    ELMO_TRY(elmo_store_read_f32(s->st, s->dsname, row0, n, rows));
    if (!s->all) {
        hsize_t shape[2] = {(hsize_t)n, (hsize_t)D};
        return put_dataset(file, name, 2, shape, rows, partial);
    }
    /* (n, 3, D) in the store -> (3, n, D) */
    for (size_t t = 0; t < nn; t++)
        for (size_t l = 0; l < 3; l++)
            memcpy(view + (l * nn + t) * D, rows + (t * 3 + l) * D, D * sizeof *view);
    hsize_t shape[3] = {3, (hsize_t)n, (hsize_t)D};
    return put_dataset(file, name, 3, shape, view, partial);
}

/* Creates OUT.partial and writes every sentence, then sentence_to_index; *broken as for
 * elmo_store_export_allennlp. */
static int write_partial(struct source *s, const char *partial, bool *broken) {
    int rc = 0;
    hid_t file = H5Fcreate(partial, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    H5OK(file, "%s: cannot create the output file", partial);
    for (int64_t i = 0; i < s->N; i++) {
        int sig = elmo_stop_signal();
        if (sig)
            ELMO_FAIL(ELMO_ERR_INTERRUPTED, "interrupted by signal %d after %lld of %lld sentences",
                      sig, (long long)i, (long long)s->N);
        ELMO_CALL(write_sentence(s, file, i, partial));
    }
    ELMO_CALL(put_vlen_string(file, "sentence_to_index", s->json.p, partial));
    herr_t e = H5Fclose(file);
    file = -1;
    if (e < 0) *broken = true;
    H5OK(e, "%s: cannot finish the output file", partial);
cleanup:
    if (file >= 0 && H5Fclose(file) < 0) *broken = true;
    return rc;
}

/* Checks OUT against the store's files, takes OUT.lock and removes a partial left by an earlier
 * run (dead: the lock is ours), so that whatever is at OUT.partial from here on is this run's. */
static int prepare_output(struct elmo_out *o, const char *path, const char *out, bool *locked) {
    ELMO_TRY(elmo_out_init(o, "OUT", out));
    const char *inputs[1] = {path};
    ELMO_TRY(elmo_out_check(o, inputs, 1));
    ELMO_TRY(elmo_out_lock(o));
    *locked = true;
    if (unlink(o->partial) != 0 && errno != ENOENT)
        return elmo_error(ELMO_ERR_IO, "%s: cannot remove the partial output of an earlier run: %s",
                          o->partial, strerror(errno));
    elmo_out_claim_partial(o);
    return 0;
}

int elmo_store_export_allennlp(const char *path, const char *out, bool *broken) {
    int rc = 0;
    struct source s = {.path = path};
    struct elmo_out o;
    bool locked = false;
    memset(&o, 0, sizeof o);
    o.lock_fd = -1;
    ELMO_CALL(open_source(&s));
    ELMO_CALL(read_sentences(&s));
    ELMO_CALL(prepare_output(&o, path, out, &locked));
    ELMO_CALL(write_partial(&s, o.partial, broken));
    if (elmo_stop_signal())
        ELMO_FAIL(ELMO_ERR_INTERRUPTED, "interrupted by signal %d before the output was renamed",
                  elmo_stop_signal());
    ELMO_CALL(elmo_out_commit(&o));
cleanup:
    H5Eclear2(H5E_DEFAULT);
    if (rc < 0 && o.partial_created) {
        /* no half-written output: the partial goes, the earlier OUT (if any) stays */
        elmo_out_abandon(&o);
        char why[1024];
        snprintf(why, sizeof why, "%s", elmo_errmsg());
        struct stat sb;
        bool had = stat(out, &sb) == 0;
        if (had) rc = elmo_error(rc, "%s (%s removed; %s is unchanged)", why, o.partial, out);
        else rc = elmo_error(rc, "%s (%s removed; %s not written)", why, o.partial, out);
    }
    if (locked) elmo_out_unlock(&o);
    elmo_store_close(s.st);
    free(s.off);
    free(s.toff);
    free(s.text);
    free(s.rows);
    free(s.view);
    free(s.json.p);
    return rc;
}

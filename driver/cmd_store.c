/*
 * cmd_store.c: the commands that read a finished store: `elmo info STORE.h5` summarises it and
 * `elmo export --format allennlp STORE.h5 OUT.hdf5` converts it to the layout that
 * `allennlp elmo` writes (elmo-spec.md section 10): one float32 dataset per sentence, keyed
 * "0".."N-1", of shape (3, n, 2P) from /embeddings/all or from the three layers stored apart
 * (word_emb, lstm_outputs1, lstm_outputs2), or (n, 2P) from top or average, plus
 * "sentence_to_index", a (1,) variable-length string holding
 * json.dumps({stripped sentence text: "index", ...}).
 *
 * Both read serially.  Under mpirun, rank 0 does the work, the other ranks wait for its verdict
 * and return the same exit code.
 */
#include <errno.h>
#include <hdf5.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/commands.h"
#include "io/outfile.h"
#include "io/store.h"
#include "model/status.h"

/* Rank 0's exit code, on every rank. */
static int share_exit(int code) {
    if (elmo_size() > 1) MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return code;
}

/* Prints a failure as one line (HDF5's reasons may hold line breaks); returns the exit code. */
static int report(int rc) {
    if (rc < 0) {
        fputs("elmo: error: ", stderr);
        for (const char *m = elmo_errmsg(); *m; m++)
            if (*m != '\n' || m[1]) fputc(*m == '\n' ? ' ' : *m, stderr);
        fputc('\n', stderr);
    }
    return elmo_exit_code(rc);
}

/* ---- elmo info ---------------------------------------------------------------------------- */

static void print_shape(const char *label, struct elmo_store *st, const char *name) {
    int nd = 0;
    int64_t d[3];
    if (elmo_store_dims(st, name, &nd, d) < 0) {
        printf("  %-16s (unreadable: %s)\n", label, elmo_errmsg());
        return;
    }
    char shape[96];
    if (nd == 1) snprintf(shape, sizeof shape, "(%lld)", (long long)d[0]);
    else if (nd == 2)
        snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)d[0], (long long)d[1]);
    else
        snprintf(shape, sizeof shape, "(%lld, %lld, %lld)", (long long)d[0], (long long)d[1],
                 (long long)d[2]);
    printf("  %-16s %s\n", label, shape);
}

/* What the journal of an embed run (driver/embed.c) says about its progress. */
struct progress {
    int64_t plan;     /* shards in the plan, -1 when the journal has no plan line yet */
    int64_t done;     /* distinct shards journalled as done */
    char why[512];    /* set when the journal cannot be read or is damaged */
};

/*
 * Reads STORE.journal: the header line (`elmo-journal N`), `plan M`, and one `done ID ...` line
 * per finished shard (a shard listed twice counts once; a torn last line is ignored, as the
 * job's resume ignores it).  Returns 1 when the journal exists (p filled, p->why set if it is unreadable),
 * 0 when there is none.
 */
static int read_progress(const char *journal, struct progress *p) {
    memset(p, 0, sizeof *p);
    p->plan = -1;
    FILE *f = fopen(journal, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(p->why, sizeof p->why, "%s", strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint8_t *seen = NULL;
    int64_t lineno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] != '\n') break; /* torn last line */
        line[len - 1] = '\0';
        long long a = 0, b = 0;
        if (lineno == 1) {
            int version = 0;
            char extra;
            if (sscanf(line, "elmo-journal %d%c", &version, &extra) != 1 || version < 1) {
                snprintf(p->why, sizeof p->why, "its first line is not 'elmo-journal N'");
                break;
            }
        } else if (p->plan < 0 && sscanf(line, "plan %lld", &a) == 1) {
            if (a < 0 || a > 100000000LL) {
                snprintf(p->why, sizeof p->why, "line %lld: a plan of %lld shards",
                         (long long)lineno, a);
                break;
            }
            p->plan = a;
            seen = calloc((size_t)a + 1, 1);
            if (!seen) {
                snprintf(p->why, sizeof p->why, "out of memory for %lld shards", a);
                break;
            }
        } else if (sscanf(line, "done %lld %lld", &a, &b) >= 1) {
            if (p->plan < 0 || a < 0 || a >= p->plan) {
                snprintf(p->why, sizeof p->why, "line %lld: shard %lld is not in the plan",
                         (long long)lineno, a);
                break;
            }
            if (!seen[a]) p->done++;
            seen[a] = 1;
        }
    }
    if (!p->why[0] && ferror(f)) snprintf(p->why, sizeof p->why, "read error");
    if (!p->why[0] && lineno == 0) snprintf(p->why, sizeof p->why, "it is empty");
    free(seen);
    free(line);
    fclose(f);
    return 1;
}

/*
 * Who holds STORE.lock (outfile.h: "host pid"), as a phrase for the progress line; "" when
 * there is no lock file.  The lock itself is never taken here: a probe would make the job that
 * owns the output fail to start.
 */
static void lock_state(const char *store, char *out, size_t n) {
    char lock[ELMO_PATH_MAX + 8], holder[300] = "", host[256] = "";
    long pid = 0;
    out[0] = '\0';
    snprintf(lock, sizeof lock, "%s.lock", store);
    FILE *f = fopen(lock, "r");
    if (!f) return;
    if (!fgets(holder, sizeof holder, f)) holder[0] = '\0';
    fclose(f);
    char me[256] = "";
    if (sscanf(holder, "%255s %ld", host, &pid) != 2 || pid <= 0) {
        snprintf(out, n, " (its lock file names no host and pid)");
        return;
    }
    if (gethostname(me, sizeof me) != 0) me[0] = '\0';
    me[sizeof me - 1] = '\0';
    if (strcmp(me, host) != 0)
        snprintf(out, n, " (run by pid %ld on host %s)", pid, host);
    else if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
        snprintf(out, n, " (running: pid %ld on this host)", pid);
    else
        snprintf(out, n, " (stopped: pid %ld is gone; rerun the same job to resume)", pid);
}

/* Prints the progress of a run writing `path`; returns 1 when there is a journal. */
static int print_progress(const char *path) {
    char journal[ELMO_PATH_MAX + 16], lock[400];
    struct progress p;
    snprintf(journal, sizeof journal, "%s.journal", path);
    if (!read_progress(journal, &p)) return 0;
    lock_state(path, lock, sizeof lock);
    if (p.why[0])
        printf("run:         in progress, but its journal %s cannot be read (%s)%s\n", journal,
               p.why, lock);
    else if (p.plan < 0)
        printf("run:         in progress: planning (journal %s)%s\n", journal, lock);
    else
        printf("run:         in progress: %lld of %lld shards done (journal %s)%s\n",
               (long long)p.done, (long long)p.plan, journal, lock);
    return 1;
}

/*
 * Summarises the store at path, and the run writing it when STORE.journal exists.  Returns 0
 * when it could say something (a store, complete or not, or a run in progress), else the
 * failure; *complete is set when the store is complete and valid.
 */
static int info_run(const char *path, bool *complete) {
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    struct stat sb;
    *complete = false;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        /* no store yet: a run that writes STORE.partial and renames it at the end */
        printf("store:       %s (not written yet)\n", path);
        if (print_progress(path)) return 0;
        return elmo_error(ELMO_ERR_IO, "%s: no such store, and no run writing it (no %s.journal)",
                          path, path);
    }
    int rc = elmo_store_open(&st, path, &info);
    if (rc < 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", elmo_errmsg());
        if (print_progress(path)) printf("store:       %s (unreadable)\n", path);
        fflush(stdout);
        return elmo_error(rc, "%s", why);
    }
    const char *bar = "********************************************************************";
    if (!info.complete)
        printf("%s\n*** INCOMPLETE STORE: the job that wrote it did not finish (complete = 0).\n"
               "*** Its rows cannot be trusted; rerun the same job to resume it.\n%s\n",
               bar, bar);
    printf("store:       %s\n", path);
    printf("complete:    %s\n",
           info.complete ? "yes (complete = 1)" : "NO - INCOMPLETE (complete = 0)");
    print_progress(path);
    printf("sentences:   %lld\n", (long long)info.n_sent);
    printf("tokens:      %lld\n", (long long)info.n_tok);
    printf("precision:   %s\n", info.precision == ELMO_PREC_F16 ? "f16" : "f32");
    printf("regime:      %s\n", info.regime[0] ? info.regime : "(not recorded)");
    printf("weights:     sha256 %s\n",
           info.weights_sha256[0] ? info.weights_sha256 : "(not recorded)");
    printf("version:     elmo %s\n", info.version[0] ? info.version : "(not recorded)");
    int64_t k = 0, n = 0;
    int got_k = elmo_store_attr_int64(st, "slice_k", &k);
    int got_n = elmo_store_attr_int64(st, "slice_n", &n);
    if (got_k > 0 && got_n > 0) printf("slice:       %lld of 0..%lld\n", (long long)k,
                                       (long long)n - 1);
    else elmo_error_clear();
    printf("P:           %d\n", info.P);
    printf("outputs:%s\n", info.outputs ? "" : "     (none)");
    for (int i = 0; i < 8; i++) {
        if (!(info.outputs & (1u << i))) continue;
        char name[64];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[i].name);
        print_shape(elmo_outputs[i].name, st, name);
    }
    elmo_store_close(st);
    *complete = info.complete != 0;
    return 0;
}

int elmo_cmd_info(int argc, char **argv) {
    int code = ELMO_EXIT_OK;
    if (elmo_rank() == 0) {
        struct elmo_job flags;
        char **pos = elmo_xcalloc((size_t)argc + 2, sizeof *pos);
        int npos = 0;
        code = elmo_tool_flags(ELMO_TOOL_INFO, argc, argv, &flags, pos, &npos);
        const char *path = pos[0];
        bool check = flags.check;
        free(pos);
        if (code) {
            /* the flag error is printed */
        } else if (npos != 1) {
            elmo_command_help(elmo_command_of_kind(ELMO_TOOL_INFO), stderr);
            code = ELMO_EXIT_USAGE;
        } else {
            bool complete = false;
            int rc = info_run(path, &complete);
            code = report(rc);
            if (rc == 0 && check && !complete) {
                fflush(stdout);
                fprintf(stderr, "elmo info --check: %s is not complete\n", path);
                code = ELMO_EXIT_FAIL;
            }
        }
        fflush(stdout);
    }
    return share_exit(code);
}

/* ---- JSON as Python's json.dumps writes it by default ------------------------------------ */

struct buf {
    char *p;
    size_t n, cap;
};

static int buf_grow(struct buf *b, size_t more) {
    if (b->n + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return elmo_error(ELMO_ERR_NOMEM, "out of memory for a %zu-byte JSON text", cap);
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(struct buf *b, const char *s, size_t n) {
    ELMO_TRY(buf_grow(b, n));
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* Decodes one UTF-8 sequence at s[0..n); invalid bytes give U+FFFD and advance by one. */
static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *used) {
    uint32_t c = s[0];
    int len = c < 0x80 ? 1
              : (c & 0xe0) == 0xc0 ? 2
              : (c & 0xf0) == 0xe0 ? 3
              : (c & 0xf8) == 0xf0 ? 4 : 0;
    *used = 1;
    if (len == 1) return c;
    if (len == 0 || (size_t)len > n) return 0xfffd;
    uint32_t cp = c & (0x7fu >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0xfffd;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0xfffd;
    *used = (size_t)len;
    return cp;
}

/* Appends s as a JSON string: ensure_ascii (\uXXXX, lowercase hex, surrogate pairs), the short
 * escapes \" \\ \b \f \n \r \t, and \u00XX for the other control characters and DEL. */
static int json_string(struct buf *b, const uint8_t *s, size_t n) {
    ELMO_TRY(buf_put(b, "\"", 1));
    for (size_t i = 0; i < n;) {
        size_t used;
        uint32_t c = utf8_next(s + i, n - i, &used);
        i += used;
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

/* ---- elmo export --format allennlp ------------------------------------------------------- */

/* Records "MESSAGE: HDF5's reason" as ELMO_ERR_HDF5 and returns it. */
__attribute__((format(printf, 1, 2))) static int h5_fail(const char *fmt, ...) {
    char msg[1024], why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    elmo__h5_reason(why, sizeof why);
    return elmo_error(ELMO_ERR_HDF5, "%s: %s", msg, why);
}

/* In a function with `int rc` and `cleanup:`: an HDF5 call that must not be negative. */
#define H5OK(expr, ...)                    \
    do {                                   \
        if ((expr) < 0) {                  \
            rc = h5_fail(__VA_ARGS__);     \
            goto cleanup;                  \
        }                                  \
    } while (0)

/* Writes one float32 dataset of the given shape (a 0-element one is created, not written). */
static int put_dataset(hid_t file, const char *name, int nd, const hsize_t *dims,
                       const float *data, const char *out) {
    int rc = 0;
    hid_t space = H5Screate_simple(nd, dims, NULL), d = -1;
    H5OK(space, "%s: dataset %s: cannot create a dataspace", out, name);
    d = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5OK(d, "%s: cannot create dataset %s", out, name);
    hsize_t count = 1;
    for (int i = 0; i < nd; i++) count *= dims[i];
    if (count > 0)
        H5OK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
             "%s: cannot write dataset %s", out, name);
cleanup:
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    return rc;
}

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

/*
 * Export follows the output discipline of io/outfile.h: the store is opened and validated and
 * everything is read that can be read before OUT is touched; OUT must be a regular file (or not
 * exist) and none of the store's files; the run holds OUT.lock, writes OUT.partial and renames
 * it over OUT only once it is whole, so an earlier OUT survives every failure and every signal.
 *
 * *broken is set when HDF5 failed to close OUT.partial (a full disk, a file size limit): HDF5
 * 1.10 then keeps a half-freed file that its shutdown closes again and crashes on, so the caller
 * must end the process without that shutdown once the partial is removed and the error printed.
 */
static int export_allennlp(const char *path, const char *out, bool *broken) {
    int rc = 0;
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    struct elmo_out o;
    int64_t *off = NULL, *toff = NULL;
    uint8_t *text = NULL;
    float *rows = NULL, *view = NULL;
    struct buf json = {0};
    hid_t file = -1;
    bool locked = false;
    memset(&o, 0, sizeof o);
    o.lock_fd = -1;
    ELMO_CALL(elmo_store_open(&st, path, &info));
    if (!info.complete)
        ELMO_FAIL(ELMO_ERR_STATE,
                  "%s is incomplete (complete = 0): the job that wrote it did not finish; rerun "
                  "it to complete the store before exporting", path);
    /* The 3-layer view comes from `all`, or is rebuilt from the three layers stored apart
     * (the same float32 values, so the export is the same); else one (n, 2P) view. */
    const unsigned three = ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM1 | ELMO_OUT_LSTM2;
    bool layers = !(info.outputs & ELMO_OUT_ALL) && (info.outputs & three) == three;
    const char *src = info.outputs & ELMO_OUT_ALL ? "all"
                      : layers ? "lstm_outputs2"
                      : info.outputs & ELMO_OUT_TOP ? "top"
                      : info.outputs & ELMO_OUT_LSTM2 ? "lstm_outputs2"
                      : info.outputs & ELMO_OUT_AVERAGE ? "average" : NULL;
    if (!src)
        ELMO_FAIL(ELMO_ERR_FORMAT,
                  "%s has neither the three layers (word_emb, lstm_outputs1, lstm_outputs2, or "
                  "all) nor top or average; write the store with the default --outputs (or "
                  "all, top, average) to export it", path);
    char dsname[64];
    snprintf(dsname, sizeof dsname, "embeddings/%s", src);
    int nd = 0;
    int64_t dims[3];
    ELMO_CALL(elmo_store_dims(st, dsname, &nd, dims));
    bool all = !strcmp(src, "all") || layers;
    int64_t N = info.n_sent, T = dims[0], D = !strcmp(src, "all") ? dims[2] : dims[1]; /* 2P */
    if (layers && (int64_t)2 * info.P != D)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: word_emb is %d wide and lstm_outputs2 %lld: not the "
                  "layers of one model", path, info.P, (long long)D);

    /* sentence token ranges and texts (elmo_store_open has checked every offset) */
    int64_t B = info.sent_text_bytes;
    off = malloc(((size_t)N + 1) * sizeof *off);
    toff = malloc(((size_t)N + 1) * sizeof *toff);
    text = malloc((size_t)B + 1);
    if (!off || !toff || !text) ELMO_FAIL(ELMO_ERR_NOMEM, "%s: out of memory", path);
    ELMO_CALL(elmo_store_read_i64(st, "sentences/offset", 0, N + 1, off));
    ELMO_CALL(elmo_store_read_i64(st, "sentences/text_offset", 0, N + 1, toff));
    ELMO_CALL(elmo_store_read_u8(st, "sentences/text_blob", 0, B, text));
    int64_t max_n = 0;
    for (int64_t i = 0; i < N; i++) {
        if (off[i] < 0 || off[i + 1] < off[i] || off[i + 1] > T || toff[i] < 0 ||
            toff[i + 1] < toff[i] || toff[i + 1] > B)
            ELMO_FAIL(ELMO_ERR_FORMAT, "%s: the offsets of sentence %lld are inconsistent", path,
                      (long long)i);
        if (off[i + 1] - off[i] > max_n) max_n = off[i + 1] - off[i];
    }
    size_t row = (size_t)(all ? 3 * D : D);
    rows = malloc(((size_t)max_n * row + 1) * sizeof *rows);
    view = malloc(((size_t)max_n * row + 1) * sizeof *view);
    if (!rows || !view) ELMO_FAIL(ELMO_ERR_NOMEM, "%s: out of memory", path);
    ELMO_CALL(sentence_json(toff, text, N, &json));

    /* the output: checked against the store's files, locked, written aside */
    ELMO_CALL(elmo_out_init(&o, "OUT", out));
    const char *inputs[1] = {path};
    ELMO_CALL(elmo_out_check(&o, inputs, 1));
    ELMO_CALL(elmo_out_lock(&o));
    locked = true;
    /* A partial left by an earlier run is dead (we hold the lock): start from nothing, so that
     * from here on whatever is at OUT.partial is this run's. */
    if (unlink(o.partial) != 0 && errno != ENOENT)
        ELMO_FAIL(ELMO_ERR_IO, "%s: cannot remove the partial output of an earlier run: %s",
                  o.partial, strerror(errno));
    elmo_out_claim_partial(&o);
    file = H5Fcreate(o.partial, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    H5OK(file, "%s: cannot create the output file", o.partial);
    for (int64_t i = 0; i < N; i++) {
        int sig = elmo_stop_signal();
        if (sig)
            ELMO_FAIL(ELMO_ERR_INTERRUPTED, "interrupted by signal %d after %lld of %lld sentences",
                      sig, (long long)i, (long long)N);
        int64_t n = off[i + 1] - off[i];
        char name[32];
        snprintf(name, sizeof name, "%lld", (long long)i);
        if (layers) {
            /* word_emb (n, P), lstm_outputs1 and lstm_outputs2 (n, 2P) -> (3, n, 2P) */
            size_t P = (size_t)D / 2, nn = (size_t)n;
            float *w = rows, *l1 = rows + nn * (size_t)D, *l2 = rows + 2 * nn * (size_t)D;
            ELMO_CALL(elmo_store_read_f32(st, "embeddings/word_emb", off[i], n, w));
            ELMO_CALL(elmo_store_read_f32(st, "embeddings/lstm_outputs1", off[i], n, l1));
            ELMO_CALL(elmo_store_read_f32(st, "embeddings/lstm_outputs2", off[i], n, l2));
            for (size_t t = 0; t < nn; t++) {
                memcpy(view + t * (size_t)D, w + t * P, P * sizeof *view);
                memcpy(view + t * (size_t)D + P, w + t * P, P * sizeof *view);
            }
            memcpy(view + nn * (size_t)D, l1, 2 * nn * (size_t)D * sizeof *view);
            hsize_t shape[3] = {3, (hsize_t)n, (hsize_t)D};
            ELMO_CALL(put_dataset(file, name, 3, shape, view, o.partial));
            continue;
        }
        ELMO_CALL(elmo_store_read_f32(st, dsname, off[i], n, rows));
        if (all) {
            /* (n, 3, D) in the store -> (3, n, D) */
            for (int64_t t = 0; t < n; t++)
                for (int l = 0; l < 3; l++)
                    memcpy(view + ((size_t)l * (size_t)n + (size_t)t) * (size_t)D,
                           rows + ((size_t)t * 3 + (size_t)l) * (size_t)D,
                           (size_t)D * sizeof *view);
            hsize_t shape[3] = {3, (hsize_t)n, (hsize_t)D};
            ELMO_CALL(put_dataset(file, name, 3, shape, view, o.partial));
        } else {
            hsize_t shape[2] = {(hsize_t)n, (hsize_t)D};
            ELMO_CALL(put_dataset(file, name, 2, shape, rows, o.partial));
        }
    }
    ELMO_CALL(put_vlen_string(file, "sentence_to_index", json.p, o.partial));
    herr_t e = H5Fclose(file);
    file = -1;
    if (e < 0) *broken = true;
    H5OK(e, "%s: cannot finish the output file", o.partial);
    if (elmo_stop_signal())
        ELMO_FAIL(ELMO_ERR_INTERRUPTED, "interrupted by signal %d before the output was renamed",
                  elmo_stop_signal());
    ELMO_CALL(elmo_out_commit(&o));
cleanup:
    if (file >= 0 && H5Fclose(file) < 0) *broken = true;
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
    elmo_store_close(st);
    free(off);
    free(toff);
    free(text);
    free(rows);
    free(view);
    free(json.p);
    return rc;
}

int elmo_cmd_export(int argc, char **argv) {
    int code = ELMO_EXIT_OK;
    if (elmo_rank() == 0) {
        struct elmo_job flags; /* --format: allennlp, the only one, checked by the key table */
        char **pos = elmo_xcalloc((size_t)argc + 2, sizeof *pos);
        int npos = 0;
        code = elmo_tool_flags(ELMO_TOOL_EXPORT, argc, argv, &flags, pos, &npos);
        const char *in = pos[0], *out = pos[1];
        free(pos);
        if (code) {
            /* the flag error is printed */
        } else if (npos != 2) {
            elmo_command_help(elmo_command_of_kind(ELMO_TOOL_EXPORT), stderr);
            code = ELMO_EXIT_USAGE;
        } else {
            bool broken = false;
            code = report(export_allennlp(in, out, &broken));
            if (broken) {
                /* the output is removed and the error printed: stop here (see export_allennlp) */
                fflush(stdout);
                fflush(stderr);
                MPI_Abort(MPI_COMM_WORLD, code);
            }
        }
        fflush(stdout);
    }
    return share_exit(code);
}

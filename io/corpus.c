/*
 * corpus.c: the corpus readers (text, conll, jsonl; plain, gzip or stdin) and the splitter
 * that cuts a plain file into byte ranges on record boundaries.
 *
 * A reader is a buffered byte source (a file descriptor for plain files, the strict reader of
 * io/gz.h for gzip files and for stdin and pipes, where plain data passes through unchanged), a
 * line assembler on top of it, and one record parser per format.  Lines have no length limit:
 * every buffer grows geometrically and is reused across records, so reading allocates nothing
 * per token and, once the buffers have grown, nothing per record (jsonl excepted: jansson
 * builds each object).
 *
 * Line conventions, for all formats: a line ends at '\n'; one '\r' before it (or at the end of
 * the file) is dropped; a UTF-8 byte order mark at offset 0 is skipped; the last line needs no
 * '\n'.  Offsets are byte offsets in the (uncompressed) stream, lines are 1-based.
 *
 * Record starts, which are the only places elmo_corpus_split() cuts and the positions a ranged
 * reader compares with `end`:
 *   text, jsonl  every line start;
 *   conll        a token line (neither blank nor "-DOCSTART-...") at the start of the file or
 *                after a blank or -DOCSTART- line.
 */
#include "io/corpus.h"
#include "io/gz.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/utf8.h"
#include "model/grow.h"
#include "model/status.h"

#define INPUT_BUFFER (256 * 1024)  /* bytes read from the file at a time */

struct elmo_corpus {
    char *path;                  /* as given, for messages ("-" is shown as "<stdin>") */
    enum elmo_input_format format;
    char *text_field;            /* jsonl: owned copy ("text" by default) */
    char *tokens_field;          /* jsonl: owned copy, NULL = unused */
    char *id_field;              /* jsonl: owned copy, NULL = no id */
    int n_files;                 /* > 1: ids "K:L" for records without one */
    int64_t *file_first_line;    /* (n_files) owned copy */

    int fd;                      /* plain regular file, or -1 */
    struct elmo_gz *gz;          /* gzip file, stdin or pipe, or NULL */
    unsigned char *in;           /* input buffer (INPUT_BUFFER bytes) */
    size_t in_pos, in_len;       /* unread bytes are in[in_pos .. in_len) */
    int64_t pos;                 /* stream offset of in[in_pos] */
    int64_t end;                 /* end of the range, -1 = end of the stream */
    int64_t line_no;             /* number of the next line to be read */
    bool eof;                    /* the source is exhausted */
    bool done;                   /* the range is exhausted */
    int failed;                  /* sticky I/O error status, or 0 */

    char *line;                  /* the current line, NUL-terminated, without "\r\n" */
    size_t line_len, line_cap;
    int64_t line_off;            /* its stream offset */
    int64_t line_num;            /* its 1-based number */

    char *text;                  /* the record's text */
    size_t text_cap;
    char *work;                  /* token bytes, each NUL-terminated */
    size_t work_len, work_cap;
    char **tok;                  /* token pointers into work */
    size_t tok_cap;
    char *id;                    /* the record's id */
    size_t id_cap;
    int64_t index;               /* records returned so far */
};

/* ============================== Buffers ============================== */

/* Grows *buf to hold at least need bytes (see model/grow.h); a failure names the line. */
static int grow(struct elmo_corpus *c, char **buf, size_t *cap, size_t need) {
    int rc = elmo_grow((void **)buf, cap, need, 1);
    if (rc < 0) return elmo_error_prefix(rc, "%s:%" PRId64 ": ", c->path, c->line_num);
    return 0;
}

static int grow_tok(struct elmo_corpus *c, size_t need) {
    int rc = elmo_grow((void **)&c->tok, &c->tok_cap, need, sizeof *c->tok);
    if (rc < 0) return elmo_error_prefix(rc, "%s:%" PRId64 ": ", c->path, c->line_num);
    return 0;
}

static int set_id(struct elmo_corpus *c, const char *s, size_t len) {
    ELMO_TRY(grow(c, &c->id, &c->id_cap, len + 1));
    memcpy(c->id, s, len);
    c->id[len] = '\0';
    return 0;
}

static void set_reason(struct elmo_record *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_reason(struct elmo_record *rec, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rec->reason, sizeof rec->reason, fmt, ap);
    va_end(ap);
    rec->reject = 1;
}

/* ============================== Byte source and lines ============================== */

static const char *shown_path(const char *path) {
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

/* Refills the input buffer; at the end of the source sets c->eof. */
static int fill(struct elmo_corpus *c) {
    c->in_pos = c->in_len = 0;
    if (c->gz) {
        ssize_t n = elmo_gz_read(c->gz, c->in, INPUT_BUFFER);
        if (n < 0)
            return c->failed = elmo_error_prefix((int)n, "%s:%" PRId64 ": read error: ",
                                                 shown_path(c->path), c->line_no);
        if (n == 0) c->eof = true;
        c->in_len = (size_t)n;
        return 0;
    }
    for (;;) {
        ssize_t n = read(c->fd, c->in, INPUT_BUFFER);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return c->failed = elmo_error(ELMO_ERR_IO, "%s:%" PRId64 ": read error: %s",
                                          c->path, c->line_no, strerror(errno));
        if (n == 0) c->eof = true;
        c->in_len = (size_t)n;
        return 0;
    }
}

/*
 * Reads the next line into c->line (see the conventions at the top).  Returns 1, 0 at the end
 * of the stream, or a negative status.
 */
static int read_line(struct elmo_corpus *c) {
    bool any = false, newline = false;
    c->line_len = 0;
    c->line_off = c->pos;
    while (!newline) {
        if (c->in_pos == c->in_len) {
            if (c->eof) break;
            ELMO_TRY(fill(c));
            continue;
        }
        const unsigned char *s = c->in + c->in_pos;
        size_t avail = c->in_len - c->in_pos;
        const unsigned char *nl = memchr(s, '\n', avail);
        size_t take = nl ? (size_t)(nl - s) + 1 : avail;
        size_t keep = nl ? take - 1 : take;
        any = true;
        newline = nl != NULL;
        ELMO_TRY(grow(c, &c->line, &c->line_cap, c->line_len + keep + 1));
        memcpy(c->line + c->line_len, s, keep);
        c->line_len += keep;
        c->in_pos += take;
        c->pos += (int64_t)take;
    }
    if (!any) return 0;
    c->line_num = c->line_no++;
    if (c->line_len > 0 && c->line[c->line_len - 1] == '\r') c->line_len--;
    if (c->line_off == 0 && c->line_len >= 3 && memcmp(c->line, "\xef\xbb\xbf", 3) == 0) {
        memmove(c->line, c->line + 3, c->line_len - 3);
        c->line_len -= 3;
    }
    c->line[c->line_len] = '\0';
    return 1;
}

/* ============================== Open and close ============================== */

static char *dup_field(const char *s, const char *fallback) {
    if (!s || !*s) s = fallback;
    return s ? elmo_xstrdup(s) : NULL;
}

/* Checks the arguments of elmo_corpus_open; *format gets the input format (detected from the
 * file for auto, except on stdin where the first bytes decide later). */
static int check_open_args(const char *path, const struct elmo_corpus_opts *opts, int64_t begin,
                           int64_t end, int64_t first_line, enum elmo_input_format *format) {
    ELMO_CHECK(path && *path, ELMO_ERR_ARG, "corpus: no input path given");
    ELMO_CHECK(begin >= 0 && (end < 0 || end >= begin), ELMO_ERR_ARG,
               "%s: invalid byte range [%" PRId64 ", %" PRId64 ")", path, begin, end);
    ELMO_CHECK(first_line >= 1, ELMO_ERR_ARG, "%s: invalid first line %" PRId64, path,
               first_line);
    *format = opts ? opts->format : ELMO_INPUT_TEXT;
    ELMO_CHECK(*format == ELMO_INPUT_TEXT || *format == ELMO_INPUT_CONLL ||
                   *format == ELMO_INPUT_JSONL || *format == ELMO_INPUT_AUTO,
               ELMO_ERR_ARG, "%s: unknown input format %d", path, (int)*format);
    if (*format == ELMO_INPUT_AUTO && strcmp(path, "-") != 0)
        ELMO_TRY(elmo_input_detect_format(path, format));
    return 0;
}

/* A reader with its fields and buffers set up, not yet attached to any input. */
static struct elmo_corpus *corpus_new(const char *path, const struct elmo_corpus_opts *opts,
                                      enum elmo_input_format format, int64_t begin, int64_t end,
                                      int64_t first_line) {
    struct elmo_corpus *c = elmo_xcalloc(1, sizeof *c);
    c->path = elmo_xstrdup(path);
    c->format = format;
    c->fd = -1;
    c->end = end < 0 ? -1 : end;
    c->pos = begin;
    c->line_no = first_line;
    c->line_num = first_line;
    if (opts && opts->n_files > 1 && opts->file_first_line) {
        c->n_files = opts->n_files;
        c->file_first_line = elmo_xmalloc(sizeof(int64_t) * (size_t)opts->n_files);
        memcpy(c->file_first_line, opts->file_first_line, sizeof(int64_t) * (size_t)opts->n_files);
    }
    if (format == ELMO_INPUT_JSONL || format == ELMO_INPUT_AUTO) {
        c->text_field = dup_field(opts->text_field, "text");
        c->tokens_field = dup_field(opts->tokens_field, NULL);
        c->id_field = opts->id_field ? dup_field(opts->id_field, NULL) : elmo_xstrdup("id");
    }
    c->in = elmo_xmalloc(INPUT_BUFFER);
    return c;
}

/* Opens path ("-": a copy of stdin) into *fd; *stream says it must be read as a stream
 * (stdin, anything but a regular file, or compressed data) rather than by byte offsets. */
static int open_input(const char *path, int *fd, bool *stream) {
    *stream = true;
    if (strcmp(path, "-") == 0) {
        *fd = dup(STDIN_FILENO);
        if (*fd < 0) return elmo_error(ELMO_ERR_IO, "<stdin>: %s", strerror(errno));
        return 0;
    }
    *fd = open(path, O_RDONLY);
    if (*fd < 0) return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0) {
        int e = errno;
        close(*fd);
        return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(*fd);
        return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(EISDIR));
    }
    if (S_ISREG(st.st_mode)) {
        unsigned char magic[4];
        ssize_t n = pread(*fd, magic, 4, 0);
        *stream = n > 0 && elmo_gz_magic_codec(magic, (size_t)n) != NULL;
    }
    return 0;
}

/* Reads fd as a whole stream through the gzip reader (which owns fd from then on). */
static int attach_stream(struct elmo_corpus *c, int fd, const char *path, int64_t begin,
                         int64_t end) {
    if (begin != 0 || end >= 0) {
        close(fd);
        return elmo_error(ELMO_ERR_ARG,
                          "%s: a compressed or streamed input cannot be read in byte ranges",
                          shown_path(path));
    }
    c->gz = elmo_gz_fdopen(fd, shown_path(path));
    if (!c->gz) return ELMO_ERR_IO; /* elmo_gz_fdopen named the file and closed fd */
    if (c->format == ELMO_INPUT_AUTO) {
        /* stdin: the first bytes decide (they stay in the reader's look-ahead) */
        const char *head;
        size_t n;
        ELMO_TRY(elmo_gz_peek(c->gz, &head, &n));
        c->format = elmo_input_format_of_bytes(head, n);
    }
    return 0;
}

/* Reads fd (a regular file) directly from byte begin. */
static int attach_file(struct elmo_corpus *c, int fd, const char *path, int64_t begin) {
    c->fd = fd;
    if (begin > 0 && lseek(fd, (off_t)begin, SEEK_SET) < 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot seek to byte %" PRId64 ": %s", path, begin,
                          strerror(errno));
    return 0;
}

int elmo_corpus_open(struct elmo_corpus **out, const char *path,
                     const struct elmo_corpus_opts *opts, int64_t begin, int64_t end,
                     int64_t first_line) {
    *out = NULL;
    enum elmo_input_format format;
    ELMO_TRY(check_open_args(path, opts, begin, end, first_line, &format));
    int rc = 0;
    struct elmo_corpus *c = corpus_new(path, opts, format, begin, end, first_line);
    ELMO_CALL(grow(c, &c->id, &c->id_cap, 64));
    ELMO_CALL(grow_tok(c, 64));
    c->id[0] = '\0';
    bool stream;
    int fd;
    ELMO_CALL(open_input(path, &fd, &stream));
    if (stream) ELMO_CALL(attach_stream(c, fd, path, begin, end));
    else ELMO_CALL(attach_file(c, fd, path, begin));
    *out = c;
    return 0;

cleanup:
    elmo_corpus_close(c);
    return rc;
}

void elmo_corpus_close(struct elmo_corpus *c) {
    if (!c) return;
    elmo_gz_close(c->gz);
    if (c->fd >= 0) close(c->fd);
    free(c->path);
    free(c->text_field);
    free(c->tokens_field);
    free(c->id_field);
    free(c->file_first_line);
    free(c->in);
    free(c->line);
    free(c->text);
    free(c->work);
    free(c->tok);
    free(c->id);
    free(c);
}

bool elmo_corpus_is_stream(const char *path) {
    if (!path || strcmp(path, "-") == 0) return true;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return false;
    struct stat st;
    bool stream = false;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
        if (!S_ISREG(st.st_mode)) stream = true;
        else {
            unsigned char magic[4];
            ssize_t n = pread(fd, magic, 4, 0);
            stream = n > 0 && elmo_gz_magic_codec(magic, (size_t)n) != NULL;
        }
    }
    close(fd);
    return stream;
}

/* ============================== Records ============================== */

/* True when s[0..len) holds only whitespace. */
static bool is_blank(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    while (p < e) {
        size_t w = elmo__ws_len(p, e);
        if (!w) return false;
        p += w;
    }
    return true;
}

static bool is_docstart(const char *s, size_t len) {
    return len >= 10 && memcmp(s, "-DOCSTART-", 10) == 0;
}

/* A conll line that separates sentences (blank, or a document marker). */
static bool is_conll_break(const char *s, size_t len) {
    return is_blank(s, len) || is_docstart(s, len);
}

/*
 * Checks the current line for NUL bytes and invalid UTF-8; on a problem marks rec rejected
 * (keeping the first reason) and returns false.  Bytes are counted from 1; the reason names
 * "the line" for the record's first line and "line N" for a later one (conll).
 */
static bool check_line(struct elmo_corpus *c, struct elmo_record *rec) {
    const char *nul = memchr(c->line, '\0', c->line_len);
    size_t bad = nul ? (size_t)(nul - c->line) : elmo__utf8_check(c->line, c->line_len);
    if (bad == c->line_len) return true;
    if (rec->reject) return false;
    char which[48] = "the line";
    if (c->line_num != rec->line) snprintf(which, sizeof which, "line %" PRId64, c->line_num);
    set_reason(rec, "%s at byte %zu of %s", nul ? "NUL byte" : "invalid UTF-8", bad + 1, which);
    return false;
}

/*
 * Sets rec's text to s[0..len) stripped and its tokens to s split on whitespace: s is copied
 * into c->text (the text) and c->work (split in place).
 */
static int set_text_tokens(struct elmo_corpus *c, struct elmo_record *rec, const char *s,
                           size_t len) {
    ELMO_TRY(grow(c, &c->text, &c->text_cap, len + 1));
    ELMO_TRY(grow(c, &c->work, &c->work_cap, len + 1));
    memcpy(c->text, s, len);
    memcpy(c->work, s, len);
    c->text[len] = c->work[len] = '\0';
    unsigned char *p = (unsigned char *)c->work, *e = p + len;
    size_t n = 0, first = 0, last = 0;
    while (p < e) {
        size_t w = elmo__ws_len(p, e);
        if (w) {
            p += w;
            continue;
        }
        if (n == c->tok_cap) ELMO_TRY(grow_tok(c, n + 1));
        c->tok[n] = (char *)p;
        if (n == 0) first = (size_t)(p - (unsigned char *)c->work);
        n++;
        while (p < e && !(w = elmo__ws_len(p, e))) p++;
        last = (size_t)(p - (unsigned char *)c->work);
        *p = '\0';  /* the first byte of the whitespace, or the terminator */
        p += w;
    }
    if (n > INT_MAX) {
        set_reason(rec, "more than %d tokens", INT_MAX);
        n = 0;
    }
    c->text[last] = '\0';
    rec->text = c->text + first;
    rec->tok = c->tok;
    rec->n_tok = (int)n;
    return 0;
}

/* Appends one token to c->work (NUL-terminated); tok pointers are set by finish_tokens(). */
static int push_token(struct elmo_corpus *c, const char *s, size_t len) {
    ELMO_TRY(grow(c, &c->work, &c->work_cap, c->work_len + len + 1));
    memcpy(c->work + c->work_len, s, len);
    c->work_len += len;
    c->work[c->work_len++] = '\0';
    return 0;
}

/* Points rec->tok at the n tokens in c->work and builds the text (tokens joined by spaces). */
static int finish_tokens(struct elmo_corpus *c, struct elmo_record *rec, size_t n) {
    ELMO_TRY(grow_tok(c, n));
    ELMO_TRY(grow(c, &c->text, &c->text_cap, c->work_len + 1));
    char *p = c->work;
    for (size_t i = 0; i < n; i++) {
        c->tok[i] = p;
        p += strlen(p) + 1;
    }
    memcpy(c->text, c->work, c->work_len);
    for (size_t i = 0; i + 1 < c->work_len; i++)
        if (c->text[i] == '\0') c->text[i] = ' ';
    c->text[c->work_len ? c->work_len - 1 : 0] = '\0';
    rec->text = c->text;
    rec->tok = c->tok;
    if (n > INT_MAX) {
        set_reason(rec, "more than %d tokens", INT_MAX);
        n = 0;
    }
    rec->n_tok = (int)n;
    return 0;
}

/* For a rejected record: the raw line (possibly invalid UTF-8, cut at a NUL) as its text. */
static void raw_text(struct elmo_corpus *c, struct elmo_record *rec) {
    rec->text = c->line;
    rec->n_tok = 0;
}

static int next_text(struct elmo_corpus *c, struct elmo_record *rec) {
    if (!check_line(c, rec)) {
        raw_text(c, rec);
        return 0;
    }
    return set_text_tokens(c, rec, c->line, c->line_len);
}

/* Looks up a field, by its full name or else as a dotted path ("user.screen_name"). */
static json_t *get_field(json_t *obj, const char *name) {
    json_t *v = json_object_get(obj, name);
    if (v || !strchr(name, '.')) return v;
    const char *p = name;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(obj)) return NULL;
        obj = json_object_getn(obj, p, n);
        if (!obj || !dot) return obj;
        p = dot + 1;
    }
}

static int next_jsonl(struct elmo_corpus *c, struct elmo_record *rec) {
    int rc = 0;
    json_t *root = NULL;
    raw_text(c, rec);
    if (!check_line(c, rec)) return 0;
    if (is_blank(c->line, c->line_len)) {
        set_reason(rec, "empty line (no JSON object)");
        return 0;
    }
    json_error_t err;
    root = json_loadb(c->line, c->line_len, JSON_DECODE_ANY, &err);
    if (!root) {
        set_reason(rec, "invalid JSON: %s at column %d", err.text, err.column);
        return 0;
    }
    if (!json_is_object(root)) {
        set_reason(rec, "not a JSON object");
        goto cleanup;
    }

    json_t *id = c->id_field ? get_field(root, c->id_field) : NULL;
    if (id && json_is_string(id)) {
        ELMO_CALL(set_id(c, json_string_value(id), json_string_length(id)));
    } else if (id && json_is_integer(id)) {
        char num[32];
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        ELMO_CALL(set_id(c, num, (size_t)n));
    } else if (id && !json_is_null(id)) {
        set_reason(rec, "field \"%s\" is not a string or an integer", c->id_field);
        goto cleanup;
    }

    if (c->tokens_field) {
        json_t *arr = get_field(root, c->tokens_field);
        if (!arr) {
            set_reason(rec, "missing field \"%s\"", c->tokens_field);
            goto cleanup;
        }
        if (!json_is_array(arr)) {
            set_reason(rec, "field \"%s\" is not an array", c->tokens_field);
            goto cleanup;
        }
        size_t n = json_array_size(arr);
        for (size_t i = 0; i < n; i++) {
            if (!json_is_string(json_array_get(arr, i))) {
                set_reason(rec, "field \"%s\": element %zu is not a string", c->tokens_field,
                           i);
                goto cleanup;
            }
        }
        c->work_len = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *s = json_array_get(arr, i);
            ELMO_CALL(push_token(c, json_string_value(s), json_string_length(s)));
        }
        ELMO_CALL(finish_tokens(c, rec, n));
    } else {
        json_t *txt = get_field(root, c->text_field);
        if (!txt) {
            set_reason(rec, "missing field \"%s\"", c->text_field);
            goto cleanup;
        }
        if (!json_is_string(txt)) {
            set_reason(rec, "field \"%s\" is not a string", c->text_field);
            goto cleanup;
        }
        ELMO_CALL(set_text_tokens(c, rec, json_string_value(txt), json_string_length(txt)));
    }

cleanup:
    json_decref(root);
    if (rec->reject) {
        raw_text(c, rec);
        c->id[0] = '\0';
    }
    return rc;
}

/*
 * conll: the current line is the sentence's first token line.  Reads through the sentence's
 * end (a blank line, a -DOCSTART- line, or the end of the stream), which it consumes.
 */
static int next_conll(struct elmo_corpus *c, struct elmo_record *rec) {
    size_t n = 0;
    c->work_len = 0;
    for (;;) {
        check_line(c, rec);
        const unsigned char *p = (const unsigned char *)c->line, *e = p + c->line_len;
        size_t w;
        while (p < e && (w = elmo__ws_len(p, e)) != 0) p += w;
        const unsigned char *q = p;
        while (q < e && !elmo__ws_len(q, e)) q++;
        ELMO_TRY(push_token(c, (const char *)p, (size_t)(q - p)));
        n++;
        int rc = read_line(c);
        if (rc < 0) return rc;
        if (rc == 0 || is_conll_break(c->line, c->line_len)) break;
    }
    ELMO_TRY(finish_tokens(c, rec, n));
    if (rec->reject) rec->n_tok = 0;
    return 0;
}

int elmo_corpus_next(struct elmo_corpus *c, struct elmo_record *rec) {
    if (c->failed) return c->failed;
    if (c->done) return 0;
    int rc;
    if (c->format == ELMO_INPUT_CONLL) {
        /* Skip separators up to the next sentence start. */
        for (;;) {
            rc = read_line(c);
            if (rc <= 0) break;
            if (!is_conll_break(c->line, c->line_len)) break;
        }
        if (rc == 1 && c->end >= 0 && c->line_off >= c->end) rc = 0;
    } else {
        rc = (c->end >= 0 && c->pos >= c->end) ? 0 : read_line(c);
    }
    if (rc <= 0) {
        if (rc == 0) c->done = true;
        return rc;
    }

    rec->index = c->index++;
    rec->line = c->line_num;
    rec->offset = c->line_off;
    rec->reject = 0;
    rec->reason[0] = '\0';
    rec->n_tok = 0;
    rec->tok = c->tok;
    c->id[0] = '\0';
    rec->id = c->id;
    switch (c->format) {
    case ELMO_INPUT_TEXT: rc = next_text(c, rec); break;
    case ELMO_INPUT_CONLL: rc = next_conll(c, rec); break;
    case ELMO_INPUT_JSONL: rc = next_jsonl(c, rec); break;
    case ELMO_INPUT_AUTO: rc = elmo_error(ELMO_ERR_STATE, "%s: format not detected", c->path);
    }
    if (rc == 0 && !rec->reject && !c->id[0] && c->n_files > 1) {
        int k;
        int64_t local;
        char num[48];
        elmo_inputs_locate(c->file_first_line, c->n_files, rec->line, &k, &local);
        int n = snprintf(num, sizeof num, "%d:%" PRId64, k + 1, local);
        rc = set_id(c, num, (size_t)n);
        rec->id = c->id;
    }
    if (rc < 0) return c->failed = rc;
    return 1;
}

/* ============================== Splitting ============================== */

/* The k-th of n cut targets in a file of size bytes, without overflow. */
static int64_t cut_target(int64_t size, int k, int n) {
    return (size / n) * k + (size % n) * k / n;
}

int elmo_corpus_split(const char *path, const struct elmo_corpus_opts *opts, int n_pieces,
                      int64_t *bounds, int64_t *lines) {
    ELMO_CHECK(n_pieces >= 1, ELMO_ERR_ARG, "%s: cannot split into %d pieces", path, n_pieces);
    ELMO_CHECK(path && !elmo_corpus_is_stream(path), ELMO_ERR_ARG,
               "%s: a compressed or streamed input cannot be split in byte ranges",
               path ? shown_path(path) : "(null)");
    struct elmo_corpus_opts text_opts = {.format = ELMO_INPUT_TEXT};
    if (opts) text_opts.format = opts->format;
    struct elmo_corpus *c;
    ELMO_TRY(elmo_corpus_open(&c, path, &text_opts, 0, -1, 1));

    int64_t size = lseek(c->fd, 0, SEEK_END);
    if (size < 0 || lseek(c->fd, 0, SEEK_SET) < 0) {
        int rc = elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
        elmo_corpus_close(c);
        return rc;
    }
    bool conll = c->format == ELMO_INPUT_CONLL;
    bounds[0] = 0;
    lines[0] = 1;
    int nb = 1, k = 1, rc = 0;
    bool prev_break = true;
    while (k < n_pieces && (rc = read_line(c)) > 0) {
        if (conll) {
            bool brk = is_conll_break(c->line, c->line_len);
            bool start = !brk && prev_break;
            prev_break = brk;
            if (!start) continue;
        }
        bool hit = false;
        while (k < n_pieces && c->line_off >= cut_target(size, k, n_pieces)) {
            k++;
            hit = true;
        }
        if (hit && c->line_off > bounds[nb - 1]) {
            bounds[nb] = c->line_off;
            lines[nb] = c->line_num;
            nb++;
        }
    }
    if (rc < 0) {
        elmo_corpus_close(c);
        return rc;
    }
    /* The last bound is the end of the file; its line number needs the remaining lines. */
    while ((rc = read_line(c)) > 0) {
    }
    if (rc < 0) {
        elmo_corpus_close(c);
        return rc;
    }
    if (nb > 1 && bounds[nb - 1] >= c->pos) nb--;
    bounds[nb] = c->pos;
    lines[nb] = c->line_no;
    elmo_corpus_close(c);
    return nb;
}

/* ============================== Inputs ============================== */

static bool has_glob_char(const char *s) { return strpbrk(s, "*?[") != NULL; }

static void inputs_push(struct elmo_inputs *in, const char *path) {
    in->path = elmo_xrealloc(in->path, sizeof *in->path * (size_t)(in->n + 1));
    in->path[in->n++] = elmo_xstrdup(path);
}

void elmo_inputs_free(struct elmo_inputs *in) {
    for (int i = 0; i < in->n; i++) free(in->path[i]);
    free(in->path);
    in->path = NULL;
    in->n = 0;
}

int elmo_inputs_expand(const char *spec, struct elmo_inputs *in) {
    memset(in, 0, sizeof *in);
    int rc = 0;
    const char *p = spec ? spec : "";
    while (*p) {
        size_t len = strcspn(p, "\n");
        char *item = elmo_xmalloc(len + 1);
        memcpy(item, p, len);
        item[len] = '\0';
        p += len + (p[len] == '\n');
        struct stat st;
        if (!item[0]) {
            free(item);
            continue;
        }
        if (strcmp(item, "-") == 0 || stat(item, &st) == 0 || !has_glob_char(item)) {
            inputs_push(in, item);
            free(item);
            continue;
        }
        glob_t g;
        int gr = glob(item, GLOB_ERR, NULL, &g); /* sorted (LC_COLLATE of the C locale) */
        if (gr == GLOB_NOMATCH) {
            rc = elmo_error(ELMO_ERR_ARG, "`input` %s: no file matches the pattern", item);
        } else if (gr != 0) {
            rc = elmo_error(ELMO_ERR_IO, "`input` %s: cannot expand the pattern: %s", item,
                            gr == GLOB_NOSPACE ? "out of memory" : "a directory cannot be read");
        } else {
            for (size_t i = 0; i < g.gl_pathc; i++) inputs_push(in, g.gl_pathv[i]);
        }
        if (gr != GLOB_NOMATCH && gr != GLOB_NOSPACE && gr != GLOB_ABORTED) globfree(&g);
        free(item);
        if (rc < 0) goto cleanup;
    }
    if (in->n == 0) ELMO_FAIL(ELMO_ERR_ARG, "`input` is empty");
    for (int i = 0; i < in->n && in->n > 1; i++)
        if (!strcmp(in->path[i], "-"))
            ELMO_FAIL(ELMO_ERR_ARG, "`input`: - (stdin) must be the only input, not one of %d",
                      in->n);
cleanup:
    if (rc < 0) elmo_inputs_free(in);
    return rc;
}

/* ELMO_INPUT_JSONL when the name says so (past a compression suffix), else ELMO_INPUT_AUTO. */
static enum elmo_input_format format_by_name(const char *path) {
    static const char *const packs[] = {".gz", ".bz2", ".zst", ".zstd"};
    static const char *const jsons[] = {".jsonl", ".ndjson", ".json"};
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    for (size_t i = 0; i < sizeof packs / sizeof packs[0]; i++) {
        size_t k = strlen(packs[i]);
        if (n > k && !strcasecmp(base + n - k, packs[i])) {
            n -= k;
            break;
        }
    }
    for (size_t i = 0; i < sizeof jsons / sizeof jsons[0]; i++) {
        size_t k = strlen(jsons[i]);
        if (n > k && !strncasecmp(base + n - k, jsons[i], k)) return ELMO_INPUT_JSONL;
    }
    return ELMO_INPUT_AUTO;
}

enum elmo_input_format elmo_input_format_of_bytes(const char *s, size_t n) {
    size_t i = 0;
    if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) i = 3;
    while (i < n && isspace((unsigned char)s[i])) i++;
    return i < n && s[i] == '{' ? ELMO_INPUT_JSONL : ELMO_INPUT_TEXT;
}

int elmo_input_detect_format(const char *path, enum elmo_input_format *fmt) {
    *fmt = format_by_name(path);
    if (*fmt != ELMO_INPUT_AUTO || !strcmp(path, "-")) return 0;
    struct elmo_gz *g = elmo_gz_open(path);
    if (!g) return ELMO_ERR_IO;
    const char *head;
    size_t n;
    int rc = elmo_gz_peek(g, &head, &n);
    if (rc == 0) *fmt = elmo_input_format_of_bytes(head, n);
    elmo_gz_close(g);
    return rc;
}

static const char *format_name(enum elmo_input_format f) {
    return f == ELMO_INPUT_JSONL ? "jsonl" : f == ELMO_INPUT_CONLL ? "conll" : "text";
}

int elmo_inputs_format(const struct elmo_inputs *in, enum elmo_input_format given,
                       enum elmo_input_format *fmt) {
    *fmt = given;
    if (given != ELMO_INPUT_AUTO) return 0;
    for (int i = 0; i < in->n; i++) {
        enum elmo_input_format f;
        ELMO_TRY(elmo_input_detect_format(in->path[i], &f));
        if (i > 0 && f != *fmt)
            return elmo_error(ELMO_ERR_ARG,
                              "the inputs are of different formats (%s looks like %s, %s like "
                              "%s); give --input-format",
                              in->path[0], format_name(*fmt), in->path[i], format_name(f));
        *fmt = f;
    }
    return 0;
}

void elmo_inputs_locate(const int64_t *first_line, int n, int64_t line, int *file,
                        int64_t *local) {
    int lo = 0, hi = n - 1;
    while (lo < hi) { /* the last file that starts at or before line */
        int mid = (lo + hi + 1) / 2;
        if (first_line[mid] <= line) lo = mid;
        else hi = mid - 1;
    }
    *file = lo;
    *local = line - first_line[lo] + 1;
}

/* Appends one input to out, counting its lines; sep: another input follows (see
 * elmo_inputs_spool). */
static int spool_one(const char *path, int k, bool sep, bool conll, FILE *out,
                     const char *out_name, int64_t *lines, char *buf, size_t cap) {
    struct elmo_gz *g = elmo_gz_open(path);
    if (!g) return ELMO_ERR_IO;
    int rc = 0;
    bool first = true, line_start = true, blank_line = true;
    for (;;) {
        ssize_t n = elmo_gz_read(g, buf, cap);
        if (n < 0) ELMO_CALL((int)n);
        if (n == 0) break;
        size_t skip = 0;
        if (first && k > 0 && n >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) skip = 3;
        first = false;
        for (ssize_t i = (ssize_t)skip; i < n; i++) {
            if (buf[i] == '\n') {
                (*lines)++;
                line_start = true;
                blank_line = true;
            } else {
                line_start = false;
                if (!isspace((unsigned char)buf[i])) blank_line = false;
            }
        }
        if (fwrite(buf + skip, 1, (size_t)n - skip, out) != (size_t)n - skip)
            ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", out_name, strerror(errno));
    }
    /* no record may run on into the next file (the last one is copied as it is) */
    if (sep && !line_start) {
        if (fputc('\n', out) == EOF)
            ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", out_name, strerror(errno));
        (*lines)++;
    }
    if (sep && conll && !blank_line) {
        if (fputc('\n', out) == EOF)
            ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", out_name, strerror(errno));
        (*lines)++;
    }
cleanup:
    elmo_gz_close(g);
    return rc;
}

int elmo_inputs_spool(const struct elmo_inputs *in, enum elmo_input_format fmt, const char *out,
                      int64_t *first_line) {
    int rc = 0;
    const size_t cap = 1 << 20;
    char *buf = elmo_xmalloc(cap);
    FILE *f = fopen(out, "wb");
    if (!f) ELMO_FAIL(ELMO_ERR_IO, "%s: %s", out, strerror(errno));
    int64_t lines = 0;
    for (int k = 0; k < in->n; k++) {
        first_line[k] = lines + 1;
        ELMO_CALL(spool_one(in->path[k], k, k + 1 < in->n, fmt == ELMO_INPUT_CONLL, f, out, &lines,
                            buf, cap));
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", out, strerror(errno));
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) ELMO_FAIL(ELMO_ERR_IO, "%s: write failed: %s", out, strerror(errno));
cleanup:
    if (f) fclose(f);
    if (rc < 0) unlink(out);
    free(buf);
    return rc;
}

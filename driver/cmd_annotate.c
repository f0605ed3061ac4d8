/*
 * cmd_annotate.c: the annotate job: tag the named entities of a tweet archive.
 *
 * Rank 0 reads the inputs (JSON Lines of API v1.1/v2 objects or plain text, one tweet per
 * line; plain, gzip, bzip2 or zstd; several files one after the other; or stdin), parses and
 * HTML-unescapes each record, tokenizes the tweets (io/tweet.h) and sends rounds of up to ROUND
 * tweets out: each rank gets a contiguous block of the round (balanced by token count),
 * computes the features (ELMo or GloVe) and tags them (worker/tweet_block.c), and sends back a
 * tag id and a score per token; rank 0 writes the round in input order.
 * A sentence's result does not depend on its neighbours (row-stable products), so the output
 * is byte-identical for any number of ranks.
 *
 * The model sees each token as the Twitter API data the tagger was trained on has it: &, < and >
 * escaped again as &amp; &lt; &gt;, and (when the tagger was trained so) URLs and @users as <URL>
 * and <USR>.  Output JSONL: {"id", "text" (the tagged text, unescaped), "entities": [{"text",
 * "type", "score" (mean softmax probability of the chosen tags over the entity's tokens), "start",
 * "end" (code points, end exclusive)}]}, with the keep_fields of the record after "text"; CoNLL: a
 * `# id = ID` line, `token tag` lines, a blank line after each tweet (tweets without tokens write
 * nothing).  An output named *.gz is gzip-compressed, one member per round.  Plain-text ids are
 * 1-based line numbers, "K:L" (file K) for several inputs.  Tokens after the first
 * max_sentence_tokens of a tweet are not tagged (and not written to CoNLL).  Bad records go to
 * OUTPUT.rejects.tsv with their line numbers; notices (delete, limit, ...) and blank JSONL lines
 * are skipped; read = written + rejected + skipped.  The reject file has the embed job's layout (a
 * `# input<TAB>line<TAB>reason` header, then one line per record) and exists only when something
 * was rejected.  Outputs follow io/outfile.h: validated against the inputs by inode before anything
 * is written, locked, written aside and renamed into place when complete; then OUTPUT.meta.json
 * records the job (models, inputs and their sha256, settings, counts), so that a rerun of the same
 * job finds the output already complete.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "driver/ner_shared.h"
#include "io/corpus.h"
#include "io/gz.h"
#include "io/hash_cache.h"
#include "io/outfile.h"
#include "io/sha256.h"
#include "io/ner_data.h"
#include "io/tweet.h"
#include "io/utf8.h"
#include "model/clock.h"
#include "model/gemm.h"
#include "model/status.h"
#include "worker/tweet_block.h"

#define ROUND 4096 /* tweets per round */

/* One tweet of a round (rank 0). */
struct item {
    int64_t line;    /* 1-based line of its input file */
    char *id, *text; /* owned */
    json_t *kept;    /* keep_fields: the record's fields to copy (owned), or NULL */
    int n_tok;
    struct elmo_span *sp; /* (n_tok) owned */
    int64_t first;        /* first token row of the round */
};

struct counts {
    int64_t lines, read, written, rejected, skipped, tokens, entities;
};

/* ---- reading (rank 0) ---- */

/* The inputs, read one after the other as one corpus. */
struct reader {
    struct elmo_inputs in; /* the files in order (globs expanded) */
    int file;              /* the open one */
    struct elmo_gz *gz;
    char *buf;
    size_t cap;
    int64_t line;  /* lines read over all files: the resume point */
    int64_t fline; /* lines read of the open file */
    int eof;
};

/* The open input as messages and the reject file name it. */
static const char *rd_name(const struct reader *r) {
    const char *p = r->in.path[r->file];
    return strcmp(p, "-") ? p : "<stdin>";
}

/* The next line (without LF/CR) into r->buf, moving on to the next input at the end of one;
 * 1, 0 at the end of the last, or a negative status naming the file and line (a damaged
 * stream or an allocation that fails is an error, never an early end). */
static int read_line(struct reader *r, size_t *len) {
    for (;;) {
        int got = elmo_gz_getline(r->gz, &r->buf, &r->cap, len);
        if (got < 0) return elmo_error_prefix(got, "%s:%" PRId64 ": ", rd_name(r), r->fline + 1);
        if (got == 1) {
            r->line++, r->fline++;
            return 1;
        }
        if (r->file + 1 >= r->in.n) return 0;
        elmo_gz_close(r->gz);
        r->file++;
        r->fline = 0;
        r->gz = elmo_gz_open(r->in.path[r->file]);
        if (!r->gz) return ELMO_ERR_IO;
    }
}

/*
 * The reject file (rank 0): written aside as REJECTS.partial, created at the first reject, and
 * renamed over the reject file only when the run completes; nothing rejected, no file.
 */
struct rejects {
    struct elmo_out o;
    FILE *f;
    int64_t resume_bytes; /* > 0: a resumed run continues the partial from this size */
};

static int reject(struct rejects *rj, const char *input, int64_t line, const char *why,
                  struct counts *c) {
    c->rejected++;
    if (!rj->f) {
        if (rj->resume_bytes > 0) {
            rj->f = fopen(rj->o.partial, "r+");
            if (!rj->f)
                return elmo_error(ELMO_ERR_IO, "%s: cannot reopen to resume: %s", rj->o.partial,
                                  strerror(errno));
            elmo_out_claim_partial(&rj->o);
            if (fseeko(rj->f, 0, SEEK_END) != 0)
                return elmo_error(ELMO_ERR_IO, "%s: %s", rj->o.partial, strerror(errno));
        } else {
            rj->f = elmo_out_create_partial(&rj->o);
            if (!rj->f) return ELMO_ERR_IO;
            fprintf(rj->f, "# input\tline\treason\n"); /* the embed job's layout */
        }
    }
    if (fprintf(rj->f, "%s\t%" PRId64 "\t%s\n", input, line, why) < 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", rj->o.partial, strerror(errno));
    return 0;
}

/* ---- resume (rank 0): a journal of finished rounds next to the output ---- */

/* What the journal is for: the inputs, the tagger and the output settings. */
static char *journal_header(const struct elmo_job *job, const struct reader *rd,
                            char (*input_sha)[65]) {
    size_t cap = 3 * ELMO_PATH_MAX + 1024 + (size_t)rd->in.n * (ELMO_PATH_MAX + 96);
    char *buf = elmo_xmalloc(cap);
    struct stat b;
    long long bs = -1, bm = -1;
    if (stat(job->tagger, &b) == 0) bs = (long long)b.st_size, bm = (long long)b.st_mtime;
    size_t at = (size_t)snprintf(buf, cap, "elmo-annotate-journal 3\n");
    for (int i = 0; i < rd->in.n; i++) {
        struct stat a;
        long long as = stat(rd->in.path[i], &a) == 0 ? (long long)a.st_size : -1;
        at += (size_t)snprintf(buf + at, cap - at, "input %s %lld %s\n", rd->in.path[i], as,
                               input_sha[i]);
    }
    snprintf(buf + at, cap - at,
             "input_format %d\ntagger %s %lld %lld\nweights %s\nformat %s\n"
             "max_sentence_tokens %d\nkeep_fields %s\n",
             (int)job->input_format, job->tagger, bs, bm, job->weights, job->format,
             job->max_sentence_tokens, job->keep_fields);
    return buf;
}

struct resume_point {
    int64_t line, out_bytes, rej_bytes;
    struct counts c;
};

/*
 * Reads JOURNAL: 1 and the last finished round when it matches this job, 0 when there is none,
 * or ELMO_ERR_MISMATCH naming what differs.
 */
static int journal_read(const char *path, const char *header, struct resume_point *rp) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t hl = strlen(header);
    char *text = elmo_xmalloc(hl + 1);
    size_t got = fread(text, 1, hl, f);
    text[got] = '\0';
    int rc = 0;
    if (got != hl || memcmp(text, header, hl) != 0) {
        rc = elmo_error(ELMO_ERR_MISMATCH, "%s belongs to a different annotate job (input, tagger "
                        "or settings changed); delete it to start over", path);
    } else {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            struct resume_point r;
            long long v[10];
            if (strchr(line, '\n') && sscanf(line, "round %lld %lld %lld %lld %lld %lld %lld %lld "
                                             "%lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                                             &v[6], &v[7], &v[8], &v[9]) == 10) {
                r.line = v[0], r.out_bytes = v[1], r.rej_bytes = v[2];
                r.c = (struct counts){v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
                *rp = r;
                rc = 1;
            }
        }
        if (rc == 0) rc = 1, memset(rp, 0, sizeof *rp);  /* header only: from the start */
    }
    free(text);
    fclose(f);
    return rc;
}

static int sync_file(FILE *f, const char *path) {
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* Cuts a file back to n bytes and positions the stream at its end. */
static int cut_to(FILE *f, int64_t n, const char *path) {
    if (fflush(f) != 0 || ftruncate(fileno(f), (off_t)n) != 0 || fseeko(f, (off_t)n, SEEK_SET) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot resume at byte %lld: %s", path, (long long)n,
                          strerror(errno));
    return 0;
}

/* Adds a tweet to the round, tokenized. */
static void add_item(struct item *items, int *n, int64_t line, char *id, char *text, json_t *kept,
                     int max_tok) {
    struct item *it = &items[(*n)++];
    memset(it, 0, sizeof *it);
    it->line = line;
    it->id = id;
    it->text = text;
    it->kept = kept;
    size_t len = strlen(text);
    int cap = 64;
    it->sp = elmo_xmalloc(sizeof *it->sp * (size_t)cap);
    int k = elmo_tweet_tokenize(text, len, it->sp, cap);
    if (k > cap) {
        it->sp = elmo_xrealloc(it->sp, sizeof *it->sp * (size_t)k);
        elmo_tweet_tokenize(text, len, it->sp, k);
    }
    /* max_sentence_tokens bounds a biLM batch: tokens after it are not tagged */
    it->n_tok = k > max_tok ? max_tok : k;
}

/*
 * Fills a round: reads records until ROUND tweets are in (a v2 line may overshoot by its
 * tweets; pending holds them) or the input ends.  Returns 1 while input may remain, 0 at the
 * end, or a negative status.
 */
struct pending {
    struct elmo_tweet *tw;
    json_t **kept; /* (n) keep_fields of each tweet, or NULL */
    int n, next;
    int64_t line;
};

/*
 * The keep_fields of a record's tweets: for tweet i, each field from the tweet object (data[i]
 * of a v2 response) or else from the record's top level; null when neither has it.  NULL when
 * keep_fields is empty.  Returns an array of n owned objects.
 */
static json_t **keep_fields(const char *fields, const char *line, size_t len, int n) {
    if (!fields[0]) return NULL;
    json_t **kept = elmo_xcalloc((size_t)n, sizeof *kept);
    json_error_t err;
    json_t *root = json_loadb(line, len, JSON_ALLOW_NUL, &err); /* parsed once already */
    json_t *data = root ? json_object_get(root, "data") : NULL;
    for (int i = 0; i < n; i++) {
        json_t *tweet = json_is_array(data) ? json_array_get(data, (size_t)i)
                        : json_is_object(data) ? data : NULL;
        kept[i] = json_object();
        for (const char *p = fields; *p;) {
            size_t k = strcspn(p, ",");
            json_t *v = tweet ? json_object_getn(tweet, p, k) : NULL;
            if (!v && root) v = json_object_getn(root, p, k);
            json_object_setn_new(kept[i], p, k, v ? json_incref(v) : json_null());
            p += k + (p[k] == ',');
        }
    }
    json_decref(root);
    return kept;
}

static int fill_round(const struct elmo_job *job, struct reader *r, struct pending *pd,
                      struct item *items, int *n_items, struct rejects *rej, struct counts *c) {
    const bool jsonl = job->input_format == ELMO_INPUT_JSONL;
    *n_items = 0;
    for (;;) {
        while (pd->next < pd->n && *n_items < ROUND) {
            int i = pd->next++;
            struct elmo_tweet *t = &pd->tw[i];
            add_item(items, n_items, pd->line, t->id, t->text, pd->kept ? pd->kept[i] : NULL,
                     job->max_sentence_tokens);
            t->id = t->text = NULL;
            if (pd->kept) pd->kept[i] = NULL;
            c->read++;
        }
        if (pd->next >= pd->n && pd->tw) {
            elmo_tweets_free(pd->tw, pd->n);
            free(pd->kept);
            memset(pd, 0, sizeof *pd);
        }
        if (*n_items >= ROUND) return 1;
        if (r->eof) return 0;
        size_t len = 0;
        int got = read_line(r, &len);
        if (got < 0) return got;
        if (got == 0) {
            r->eof = 1;
            return 0;
        }
        c->lines++;
        if (jsonl) {
            bool blank = true;
            for (size_t i = 0; i < len && blank; i++) blank = r->buf[i] == ' ' || r->buf[i] == '\t';
            if (blank) {
                c->read++, c->skipped++;
                continue;
            }
            char why[512];
            struct elmo_tweet *tw;
            int k;
            enum elmo_tweet_status st = elmo_tweet_parse_json(
                r->buf, len, job->text_field, job->id_field, &tw, &k, why, sizeof why);
            if (st == ELMO_TWEET_SKIP) {
                c->read++, c->skipped++;
            } else if (st == ELMO_TWEET_REJECT) {
                c->read++;
                ELMO_TRY(reject(rej, rd_name(r), r->fline, why, c));
            } else {
                /* a tweet without an id gets none (null in the output), never a number that
                 * could be another tweet's id */
                pd->tw = tw, pd->n = k, pd->next = 0, pd->line = r->fline;
                pd->kept = keep_fields(job->keep_fields, r->buf, len, k);
            }
        } else {
            if (!elmo_utf8_valid(r->buf, len)) {
                c->read++;
                ELMO_TRY(reject(rej, rd_name(r), r->fline, "invalid UTF-8", c));
                continue;
            }
            if (memchr(r->buf, '\0', len)) {
                c->read++;
                ELMO_TRY(reject(rej, rd_name(r), r->fline, "a NUL byte", c));
                continue;
            }
            /* 1-based lines, as embed's ids; "K:L" (file K, line L) for several inputs */
            char idb[48];
            if (r->in.n > 1) snprintf(idb, sizeof idb, "%d:%" PRId64, r->file + 1, r->fline);
            else snprintf(idb, sizeof idb, "%" PRId64, r->fline);
            char *text = elmo_xstrdup(r->buf);
            elmo_html_unescape(text, strlen(text));
            add_item(items, n_items, r->fline, elmo_xstrdup(idb), text, NULL,
                     job->max_sentence_tokens);
            c->read++;
        }
    }
}

/* ---- writing (rank 0) ---- */

#define ZBUF (1 << 16)

/*
 * The annotations' stream: plain, or gzip-compressed as a series of members, one per
 * journalled round, so that the file can be cut back to the end of any finished round and
 * continued (multi-member gzip reads back as one stream: zcat, gzip -d, Python's gzip).
 */
struct owriter {
    FILE *f;
    const char *name;
    bool gz;
    z_stream z;
    bool z_init, in_member;
    unsigned char *zbuf; /* (ZBUF) */
};

/* Writes what deflate produced; flush: until it has no more (Z_FINISH: the member's end). */
static int ow_deflate(struct owriter *w, int flush) {
    for (;;) {
        w->z.next_out = w->zbuf;
        w->z.avail_out = ZBUF;
        int zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_ERROR)
            return elmo_error(ELMO_ERR_STATE, "%s: zlib deflate failed", w->name);
        size_t have = ZBUF - w->z.avail_out;
        if (have && fwrite(w->zbuf, 1, have, w->f) != have)
            return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", w->name, strerror(errno));
        if (flush == Z_FINISH ? zr == Z_STREAM_END : w->z.avail_in == 0 && have < ZBUF) return 0;
    }
}

static int ow_write(struct owriter *w, const char *p, size_t n) {
    if (!w->gz) {
        if (n && fwrite(p, 1, n, w->f) != n)
            return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", w->name, strerror(errno));
        return 0;
    }
    if (!w->in_member) {
        if (!w->z_init) {
            memset(&w->z, 0, sizeof w->z);
            if (deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                             Z_DEFAULT_STRATEGY) != Z_OK)
                return elmo_error(ELMO_ERR_NOMEM, "%s: cannot start zlib", w->name);
            w->z_init = true;
            w->zbuf = elmo_xmalloc(ZBUF);
        } else if (deflateReset(&w->z) != Z_OK) {
            return elmo_error(ELMO_ERR_STATE, "%s: cannot reset zlib", w->name);
        }
        w->in_member = true;
    }
    w->z.next_in = (Bytef *)p;
    w->z.avail_in = (uInt)n;
    return ow_deflate(w, Z_NO_FLUSH);
}

static int ow_printf(struct owriter *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ow_printf(struct owriter *w, const char *fmt, ...) {
    char small[512], *p = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return elmo_error(ELMO_ERR_STATE, "%s: cannot format a line", w->name);
    if ((size_t)n >= sizeof small) {
        p = elmo_xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    int rc = ow_write(w, p, (size_t)n);
    if (p != small) free(p);
    return rc;
}

/* Ends the gzip member in progress (a point the file may be cut back to); plain: nothing. */
static int ow_end_member(struct owriter *w) {
    if (!w->gz || !w->in_member) return 0;
    w->z.next_in = NULL;
    w->z.avail_in = 0;
    ELMO_TRY(ow_deflate(w, Z_FINISH));
    w->in_member = false;
    return 0;
}

static void ow_free(struct owriter *w) {
    if (w->z_init) deflateEnd(&w->z);
    free(w->zbuf);
    w->zbuf = NULL;
    w->z_init = w->in_member = false;
}

/* The type of tag name ("B-person" -> "person"), and whether it begins a chunk after prev. */
static const char *tag_type(const char *tag) {
    const char *h = strchr(tag, '-');
    return h ? h + 1 : "";
}

/*
 * The entity that starts at token k: returns its end (exclusive), or k when token k is O.
 * An entity starts at any B-X or I-X (conlleval's reading) and runs on over I-X of its type.
 */
static int entity_end(const struct elmo_tagset *ts, const int32_t *tags, int n, int k) {
    const char *tag = ts->name[tags[k]];
    if (!strcmp(tag, "O") || !strchr(tag, '-')) return k;
    const char *type = tag_type(tag);
    int e = k + 1;
    while (e < n) {
        const char *t2 = ts->name[tags[e]];
        if (t2[0] != 'I' || t2[1] != '-' || strcmp(tag_type(t2), type) != 0) break;
        e++;
    }
    return e;
}

static int write_item(struct owriter *out, bool conll, const struct item *it,
                      const struct elmo_tagset *ts, const int32_t *tags, const float *score,
                      struct counts *c) {
    if (conll) {
        /* a tweet: `# id = ID`, its `token tag` lines, a blank line (no tokens: nothing) */
        if (it->n_tok > 0) ELMO_TRY(ow_printf(out, "# id = %s\n", it->id ? it->id : ""));
        for (int k = 0; k < it->n_tok; k++)
            ELMO_TRY(ow_printf(out, "%.*s %s\n", (int)(it->sp[k].end - it->sp[k].start),
                               it->text + it->sp[k].start, ts->name[tags[k]]));
        if (it->n_tok > 0) ELMO_TRY(ow_write(out, "\n", 1));
        for (int k = 0, e; k<it->n_tok; k = e> k ? e : k + 1)
            if ((e = entity_end(ts, tags, it->n_tok, k)) > k) c->entities++;
    } else {
        json_t *o = json_object(), *ents = json_array();
        json_object_set_new(o, "id", it->id && it->id[0] ? json_string(it->id) : json_null());
        json_object_set_new(o, "text", json_string(it->text));
        if (it->kept) json_object_update(o, it->kept);
        for (int k = 0; k < it->n_tok;) {
            int e = entity_end(ts, tags, it->n_tok, k);
            if (e == k) {
                k++;
                continue;
            }
            double s = 0.0;
            for (int q = k; q < e; q++) s += score[q];
            int32_t a = it->sp[k].start, b = it->sp[e - 1].end;
            json_t *en = json_object();
            json_object_set_new(en, "text", json_stringn(it->text + a, (size_t)(b - a)));
            json_object_set_new(en, "type", json_string(tag_type(ts->name[tags[k]])));
            json_object_set_new(en, "score", json_real(s / (e - k)));
            json_object_set_new(en, "start", json_integer(elmo_utf8_count(it->text, (size_t)a)));
            json_object_set_new(en, "end", json_integer(elmo_utf8_count(it->text, (size_t)b)));
            json_array_append_new(ents, en);
            c->entities++;
            k = e;
        }
        json_object_set_new(o, "entities", ents);
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        json_decref(o);
        if (!line)
            return elmo_error(ELMO_ERR_NOMEM, "annotate: cannot format the tweet of line %" PRId64,
                              it->line);
        int rc = ow_write(out, line, strlen(line));
        if (rc == 0) rc = ow_write(out, "\n", 1);
        free(line);
        ELMO_TRY(rc);
    }
    c->written++;
    c->tokens += it->n_tok;
    return 0;
}

/* ---- the job ---- */

/* Rank 0's outputs: the annotations (or stdout), the reject file, the journal of rounds. */
struct sinks {
    struct elmo_out out; /* unused when writing stdout */
    bool to_stdout;
    FILE *f;
    struct owriter ow; /* over f: plain, or gzip for an output named *.gz */
    struct rejects rej;
    char journal[ELMO_PATH_MAX + 16]; /* "" when there is none (stdin or stdout) */
    char *jhead;
    FILE *jf;
    struct stat *input_st;  /* (inputs) each input at the start, to notice a change */
    char (*input_sha)[65];  /* (inputs) their sha256 ("" for stdin) */
    char meta[ELMO_PATH_MAX + 16];      /* OUTPUT.meta.json */
    char job_sha[65];                   /* sha256 of the job's identity (meta.json) */
    char tagger_sha[65], weights_sha[65], options_sha[65], glove_sha[65];
};

/* "" or the sha256 of path, for the sidecar; 0 or a negative status. */
static int sha_or_empty(const char *path, char hex[65]) {
    hex[0] = '\0';
    return path && path[0] ? elmo_file_sha256_cached(path, hex) : 0;
}

/*
 * The job's identity for OUTPUT.meta.json: the settings that change the output, every input
 * with its hash, and the model files' hashes.  A rerun with the same identity over a complete
 * output has nothing to do.
 */
static void job_identity(const struct elmo_job *job, const struct reader *rd,
                         const struct sinks *sk, char sha[65]) {
    struct elmo_sha256 h;
    char line[ELMO_PATH_MAX + 256];
    elmo_sha256_init(&h);
    for (int i = 0; i < rd->in.n; i++) {
        int n = snprintf(line, sizeof line, "input %s %s\n", rd->in.path[i], sk->input_sha[i]);
        elmo_sha256_update(&h, line, (size_t)n);
    }
    int n = snprintf(line, sizeof line,
                     "input_format %d\ntext_field %s\nid_field %s\nkeep_fields %s\nformat %s\n"
                     "max_sentence_tokens %d\ntagger %s\nweights %s\noptions %s\nglove %s\n",
                     (int)job->input_format, job->text_field, job->id_field, job->keep_fields,
                     job->format, job->max_sentence_tokens, sk->tagger_sha, sk->weights_sha,
                     sk->options_sha, sk->glove_sha);
    elmo_sha256_update(&h, line, (size_t)n);
    uint8_t d[32];
    elmo_sha256_final(&h, d);
    elmo_sha256_hex(d, sha);
}

/*
 * An existing OUTPUT: *already when its OUTPUT.meta.json records this job; otherwise refused
 * (ELMO_ERR_ARG, naming the sidecar) unless `overwrite`, and then replaced only once the new
 * output is complete.
 */
static int check_existing(const struct elmo_job *job, const struct sinks *sk, int *already) {
    struct stat st;
    *already = 0;
    if (stat(sk->out.path, &st) != 0) return 0;
    json_error_t err;
    json_t *m = json_load_file(sk->meta, 0, &err);
    const char *rec = m ? json_string_value(json_object_get(m, "job_sha256")) : NULL;
    bool same = rec && !strcmp(rec, sk->job_sha);
    int rc = 0;
    if (job->overwrite) {
        fprintf(stderr, "annotate: %s exists; --overwrite: it is replaced once the new output is "
                        "complete\n", sk->out.path);
    } else if (same) {
        *already = 1;
    } else {
        rc = elmo_error(ELMO_ERR_ARG,
                        "%s exists and %s %s; refusing to replace it: give --overwrite to redo "
                        "it (the old output stays until the new one is complete), or choose "
                        "another --output",
                        sk->out.path, sk->meta,
                        !m ? "cannot be read (an output of another program, or an older elmo)"
                        : !sk->job_sha[0] ? "cannot vouch for stdin input"
                                          : "records another job (other inputs, settings or "
                                            "models)");
    }
    json_decref(m);
    return rc;
}

/*
 * Every output (the annotations, the reject file, the sidecar) validated against every input by
 * inode; the inputs' state noted, to notice a change while they are read.
 */
static int check_outputs(const struct elmo_job *job, const char *outpath, struct sinks *sk,
                         const struct reader *rd, const char **inputs, int n_in) {
    const char *rpath = job->reject_file[0] ? job->reject_file : "annotate.rejects.tsv";
    ELMO_TRY(elmo_out_init(&sk->rej.o, "reject_file", rpath));
    ELMO_TRY(elmo_out_check(&sk->rej.o, inputs, n_in));
    if (!sk->to_stdout) {
        ELMO_TRY(elmo_out_init(&sk->out, job->output[0] ? "output" : "out", outpath));
        ELMO_TRY(elmo_out_check(&sk->out, inputs, n_in));
        if (elmo_same_file(outpath, rpath) || !strcmp(outpath, rpath))
            return elmo_error(ELMO_ERR_ARG, "the output and the reject file are both %s", rpath);
        snprintf(sk->meta, sizeof sk->meta, "%s.meta.json", outpath);
        ELMO_TRY(elmo_check_output_path("output", sk->meta, inputs, n_in));
        size_t ol = strlen(outpath);
        sk->ow.gz = ol > 3 && !strcmp(outpath + ol - 3, ".gz");
    }
    sk->input_st = elmo_xcalloc((size_t)rd->in.n, sizeof *sk->input_st);
    sk->input_sha = elmo_xcalloc((size_t)rd->in.n, sizeof *sk->input_sha);
    for (int i = 0; i < rd->in.n; i++)
        if (strcmp(rd->in.path[i], "-") != 0 && stat(rd->in.path[i], &sk->input_st[i]) != 0)
            return elmo_error(ELMO_ERR_IO, "%s: %s", rd->in.path[i], strerror(errno));
    return 0;
}

/* The sha256 of the inputs and the model files, and of the job's identity (none for stdin). */
static int identify(const struct elmo_job *job, const struct elmo_tagging *rt,
                    const struct reader *rd, struct sinks *sk, bool from_stdin) {
    for (int i = 0; i < rd->in.n && !from_stdin; i++)
        ELMO_TRY(elmo_file_sha256(rd->in.path[i], sk->input_sha[i]));
    ELMO_TRY(sha_or_empty(job->tagger, sk->tagger_sha));
    /* the biLM the tagger resolved (given, or named by the tagger); GloVe rows stored in the
     * tagger are identified by the sha256 it recorded of their file */
    ELMO_TRY(sha_or_empty(rt->weights, sk->weights_sha));
    ELMO_TRY(sha_or_empty(rt->options, sk->options_sha));
    if (!job->glove[0] && rt->meta.glove.n > 0)
        snprintf(sk->glove_sha, sizeof sk->glove_sha, "%.64s", rt->meta.glove_sha256);
    else ELMO_TRY(sha_or_empty(job->glove[0] ? job->glove : rt->meta.glove_path, sk->glove_sha));
    job_identity(job, rd, sk, sk->job_sha);
    if (from_stdin) sk->job_sha[0] = '\0'; /* stdin is never the same input twice */
    return 0;
}

/*
 * Resuming: the outputs so far reopened and cut back to the journal's last round, the lines of
 * the finished rounds skipped, the counts restored.
 */
static int continue_outputs(struct sinks *sk, const struct resume_point *rpt, struct reader *rd,
                            struct counts *cnt) {
    struct stat ps;
    if (stat(sk->out.partial, &ps) != 0 || (int64_t)ps.st_size < rpt->out_bytes)
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s: the output so far is missing or shorter than the journal %s "
                          "records (%lld bytes): it was changed after the run stopped; "
                          "delete the journal to start over",
                          sk->out.partial, sk->journal, (long long)rpt->out_bytes);
    if (rpt->rej_bytes > 0 &&
        (stat(sk->rej.o.partial, &ps) != 0 || (int64_t)ps.st_size < rpt->rej_bytes))
        return elmo_error(ELMO_ERR_MISMATCH,
                          "%s: the rejects so far are missing or shorter than the journal %s "
                          "records (%lld bytes); delete the journal to start over",
                          sk->rej.o.partial, sk->journal, (long long)rpt->rej_bytes);
    sk->f = fopen(sk->out.partial, "r+");
    if (!sk->f) return elmo_error(ELMO_ERR_IO, "%s: %s", sk->out.partial, strerror(errno));
    elmo_out_claim_partial(&sk->out);
    /* a journalled size is the end of a round (of a gzip member): cut back to it */
    ELMO_TRY(cut_to(sk->f, rpt->out_bytes, sk->out.partial));
    if (rpt->rej_bytes > 0) {
        sk->rej.f = fopen(sk->rej.o.partial, "r+");
        if (!sk->rej.f)
            return elmo_error(ELMO_ERR_IO, "%s: %s", sk->rej.o.partial, strerror(errno));
        elmo_out_claim_partial(&sk->rej.o);
        ELMO_TRY(cut_to(sk->rej.f, rpt->rej_bytes, sk->rej.o.partial));
    }
    /* skip the lines of the finished rounds */
    size_t len;
    while (rd->line < rpt->line) {
        int got = read_line(rd, &len);
        if (got < 0) return got;
        if (got == 0)
            return elmo_error(ELMO_ERR_MISMATCH,
                              "the input ended before line %lld of the journal %s",
                              (long long)rpt->line, sk->journal);
    }
    *cnt = rpt->c;
    fprintf(stderr, "annotate: resuming from %s after line %lld (%lld tweets already "
                    "written)\n", sk->journal, (long long)rpt->line,
            (long long)rpt->c.written);
    sk->jf = fopen(sk->journal, "a");
    return 0;
}

/* A fresh start: the output aside, and the journal begun with its header. */
static int start_outputs(struct sinks *sk) {
    sk->f = elmo_out_create_partial(&sk->out);
    if (!sk->f) return ELMO_ERR_IO;
    if (sk->journal[0]) {
        sk->jf = fopen(sk->journal, "w");
        if (sk->jf) fputs(sk->jhead, sk->jf);
    }
    return 0;
}

/*
 * Validates every output against every input by inode before anything is written, takes the
 * output's lock, stops at a complete output of this job (*already), and opens the outputs aside
 * (OUTPUT.partial, REJECTS.partial) or continues them from the journal, refusing a partial
 * output shorter than the journal says.  Returns 0, or a negative status with nothing of the
 * user's touched.
 */
static int open_sinks(const struct elmo_job *job, const struct elmo_tagging *rt,
                      const char *outpath, struct sinks *sk, struct resume_point *rpt,
                      int *resumed, int *already, struct reader *rd, struct counts *cnt) {
    const int n_model = 5, n_in = n_model + rd->in.n;
    const char **inputs = elmo_xmalloc(sizeof *inputs * (size_t)n_in);
    inputs[0] = job->tagger, inputs[1] = rt->weights, inputs[2] = rt->options;
    inputs[3] = rt->meta.glove_path, inputs[4] = job->glove;
    for (int i = 0; i < rd->in.n; i++) inputs[n_model + i] = rd->in.path[i];
    int rc = 0;
    sk->to_stdout = !strcmp(outpath, "-");
    ELMO_CALL(check_outputs(job, outpath, sk, rd, inputs, n_in));
    sk->ow.name = sk->to_stdout ? "stdout" : sk->out.partial;
    if (sk->to_stdout) {
        sk->f = sk->ow.f = stdout;
        goto cleanup;
    }
    ELMO_CALL(elmo_out_lock(&sk->out));
    bool from_stdin = !strcmp(rd->in.path[0], "-");
    ELMO_CALL(identify(job, rt, rd, sk, from_stdin));
    ELMO_CALL(check_existing(job, sk, already));
    if (*already) goto cleanup;
    /* resume: a journal of finished rounds (file output and file input only) */
    if (!from_stdin) {
        snprintf(sk->journal, sizeof sk->journal, "%s.journal", outpath);
        ELMO_CALL(elmo_check_output_path("output", sk->journal, inputs, n_in));
        sk->jhead = journal_header(job, rd, sk->input_sha);
        int jr = journal_read(sk->journal, sk->jhead, rpt);
        if (jr < 0) ELMO_CALL(jr);
        *resumed = jr == 1;
    }
    ELMO_CALL(*resumed ? continue_outputs(sk, rpt, rd, cnt) : start_outputs(sk));
    sk->ow.f = sk->f;
    if (sk->journal[0] && !sk->jf)
        ELMO_FAIL(ELMO_ERR_IO, "%s: %s", sk->journal, strerror(errno));
    if (sk->jf) ELMO_CALL(sync_file(sk->jf, sk->journal));
cleanup:
    free(inputs);
    return rc;
}

/* The inputs must not have changed while they were read (a shrinking file would lose records). */
static int check_input_unchanged(const struct reader *rd, const struct sinks *sk) {
    for (int i = 0; i < rd->in.n; i++) {
        const char *p = rd->in.path[i];
        struct stat st;
        if (!strcmp(p, "-")) continue;
        if (stat(p, &st) != 0)
            return elmo_error(ELMO_ERR_IO, "%s: vanished while being read: %s", p,
                              strerror(errno));
        if (st.st_size != sk->input_st[i].st_size || st.st_mtime != sk->input_st[i].st_mtime ||
            st.st_ino != sk->input_st[i].st_ino)
            return elmo_error(ELMO_ERR_STATE,
                              "%s changed while it was being read (%lld bytes at the start, "
                              "%lld now); nothing was written, rerun on a stable copy",
                              p, (long long)sk->input_st[i].st_size, (long long)st.st_size);
    }
    return 0;
}

/*
 * OUTPUT.meta.json, written aside and renamed once the output is in place: the elmo version,
 * the models and inputs with their sha256, the settings, the counts, and job_sha256 (the
 * identity a rerun compares).
 */
static int write_meta(const struct elmo_job *job, const struct reader *rd, const struct sinks *sk,
                      const struct elmo_tagging *rt, const struct counts *c) {
    json_t *m = json_object(), *ins = json_array(), *set = json_object(), *cn = json_object();
    json_object_set_new(m, "elmo_version", json_string(ELMO_VERSION));
    json_object_set_new(m, "kind", json_string(elmo_job_kind_name(job->kind)));
    json_object_set_new(m, "output", json_string(sk->out.path));
    json_object_set_new(m, "compression", json_string(sk->ow.gz ? "gzip" : "none"));
    json_t *tg = json_object();
    json_object_set_new(tg, "path", json_string(job->tagger));
    json_object_set_new(tg, "sha256", json_string(sk->tagger_sha));
    json_object_set_new(tg, "features", json_string(rt->meta.features));
    json_object_set_new(m, "tagger", tg);
    if (rt->weights[0]) {
        json_t *lm = json_object();
        json_object_set_new(lm, "weights", json_string(rt->weights));
        json_object_set_new(lm, "weights_sha256", json_string(sk->weights_sha));
        json_object_set_new(lm, "options", json_string(rt->options));
        json_object_set_new(lm, "options_sha256", json_string(sk->options_sha));
        json_object_set_new(m, "bilm", lm);
    } else {
        json_object_set_new(m, "bilm", json_null());
    }
    if (sk->glove_sha[0]) {
        json_t *gv = json_object();
        json_object_set_new(gv, "path",
                            json_string(job->glove[0] ? job->glove : rt->meta.glove_path));
        json_object_set_new(gv, "sha256", json_string(sk->glove_sha));
        json_object_set_new(m, "glove", gv);
    }
    for (int i = 0; i < rd->in.n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(rd->in.path[i]));
        json_object_set_new(o, "bytes", json_integer((json_int_t)sk->input_st[i].st_size));
        json_object_set_new(o, "sha256", json_string(sk->input_sha[i]));
        json_array_append_new(ins, o);
    }
    json_object_set_new(m, "inputs", ins);
    static const char *const formats[] = {"text", "conll", "jsonl", "auto"};
    json_object_set_new(set, "input_format", json_string(formats[job->input_format]));
    json_object_set_new(set, "text_field", json_string(job->text_field));
    json_object_set_new(set, "id_field", json_string(job->id_field));
    json_object_set_new(set, "keep_fields", json_string(job->keep_fields));
    json_object_set_new(set, "format", json_string(job->format));
    json_object_set_new(set, "max_sentence_tokens", json_integer(job->max_sentence_tokens));
    json_object_set_new(m, "settings", set);
    json_object_set_new(cn, "lines", json_integer(c->lines));
    json_object_set_new(cn, "read", json_integer(c->read));
    json_object_set_new(cn, "written", json_integer(c->written));
    json_object_set_new(cn, "rejected", json_integer(c->rejected));
    json_object_set_new(cn, "skipped", json_integer(c->skipped));
    json_object_set_new(cn, "tokens", json_integer(c->tokens));
    json_object_set_new(cn, "entities", json_integer(c->entities));
    json_object_set_new(m, "counts", cn);
    json_object_set_new(m, "job_sha256", sk->job_sha[0] ? json_string(sk->job_sha) : json_null());
    char tmp[ELMO_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.partial", sk->meta);
    int rc = 0;
    if (json_dump_file(m, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        rc = elmo_error(ELMO_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    json_decref(m);
    if (rc == 0) rc = elmo_commit_file(tmp, sk->meta);
    if (rc < 0) unlink(tmp);
    return rc;
}

/*
 * Ends the run on rank 0: closes the outputs, and when the run is good renames them into place
 * (the output, then its OUTPUT.meta.json); a reject file only when something was rejected; the
 * journal goes once the output is in place.  A failed run removes only the partial files it
 * created and keeps the journal (a rerun resumes); the previous output, if any, is never
 * touched.
 */
static int close_sinks(const struct elmo_job *job, const struct reader *rd, struct sinks *sk,
                       const struct elmo_tagging *rt, const struct counts *cnt, int rc) {
    if (rc == 0 && sk->f && sk->ow.gz) {
        /* the last member; an output with no tweet is still a gzip file */
        if (ftello(sk->f) == 0 && !sk->ow.in_member) rc = ow_write(&sk->ow, "", 0);
        if (rc == 0) rc = ow_end_member(&sk->ow);
    }
    ow_free(&sk->ow);
    if (sk->to_stdout) {
        if (fflush(stdout) != 0 && rc == 0)
            rc = elmo_error(ELMO_ERR_IO, "stdout: write failed: %s", strerror(errno));
        sk->f = NULL;
    } else if (sk->f) {
        if (fclose(sk->f) != 0 && rc == 0)
            rc = elmo_error(ELMO_ERR_IO, "%s: write failed: %s", sk->out.partial, strerror(errno));
        sk->f = NULL;
    }
    if (sk->rej.f) {
        if (fclose(sk->rej.f) != 0 && rc == 0)
            rc = elmo_error(ELMO_ERR_IO, "%s: write failed: %s", sk->rej.o.partial,
                            strerror(errno));
        sk->rej.f = NULL;
    }
    if (sk->jf) fclose(sk->jf);
    sk->jf = NULL;
    if (rc == 0) rc = check_input_unchanged(rd, sk);
    /* too many rejects: the reject file is written, the annotations are not */
    int64_t records = cnt->read - cnt->skipped;
    bool too_many = cnt->rejected > 0 && (cnt->rejected == records ||
                                          (double)cnt->rejected >
                                              job->max_reject_fraction * (double)records);
    if (rc == 0 && cnt->rejected > 0) rc = elmo_out_commit(&sk->rej.o);
    if (rc == 0 && too_many) {
        rc = elmo_error(ELMO_ERR_FORMAT,
                        "%lld of %lld records were rejected (%.1f%%), more than max_reject_fraction"
                        " %g allows; see %s (nothing else was written)",
                        (long long)cnt->rejected, (long long)records,
                        100.0 * (double)cnt->rejected / (double)records,
                        (double)job->max_reject_fraction, sk->rej.o.path);
        elmo_out_abandon(&sk->out);
        if (sk->journal[0]) unlink(sk->journal);
    } else if (rc == 0 && !sk->to_stdout) {
        /* the old record goes first: an output never stands beside another job's record */
        if (unlink(sk->meta) != 0 && errno != ENOENT)
            rc = elmo_error(ELMO_ERR_IO, "%s: cannot remove: %s", sk->meta, strerror(errno));
        if (rc == 0) rc = elmo_out_commit(&sk->out);
        if (rc == 0) rc = write_meta(job, rd, sk, rt, cnt);
        if (rc == 0 && sk->journal[0]) unlink(sk->journal);
    } else if (rc < 0 && !sk->journal[0]) {
        /* no journal (stdin or stdout): nothing to resume from, so nothing is kept */
        elmo_out_abandon(&sk->rej.o);
        elmo_out_abandon(&sk->out);
    }
    /* else: interrupted or failed with a journal, whose partial files a rerun continues */
    elmo_out_unlock(&sk->out);
    free(sk->jhead);
    sk->jhead = NULL;
    return rc;
}

/* Collective: whether any rank got a stop signal; rank 0 names the journal to resume from. */
static int stop_requested(const struct sinks *sk) {
    int any = elmo_stop_agreed();
    if (!any) return 0;
    /* every rank stops with exit code 3; the finish path prints rank 0's message */
    if (elmo_rank() != 0)
        return elmo_error(ELMO_ERR_INTERRUPTED, "interrupted by signal %d", any);
    if (sk->journal[0])
        return elmo_error(ELMO_ERR_INTERRUPTED,
                          "interrupted by signal %d; the journal %s is consistent: rerun the same "
                          "job to resume",
                          any, sk->journal);
    return elmo_error(ELMO_ERR_INTERRUPTED,
                      "interrupted by signal %d; the output is incomplete (no journal for "
                      "stdin or stdout)",
                      any);
}

/* One annotate run: the tagger, rank 0's reading and writing, a round in flight. */
struct annotate {
    struct elmo_job *job;
    int rank, size;
    const char *outpath;
    bool conll;
    double t0;
    struct elmo_tagging rt;
    /* the sentence cache (job->dedup); tweets and tokens it saved here, then over the ranks */
    struct elmo_dedup dedup;
    int64_t reused[2], reused_all[2];
    /* rank 0 */
    struct reader rd;
    struct pending pd;
    struct counts cnt;
    struct sinks sk;
    struct resume_point rpt;
    int resumed, already;
    bool sinks_open;
    struct item *items; /* (ROUND) */
    int n_items;
    int32_t *tags; /* (round tokens) */
    float *score;
    /* the round: more to come, its tokens; per rank its tokens and bytes of the block */
    int64_t hdr[2];
    int *counts, *displs, *bcounts, *bdispls;
    struct elmo_tweet_block blk;
    /* this rank's block */
    char *myblob;
    int32_t *mytags;
    float *myscore;
};

/* Rank 0: the keep_fields list names fields of the input records, none of the output's own. */
static int check_keep_fields(const struct elmo_job *job) {
    if (job->keep_fields[0] && strcmp(job->format, "jsonl") != 0)
        return elmo_error(ELMO_ERR_ARG, "keep_fields: the output format %s has no fields "
                                        "(use format jsonl)", job->format);
    for (const char *p = job->keep_fields; *p;) {
        size_t k = strcspn(p, ",");
        if (k == 0 || (k == 2 && !strncmp(p, "id", 2)) || (k == 4 && !strncmp(p, "text", 4)) ||
            (k == 8 && !strncmp(p, "entities", 8)))
            return elmo_error(ELMO_ERR_ARG, "keep_fields '%s': a field name is empty or one of "
                              "id, text, entities (the output's own)", job->keep_fields);
        p += k + (p[k] == ',');
    }
    return 0;
}

/*
 * Rank 0: the settings and the inputs, opened, before any output is touched; the input format,
 * when not given, from the names or the first bytes (stdin: of the stream).
 */
static int check_inputs(struct elmo_job *job, struct reader *rd) {
    if (job->input_format == ELMO_INPUT_CONLL)
        return elmo_error(ELMO_ERR_ARG, "annotate reads tweets: input_format text (a tweet "
                                        "per line) or jsonl (API v1.1/v2 objects)");
    ELMO_TRY(check_keep_fields(job));
    ELMO_TRY(elmo_inputs_expand(job->input, &rd->in));
    rd->gz = elmo_gz_open(rd->in.path[0]);
    if (!rd->gz) return ELMO_ERR_IO;
    if (job->input_format == ELMO_INPUT_AUTO) {
        enum elmo_input_format fmt = ELMO_INPUT_AUTO;
        if (!strcmp(rd->in.path[0], "-")) {
            const char *head;
            size_t hn;
            ELMO_TRY(elmo_gz_peek(rd->gz, &head, &hn));
            fmt = elmo_input_format_of_bytes(head, hn);
        } else {
            ELMO_TRY(elmo_inputs_format(&rd->in, ELMO_INPUT_AUTO, &fmt));
        }
        job->input_format = fmt;
    }
    if (job->keep_fields[0] && job->input_format != ELMO_INPUT_JSONL)
        return elmo_error(ELMO_ERR_ARG, "keep_fields copies fields of JSON Lines records; "
                                        "the input is plain text");
    return 0;
}

/*
 * Everything validated (input, tagger, biLM) before any output is touched; then rank 0 opens
 * the outputs, and every rank learns whether they are complete already (a->already).
 * Collective.
 */
static int open_job(struct annotate *a) {
    ELMO_TRY(elmo_agree(a->rank == 0 ? check_inputs(a->job, &a->rd) : 0));
    ELMO_TRY(elmo__tagging_open(&a->rt, a->job, a->job->max_sentence_tokens));
    if (a->job->dedup) ELMO_TRY(elmo_dedup_init(&a->dedup, (size_t)a->job->dedup_mib << 20));
    int lrc = 0;
    if (a->rank == 0) {
        lrc = open_sinks(a->job, &a->rt, a->outpath, &a->sk, &a->rpt, &a->resumed, &a->already,
                         &a->rd, &a->cnt);
        a->sinks_open = true;
    }
    ELMO_TRY(elmo_agree(lrc));
    a->already = elmo_bcast_int(a->already);
    if (a->already && a->rank == 0) {
        fprintf(stderr,
                "annotate: %s is already complete (this job over these inputs, as %s "
                "records); nothing to do (--overwrite redoes it)\n",
                a->outpath, a->sk.meta);
        elmo_out_unlock(&a->sk.out);
        a->sinks_open = false;
    }
    return 0;
}

/*
 * Rank 0: reads the next round and packs it into blocks, one per rank, balanced by tokens
 * (a->blk, with each rank's bytes and tokens); hdr: whether more may follow, the round's
 * tokens.  0 or a status.
 */
static int read_round(struct annotate *a) {
    int lrc = fill_round(a->job, &a->rd, &a->pd, a->items, &a->n_items, &a->sk.rej, &a->cnt);
    int more = lrc == 1;
    if (lrc > 0) lrc = 0;
    int64_t total = 0, row = 0;
    for (int i = 0; i < a->n_items; i++) total += a->items[i].n_tok;
    int i = 0;
    for (int r = 0; r < a->size; r++) {
        int64_t goal = total * (r + 1) / a->size;
        size_t b0 = a->blk.len;
        int64_t r0 = row;
        while (i < a->n_items && (row < goal || r == a->size - 1)) {
            struct item *it = &a->items[i++];
            elmo_tweet_block_add(&a->blk, it->text, it->sp, it->n_tok);
            it->first = row;
            row += it->n_tok;
        }
        a->bcounts[r] = (int)(a->blk.len - b0);
        a->bdispls[r] = (int)b0;
        a->counts[r] = (int)(row - r0);
        a->displs[r] = (int)r0;
    }
    a->hdr[0] = more;
    a->hdr[1] = row;
    return lrc;
}

/* Every rank receives its block of the round.  Collective. */
static int share_round(struct annotate *a) {
    elmo_bcast(a->hdr, sizeof a->hdr);
    elmo_bcast(a->counts, sizeof *a->counts * (size_t)a->size);
    elmo_bcast(a->bcounts, sizeof *a->bcounts * (size_t)a->size);
    int mb = a->bcounts[a->rank];
    a->myblob = elmo_xrealloc(a->myblob, (size_t)mb + 1);
    ELMO_MPI(MPI_Scatterv(a->blk.blob, a->bcounts, a->bdispls, MPI_CHAR, a->myblob, mb, MPI_CHAR,
                          0, MPI_COMM_WORLD));
    return 0;
}

/* Every rank tags its block; rank 0 gathers the tags and scores in order.  Collective. */
static int tag_round(struct annotate *a) {
    int mt = a->counts[a->rank];
    a->mytags = elmo_xrealloc(a->mytags, sizeof(int32_t) * (size_t)(mt + 1));
    a->myscore = elmo_xrealloc(a->myscore, sizeof(float) * (size_t)(mt + 1));
    ELMO_TRY(elmo_agree(elmo_tweet_block_tag(&a->rt, a->job->dedup ? &a->dedup : NULL, a->myblob,
                                             (size_t)a->bcounts[a->rank], mt, a->mytags,
                                             a->myscore, a->reused)));
    if (a->rank == 0) {
        a->tags = elmo_xrealloc(a->tags, sizeof(int32_t) * (size_t)(a->hdr[1] + 1));
        a->score = elmo_xrealloc(a->score, sizeof(float) * (size_t)(a->hdr[1] + 1));
    }
    ELMO_MPI(MPI_Gatherv(a->mytags, mt, MPI_INT32_T, a->tags, a->counts, a->displs, MPI_INT32_T,
                         0, MPI_COMM_WORLD));
    ELMO_MPI(MPI_Gatherv(a->myscore, mt, MPI_FLOAT, a->score, a->counts, a->displs, MPI_FLOAT, 0,
                         MPI_COMM_WORLD));
    return 0;
}

/* Rank 0: a round boundary with nothing pending is a resume point: synced, then journalled. */
static int journal_round(struct annotate *a) {
    struct sinks *sk = &a->sk;
    const struct counts *c = &a->cnt;
    ELMO_TRY(ow_end_member(&sk->ow));
    ELMO_TRY(sync_file(sk->f, sk->out.partial));
    if (sk->rej.f) ELMO_TRY(sync_file(sk->rej.f, sk->rej.o.partial));
    fprintf(sk->jf, "round %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld\n",
            (long long)a->rd.line, (long long)ftello(sk->f),
            (long long)(sk->rej.f ? ftello(sk->rej.f) : 0), (long long)c->lines,
            (long long)c->read, (long long)c->written, (long long)c->rejected,
            (long long)c->skipped, (long long)c->tokens, (long long)c->entities);
    return sync_file(sk->jf, sk->journal);
}

/* Rank 0 writes the round in input order, then journals it and reports progress. */
static int write_round(struct annotate *a) {
    int lrc = 0;
    for (int i = 0; i < a->n_items && lrc == 0; i++) {
        const struct item *it = &a->items[i];
        lrc = write_item(&a->sk.ow, a->conll, it, &a->rt.meta.tags, a->tags + it->first,
                         a->score + it->first, &a->cnt);
    }
    for (int i = 0; i < a->n_items; i++) {
        free(a->items[i].id);
        free(a->items[i].text);
        free(a->items[i].sp);
        json_decref(a->items[i].kept);
    }
    if (lrc == 0 && a->sk.jf && a->pd.tw == NULL) lrc = journal_round(a);
    if (lrc == 0 && a->job->progress && a->hdr[0])
        fprintf(stderr,
                "annotate: %" PRId64 " records, %" PRId64 " tweets written, "
                "%.0f tweets/s\n",
                a->cnt.read, a->cnt.written, (double)a->cnt.written / (elmo_now() - a->t0));
    return lrc;
}

/* The rounds, until the input ends or a stop signal.  Collective. */
static int rounds(struct annotate *a) {
    if (a->rank == 0) a->items = elmo_xcalloc(ROUND, sizeof *a->items);
    a->counts = elmo_xmalloc(sizeof(int) * (size_t)a->size);
    a->displs = elmo_xmalloc(sizeof(int) * (size_t)a->size);
    a->bcounts = elmo_xmalloc(sizeof(int) * (size_t)a->size);
    a->bdispls = elmo_xmalloc(sizeof(int) * (size_t)a->size);
    for (;;) {
        a->n_items = 0;
        ELMO_TRY(elmo_agree(a->rank == 0 ? read_round(a) : 0));
        ELMO_TRY(share_round(a));
        ELMO_TRY(tag_round(a));
        int lrc = a->rank == 0 ? write_round(a) : 0;
        elmo_tweet_block_free(&a->blk);
        ELMO_TRY(elmo_agree(lrc));
        if (!a->hdr[0]) return 0;
        ELMO_TRY(stop_requested(&a->sk));
    }
}

/* Rank 0: the counts reconciled, the outputs committed, the summary on stderr. */
static int summary(struct annotate *a) {
    const struct counts *c = &a->cnt;
    int lrc = 0;
    if (c->read != c->written + c->rejected + c->skipped)
        lrc = elmo_error(ELMO_ERR_STATE, "annotate: counts do not reconcile");
    lrc = close_sinks(a->job, &a->rd, &a->sk, &a->rt, &a->cnt, lrc);
    a->sinks_open = false;
    double dt = elmo_now() - a->t0;
    fprintf(stderr,
            "annotate: %" PRId64 " lines, %" PRId64 " records read = %" PRId64
            " written + %" PRId64 " rejected + %" PRId64 " skipped%s%s\n"
            "annotate: %" PRId64 " tokens, %" PRId64 " entities, %.2f s, %.1f tweets/s on "
            "%d rank%s (%s tagger)\n",
            c->lines, c->read, c->written, c->rejected, c->skipped,
            c->rejected ? ", see " : "", c->rejected ? a->sk.rej.o.path : "", c->tokens,
            c->entities, dt, dt > 0 ? (double)c->written / dt : 0.0, a->size,
            a->size > 1 ? "s" : "", a->rt.meta.features);
    if (a->job->dedup)
        fprintf(stderr,
                "annotate: %" PRId64 " duplicate tweets reused (%.1f%% of the tweets written, %"
                PRId64 " tokens), tagged once per rank\n",
                a->reused_all[0], c->written ? 100.0 * (double)a->reused_all[0] / (double)c->written
                                             : 0.0,
                a->reused_all[1]);
    return lrc;
}

static void annotate_free(struct annotate *a, int rc) {
    if (a->sinks_open)
        close_sinks(a->job, &a->rd, &a->sk, &a->rt, &a->cnt, rc < 0 ? rc : ELMO_ERR_STATE);
    free(a->sk.input_st);
    free(a->sk.input_sha);
    free(a->sk.jhead);
    elmo_gz_close(a->rd.gz);
    elmo_inputs_free(&a->rd.in);
    free(a->rd.buf);
    if (a->pd.tw) elmo_tweets_free(a->pd.tw, a->pd.n);
    for (int i = 0; a->pd.kept && i < a->pd.n; i++) json_decref(a->pd.kept[i]);
    free(a->pd.kept);
    free(a->items);
    elmo_tweet_block_free(&a->blk);
    free(a->myblob), free(a->tags), free(a->mytags), free(a->score), free(a->myscore);
    free(a->counts), free(a->displs), free(a->bcounts), free(a->bdispls);
    elmo_tagging_close(&a->rt);
    elmo_dedup_free(&a->dedup);
}

int elmo_annotate_run(struct elmo_job *job) {
    struct annotate *a = elmo_xcalloc(1, sizeof *a);
    a->job = job;
    a->rank = elmo_rank(), a->size = elmo_size();
    a->outpath = job->output[0] ? job->output : job->out;
    a->conll = !strcmp(job->format, "conll");
    a->sk.out.lock_fd = -1;
    elmo_blas_set_threads(job->threads);
    a->t0 = elmo_now();
    int rc = 0;

    ELMO_CALL(open_job(a));
    if (a->already) goto cleanup;
    ELMO_CALL(rounds(a));
    ELMO_MPI(MPI_Reduce(a->reused, a->reused_all, 2, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD));
    ELMO_CALL(elmo_agree(a->rank == 0 ? summary(a) : 0));
cleanup:
    annotate_free(a, rc);
    free(a);
    return rc;
}

/*
 * annotate.c: the annotate job: tag the named entities of a tweet archive.
 *
 * Rank 0 reads the input (JSON Lines of API v1.1/v2 objects or plain text, one tweet per
 * line, gzip or not, or stdin), parses and HTML-unescapes each record, tokenizes the tweets
 * (io/tweet.h) and sends rounds of up to ROUND tweets out: each rank gets a contiguous block
 * of the round (balanced by token count), computes the features (ELMo or GloVe) and tags them,
 * and sends back a tag id and a score per token; rank 0 writes the round in input order.
 * A sentence's result does not depend on its neighbours (row-stable products), so the output
 * is byte-identical for any number of ranks.
 *
 * The model sees each token as the Twitter API data the tagger was trained on has it: &, <
 * and > escaped again as &amp; &lt; &gt;, and (when the tagger was trained so) URLs and
 * @users as <URL> and <USR>.  Output JSONL: {"id", "text" (the tagged text, unescaped),
 * "entities": [{"text", "type", "score" (mean softmax probability of the chosen tags over the
 * entity's tokens), "start", "end" (code points, end exclusive)}]}; CoNLL: `token tag` lines,
 * a blank line after each tweet (tweets without tokens write nothing).  Tokens after the
 * first max_sentence_tokens of a tweet are not tagged (and not written to CoNLL).  Bad records go to
 * OUTPUT.rejects.tsv with their line numbers; notices (delete, limit, ...) and blank JSONL lines
 * are skipped; read = written + rejected + skipped.  The reject file has the embed job's
 * layout (a `# input<TAB>line<TAB>reason` header, then one line per record) and exists only
 * when something was rejected.  Outputs follow io/outfile.h: validated against the inputs by
 * inode before anything is written, locked, written aside and renamed into place when complete.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/commands.h"
#include "driver/ner_shared.h"
#include "io/corpus.h"
#include "io/gz.h"
#include "io/outfile.h"
#include "io/sha256.h"
#include "io/ner_data.h"
#include "io/tweet.h"
#include "model/gemm.h"
#include "model/status.h"

#define ROUND 4096 /* tweets per round */

/* One tweet of a round (rank 0). */
struct item {
    int64_t line;    /* 1-based input line */
    char *id, *text; /* owned */
    int n_tok;
    struct elmo_span *sp; /* (n_tok) owned */
    int64_t first;        /* first token row of the round */
};

struct counts {
    int64_t lines, read, written, rejected, skipped, tokens, entities;
};

/* ---- reading (rank 0) ---- */

struct reader {
    struct elmo_gz *gz;
    char *buf;
    size_t cap;
    int64_t line;
    int eof;
};

/* The next line (without LF/CR) into r->buf; 1, 0 at the end, or a negative status naming the
 * line (a damaged gzip stream or an allocation that fails is an error, never an early end). */
static int read_line(struct reader *r, const char *path, size_t *len) {
    int got = elmo_gz_getline(r->gz, &r->buf, &r->cap, len);
    if (got < 0)
        return elmo_error_prefix(got, "%s:%" PRId64 ": ", strcmp(path, "-") ? path : "<stdin>",
                                 r->line + 1);
    if (got == 1) r->line++;
    return got;
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

/* What the journal is for: the input, the tagger and the output settings. */
static char *journal_header(const struct elmo_job *job, const char *input_sha) {
    char buf[3 * ELMO_PATH_MAX + 640];
    struct stat a, b;
    long long as = -1, bs = -1, bm = -1;
    if (strcmp(job->input, "-") != 0 && stat(job->input, &a) == 0) as = (long long)a.st_size;
    if (stat(job->tagger, &b) == 0) bs = (long long)b.st_size, bm = (long long)b.st_mtime;
    snprintf(buf, sizeof buf,
             "elmo-annotate-journal 2\ninput %s %lld\ninput_sha256 %s\ninput_format %d\n"
             "tagger %s %lld %lld\nweights %s\nformat %s\nmax_sentence_tokens %d\n",
             job->input, as, input_sha, (int)job->input_format, job->tagger, bs, bm,
             job->weights, job->format, job->max_sentence_tokens);
    return elmo_xstrdup(buf);
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
static void add_item(struct item *items, int *n, int64_t line, char *id, char *text, int max_tok) {
    struct item *it = &items[(*n)++];
    memset(it, 0, sizeof *it);
    it->line = line;
    it->id = id;
    it->text = text;
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
    int n, next;
    int64_t line;
};

static int fill_round(const struct elmo_job *job, struct reader *r, struct pending *pd,
                      struct item *items, int *n_items, struct rejects *rej, struct counts *c) {
    const bool jsonl = job->input_format == ELMO_INPUT_JSONL;
    *n_items = 0;
    for (;;) {
        while (pd->next < pd->n && *n_items < ROUND) {
            struct elmo_tweet *t = &pd->tw[pd->next++];
            add_item(items, n_items, pd->line, t->id, t->text, job->max_sentence_tokens);
            t->id = t->text = NULL;
            c->read++;
        }
        if (pd->next >= pd->n && pd->tw) {
            elmo_tweets_free(pd->tw, pd->n);
            memset(pd, 0, sizeof *pd);
        }
        if (*n_items >= ROUND) return 1;
        if (r->eof) return 0;
        size_t len = 0;
        int got = read_line(r, job->input, &len);
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
                ELMO_TRY(reject(rej, job->input, r->line, why, c));
            } else {
                /* a tweet without an id gets none (null in the output), never a number that
                 * could be another tweet's id */
                pd->tw = tw, pd->n = k, pd->next = 0, pd->line = r->line;
            }
        } else {
            if (!elmo_utf8_valid(r->buf, len)) {
                c->read++;
                ELMO_TRY(reject(rej, job->input, r->line, "invalid UTF-8", c));
                continue;
            }
            if (memchr(r->buf, '\0', len)) {
                c->read++;
                ELMO_TRY(reject(rej, job->input, r->line, "a NUL byte", c));
                continue;
            }
            char idb[32];
            snprintf(idb, sizeof idb, "%" PRId64, r->line); /* 1-based, as embed's ids */
            char *text = elmo_xstrdup(r->buf);
            elmo_html_unescape(text, strlen(text));
            add_item(items, n_items, r->line, elmo_xstrdup(idb), text, job->max_sentence_tokens);
            c->read++;
        }
    }
}

/* ---- the model tokens of a round, serialized for the ranks ---- */

/* Appends the model form of token s[0..n) (&, <, > escaped) and a NUL. */
static void put_token(char **blob, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + 6 * n + 2 > *cap) {
        *cap = (*len + 6 * n + 2) * 2;
        *blob = elmo_xrealloc(*blob, *cap);
    }
    for (size_t i = 0; i < n; i++) {
        const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : NULL;
        if (e) {
            memcpy(*blob + *len, e, strlen(e));
            *len += strlen(e);
        } else {
            (*blob)[(*len)++] = s[i];
        }
    }
    (*blob)[(*len)++] = '\0';
}

/* ---- writing (rank 0) ---- */

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

static int write_item(const char *out_name, FILE *out, bool conll, const struct item *it,
                      const struct elmo_tagset *ts, const int32_t *tags, const float *score,
                      struct counts *c) {
    if (conll) {
        for (int k = 0; k < it->n_tok; k++)
            fprintf(out, "%.*s %s\n", (int)(it->sp[k].end - it->sp[k].start),
                    it->text + it->sp[k].start, ts->name[tags[k]]);
        if (it->n_tok > 0) fputc('\n', out);
        for (int k = 0, e; k<it->n_tok; k = e> k ? e : k + 1)
            if ((e = entity_end(ts, tags, it->n_tok, k)) > k) c->entities++;
    } else {
        json_t *o = json_object(), *ents = json_array();
        json_object_set_new(o, "id", it->id && it->id[0] ? json_string(it->id) : json_null());
        json_object_set_new(o, "text", json_string(it->text));
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
        fputs(line, out);
        fputc('\n', out);
        free(line);
    }
    c->written++;
    c->tokens += it->n_tok;
    if (ferror(out))
        return elmo_error(ELMO_ERR_IO, "%s: write failed: %s", out_name, strerror(errno));
    return 0;
}

/* ---- the job ---- */

/* Rank 0's outputs: the annotations (or stdout), the reject file, the journal of rounds. */
struct sinks {
    struct elmo_out out; /* unused when writing stdout */
    bool to_stdout;
    FILE *f;
    struct rejects rej;
    char journal[ELMO_PATH_MAX + 16]; /* "" when there is none (stdin or stdout) */
    char *jhead;
    FILE *jf;
    struct stat input_st; /* the input at the start, to notice a change while reading */
};

/*
 * Validates every output against every input by inode before anything is written, takes the
 * output's lock, and opens the outputs aside (OUTPUT.partial, REJECTS.partial) or continues
 * them from the journal, refusing a partial output shorter than the journal says.
 * Returns 0, or a negative status with nothing of the user's touched.
 */
static int open_sinks(const struct elmo_job *job, const struct elmo_ner_runtime *rt,
                      const char *outpath, struct sinks *sk, struct resume_point *rpt,
                      int *resumed, struct reader *rd, struct counts *cnt) {
    const char *inputs[] = {job->input,          job->tagger, job->weights, job->options,
                            rt->meta.glove_path, job->glove};
    const int n_in = (int)(sizeof inputs / sizeof inputs[0]);
    sk->to_stdout = !strcmp(outpath, "-");
    const char *rpath = job->reject_file[0] ? job->reject_file : "annotate.rejects.tsv";
    ELMO_TRY(elmo_out_init(&sk->rej.o, "reject_file", rpath));
    ELMO_TRY(elmo_out_check(&sk->rej.o, inputs, n_in));
    if (!sk->to_stdout) {
        ELMO_TRY(elmo_out_init(&sk->out, job->output[0] ? "output" : "out", outpath));
        ELMO_TRY(elmo_out_check(&sk->out, inputs, n_in));
        if (elmo_same_file(outpath, rpath) || !strcmp(outpath, rpath))
            return elmo_error(ELMO_ERR_ARG, "the output and the reject file are both %s", rpath);
    }
    if (strcmp(job->input, "-") != 0 && stat(job->input, &sk->input_st) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: %s", job->input, strerror(errno));
    if (sk->to_stdout) {
        sk->f = stdout;
        return 0;
    }
    /* resume: a journal of finished rounds (file output and file input only) */
    ELMO_TRY(elmo_out_lock(&sk->out));
    if (strcmp(job->input, "-") != 0) {
        char sha[65];
        ELMO_TRY(elmo_file_sha256(job->input, sha));
        snprintf(sk->journal, sizeof sk->journal, "%s.journal", outpath);
        ELMO_TRY(elmo_check_output_path("output", sk->journal, inputs, n_in));
        sk->jhead = journal_header(job, sha);
        int jr = journal_read(sk->journal, sk->jhead, rpt);
        if (jr < 0) return jr;
        *resumed = jr == 1;
    }
    if (*resumed) {
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
            int got = read_line(rd, job->input, &len);
            if (got < 0) return got;
            if (got == 0)
                return elmo_error(ELMO_ERR_MISMATCH, "%s: the input ended before line %lld of the "
                                  "journal", job->input, (long long)rpt->line);
        }
        *cnt = rpt->c;
        fprintf(stderr, "annotate: resuming from %s after line %lld (%lld tweets already "
                        "written)\n", sk->journal, (long long)rpt->line,
                (long long)rpt->c.written);
        sk->jf = fopen(sk->journal, "a");
    } else {
        sk->f = elmo_out_create_partial(&sk->out);
        if (!sk->f) return ELMO_ERR_IO;
        if (sk->journal[0]) {
            sk->jf = fopen(sk->journal, "w");
            if (sk->jf) fputs(sk->jhead, sk->jf);
        }
    }
    if (sk->journal[0] && !sk->jf)
        return elmo_error(ELMO_ERR_IO, "%s: %s", sk->journal, strerror(errno));
    if (sk->jf) ELMO_TRY(sync_file(sk->jf, sk->journal));
    return 0;
}

/* The input must not have changed while it was read (a shrinking file would lose records). */
static int check_input_unchanged(const struct elmo_job *job, const struct sinks *sk) {
    struct stat st;
    if (!strcmp(job->input, "-")) return 0;
    if (stat(job->input, &st) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: vanished while being read: %s", job->input,
                          strerror(errno));
    if (st.st_size != sk->input_st.st_size || st.st_mtime != sk->input_st.st_mtime ||
        st.st_ino != sk->input_st.st_ino)
        return elmo_error(ELMO_ERR_STATE,
                          "%s changed while it was being read (%lld bytes at the start, %lld "
                          "now); nothing was written, rerun on a stable copy",
                          job->input, (long long)sk->input_st.st_size, (long long)st.st_size);
    return 0;
}

/*
 * Ends the run on rank 0: closes the outputs, and when the run is good renames them into place;
 * a reject file only when something was rejected; the journal goes once the output is in place.
 * A failed run removes only the partial files it created and keeps the journal (a rerun
 * resumes); the previous output, if any, is never touched.
 */
static int close_sinks(const struct elmo_job *job, struct sinks *sk, const struct counts *cnt,
                       int rc) {
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
    if (rc == 0) rc = check_input_unchanged(job, sk);
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
        rc = elmo_out_commit(&sk->out);
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
    int mine = elmo_stop_signal(), any = 0;
    if (MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return elmo_error(ELMO_ERR_MPI, "MPI_Allreduce of the stop flag failed");
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

int elmo_annotate_run(struct elmo_job *job) {
    const int rank = elmo_rank(), size = elmo_size();
    const char *outpath = job->output[0] ? job->output : job->out;
    const bool conll = !strcmp(job->format, "conll");
    int rc = 0, lrc = 0;
    struct elmo_ner_runtime rt;
    struct reader rd = {0};
    struct pending pd = {0};
    struct counts cnt = {0};
    struct item *items = NULL;
    struct sinks sk;
    struct resume_point rpt;
    int resumed = 0;
    bool sinks_open = false;
    memset(&sk, 0, sizeof sk);
    sk.out.lock_fd = -1;
    memset(&rpt, 0, sizeof rpt);
    char *blob = NULL, *myblob = NULL;
    int32_t *tags = NULL, *mytags = NULL, *lens = NULL;
    float *score = NULL, *myscore = NULL, *feat = NULL;
    int *counts = NULL, *displs = NULL, *bcounts = NULL, *bdispls = NULL;
    const char **toks = NULL;
    memset(&rt, 0, sizeof rt);
    elmo_blas_set_threads(job->threads);
    double t0 = elmo__ner_now();

    /* 1. everything is validated (input, tagger, biLM) before any output is touched */
    if (rank == 0) {
        if (job->input_format == ELMO_INPUT_CONLL)
            lrc = elmo_error(ELMO_ERR_ARG, "annotate reads tweets: input_format text (a tweet "
                                           "per line) or jsonl (API v1.1/v2 objects)");
        if (lrc == 0) {
            rd.gz = elmo_gz_open(job->input);
            if (!rd.gz) lrc = ELMO_ERR_IO;
        }
    }
    ELMO_CALL(elmo_agree(lrc));
    ELMO_CALL(elmo__ner_runtime_open(&rt, job, job->max_sentence_tokens));
    if (rank == 0) {
        lrc = open_sinks(job, &rt, outpath, &sk, &rpt, &resumed, &rd, &cnt);
        sinks_open = true;
    }
    ELMO_CALL(elmo_agree(lrc));
    if (rank == 0) items = elmo_xcalloc(ROUND, sizeof *items);
    counts = elmo_xmalloc(sizeof(int) * (size_t)size);
    displs = elmo_xmalloc(sizeof(int) * (size_t)size);
    bcounts = elmo_xmalloc(sizeof(int) * (size_t)size);
    bdispls = elmo_xmalloc(sizeof(int) * (size_t)size);

    /* 2. rounds */
    for (;;) {
        int n_items = 0, more = 0;
        int64_t hdr[2] = {0, 0};
        size_t blen = 0, bcap = 0;
        lrc = 0;
        if (rank == 0) {
            lrc = fill_round(job, &rd, &pd, items, &n_items, &sk.rej, &cnt);
            more = lrc == 1;
            if (lrc > 0) lrc = 0;
            /* blocks of tweets, balanced by tokens; per tweet: its token count, then tokens */
            int64_t total = 0, row = 0;
            for (int i = 0; i < n_items; i++) total += items[i].n_tok;
            int i = 0;
            for (int r = 0; r < size; r++) {
                int64_t goal = total * (r + 1) / size;
                size_t b0 = blen;
                int64_t r0 = row;
                while (i < n_items && (row < goal || r == size - 1)) {
                    struct item *it = &items[i++];
                    char num[16];
                    snprintf(num, sizeof num, "%d", it->n_tok);
                    put_token(&blob, &blen, &bcap, num, strlen(num));
                    it->first = row;
                    for (int k = 0; k < it->n_tok; k++)
                        put_token(&blob, &blen, &bcap, it->text + it->sp[k].start,
                                  (size_t)(it->sp[k].end - it->sp[k].start));
                    row += it->n_tok;
                }
                bcounts[r] = (int)(blen - b0);
                bdispls[r] = (int)b0;
                counts[r] = (int)(row - r0);
                displs[r] = (int)r0;
            }
            hdr[0] = more;
            hdr[1] = row;
        }
        ELMO_CALL(elmo_agree(lrc));
        if (MPI_Bcast(hdr, 2, MPI_INT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
            MPI_Bcast(counts, size, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
            MPI_Bcast(bcounts, size, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            ELMO_FAIL(ELMO_ERR_MPI, "MPI_Bcast of a round failed");
        int mb = bcounts[rank], mt = counts[rank];
        myblob = elmo_xrealloc(myblob, (size_t)mb + 1);
        if (MPI_Scatterv(blob, bcounts, bdispls, MPI_CHAR, myblob, mb, MPI_CHAR, 0,
                         MPI_COMM_WORLD) != MPI_SUCCESS)
            ELMO_FAIL(ELMO_ERR_MPI, "MPI_Scatterv of a round failed");
        /* 3. this rank's block: sentences with tokens, their features, their tags */
        mytags = elmo_xrealloc(mytags, sizeof(int32_t) * (size_t)(mt + 1));
        myscore = elmo_xrealloc(myscore, sizeof(float) * (size_t)(mt + 1));
        toks = elmo_xrealloc(toks, sizeof(char *) * (size_t)(mt + 1));
        lens = elmo_xrealloc(lens, sizeof(int32_t) * (size_t)(mt + 1));
        int ns = 0, nt = 0;
        for (size_t p = 0; p < (size_t)mb;) {
            int k = atoi(myblob + p);
            p += strlen(myblob + p) + 1;
            if (k > 0) lens[ns++] = k;
            for (int q = 0; q < k; q++) {
                toks[nt++] = myblob + p;
                p += strlen(myblob + p) + 1;
            }
        }
        lrc = nt == mt ? 0 : elmo_error(ELMO_ERR_STATE, "annotate: a round lost tokens");
        if (lrc == 0) lrc = elmo__ner_runtime_tag(&rt, ns, lens, toks, mytags, myscore);
        ELMO_CALL(elmo_agree(lrc));
        if (rank == 0) {
            tags = elmo_xrealloc(tags, sizeof(int32_t) * (size_t)(hdr[1] + 1));
            score = elmo_xrealloc(score, sizeof(float) * (size_t)(hdr[1] + 1));
        }
        if (MPI_Gatherv(mytags, mt, MPI_INT32_T, tags, counts, displs, MPI_INT32_T, 0,
                        MPI_COMM_WORLD) != MPI_SUCCESS ||
            MPI_Gatherv(myscore, mt, MPI_FLOAT, score, counts, displs, MPI_FLOAT, 0,
                        MPI_COMM_WORLD) != MPI_SUCCESS)
            ELMO_FAIL(ELMO_ERR_MPI, "MPI_Gatherv of a round failed");
        /* 4. rank 0 writes the round in order */
        lrc = 0;
        if (rank == 0) {
            for (int i = 0; i < n_items && lrc == 0; i++)
                lrc = write_item(sk.to_stdout ? "stdout" : sk.out.partial, sk.f, conll, &items[i], &rt.meta.tags, tags + items[i].first,
                                 score + items[i].first, &cnt);
            for (int i = 0; i < n_items; i++) {
                free(items[i].id);
                free(items[i].text);
                free(items[i].sp);
            }
            /* a round boundary with nothing pending is a resume point */
            if (lrc == 0 && sk.jf && pd.tw == NULL) {
                lrc = sync_file(sk.f, sk.out.partial);
                if (lrc == 0 && sk.rej.f) lrc = sync_file(sk.rej.f, sk.rej.o.partial);
                if (lrc == 0) {
                    fprintf(sk.jf, "round %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld\n",
                            (long long)rd.line, (long long)ftello(sk.f),
                            (long long)(sk.rej.f ? ftello(sk.rej.f) : 0), (long long)cnt.lines,
                            (long long)cnt.read, (long long)cnt.written, (long long)cnt.rejected,
                            (long long)cnt.skipped, (long long)cnt.tokens,
                            (long long)cnt.entities);
                    lrc = sync_file(sk.jf, sk.journal);
                }
            }
            if (lrc == 0 && job->progress && more)
                fprintf(stderr,
                        "annotate: %" PRId64 " records, %" PRId64 " tweets written, "
                        "%.0f tweets/s\n",
                        cnt.read, cnt.written, (double)cnt.written / (elmo__ner_now() - t0));
        }
        free(blob);
        blob = NULL;
        ELMO_CALL(elmo_agree(lrc));
        if (!hdr[0]) break;
        ELMO_CALL(stop_requested(&sk));
    }

    /* 5. summary */
    lrc = 0;
    if (rank == 0) {
        if (cnt.read != cnt.written + cnt.rejected + cnt.skipped)
            lrc = elmo_error(ELMO_ERR_STATE, "annotate: counts do not reconcile");
        lrc = close_sinks(job, &sk, &cnt, lrc);
        sinks_open = false;
        double dt = elmo__ner_now() - t0;
        fprintf(stderr,
                "annotate: %" PRId64 " lines, %" PRId64 " records read = %" PRId64
                " written + %" PRId64 " rejected + %" PRId64 " skipped%s%s\n"
                "annotate: %" PRId64 " tokens, %" PRId64 " entities, %.2f s, %.1f tweets/s on "
                "%d rank%s (%s tagger)\n",
                cnt.lines, cnt.read, cnt.written, cnt.rejected, cnt.skipped,
                cnt.rejected ? ", see " : "", cnt.rejected ? sk.rej.o.path : "", cnt.tokens,
                cnt.entities, dt, dt > 0 ? (double)cnt.written / dt : 0.0, size,
                size > 1 ? "s" : "", rt.meta.features);
    }
    ELMO_CALL(elmo_agree(lrc));
cleanup:
    if (sinks_open) close_sinks(job, &sk, &cnt, rc < 0 ? rc : ELMO_ERR_STATE);
    elmo_gz_close(rd.gz);
    free(rd.buf);
    if (pd.tw) elmo_tweets_free(pd.tw, pd.n);
    if (items) {
        free(items);
    }
    free(blob), free(myblob), free(tags), free(mytags), free(score), free(myscore);
    free(feat), free(lens), free(toks);
    free(counts), free(displs), free(bcounts), free(bdispls);
    elmo__ner_runtime_close(&rt);
    return rc;
}

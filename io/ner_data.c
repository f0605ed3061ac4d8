/*
 * ner_data.c: `token ... tag` files, tag sets and feature tokens (see ner_data.h).
 */
#include "io/ner_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/files.h"
#include "model/status.h"

void elmo_ner_data_free(struct elmo_ner_data *d) {
    free(d->offset);
    free(d->line);
    free(d->tok);
    free(d->tag);
    free(d->blob);
    memset(d, 0, sizeof *d);
}

int elmo_ner_data_read(const char *path, bool tags_optional, struct elmo_ner_data *d) {
    memset(d, 0, sizeof *d);
    char *buf = NULL;
    size_t len = 0;
    ELMO_TRY(elmo_read_file(path, &buf, &len));
    if (memchr(buf, '\0', len)) {
        free(buf);
        return elmo_error(ELMO_ERR_FORMAT, "%s: holds a NUL byte (not a text file)", path);
    }
    /* upper bounds: every line a token, every line a sentence */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    d->tok = elmo_xmalloc(sizeof(char *) * lines);
    d->tag = elmo_xmalloc(sizeof(char *) * lines);
    d->offset = elmo_xmalloc(sizeof(int64_t) * (lines + 1));
    d->line = elmo_xmalloc(sizeof(int64_t) * (lines + 1));
    d->blob = buf;
    d->offset[0] = 0;
    static char outside[] = "O";
    int64_t lineno = 0, cur = 0; /* tokens in the open sentence */
    char *p = buf, *end = buf + len;
    if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF)
        p += 3;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        if (le > p && le[-1] == '\r') le[-1] = '\0', le--;
        *le = '\0';
        /* columns */
        char *first = NULL, *last = NULL;
        int ncol = 0;
        for (char *q = p; q < le;) {
            while (q < le && (*q == ' ' || *q == '\t')) *q++ = '\0';
            if (q >= le) break;
            char *w = q;
            while (q < le && *q != ' ' && *q != '\t') q++;
            if (!first) first = w;
            last = w;
            ncol++;
        }
        bool boundary = ncol == 0 || (first && !strcmp(first, "-X-"));
        if (boundary) {
            if (cur > 0) {
                d->n_sent++;
                d->offset[d->n_sent] = d->n_tok;
                cur = 0;
            }
        } else {
            if (ncol < 2 && !tags_optional) {
                int64_t ln = lineno;
                elmo_ner_data_free(d);
                return elmo_error(ELMO_ERR_FORMAT,
                                  "%s:%lld: expected `token tag` (the tag in the last column), "
                                  "got one column",
                                  path, (long long)ln);
            }
            if (cur == 0) d->line[d->n_sent] = lineno;
            d->tok[d->n_tok] = first;
            d->tag[d->n_tok] = ncol >= 2 ? last : outside;
            d->n_tok++;
            cur++;
            if (cur > d->max_len) d->max_len = (int)cur;
        }
        p = nl ? nl + 1 : end;
    }
    if (cur > 0) {
        d->n_sent++;
        d->offset[d->n_sent] = d->n_tok;
    }
    return 0;
}

void elmo_ner_data_truncate(struct elmo_ner_data *d, int n) {
    if (n < 0 || n >= d->n_sent) return;
    d->n_sent = n;
    d->n_tok = d->offset[n];
    d->max_len = 0;
    for (int s = 0; s < n; s++) {
        int L = (int)(d->offset[s + 1] - d->offset[s]);
        if (L > d->max_len) d->max_len = L;
    }
}

int elmo_tagset_find(const struct elmo_tagset *ts, const char *name) {
    for (int i = 0; i < ts->n; i++)
        if (!strcmp(ts->name[i], name)) return i;
    return -1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

int elmo_tagset_build(const struct elmo_ner_data *d, struct elmo_tagset *ts) {
    memset(ts, 0, sizeof *ts);
    snprintf(ts->name[0], sizeof ts->name[0], "O");
    ts->n = 1;
    for (int64_t i = 0; i < d->n_tok; i++) {
        const char *t = d->tag[i];
        if (elmo_tagset_find(ts, t) >= 0) continue;
        ELMO_CHECK(strlen(t) < sizeof ts->name[0], ELMO_ERR_RANGE,
                   "tag '%.64s...' is longer than 63 bytes", t);
        ELMO_CHECK(ts->n < ELMO_TAGGER_MAX_TAGS, ELMO_ERR_RANGE, "more than %d distinct tags",
                   ELMO_TAGGER_MAX_TAGS);
        snprintf(ts->name[ts->n++], sizeof ts->name[0], "%s", t);
    }
    qsort(ts->name[1], (size_t)(ts->n - 1), sizeof ts->name[0], cmp_str);
    return 0;
}

char *elmo_tagset_join(const struct elmo_tagset *ts) {
    size_t n = 1;
    for (int i = 0; i < ts->n; i++) n += strlen(ts->name[i]) + 1;
    char *s = elmo_xmalloc(n), *p = s;
    for (int i = 0; i < ts->n; i++) p += sprintf(p, "%s%s", i ? "\n" : "", ts->name[i]);
    *p = '\0';
    return s;
}

int elmo_tagset_split(const char *text, struct elmo_tagset *ts) {
    memset(ts, 0, sizeof *ts);
    const char *p = text;
    while (*p) {
        size_t l = strcspn(p, "\n");
        ELMO_CHECK(l > 0 && l < sizeof ts->name[0] && ts->n < ELMO_TAGGER_MAX_TAGS, ELMO_ERR_FORMAT,
                   "tag set: bad entry %d", ts->n);
        memcpy(ts->name[ts->n], p, l);
        ts->name[ts->n++][l] = '\0';
        p += l;
        if (*p) p++;
    }
    ELMO_CHECK(ts->n >= 1, ELMO_ERR_FORMAT, "tag set: empty");
    return 0;
}

const char *elmo_ner_feature_token(const char *tok, bool mask_urls_users) {
    if (!mask_urls_users) return tok;
    if ((!strncmp(tok, "http://", 7) && tok[7]) || (!strncmp(tok, "https://", 8) && tok[8]))
        return "<URL>";
    if (tok[0] == '@' && tok[1]) return "<USR>";
    return tok;
}

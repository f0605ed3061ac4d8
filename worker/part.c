/*
 * part.c: reading staged shard results (see part.h for the layout).
 */
#include "worker/part.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/fnv.h"
#include "model/outputs.h"
#include "model/status.h"

static int64_t pad8(int64_t n) { return (n + 7) / 8 * 8; }

void elmo_part_layout(const struct elmo_part_header *h, struct elmo_part_layout *lay) {
    int64_t o = (int64_t)sizeof *h;
    memset(lay, 0, sizeof *lay);
    lay->rec_ent = o;  o += 8 * (h->n_rec + 1);
    lay->ent_line = o; o += 8 * h->n_ent;
    lay->ent_id = o;   o += 8 * (h->n_ent + 1);
    lay->ent_text = o; o += 8 * (h->n_ent + 1);
    lay->ent_tok = o;  o += 8 * (h->n_ent + 1);
    lay->tok_text = o; o += 8 * (h->n_tok + 1);
    lay->id_blob = o;   o += pad8(h->id_bytes);
    lay->text_blob = o; o += pad8(h->text_bytes);
    lay->tok_blob = o;  o += pad8(h->tok_bytes);
    for (unsigned k = 0; k < ELMO_N_OUTPUTS; k++) {
        if (!(h->outputs & elmo_outputs[k].bit)) continue;
        int64_t rows = elmo_outputs[k].per_sentence ? h->n_ent : h->n_tok;
        lay->out[k] = o;
        o += rows * elmo_output_width(k, (int)h->P) * (int64_t)sizeof(float);
    }
    lay->total = o;
}

int elmo_part_read_at(int fd, void *dst, int64_t n, int64_t off, const char *path) {
    char *d = dst;
    while (n > 0) {
        ssize_t r = pread(fd, d, (size_t)n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return elmo_error(ELMO_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r == 0)
            return elmo_error(ELMO_ERR_FORMAT,
                              "%s: the file is truncated (it ends before byte "
                              "%" PRId64 ")",
                              path, off + n);
        d += r;
        n -= r;
        off += r;
    }
    return 0;
}

static int load(int fd, void **dst, int64_t n, int64_t off, const char *path) {
    *dst = elmo_malloc((size_t)(n > 0 ? n : 1), "part index");
    if (!*dst) return ELMO_ERR_NOMEM;
    return elmo_part_read_at(fd, *dst, n, off, path);
}

int elmo_part_open(struct elmo_part *p, const char *path) {
    int rc = 0;
    memset(p, 0, sizeof *p);
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0) return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    ELMO_CALL(elmo_part_read_at(p->fd, &p->h, sizeof p->h, 0, path));
    if (memcmp(p->h.magic, ELMO_PART_MAGIC, 8) != 0 || p->h.version != 1)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: not an elmo part file", path);
    elmo_part_layout(&p->h, &p->lay);
    struct stat stt;
    if (fstat(p->fd, &stt) != 0) ELMO_FAIL(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    if ((int64_t)stt.st_size != p->lay.total)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: part file has %lld bytes, expected %lld", path,
                  (long long)stt.st_size, (long long)p->lay.total);
    const struct elmo_part_header *h = &p->h;
    ELMO_CALL(load(p->fd, (void **)&p->rec_ent, 8 * (h->n_rec + 1), p->lay.rec_ent, path));
    ELMO_CALL(load(p->fd, (void **)&p->ent_line, 8 * h->n_ent, p->lay.ent_line, path));
    ELMO_CALL(load(p->fd, (void **)&p->ent_id, 8 * (h->n_ent + 1), p->lay.ent_id, path));
    ELMO_CALL(load(p->fd, (void **)&p->ent_text, 8 * (h->n_ent + 1), p->lay.ent_text, path));
    ELMO_CALL(load(p->fd, (void **)&p->ent_tok, 8 * (h->n_ent + 1), p->lay.ent_tok, path));
    ELMO_CALL(load(p->fd, (void **)&p->tok_text, 8 * (h->n_tok + 1), p->lay.tok_text, path));
    ELMO_CALL(load(p->fd, (void **)&p->id_blob, h->id_bytes, p->lay.id_blob, path));
    ELMO_CALL(load(p->fd, (void **)&p->text_blob, h->text_bytes, p->lay.text_blob, path));
    ELMO_CALL(load(p->fd, (void **)&p->tok_blob, h->tok_bytes, p->lay.tok_blob, path));
    return 0;
cleanup:
    elmo_part_close(p);
    return rc;
}

int elmo_part_read_rows(const struct elmo_part *p, unsigned bit, int64_t row0, int64_t n,
                        float *dst) {
    if (n <= 0) return 0;
    int64_t width = elmo_output_width(bit, (int)p->h.P);
    ELMO_CHECK(p->lay.out[bit] != 0, ELMO_ERR_STATE, "part has no output %u", bit);
    return elmo_part_read_at(p->fd, dst, n * width * 4, p->lay.out[bit] + row0 * width * 4,
                             "part file");
}

void elmo_part_close(struct elmo_part *p) {
    if (p->fd > 0) close(p->fd);
    free(p->rec_ent); free(p->ent_line); free(p->ent_id); free(p->ent_text);
    free(p->ent_tok); free(p->tok_text);
    free(p->id_blob); free(p->text_blob); free(p->tok_blob);
    memset(p, 0, sizeof *p);
    p->fd = -1;
}

/* ---- part checksums ------------------------------------------------------------------- */

int elmo_part_checksum(int fd, int64_t size, uint64_t *sum, const char *path) {
    enum { BUF = 1 << 20 };
    const size_t field = offsetof(struct elmo_part_header, checksum);
    uint8_t *buf = elmo_malloc(BUF, "a part checksum buffer");
    if (!buf) return ELMO_ERR_NOMEM;
    uint64_t h = ELMO_FNV64_OFFSET;
    int64_t off = 0;
    int rc = 0;
    while (off < size) {
        size_t want = size - off < BUF ? (size_t)(size - off) : BUF;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) ELMO_FAIL(ELMO_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r == 0) ELMO_FAIL(ELMO_ERR_FORMAT, "%s: the part file is truncated", path);
        if (off <= (int64_t)field && off + r >= (int64_t)(field + 8))
            memset(buf + (field - (size_t)off), 0, 8);
        /* a read that is not a multiple of 8 only happens at the end */
        h = elmo_fnv64_fold(h, buf, (size_t)r);
        off += r;
        if (r % 8 != 0 && off < size)
            ELMO_FAIL(ELMO_ERR_IO, "%s: a short read in the middle of the file", path);
    }
    *sum = h;
cleanup:
    free(buf);
    return rc;
}

int elmo_part_verify(const char *path, int64_t size, uint64_t sum) {
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    struct elmo_part_header h;
    uint64_t got = 0;
    if (fstat(fd, &st) != 0) ELMO_FAIL(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    if ((int64_t)st.st_size != size)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s has %lld bytes, the journal recorded %lld", path,
                  (long long)st.st_size, (long long)size);
    if (size < (int64_t)sizeof h || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: cannot read the part header", path);
    if (memcmp(h.magic, ELMO_PART_MAGIC, 8) != 0)
        ELMO_FAIL(ELMO_ERR_FORMAT, "%s: not an elmo part file", path);
    if (h.checksum != sum)
        ELMO_FAIL(ELMO_ERR_FORMAT,
                  "%s: its header's checksum %016llx is not the journal's "
                  "%016llx",
                  path, (unsigned long long)h.checksum, (unsigned long long)sum);
    ELMO_CALL(elmo_part_checksum(fd, size, &got, path));
    if (got != sum)
        ELMO_FAIL(ELMO_ERR_FORMAT,
                  "%s: its bytes do not match its checksum (%016llx, recorded "
                  "%016llx): the file was damaged",
                  path, (unsigned long long)got, (unsigned long long)sum);
cleanup:
    close(fd);
    return rc;
}

/* ---- direct writes -------------------------------------------------------------------- */

int elmo_direct_ranges(const struct elmo_direct *d, int64_t i, int64_t ranges[][2]) {
    const struct elmo_shard_count *c = &d->count[i], *f = &d->first[i];
    int n = 0;
    for (int k = 0; k < ELMO_DS_COUNT; k++) {
        if (d->map.off[k] < 0) continue;
        int64_t at, rows;
        switch (k) {
        case ELMO_DS_ID_BLOB: at = f->id_bytes; rows = c->id_bytes; break;
        case ELMO_DS_TEXT_BLOB: at = f->text_bytes; rows = c->text_bytes; break;
        case ELMO_DS_TOK_BLOB: at = f->tok_bytes; rows = c->tok_bytes; break;
        case ELMO_DS_TOK_OFFSET: at = f->n_tok; rows = c->n_tok; break;
        default:
            if (k < ELMO_DS_EMB0 || elmo_outputs[k - ELMO_DS_EMB0].per_sentence) {
                at = f->n_ent;
                rows = c->n_ent;
            } else {
                at = f->n_tok;
                rows = c->n_tok;
            }
        }
        if (rows == 0) continue;
        ranges[n][0] = d->map.off[k] + at * d->map.row_bytes[k];
        ranges[n][1] = rows * d->map.row_bytes[k];
        n++;
    }
    return n;
}

int elmo_direct_checksum(const struct elmo_direct *d, int64_t i, int64_t *bytes, uint64_t *sum) {
    enum { BUF = 1 << 20 };
    int64_t r[ELMO_DS_COUNT][2];
    int n = elmo_direct_ranges(d, i, r), rc = 0;
    uint8_t *buf = elmo_malloc(BUF, "a checksum buffer");
    if (!buf) return ELMO_ERR_NOMEM;
    uint64_t h = ELMO_FNV64_OFFSET;
    *bytes = 0;
    for (int k = 0; k < n; k++) {
        for (int64_t done = 0; done < r[k][1];) {
            size_t want = r[k][1] - done < BUF ? (size_t)(r[k][1] - done) : BUF;
            ELMO_CALL(elmo_part_read_at(d->fd, buf, (int64_t)want, r[k][0] + done, d->path));
            h = elmo_fnv64_fold(h, buf, want);
            done += (int64_t)want;
        }
        *bytes += r[k][1];
    }
    *sum = h;
cleanup:
    free(buf);
    return rc;
}

int elmo_direct_verify(const struct elmo_direct *d, int64_t i, int64_t bytes, uint64_t sum) {
    int64_t got_bytes = 0;
    uint64_t got = 0;
    ELMO_TRY(elmo_direct_checksum(d, i, &got_bytes, &got));
    if (got_bytes != bytes || got != sum)
        return elmo_error(ELMO_ERR_FORMAT,
                          "%s: the rows of shard %lld do not match the journal (%lld bytes, "
                          "checksum %016llx; recorded %lld bytes, %016llx)",
                          d->path, (long long)i, (long long)got_bytes, (unsigned long long)got,
                          (long long)bytes, (unsigned long long)sum);
    return 0;
}

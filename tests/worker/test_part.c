/*
 * test_part.c: worker/part, a shard's staged results.  A part written here by the layout of
 * part.h (header, index arrays, blobs padded to 8 bytes, the outputs) opens with the same
 * index arrays and blobs and reads back the same rows of every output; its checksum is the
 * documented FNV-1a over little-endian words with the checksum field read as 0; a flipped byte
 * anywhere, a truncated file, a padded file or another recorded size or sum fails
 * elmo_part_verify, and elmo_part_open refuses a file of the wrong size or magic.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/job.h"
#include "model/status.h"
#include "tests/check.h"
#include "worker/part.h"

static char dir[256];

/* The shard written below: 2 records, 3 entries (the second one empty), 5 tokens. */
enum { P = 3, N_REC = 2, N_ENT = 3, N_TOK = 5 };
static const int64_t rec_ent[N_REC + 1] = {0, 2, 3};
static const int64_t ent_line[N_ENT] = {1, 2, 4};
static const char id_blob[] = "a1a2b";       /* ids "a1", "a2", "b" */
static const int64_t ent_id[N_ENT + 1] = {0, 2, 4, 5};
static const char text_blob[] = "the catdog runs"; /* "the cat", "", "dog runs" */
static const int64_t ent_text[N_ENT + 1] = {0, 7, 7, 15};
static const int64_t ent_tok[N_ENT + 1] = {0, 2, 2, 5};
static const char tok_blob[] = "thecatdogrun!";
static const int64_t tok_text[N_TOK + 1] = {0, 3, 6, 9, 12, 13};
static const unsigned outputs = ELMO_OUT_WORD_EMB | ELMO_OUT_LSTM2 | ELMO_OUT_DEFAULT |
                                ELMO_OUT_ALL;

/* Floats per row of output bit k, as part.h states them. */
static int width(unsigned k) {
    if ((1u << k) == ELMO_OUT_WORD_EMB) return P;
    if ((1u << k) == ELMO_OUT_ALL) return 3 * 2 * P;
    return 2 * P;
}

static int64_t rows_of(unsigned k) { return (1u << k) == ELMO_OUT_DEFAULT ? N_ENT : N_TOK; }

static float value(unsigned k, int64_t r, int c) { return (float)k * 100.0f + (float)r + c / 64.0f; }

/* The documented checksum, computed independently: FNV-1a over 64-bit little-endian words of
 * the bytes (a short tail byte by byte), the header's checksum field read as 0. */
static uint64_t reference_sum(const uint8_t *bytes, size_t n) {
    const size_t field = offsetof(struct elmo_part_header, checksum);
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = 0;
        for (int b = 7; b >= 0; b--)
            w = w << 8 | (i + (size_t)b >= field && i + (size_t)b < field + 8 ? 0 : bytes[i + b]);
        h ^= w;
        h *= 0x100000001b3ull;
    }
    for (; i < n; i++) {
        h ^= bytes[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_at(uint8_t *file, int64_t off, const void *src, size_t n) {
    memcpy(file + off, src, n);
}

/* Builds the part in memory (its bytes in *out, its size returned), checksum included. */
static int64_t build_part(uint8_t **out) {
    struct elmo_part_header h;
    struct elmo_part_layout lay;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, ELMO_PART_MAGIC, 8);
    h.version = 1;
    h.P = P;
    h.outputs = outputs;
    h.shard = 17;
    h.n_rec = N_REC;
    h.n_ent = N_ENT;
    h.n_tok = N_TOK;
    h.id_bytes = (int64_t)strlen(id_blob);
    h.text_bytes = (int64_t)strlen(text_blob);
    h.tok_bytes = (int64_t)strlen(tok_blob);
    h.n_empty = 1;
    h.cache_hits = 2;
    h.cache_lookups = 5;
    elmo_part_layout(&h, &lay);
    uint8_t *f = calloc(1, (size_t)lay.total);
    if (!f) { perror("calloc"); exit(1); }
    put_at(f, lay.rec_ent, rec_ent, sizeof rec_ent);
    put_at(f, lay.ent_line, ent_line, sizeof ent_line);
    put_at(f, lay.ent_id, ent_id, sizeof ent_id);
    put_at(f, lay.ent_text, ent_text, sizeof ent_text);
    put_at(f, lay.ent_tok, ent_tok, sizeof ent_tok);
    put_at(f, lay.tok_text, tok_text, sizeof tok_text);
    put_at(f, lay.id_blob, id_blob, (size_t)h.id_bytes);
    put_at(f, lay.text_blob, text_blob, (size_t)h.text_bytes);
    put_at(f, lay.tok_blob, tok_blob, (size_t)h.tok_bytes);
    for (unsigned k = 0; k < 8; k++) {
        if (!(outputs & (1u << k))) continue;
        for (int64_t r = 0; r < rows_of(k); r++)
            for (int c = 0; c < width(k); c++) {
                float v = value(k, r, c);
                put_at(f, lay.out[k] + (r * width(k) + c) * 4, &v, 4);
            }
    }
    h.checksum = 0x5a5a5a5a5a5a5a5aull;  /* read as 0 by the checksum */
    put_at(f, 0, &h, sizeof h);
    h.checksum = reference_sum(f, (size_t)lay.total);
    put_at(f, 0, &h, sizeof h);
    *out = f;
    return lay.total;
}

static void write_file(const char *path, const uint8_t *bytes, int64_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static uint64_t header_sum(const uint8_t *bytes) {
    struct elmo_part_header h;
    memcpy(&h, bytes, sizeof h);
    return h.checksum;
}

static void test_layout(void) {
    struct elmo_part_header h;
    struct elmo_part_layout lay;
    memset(&h, 0, sizeof h);
    h.P = P;
    h.outputs = outputs;
    h.n_rec = N_REC;
    h.n_ent = N_ENT;
    h.n_tok = N_TOK;
    h.id_bytes = 5;
    h.text_bytes = 15;
    h.tok_bytes = 13;
    elmo_part_layout(&h, &lay);
    int64_t o = (int64_t)sizeof h;
    CHECK_INT_EQ(lay.rec_ent, o);
    CHECK_INT_EQ(lay.ent_line, o += 8 * (N_REC + 1));
    CHECK_INT_EQ(lay.ent_id, o += 8 * N_ENT);
    CHECK_INT_EQ(lay.ent_text, o += 8 * (N_ENT + 1));
    CHECK_INT_EQ(lay.ent_tok, o += 8 * (N_ENT + 1));
    CHECK_INT_EQ(lay.tok_text, o += 8 * (N_ENT + 1));
    CHECK_INT_EQ(lay.id_blob, o += 8 * (N_TOK + 1));
    CHECK_INT_EQ(lay.text_blob, o += 8);    /* 5 bytes padded to 8 */
    CHECK_INT_EQ(lay.tok_blob, o += 16);    /* 15 -> 16 */
    o += 16;                                /* 13 -> 16 */
    for (unsigned k = 0; k < 8; k++) {
        if (!(outputs & (1u << k))) {
            CHECK_INT_EQ(lay.out[k], 0);
            continue;
        }
        CHECK_INT_EQ(lay.out[k], o);
        o += rows_of(k) * width(k) * 4;
    }
    CHECK_INT_EQ(lay.total, o);
    CHECK_INT_EQ(lay.total % 4, 0);
}

static void test_round_trip(void) {
    uint8_t *bytes;
    int64_t n = build_part(&bytes);
    char path[512];
    snprintf(path, sizeof path, "%s/shard-000017.part", dir);
    write_file(path, bytes, n);
    struct elmo_part p;
    CHECK_OK(elmo_part_open(&p, path));
    CHECK_INT_EQ(p.h.shard, 17);
    CHECK_INT_EQ(p.h.n_empty, 1);
    CHECK_INT_EQ(p.h.cache_hits, 2);
    CHECK_INT_EQ(p.h.cache_lookups, 5);
    CHECK_INT_EQ(p.lay.total, n);
    CHECK(memcmp(p.rec_ent, rec_ent, sizeof rec_ent) == 0);
    CHECK(memcmp(p.ent_line, ent_line, sizeof ent_line) == 0);
    CHECK(memcmp(p.ent_id, ent_id, sizeof ent_id) == 0);
    CHECK(memcmp(p.ent_text, ent_text, sizeof ent_text) == 0);
    CHECK(memcmp(p.ent_tok, ent_tok, sizeof ent_tok) == 0);
    CHECK(memcmp(p.tok_text, tok_text, sizeof tok_text) == 0);
    CHECK(memcmp(p.id_blob, id_blob, strlen(id_blob)) == 0);
    CHECK(memcmp(p.text_blob, text_blob, strlen(text_blob)) == 0);
    CHECK(memcmp(p.tok_blob, tok_blob, strlen(tok_blob)) == 0);
    float buf[N_TOK * 6 * P];
    for (unsigned k = 0; k < 8; k++) {
        if (!(outputs & (1u << k))) {
            CHECK(elmo_part_read_rows(&p, k, 0, 1, buf) == ELMO_ERR_STATE);
            continue;
        }
        /* every row, then a window of rows in the middle */
        CHECK_OK(elmo_part_read_rows(&p, k, 0, rows_of(k), buf));
        int same = 1;
        for (int64_t r = 0; r < rows_of(k); r++)
            for (int c = 0; c < width(k); c++)
                if (buf[r * width(k) + c] != value(k, r, c)) same = 0;
        CHECK(same);
        CHECK_OK(elmo_part_read_rows(&p, k, 1, rows_of(k) - 2, buf));
        CHECK(buf[0] == value(k, 1, 0));
        CHECK(buf[(rows_of(k) - 2) * width(k) - 1] == value(k, rows_of(k) - 2, width(k) - 1));
    }
    CHECK_OK(elmo_part_read_rows(&p, 0, 0, 0, buf));  /* nothing to read */
    /* a row past the end of the last output (all, bit 5) is a truncated read */
    CHECK(elmo_part_read_rows(&p, 5, rows_of(5), 1, buf) == ELMO_ERR_FORMAT);
    elmo_part_close(&p);
    CHECK_INT_EQ(p.fd, -1);
    CHECK(p.rec_ent == NULL);
    free(bytes);
}

static void test_checksum(void) {
    uint8_t *bytes;
    int64_t n = build_part(&bytes);
    const uint64_t sum = header_sum(bytes);
    char path[512];
    snprintf(path, sizeof path, "%s/sum.part", dir);
    write_file(path, bytes, n);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    uint64_t got = 0;
    CHECK_OK(elmo_part_checksum(fd, n, &got, path));
    CHECK(got == sum);
    /* more bytes asked for than the file has: an error (which one depends on whether the
     * file's size is a multiple of 8; elmo_part_verify checks the size first) */
    CHECK(elmo_part_checksum(fd, n + 8, &got, path) != 0);
    close(fd);
    CHECK_OK(elmo_part_verify(path, n, sum));
    /* the journal's record must match: another size or another sum */
    CHECK(elmo_part_verify(path, n - 8, sum) == ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), "the journal recorded") != NULL);
    CHECK(elmo_part_verify(path, n, sum ^ 1) == ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), "is not the journal's") != NULL);
    /* a byte flipped anywhere outside the checksum field: the bytes no longer match it */
    const size_t field = offsetof(struct elmo_part_header, checksum);
    int64_t spots[] = {0, 9, (int64_t)field - 1, (int64_t)field + 8, n / 2, n - 1};
    for (size_t s = 0; s < sizeof spots / sizeof *spots; s++) {
        bytes[spots[s]] ^= 0x10;
        write_file(path, bytes, n);
        int rc = elmo_part_verify(path, n, sum);
        CHECK(rc == ELMO_ERR_FORMAT);
        if (spots[s] >= 8) CHECK(strstr(elmo_errmsg(), "the file was damaged") != NULL);
        bytes[spots[s]] ^= 0x10;
    }
    write_file(path, bytes, n);
    CHECK_OK(elmo_part_verify(path, n, sum));
    /* truncated (at the header, in the middle, a byte short) or padded */
    const int64_t cuts[] = {0, 40, n / 2, n - 1};
    for (size_t s = 0; s < sizeof cuts / sizeof *cuts; s++) {
        write_file(path, bytes, cuts[s]);
        CHECK(elmo_part_verify(path, n, sum) == ELMO_ERR_FORMAT);
        struct elmo_part p;
        CHECK(elmo_part_open(&p, path) == ELMO_ERR_FORMAT);
    }
    uint8_t *longer = calloc(1, (size_t)n + 8);
    if (!longer) { perror("calloc"); exit(1); }
    memcpy(longer, bytes, (size_t)n);
    write_file(path, longer, n + 8);
    CHECK(elmo_part_verify(path, n, sum) == ELMO_ERR_FORMAT);
    struct elmo_part p;
    CHECK(elmo_part_open(&p, path) == ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), "expected") != NULL);
    free(longer);
    /* another magic */
    bytes[0] ^= 0x20;
    write_file(path, bytes, n);
    CHECK(elmo_part_open(&p, path) == ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), "not an elmo part file") != NULL);
    CHECK(elmo_part_verify(path, n, sum) == ELMO_ERR_FORMAT);
    free(bytes);
    /* the checksum of any size: a tail of fewer than 8 bytes is taken byte by byte */
    uint8_t odd[29];
    for (size_t i = 0; i < sizeof odd; i++) odd[i] = (uint8_t)(i * 37 + 1);
    snprintf(path, sizeof path, "%s/odd.bin", dir);
    write_file(path, odd, sizeof odd);
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK_OK(elmo_part_checksum(fd, sizeof odd, &got, path));
    CHECK(got == reference_sum(odd, sizeof odd));
    close(fd);
    /* a missing file is an I/O error */
    snprintf(path, sizeof path, "%s/missing.part", dir);
    CHECK(elmo_part_verify(path, n, sum) == ELMO_ERR_IO);
    CHECK(elmo_part_open(&p, path) == ELMO_ERR_IO);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/elmo-test-part-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_layout();
    test_round_trip();
    test_checksum();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_REPORT();
}

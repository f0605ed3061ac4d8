/*
 * test_gz.c: the strict plain/gzip/bzip2/zstd reader (io/gz): plain and compressed files give
 * the same lines; multi-member files are read to their real end; a damaged second member,
 * trailing garbage and a truncated stream are errors naming the file and the byte, never a
 * silent end of input; the codec comes from the magic bytes; peek does not consume.
 */
#include <bzlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "io/gz.h"
#include "model/status.h"
#include "tests/check.h"

static char dir[256];

/* Writes text gzip-compressed (one member) to path, appending when append is set. */
static void gz_write(const char *path, const char *text, int append) {
    gzFile f = gzopen(path, append ? "ab" : "wb");
    if (!f || gzputs(f, text) < 0 || gzclose(f) != Z_OK) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static void raw_write(const char *path, const void *data, size_t n, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* All lines of path joined with '|', or the error status. */
static int lines(const char *path, char *out, size_t n) {
    struct elmo_gz *g = elmo_gz_open(path);
    if (!g) return ELMO_ERR_IO;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    int r;
    out[0] = '\0';
    while ((r = elmo_gz_getline(g, &buf, &cap, &len)) == 1) {
        size_t k = strlen(out);
        snprintf(out + k, n - k, "%s%s", k ? "|" : "", buf);
    }
    free(buf);
    elmo_gz_close(g);
    return r;
}

/* text compressed as one bzip2 stream or zstd frame into out (*n bytes, at most cap). */
static void pack(const char *codec, const char *text, unsigned char *out, size_t cap, size_t *n) {
    if (!strcmp(codec, "bzip2")) {
        unsigned int len = (unsigned int)cap;
        if (BZ2_bzBuffToBuffCompress((char *)out, &len, (char *)text, (unsigned)strlen(text), 9,
                                     0, 0) != BZ_OK) {
            fprintf(stderr, "bzip2 compression failed\n");
            exit(1);
        }
        *n = len;
    } else {
        /* with a checksum, as the zstd tool writes by default */
        ZSTD_CCtx *z = ZSTD_createCCtx();
        size_t r = z ? ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1) : 1;
        if (z && !ZSTD_isError(r)) r = ZSTD_compress2(z, out, cap, text, strlen(text));
        ZSTD_freeCCtx(z);
        if (!z || ZSTD_isError(r)) {
            fprintf(stderr, "zstd compression failed\n");
            exit(1);
        }
        *n = r;
    }
}

static char *path_of(const char *name) {
    static char p[4][512];
    static int i;
    char *s = p[i++ % 4];
    snprintf(s, 512, "%s/%s", dir, name);
    return s;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/elmo-test-gz-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char got[4096];
    const char *text = "first line\r\nsecond\n\nlast without newline";

    raw_write(path_of("plain.txt"), text, strlen(text), "wb");
    CHECK_OK(lines(path_of("plain.txt"), got, sizeof got));
    CHECK_STR_EQ(got, "first line|second||last without newline");

    gz_write(path_of("one.gz"), text, 0);
    CHECK_OK(lines(path_of("one.gz"), got, sizeof got));
    CHECK_STR_EQ(got, "first line|second||last without newline");

    /* two members, as `cat a.gz b.gz` makes: both are read */
    gz_write(path_of("two.gz"), "member one\n", 0);
    gz_write(path_of("two.gz"), "member two\n", 1);
    CHECK_OK(lines(path_of("two.gz"), got, sizeof got));
    CHECK_STR_EQ(got, "member one|member two");

    /* a damaged header of the second member: an error, not the first member alone */
    FILE *f = fopen(path_of("two.gz"), "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t second = 0;
    for (size_t i = 2; i + 1 < n; i++)
        if (buf[i] == 0x1f && buf[i + 1] == 0x8b) second = i;
    CHECK(second > 0);
    buf[second + 1] = 0x00;
    raw_write(path_of("damaged.gz"), buf, n, "wb");
    CHECK_INT_EQ(lines(path_of("damaged.gz"), got, sizeof got), ELMO_ERR_IO);
    CHECK(strstr(elmo_errmsg(), "damaged.gz: byte ") != NULL);
    CHECK(strstr(elmo_errmsg(), "not another gzip member") != NULL);

    /* garbage after the last member */
    gz_write(path_of("trail.gz"), "data\n", 0);
    raw_write(path_of("trail.gz"), "junk", 4, "ab");
    CHECK_INT_EQ(lines(path_of("trail.gz"), got, sizeof got), ELMO_ERR_IO);

    /* a stream cut short */
    raw_write(path_of("cut.gz"), buf, second - 5, "wb");
    CHECK_INT_EQ(lines(path_of("cut.gz"), got, sizeof got), ELMO_ERR_IO);
    CHECK(strstr(elmo_errmsg(), "truncated") != NULL);

    /* damaged compressed data inside a member */
    buf[12] ^= 0xff;
    buf[13] ^= 0xff;
    raw_write(path_of("bits.gz"), buf, second, "wb");
    CHECK(lines(path_of("bits.gz"), got, sizeof got) < 0);

    /* an empty file is an empty input; a missing one an error naming it */
    raw_write(path_of("empty.txt"), "", 0, "wb");
    CHECK_OK(lines(path_of("empty.txt"), got, sizeof got));
    CHECK_STR_EQ(got, "");
    CHECK(elmo_gz_open(path_of("missing.gz")) == NULL);
    CHECK(strstr(elmo_errmsg(), "missing.gz") != NULL);

    /* bzip2 and zstd: the same strictness as gzip */
    const char *codecs[] = {"bzip2", "zstd"};
    for (int c = 0; c < 2; c++) {
        const char *cd = codecs[c];
        char name[64];
        unsigned char one[1024], two[1024], all[2048];
        size_t n1, n2;
        pack(cd, text, one, sizeof one, &n1);
        snprintf(name, sizeof name, "one.%s", cd);
        raw_write(path_of(name), one, n1, "wb");
        CHECK_OK(lines(path_of(name), got, sizeof got));
        CHECK_STR_EQ(got, "first line|second||last without newline");
        struct elmo_gz *g = elmo_gz_open(path_of(name));
        CHECK(g != NULL);
        CHECK_STR_EQ(elmo_gz_codec(g), cd);
        CHECK(elmo_gz_compressed(g));
        /* peek: the first bytes, which the next read returns again */
        const char *head;
        size_t hn = 0;
        CHECK_OK(elmo_gz_peek(g, &head, &hn));
        CHECK(hn >= 5 && !memcmp(head, "first", 5));
        char five[6] = "";
        CHECK_INT_EQ(elmo_gz_read(g, five, 5), 5);
        CHECK(!memcmp(five, "first", 5));
        elmo_gz_close(g);

        /* two members (cat a b) */
        pack(cd, "member one\n", one, sizeof one, &n1);
        pack(cd, "member two\n", two, sizeof two, &n2);
        memcpy(all, one, n1);
        memcpy(all + n1, two, n2);
        snprintf(name, sizeof name, "two.%s", cd);
        raw_write(path_of(name), all, n1 + n2, "wb");
        CHECK_OK(lines(path_of(name), got, sizeof got));
        CHECK_STR_EQ(got, "member one|member two");

        /* zstd: a skippable frame between the frames is skipped */
        if (c == 1) {
            unsigned char skip[12] = {0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 'n', 'o', 't', 'e'};
            unsigned char three[2048];
            memcpy(three, one, n1);
            memcpy(three + n1, skip, sizeof skip);
            memcpy(three + n1 + sizeof skip, two, n2);
            raw_write(path_of("skip.zstd"), three, n1 + sizeof skip + n2, "wb");
            CHECK_OK(lines(path_of("skip.zstd"), got, sizeof got));
            CHECK_STR_EQ(got, "member one|member two");
        }

        /* the second member's magic damaged: an error naming the byte */
        memcpy(all + n1, two, n2);
        all[n1 + 1] ^= 0x40;
        snprintf(name, sizeof name, "damaged.%s", cd);
        raw_write(path_of(name), all, n1 + n2, "wb");
        CHECK_INT_EQ(lines(path_of(name), got, sizeof got), ELMO_ERR_IO);
        CHECK(strstr(elmo_errmsg(), "byte ") != NULL);
        CHECK(strstr(elmo_errmsg(), "is not another") != NULL);

        /* damaged data inside a member */
        pack(cd, text, one, sizeof one, &n1);
        for (size_t i = n1 / 2; i < n1 / 2 + 4 && i < n1; i++) one[i] ^= 0x5a;
        snprintf(name, sizeof name, "bits.%s", cd);
        raw_write(path_of(name), one, n1, "wb");
        CHECK(lines(path_of(name), got, sizeof got) < 0);

        /* garbage after the last member */
        pack(cd, "data\n", one, sizeof one, &n1);
        memcpy(one + n1, "junk", 4);
        snprintf(name, sizeof name, "trail.%s", cd);
        raw_write(path_of(name), one, n1 + 4, "wb");
        CHECK_INT_EQ(lines(path_of(name), got, sizeof got), ELMO_ERR_IO);

        /* a stream cut short */
        pack(cd, text, one, sizeof one, &n1);
        snprintf(name, sizeof name, "cut.%s", cd);
        raw_write(path_of(name), one, n1 - 3, "wb");
        CHECK_INT_EQ(lines(path_of(name), got, sizeof got), ELMO_ERR_IO);
        CHECK(strstr(elmo_errmsg(), "truncated") != NULL);
    }
    /* the magic bytes, not the name, decide */
    CHECK_STR_EQ(elmo_gz_magic_codec("BZh9", 4), "bzip2");
    CHECK_STR_EQ(elmo_gz_magic_codec("\x28\xb5\x2f\xfd", 4), "zstd");
    CHECK_STR_EQ(elmo_gz_magic_codec("\x1f\x8b", 2), "gzip");
    CHECK(elmo_gz_magic_codec("BZh!", 4) == NULL);
    CHECK(elmo_gz_magic_codec("{\"a", 3) == NULL);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_REPORT();
}

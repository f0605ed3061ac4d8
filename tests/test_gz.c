/*
 * test_gz.c: the strict plain/gzip reader (io/gz): plain and gzip files give the same lines;
 * multi-member files are read to their real end; a damaged second member, trailing garbage and
 * a truncated stream are errors naming the file and the byte, never a silent end of input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_REPORT();
}

/*
 * test_hash_cache.c: the cached sha256 of model files (io/hash_cache.h), and the pieces the
 * node-shared loader is built from (io/weights.h, model/bilm.h).
 *
 * Cache: a first call computes and records; a recorded hash is used (a planted fake hash with
 * the file's identity comes back); touching or rewriting the file recomputes; a corrupt line,
 * a line of another identity and trailing bytes are ignored; an unusable cache directory and
 * ELMO_CACHE_DIR= (empty or "off") compute without error and write nothing.
 * Split loading: nparts parts reading and packing into one caller block give the bytes of
 * elmo_model_load + elmo_model_pack, for 1..5 parts, on the fixture's weights.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/hash_cache.h"
#include "io/sha256.h"
#include "io/weights.h"
#include "model/bilm.h"
#include "model/bilm_ws.h"
#include "model/status.h"
#include "tests/check.h"

static char dir[256], cache[300], data[300];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 8192);
    size_t n = fread(buf, 1, 8191, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The one cache file in cache/ (path into out); 1 when there is exactly one. */
static int cache_entry(char *out, size_t cap) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null | grep -c '^sha256-.*\\.txt$'", cache);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p && fscanf(p, "%d", &n) != 1) n = 0;
    if (p) pclose(p);
    snprintf(cmd, sizeof cmd, "ls %s/sha256-*.txt 2>/dev/null | head -1", cache);
    p = popen(cmd, "r");
    out[0] = '\0';
    if (p && fgets(out, (int)cap, p)) out[strcspn(out, "\n")] = '\0';
    if (p) pclose(p);
    return n == 1;
}

/* Replaces the hash of the cache line with a fake one (same identity). */
static void plant_fake(const char *entry, const char *fake) {
    char *line = read_all(entry);
    CHECK(line != NULL && !strncmp(line, "sha256=", 7));
    if (!line) return;
    memcpy(line + 7, fake, 64);
    write_text(entry, line);
    free(line);
}

static void test_cache(void) {
    char real[65], got[65], entry[512];
    const char *fake = "00000000000000000000000000000000000000000000000000000000000000ff";
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(data, sizeof data, "%s/weights.bin", dir);
    write_text(data, "pretend weights\n");
    setenv("ELMO_CACHE_DIR", cache, 1);
    CHECK_OK(elmo_file_sha256(data, real));
    CHECK_OK(elmo_file_sha256_cached(data, got));
    CHECK_STR_EQ(got, real);
    CHECK(cache_entry(entry, sizeof entry));
    char *line = read_all(entry);
    CHECK(line && strstr(line, real) && strstr(line, "path=") && strstr(line, "ino="));
    printf("  cache line: %s", line ? line : "(none)\n");
    free(line);

    puts("== a recorded hash is used");
    plant_fake(entry, fake);
    CHECK_OK(elmo_file_sha256_cached(data, got));
    CHECK_STR_EQ(got, fake);

    puts("== touching the file recomputes");
    struct timespec ts[2] = {{1000000000, 5}, {1000000000, 5}};
    CHECK(utimensat(AT_FDCWD, data, ts, 0) == 0);
    CHECK_OK(elmo_file_sha256_cached(data, got));
    CHECK_STR_EQ(got, real);

    puts("== rewriting the file recomputes");
    write_text(data, "other weights\n");
    char real2[65];
    CHECK_OK(elmo_file_sha256(data, real2));
    CHECK_OK(elmo_file_sha256_cached(data, got));
    CHECK_STR_EQ(got, real2);

    puts("== corrupt, foreign and padded lines are ignored");
    const char *bad[] = {"garbage\n", "", "sha256=zz\n"};
    for (int i = 0; i < 3; i++) {
        write_text(entry, bad[i]);
        CHECK_OK(elmo_file_sha256_cached(data, got));
        CHECK_STR_EQ(got, real2);
    }
    line = read_all(entry); /* rewritten by the last call: valid again */
    CHECK(line != NULL);
    if (line) {
        char *ino = strstr(line, " ino=");
        CHECK(ino != NULL);
        char foreign[8192];
        if (ino) { /* another inode, everything else equal, fake hash */
            snprintf(foreign, sizeof foreign, "sha256=%s%.*s ino=1%s", fake, (int)(ino - line - 71),
                     line + 71, ino + 5);
            write_text(entry, foreign);
            CHECK_OK(elmo_file_sha256_cached(data, got));
            CHECK_STR_EQ(got, real2);
        }
        snprintf(foreign, sizeof foreign, "sha256=%s%s", fake, line + 71); /* valid but fake */
        strcat(foreign, "x\n"); /* trailing bytes after the line */
        write_text(entry, foreign);
        CHECK_OK(elmo_file_sha256_cached(data, got));
        CHECK_STR_EQ(got, real2);
        free(line);
    }

    puts("== an unusable cache directory, or the cache off, computes");
    char under_file[400];
    snprintf(under_file, sizeof under_file, "%s/sub", data); /* below a regular file */
    setenv("ELMO_CACHE_DIR", under_file, 1);
    CHECK_OK(elmo_file_sha256_cached(data, got));
    CHECK_STR_EQ(got, real2);
    const char *off[] = {"", "off"};
    for (int i = 0; i < 2; i++) {
        setenv("ELMO_CACHE_DIR", off[i], 1);
        CHECK_INT_EQ(elmo_hash_cache_dir(under_file, sizeof under_file), -1);
        CHECK_OK(elmo_file_sha256_cached(data, got));
        CHECK_STR_EQ(got, real2);
    }
    CHECK_INT_EQ(elmo_file_sha256_cached("/nonexistent/weights", got), ELMO_ERR_IO);
    setenv("ELMO_CACHE_DIR", cache, 1);
}

/* Loading in nparts parts into caller memory gives the plain loader's bytes. */
static void test_split_load(void) {
    const char *fx = getenv("ELMO_FIXTURES");
    if (!fx) fx = "../shared/fixtures";
    char opt_path[512], w_path[512];
    snprintf(opt_path, sizeof opt_path, "%s/elmo-allennlp/options.json", fx);
    snprintf(w_path, sizeof w_path, "%s/elmo-allennlp/lm_weights.hdf5", fx);
    if (access(w_path, R_OK) != 0) {
        printf("  (no fixture model at %s: split loading not tested)\n", w_path);
        return;
    }
    struct elmo_model ref;
    CHECK_OK(elmo_model_load(opt_path, w_path, &ref));
    CHECK_OK(elmo_model_pack(&ref));
    struct elmo_options opt;
    CHECK_OK(elmo_options_load(opt_path, &opt));
    CHECK_OK(elmo_weights_check(w_path, &opt));
    const size_t nb = elmo_model_block_floats(&opt), np = elmo_model_packed_floats(&opt);
    CHECK(nb == ref.n_params && np == ref.packed->floats);
    for (int nparts = 1; nparts <= 5; nparts++) {
        float *mem = elmo_aligned_alloc((nb + np) * sizeof(float), "test");
        memset(mem, 0, (nb + np) * sizeof(float));
        struct elmo_model m[5];
        for (int p = 0; p < nparts; p++) {
            CHECK_OK(elmo_model_init_at(&m[p], &opt, mem));
            CHECK_OK(elmo_weights_read_part(w_path, &m[p], p, nparts));
        }
        for (int p = 0; p < nparts; p++) CHECK_OK(elmo_model_pack_at(&m[p], mem + nb, p, nparts));
        CHECK(!memcmp(mem, ref.block, nb * sizeof(float)));
        CHECK(!memcmp(mem + nb, ref.packed->block, np * sizeof(float)));
        for (int p = 0; p < nparts; p++) {
            CHECK(m[p].packed->wx[1][1].data - mem ==
                  ref.packed->wx[1][1].data - ref.packed->block + (ptrdiff_t)nb);
            elmo_model_free(&m[p]); /* borrowed: frees neither block */
        }
        printf("  %d part%s: the same bytes\n", nparts, nparts > 1 ? "s" : "");
        free(mem);
    }
    elmo_model_free(&ref);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/elmo-test-hash-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    test_cache();
    test_split_load();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return CHECK_REPORT();
}

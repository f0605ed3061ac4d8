/*
 * test_pack_cache.c: packed-weight images kept in files (io/pack_cache.h), and the model's
 * side of them (elmo_model_pack_view, elmo_model_pack_tag).
 *
 * An image of several blocks and a tail is written (nothing else left in the directory),
 * mapped back with the same bytes, and checked whole and in 1..3 shares.  It is refused for
 * another key, another size, a missing file, a damaged header and a truncated file, with a
 * reason.  A damaged image byte is found by the share that holds its block only.  A rewrite
 * renames a new file over the old one: a mapping of the old keeps the old bytes.  A write
 * where the directory cannot be made fails with a reason, records no error and leaves nothing.
 * The views of elmo_model_pack_view are those elmo_model_pack_at set, and the layout names of
 * two shapes differ.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/pack_cache.h"
#include "model/bilm.h"
#include "model/bilm_ws.h"
#include "model/status.h"
#include "tests/check.h"

static char dir[256], file[320];

/* Entries in dir. */
static int entries(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (!p || fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

/* Flips the bits of the byte at off of file. */
static void flip(off_t off) {
    int fd = open(file, O_RDWR);
    CHECK(fd >= 0);
    unsigned char b = 0;
    CHECK(pread(fd, &b, 1, off) == 1);
    b ^= 0xff;
    CHECK(pwrite(fd, &b, 1, off) == 1);
    close(fd);
}

static void test_cache(void) {
    /* three whole 4 MiB blocks and a tail */
    const size_t n = 3 * ((size_t)1 << 20) + 123;
    float *data = malloc(n * sizeof(float)), *other = malloc(n * sizeof(float));
    CHECK(data && other);
    for (size_t i = 0; i < n; i++) data[i] = (float)i * 0.5f, other[i] = -(float)i;
    char why[512];
    struct elmo_pack_image img, old;

    CHECK(elmo_pack_cache_map(file, "key one", n, &img, why, sizeof why) == 0);
    CHECK_STR_EQ(why, "none");
    CHECK_INT_EQ(elmo_pack_cache_write(file, "key one", data, n, why, sizeof why), 0);
    CHECK_INT_EQ(entries(), 1);
    CHECK(elmo_pack_cache_map(file, "key one", n, &img, why, sizeof why) == 1);
    CHECK(img.floats == n && img.nblocks == 4 && ((uintptr_t)img.data & 4095) == 0);
    CHECK(!memcmp(img.data, data, n * sizeof(float)));
    CHECK(elmo_pack_cache_check(&img, 0, 1) == -1);
    for (int p = 0; p < 3; p++) CHECK(elmo_pack_cache_check(&img, p, 3) == -1);
    const off_t header = (off_t)((const char *)img.data - (const char *)img.map);
    elmo_pack_cache_unmap(&img);
    CHECK(img.map == NULL);

    CHECK(elmo_pack_cache_map(file, "key two", n, &img, why, sizeof why) == 0);
    CHECK(strstr(why, "another weight file") != NULL);
    CHECK(elmo_pack_cache_map(file, "key one!", n, &img, why, sizeof why) == 0);
    CHECK(elmo_pack_cache_map(file, "key one", n - 1, &img, why, sizeof why) == 0);
    CHECK(strstr(why, "another weight file") != NULL);

    /* a damaged byte in block 1: found by the share holding block 1 */
    flip(header + (off_t)(((size_t)1 << 20) + 5) * 4);
    CHECK(elmo_pack_cache_map(file, "key one", n, &img, why, sizeof why) == 1);
    CHECK(elmo_pack_cache_check(&img, 0, 1) == 1);
    CHECK(elmo_pack_cache_check(&img, 1, 2) == 1);
    CHECK(elmo_pack_cache_check(&img, 0, 2) == -1);
    elmo_pack_cache_unmap(&img);

    /* a rewrite goes to a new file: the old mapping keeps its bytes */
    CHECK_INT_EQ(elmo_pack_cache_write(file, "key one", data, n, why, sizeof why), 0);
    CHECK(elmo_pack_cache_map(file, "key one", n, &old, why, sizeof why) == 1);
    CHECK_INT_EQ(elmo_pack_cache_write(file, "key one", other, n, why, sizeof why), 0);
    CHECK_INT_EQ(entries(), 1);
    CHECK(elmo_pack_cache_map(file, "key one", n, &img, why, sizeof why) == 1);
    CHECK(!memcmp(old.data, data, n * sizeof(float)));
    CHECK(!memcmp(img.data, other, n * sizeof(float)));
    CHECK(elmo_pack_cache_check(&old, 0, 1) == -1 && elmo_pack_cache_check(&img, 0, 1) == -1);
    elmo_pack_cache_unmap(&old);
    elmo_pack_cache_unmap(&img);

    /* a damaged header (a byte of the key), then a truncated file */
    flip(64 + 2);
    CHECK(elmo_pack_cache_map(file, "key one", n, &img, why, sizeof why) == 0);
    CHECK(strstr(why, "damaged") != NULL);
    flip(64 + 2);
    CHECK(elmo_pack_cache_map(file, "key one", n, &img, why, sizeof why) == 1);
    elmo_pack_cache_unmap(&img);
    CHECK(truncate(file, header + (off_t)(n * 4) - 4) == 0);
    CHECK(elmo_pack_cache_map(file, "key one", n, &img, why, sizeof why) == 0);
    CHECK(strstr(why, "truncated") != NULL);
    printf("  image: written, mapped, checked in shares; refusals: %s\n", why);

    /* a directory that cannot be made: a reason, no error recorded, nothing left */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/sub/packed.bin", file);
    elmo_error_clear();
    CHECK_INT_EQ(elmo_pack_cache_write(bad, "key one", data, n, why, sizeof why), -1);
    CHECK(why[0] != '\0');
    CHECK_STR_EQ(elmo_errmsg(), elmo_strerror(ELMO_OK));
    CHECK_INT_EQ(entries(), 1);
    printf("  unwritable: %s\n", why);
    free(data);
    free(other);
}

/* The tiny shape: views from elmo_model_pack_view equal those elmo_model_pack_at set. */
static void test_views(void) {
    struct elmo_options opt = {.E = 4,
                               .n_filters = 2,
                               .filter_width = {1, 2},
                               .filter_count = {4, 8},
                               .F = 12,
                               .n_highway = 1,
                               .n_characters = 262,
                               .max_chars = 50,
                               .D = 16,
                               .P = 8,
                               .L = 2,
                               .skip = true,
                               .has_cnn_proj = true,
                               .has_lstm_proj = true};
    struct elmo_model a, b;
    CHECK_OK(elmo_model_init(&a, &opt));
    CHECK_OK(elmo_model_init(&b, &opt));
    const size_t np = elmo_model_packed_floats(&opt);
    float *mem = elmo_aligned_alloc(np * sizeof(float), "test");
    CHECK_OK(elmo_model_pack_at(&a, mem, 0, 1));
    CHECK_OK(elmo_model_pack_view(&b, mem));
    CHECK(b.packed->floats == a.packed->floats && b.packed->block == mem);
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < 2; l++) {
            CHECK(b.packed->wx[d][l].data == a.packed->wx[d][l].data);
            CHECK(b.packed->wh[d][l].data == a.packed->wh[d][l].data);
            CHECK(b.packed->wp[d][l].data == a.packed->wp[d][l].data);
        }
    CHECK(b.packed->hw[0].data == a.packed->hw[0].data &&
          b.packed->hw[0].bias == a.packed->hw[0].bias);
    char t1[512], t2[512];
    CHECK_INT_EQ(elmo_model_pack_tag(&opt, t1, sizeof t1), 0);
    opt.filter_count[1] = 9, opt.F = 13;
    CHECK_INT_EQ(elmo_model_pack_tag(&opt, t2, sizeof t2), 0);
    CHECK(strcmp(t1, t2) != 0);
    CHECK_INT_EQ(elmo_model_pack_tag(&opt, t2, 8), -1);
    printf("  views as packed; layout: %s\n", t1);
    elmo_model_free(&a);
    elmo_model_free(&b);
    free(mem);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/elmo-test-pack-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file, sizeof file, "%s/packed-x.bin", dir);
    test_cache();
    test_views();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return CHECK_REPORT();
}

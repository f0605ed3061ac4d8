/*
 * test_weights.c: the model files.  A save/load round trip is bit-identical (also for the
 * fixture's real weight file); bad weight files (truncated, not HDF5, a missing dataset, a
 * wrong shape, a wrong type, a NaN) fail with a message naming the file and the dataset;
 * CNN_proj / W_P_0 may be absent only where the options allow; options.json errors name the
 * key; SHA-256 matches the FIPS 180-4 vectors and sha256sum.  Bad files are made in a mkdtemp
 * directory with elmo_weights_save and the HDF5 API.
 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/sha256.h"
#include "io/weights.h"
#include "model/bilm.h"
#include "model/status.h"
#include "tests/check.h"

static char dir[256];

static void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Expects failure with `code` and a message containing the file and `needle`. */
static void expect_fail(int rc, int code, const char *file, const char *needle) {
    CHECK_INT_EQ(rc, code);
    const char *msg = elmo_errmsg();
    if (rc < 0) printf("  expected error: %s\n", msg);
    CHECK(strstr(msg, file) != NULL);
    if (needle) CHECK(strstr(msg, needle) != NULL);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static int same_weights(const struct elmo_model *a, const struct elmo_model *b) {
    struct elmo_param pa[128], pb[128];
    int na = elmo_model_params(a, pa, 128), nb = elmo_model_params(b, pb, 128);
    if (na != nb) return 0;
    for (int i = 0; i < na; i++) {
        if (strcmp(pa[i].name, pb[i].name) || elmo_param_numel(&pa[i]) != elmo_param_numel(&pb[i]))
            return 0;
        if (memcmp(pa[i].data, pb[i].data, sizeof(float) * elmo_param_numel(&pa[i]))) return 0;
    }
    return 1;
}

/* Saves a random fixture-shape model to name; returns its options. */
static struct elmo_options save_random(const char *name, struct elmo_model *keep) {
    struct elmo_options o;
    elmo_options_preset("fixture", &o);
    struct elmo_model m;
    CHECK_OK(elmo_model_init(&m, &o));
    elmo_model_randomize(&m, 9);
    char p[512];
    path_in(p, sizeof p, name);
    CHECK_OK(elmo_weights_save(p, &m));
    if (keep) *keep = m;
    else elmo_model_free(&m);
    return o;
}

static int load_with(const struct elmo_options *o, const char *path, struct elmo_model *m) {
    memset(m, 0, sizeof *m);
    m->opt = *o;
    return elmo_weights_load(path, m);
}

/* Replaces dataset `name` of file with a float/int dataset of the given shape and value. */
static void replace_dataset(const char *file, const char *name, hid_t type, int ndim,
                            const hsize_t *dims, float value) {
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, name, H5P_DEFAULT);
    if (ndim > 0) {
        hid_t s = H5Screate_simple(ndim, dims, NULL);
        hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        size_t n = 1;
        for (int i = 0; i < ndim; i++) n *= dims[i];
        float *x = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) x[i] = value;
        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
        free(x);
        H5Dclose(d);
        H5Sclose(s);
    }
    H5Fclose(f);
}

static void test_weights(void) {
    struct elmo_model orig, back;
    struct elmo_options o = save_random("good.hdf5", &orig);
    char good[512], bad[512];
    path_in(good, sizeof good, "good.hdf5");

    /* round trip, and the same model gives the same bytes (no timestamps in the file) */
    CHECK_OK(load_with(&o, good, &back));
    CHECK(same_weights(&orig, &back));
    char again[512], h1[65], h2[65];
    path_in(again, sizeof again, "again.hdf5");
    CHECK_OK(elmo_weights_save(again, &back));
    CHECK_OK(elmo_file_sha256(good, h1));
    CHECK_OK(elmo_file_sha256(again, h2));
    CHECK_STR_EQ(h1, h2);
    CHECK(back.char_embed[0] == 0.0f && back.char_embed[1] == 0.0f);
    elmo_model_free(&back);

    /* missing file, not HDF5, truncated */
    path_in(bad, sizeof bad, "missing.hdf5");
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_IO, bad, "cannot open");
    path_in(bad, sizeof bad, "text.hdf5");
    write_text(bad, "this is not HDF5\n");
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_HDF5, bad, "not an HDF5 file");
    path_in(bad, sizeof bad, "truncated.hdf5");
    {
        FILE *in = fopen(good, "rb"), *out = fopen(bad, "wb");
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, in);
        fwrite(buf, 1, n / 2, out);
        fclose(in);
        fclose(out);
    }
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_HDF5, bad, "truncated");
    CHECK(back.block == NULL);

    /* a missing dataset */
    path_in(bad, sizeof bad, "missing_ds.hdf5");
    save_random("missing_ds.hdf5", NULL);
    replace_dataset(bad, "CNN_high_1/W_transform", 0, 0, NULL, 0);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_FORMAT, bad, "CNN_high_1/W_transform");
    /* a missing group */
    path_in(bad, sizeof bad, "missing_group.hdf5");
    save_random("missing_group.hdf5", NULL);
    replace_dataset(bad, "RNN_1", 0, 0, NULL, 0);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_FORMAT, bad,
                "RNN_1/RNN/MultiRNNCell/Cell0/LSTMCell/W_0");

    /* a wrong shape */
    path_in(bad, sizeof bad, "shape.hdf5");
    save_random("shape.hdf5", NULL);
    hsize_t d15[1] = {15};
    replace_dataset(bad, "CNN/b_cnn_2", H5T_IEEE_F32LE, 1, d15, 0.5f);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_SHAPE, bad, "CNN/b_cnn_2");
    CHECK(strstr(elmo_errmsg(), "(15,)") && strstr(elmo_errmsg(), "(16,)"));
    /* a wrong rank */
    path_in(bad, sizeof bad, "rank.hdf5");
    save_random("rank.hdf5", NULL);
    hsize_t d3[3] = {1, 32, 256};
    replace_dataset(bad, "RNN_0/RNN/MultiRNNCell/Cell1/LSTMCell/W_0", H5T_IEEE_F32LE, 3, d3, 0);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_SHAPE, bad, "Cell1/LSTMCell/W_0");

    /* a wrong type */
    path_in(bad, sizeof bad, "type.hdf5");
    save_random("type.hdf5", NULL);
    hsize_t dce[2] = {261, 4};
    replace_dataset(bad, "char_embed", H5T_STD_I32LE, 2, dce, 1.0f);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_FORMAT, bad, "char_embed");

    /* a NaN, and an Inf */
    path_in(bad, sizeof bad, "nan.hdf5");
    save_random("nan.hdf5", NULL);
    hsize_t db[1] = {256};
    replace_dataset(bad, "RNN_1/RNN/MultiRNNCell/Cell0/LSTMCell/B", H5T_IEEE_F32LE, 1, db, NAN);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_NAN, bad,
                "RNN_1/RNN/MultiRNNCell/Cell0/LSTMCell/B");
    CHECK(back.block == NULL);
    path_in(bad, sizeof bad, "inf.hdf5");
    save_random("inf.hdf5", NULL);
    hsize_t dp[2] = {124, 16};
    replace_dataset(bad, "CNN_proj/W_proj", H5T_IEEE_F32LE, 2, dp, INFINITY);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_NAN, bad, "CNN_proj/W_proj");

    /* W_P_0 / CNN_proj may be missing only when the options allow it */
    path_in(bad, sizeof bad, "noproj.hdf5");
    save_random("noproj.hdf5", NULL);
    replace_dataset(bad, "CNN_proj/W_proj", 0, 0, NULL, 0);
    expect_fail(load_with(&o, bad, &back), ELMO_ERR_FORMAT, bad, "CNN_proj/W_proj");
    elmo_model_free(&orig);

    /* F == P and P == D: the file decides */
    struct elmo_options e = o;
    e.P = e.D = e.F = 124;
    e.has_cnn_proj = e.has_lstm_proj = false;
    struct elmo_model nm;
    CHECK_OK(elmo_model_init(&nm, &e));
    elmo_model_randomize(&nm, 2);
    path_in(bad, sizeof bad, "equal_noproj.hdf5");
    CHECK_OK(elmo_weights_save(bad, &nm));
    e.has_cnn_proj = e.has_lstm_proj = true; /* what the options alone would not know */
    CHECK_OK(load_with(&e, bad, &back));
    CHECK(!back.opt.has_cnn_proj && !back.opt.has_lstm_proj && back.proj_w == NULL);
    CHECK(same_weights(&nm, &back));
    elmo_model_free(&back);
    elmo_model_free(&nm);
    e.has_cnn_proj = e.has_lstm_proj = true;
    CHECK_OK(elmo_model_init(&nm, &e));
    elmo_model_randomize(&nm, 2);
    path_in(bad, sizeof bad, "equal_proj.hdf5");
    CHECK_OK(elmo_weights_save(bad, &nm));
    e.has_cnn_proj = e.has_lstm_proj = false;
    CHECK_OK(load_with(&e, bad, &back));
    CHECK(back.opt.has_cnn_proj && back.opt.has_lstm_proj);
    CHECK(same_weights(&nm, &back));
    elmo_model_free(&back);
    elmo_model_free(&nm);
}

static void test_fixture_roundtrip(const char *fx) {
    char op[4200], wp[4200], out[512], oout[512];
    snprintf(op, sizeof op, "%s/elmo-allennlp/options.json", fx);
    snprintf(wp, sizeof wp, "%s/elmo-allennlp/lm_weights.hdf5", fx);
    struct elmo_model m, m2;
    CHECK_OK(elmo_model_load(op, wp, &m));
    path_in(out, sizeof out, "fixture_copy.hdf5");
    path_in(oout, sizeof oout, "fixture_options.json");
    CHECK_OK(elmo_weights_save(out, &m));
    CHECK_OK(elmo_options_save(oout, &m.opt));
    CHECK_OK(elmo_model_load(oout, out, &m2));
    CHECK(same_weights(&m, &m2));
    CHECK(!memcmp(&m.opt, &m2.opt, sizeof m.opt));
    elmo_model_free(&m);
    elmo_model_free(&m2);
}

static void test_options(void) {
    char p[512];
    path_in(p, sizeof p, "opt.json");
    struct elmo_options o, o2;
    const char *base =
        "{\"lstm\": {\"cell_clip\": 3, \"use_skip_connections\": true, \"n_layers\": 2, "
        "\"proj_clip\": 3, \"projection_dim\": 16, \"dim\": 64}, \"char_cnn\": {\"embedding\": "
        "{\"dim\": 4}, \"filters\": [[1, 4], [2, 8], [3, 16], [4, 32], [5, 64]], \"n_highway\": "
        "2, \"n_characters\": 262, \"max_characters_per_token\": 50, \"activation\": \"relu\"}}";
    write_text(p, base);
    CHECK_OK(elmo_options_load(p, &o));
    CHECK_INT_EQ(o.F, 124);
    CHECK(o.has_cnn_proj && o.has_lstm_proj && o.skip);
    CHECK_NEAR(o.cell_clip, 3.0, 0);
    /* to_json and back */
    char *text;
    CHECK_OK(elmo_options_to_json(&o, &text));
    CHECK_OK(elmo_options_parse(text, "text", &o2));
    CHECK(!memcmp(&o, &o2, sizeof o));
    free(text);

    struct {
        const char *from, *to, *key;
        int code;
    } cases[] = {
        {"\"dim\": 64}", "\"dimm\": 64}", "key lstm.dim: missing", ELMO_ERR_FORMAT},
        {"\"dim\": 64}", "\"dim\": \"64\"}", "key lstm.dim: not an integer", ELMO_ERR_FORMAT},
        {"\"dim\": 64}", "\"dim\": 8}", "key lstm.projection_dim", ELMO_ERR_RANGE},
        {"\"n_layers\": 2", "\"n_layers\": 0", "key lstm.n_layers", ELMO_ERR_RANGE},
        {"\"cell_clip\": 3", "\"cell_clip\": \"big\"", "key lstm.cell_clip", ELMO_ERR_FORMAT},
        /* finite as a double, infinite as a float (found by fuzz_options) */
        {"\"cell_clip\": 3", "\"cell_clip\": 1e39", "key lstm.cell_clip", ELMO_ERR_RANGE},
        {"\"proj_clip\": 3", "\"proj_clip\": 3.5e38", "key lstm.proj_clip", ELMO_ERR_RANGE},
        {"[2, 8]", "[2]", "key char_cnn.filters[1]", ELMO_ERR_FORMAT},
        {"\"relu\"", "\"gelu\"", "key char_cnn.activation", ELMO_ERR_RANGE},
        {"\"max_characters_per_token\": 50", "\"max_characters_per_token\": 40",
         "key char_cnn.max_characters_per_token", ELMO_ERR_RANGE},
        {"\"embedding\": {\"dim\": 4}", "\"embedding\": 4", "key char_cnn.embedding.dim",
         ELMO_ERR_FORMAT},
        {"\"n_characters\": 262", "\"n_characters\": 300", "key char_cnn.n_characters",
         ELMO_ERR_RANGE},
        {"\"use_skip_connections\": true", "\"use_skip_connections\": 1",
         "key lstm.use_skip_connections", ELMO_ERR_FORMAT},
        {"}}", "}", "bad JSON", ELMO_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text2[2048];
        const char *at = strstr(base, cases[i].from);
        CHECK(at != NULL);
        if (!at) continue;
        size_t pre = (size_t)(at - base);
        snprintf(text2, sizeof text2, "%.*s%s%s", (int)pre, base, cases[i].to,
                 at + strlen(cases[i].from));
        write_text(p, text2);
        expect_fail(elmo_options_load(p, &o), cases[i].code, p, cases[i].key);
    }
    /* clips: null and absent mean no clipping */
    char text3[2048];
    const char *at = strstr(base, "\"cell_clip\": 3, ");
    snprintf(text3, sizeof text3, "%.*s%s", (int)(at - base), base,
             at + strlen("\"cell_clip\": 3, "));
    write_text(p, text3);
    CHECK_OK(elmo_options_load(p, &o));
    CHECK(o.cell_clip == 0.0f);
    path_in(p, sizeof p, "nope.json");
    expect_fail(elmo_options_load(p, &o), ELMO_ERR_IO, p, "cannot open");
}

static void test_sha256(const char *fx) {
    struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmno"
         "pqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct elmo_sha256 s;
        uint8_t d[32];
        char hex[65];
        elmo_sha256_init(&s);
        elmo_sha256_update(&s, v[i].msg, strlen(v[i].msg));
        elmo_sha256_final(&s, d);
        elmo_sha256_hex(d, hex);
        CHECK_STR_EQ(hex, v[i].hex);
    }
    /* one million 'a', fed in odd pieces */
    struct elmo_sha256 s;
    uint8_t d[32];
    char hex[65], a[997];
    memset(a, 'a', sizeof a);
    elmo_sha256_init(&s);
    size_t left = 1000000;
    for (size_t k = 1; left; k = k % 997 + 13) {
        size_t n = k < left ? k : left;
        if (n > sizeof a) n = sizeof a;
        elmo_sha256_update(&s, a, n);
        left -= n;
    }
    elmo_sha256_final(&s, d);
    elmo_sha256_hex(d, hex);
    CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* files: the fixture's published sum, and sha256sum on a file we wrote */
    if (fx) {
        char wp[4200];
        snprintf(wp, sizeof wp, "%s/elmo-allennlp/lm_weights.hdf5", fx);
        CHECK_OK(elmo_file_sha256(wp, hex));
        CHECK_STR_EQ(hex, "dfdfd3001b5965b4b6ef857ac772b6624984f8248eaae08fb9be6d1b51ad8755");
    }
    char good[512], cmd[700], line[200] = "";
    path_in(good, sizeof good, "good.hdf5");
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", good);
    FILE *pp = popen(cmd, "r");
    if (pp) {
        if (!fgets(line, sizeof line, pp)) line[0] = '\0';
        pclose(pp);
    }
    if (strlen(line) >= 64) {
        line[64] = '\0';
        CHECK_OK(elmo_file_sha256(good, hex));
        CHECK_STR_EQ(hex, line);
    } else {
        printf("sha256sum not available; skipped the comparison\n");
    }
    path_in(good, sizeof good, "nope.bin");
    expect_fail(elmo_file_sha256(good, hex), ELMO_ERR_IO, good, NULL);
}

int main(void) {
    const char *fx = check_fixtures();
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/elmo-test-weights-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_weights();
    if (fx) test_fixture_roundtrip(fx);
    test_options();
    test_sha256(fx);
    int rc = check_done(fx);
    if (rc == 0 || rc == CHECK_SKIP) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    } else {
        printf("files kept in %s\n", dir);
    }
    return rc;
}

/*
 * test_store.c: the embedding store (io/store.h), run with 1, 2 and 4 ranks.
 *
 * Every rank writes a deterministic, uneven slice of every dataset in three collective calls
 * (in each call one rank writes nothing when there are several), for f32 and f16 stores with
 * and without deflate.  Rank 0 then reopens each store serially and checks every value, the
 * attributes and the complete flag.  Also: a store closed without finish stays incomplete, a
 * store with no tokens, bad writes failing on every rank, non-stores refused, and the float16
 * conversion.
 *
 * `test_store --keep DIR` leaves the stores in DIR for tests/io/test_store_h5py.sh (h5py checks and
 * `elmo export`), including small stores made for the export.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "io/store.h"
#include "model/status.h"
#include "tests/check.h"

static int rank, size;

/* ---- a synthetic corpus ------------------------------------------------------------------ */

struct synth {
    int64_t N, T;
    int64_t *off, *line, *id_off, *text_off, *tok_off; /* (N+1) (N) (N+1) (N+1) (T+1) */
    uint8_t *id_blob, *text_blob, *tok_blob;
    int64_t Bi, Bs, Bt;
};

static void synth_free(struct synth *s) {
    free(s->off), free(s->line), free(s->id_off), free(s->text_off), free(s->tok_off);
    free(s->id_blob), free(s->text_blob), free(s->tok_blob);
    memset(s, 0, sizeof *s);
}

/* Builds the blobs and offsets of N sentences; tokens are the text split on spaces and tabs. */
static void synth_from_texts(struct synth *s, const char *const *texts, int64_t N) {
    memset(s, 0, sizeof *s);
    s->N = N;
    size_t bs = 0;
    for (int64_t i = 0; i < N; i++) bs += strlen(texts[i]);
    s->off = elmo_xcalloc((size_t)N + 1, sizeof(int64_t));
    s->line = elmo_xcalloc((size_t)N + 1, sizeof(int64_t));
    s->id_off = elmo_xcalloc((size_t)N + 1, sizeof(int64_t));
    s->text_off = elmo_xcalloc((size_t)N + 1, sizeof(int64_t));
    s->text_blob = elmo_xmalloc(bs + 1);
    s->id_blob = elmo_xmalloc((size_t)N * 24 + 1);
    s->tok_blob = elmo_xmalloc(bs + 1);
    s->tok_off = elmo_xcalloc(bs + 2, sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) {
        const char *t = texts[i];
        size_t len = strlen(t);
        memcpy(s->text_blob + s->Bs, t, len);
        s->Bs += (int64_t)len;
        s->text_off[i + 1] = s->Bs;
        s->Bi += sprintf((char *)s->id_blob + s->Bi, "id%lld", (long long)i);
        s->id_off[i + 1] = s->Bi;
        s->line[i] = 2 * i + 1;
        for (size_t a = 0; a < len;) {
            while (a < len && (t[a] == ' ' || t[a] == '\t')) a++;
            size_t b = a;
            while (b < len && t[b] != ' ' && t[b] != '\t') b++;
            if (b > a) {
                memcpy(s->tok_blob + s->Bt, t + a, b - a);
                s->Bt += (int64_t)(b - a);
                s->tok_off[++s->T] = s->Bt;
            }
            a = b;
        }
        s->off[i + 1] = s->T;
    }
}

/* The big synthetic corpus: sentence i has (7i + 3) mod 23 tokens (some have none). */
static void synth_make(struct synth *s, int64_t N) {
    char **texts = elmo_xcalloc((size_t)N, sizeof *texts);
    int64_t t = 0;
    for (int64_t i = 0; i < N; i++) {
        int len = (int)((i * 7 + 3) % 23);
        texts[i] = elmo_xcalloc((size_t)len * 24 + 1, 1);
        for (int k = 0; k < len; k++, t++)
            sprintf(texts[i] + strlen(texts[i]), "%s%s%lld", k ? " " : "",
                    t % 5 == 0 ? "na\xc3\xafve" : "t", (long long)t);
    }
    synth_from_texts(s, (const char *const *)texts, N);
    for (int64_t i = 0; i < N; i++) free(texts[i]);
    free(texts);
}

/* The embedding value of output k at (row, col): covers normal, subnormal and overflowing
 * float16 values (the h5py test recomputes it with numpy). */
static float value(int k, int64_t row, int64_t col) {
    static const float scale[4] = {1.0f, 1e-5f, 6000.0f, 1e-8f};
    float base = (float)((row * 131 + col * 17 + k * 7) % 1000) / 37.0f - 13.0f;
    return base * scale[col % 4];
}

static int64_t out_width(unsigned bit, int P) {
    return bit == ELMO_OUT_WORD_EMB ? P : bit == ELMO_OUT_ALL ? 6 * P : 2 * P;
}

/* This rank's rows of call `call` (of 3) over R rows: uneven, one rank empty per call. */
static void my_rows(int64_t R, int call, int64_t *a, int64_t *n) {
    int64_t lo = R * call / 3, hi = R * (call + 1) / 3, W = 0, before = 0;
    for (int r = 0; r < size; r++) {
        int64_t w = size == 1 ? 1 : (r + call) % size;
        if (r < rank) before += w;
        W += w;
    }
    int64_t w = size == 1 ? 1 : (rank + call) % size;
    *a = lo + (hi - lo) * before / W;
    *n = lo + (hi - lo) * (before + w) / W - *a;
}

static int write_i64(struct elmo_store *st, const char *name, const int64_t *all, int64_t R) {
    for (int call = 0; call < 3; call++) {
        int64_t a, n;
        my_rows(R, call, &a, &n);
        ELMO_TRY(elmo_store_write_i64(st, name, a, n, all + a));
    }
    return 0;
}

static int write_u8(struct elmo_store *st, const char *name, const uint8_t *all, int64_t R) {
    for (int call = 0; call < 3; call++) {
        int64_t a, n;
        my_rows(R, call, &a, &n);
        ELMO_TRY(elmo_store_write_u8(st, name, a, n, all + a));
    }
    return 0;
}

static int write_store(struct elmo_store *st, const struct synth *s, unsigned outputs, int P) {
    ELMO_TRY(write_i64(st, "sentences/offset", s->off, s->N + 1));
    ELMO_TRY(write_i64(st, "sentences/line", s->line, s->N));
    ELMO_TRY(write_i64(st, "sentences/id_offset", s->id_off, s->N + 1));
    ELMO_TRY(write_u8(st, "sentences/id_blob", s->id_blob, s->Bi));
    ELMO_TRY(write_i64(st, "sentences/text_offset", s->text_off, s->N + 1));
    ELMO_TRY(write_u8(st, "sentences/text_blob", s->text_blob, s->Bs));
    ELMO_TRY(write_i64(st, "tokens/text_offset", s->tok_off, s->T + 1));
    ELMO_TRY(write_u8(st, "tokens/text_blob", s->tok_blob, s->Bt));
    for (int k = 0; k < 8; k++) {
        unsigned bit = 1u << k;
        if (!(outputs & bit)) continue;
        char name[64];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[k].name);
        int64_t R = bit == ELMO_OUT_DEFAULT ? s->N : s->T, W = out_width(bit, P);
        for (int call = 0; call < 3; call++) {
            int64_t a, n;
            my_rows(R, call, &a, &n);
            float *buf = elmo_xmalloc((size_t)(n * W + 1) * sizeof(float));
            for (int64_t r = 0; r < n; r++)
                for (int64_t c = 0; c < W; c++) buf[r * W + c] = value(k, a + r, c);
            int rc = elmo_store_write_f32(st, name, a, n, buf);
            free(buf);
            ELMO_TRY(rc);
        }
    }
    return 0;
}

static struct elmo_store_layout layout_of(const struct synth *s, unsigned outputs, int P,
                                          enum elmo_precision prec, int compress) {
    struct elmo_store_layout lay = {
        .n_sent = s->N, .n_tok = s->T, .id_bytes = s->Bi, .sent_text_bytes = s->Bs,
        .tok_text_bytes = s->Bt, .outputs = outputs, .P = P, .precision = prec,
        .compress = compress,
    };
    return lay;
}

static const float mix_w[3] = {0.25f, -1.5f, 2.0f};

static struct elmo_store_attrs attrs_for(const char *regime) {
    struct elmo_store_attrs at = {
        .options_json =
            "{\"lstm\": {\"projection_dim\": 64}, \"char_cnn\": {\"n_characters\": 262}}",
        .weights_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        .regime = regime,
        .job_yaml = "kind: embed\ninput: corpus.txt   # caf\xc3\xa9\noutput: out.h5\n",
        .elmo_weights = mix_w, .n_elmo_weights = 3, .elmo_gamma = 0.75f,
        .elmo_layer_norm = true,
    };
    return at;
}

/* Creates, writes and finishes (or only closes) a store.  Collective. */
static int make_store(const char *path, const struct synth *s, unsigned outputs, int P,
                      enum elmo_precision prec, int compress, const char *regime, bool finish) {
    struct elmo_store_layout lay = layout_of(s, outputs, P, prec, compress);
    struct elmo_store_attrs at = attrs_for(regime);
    if (!outputs) at.n_elmo_weights = 0; /* then elmo_weights is an empty (null) attribute */
    struct elmo_store *st = NULL;
    ELMO_TRY(elmo_store_create(&st, path, MPI_COMM_WORLD, &lay, &at));
    int rc = write_store(st, s, outputs, P);
    CHECK_INT_EQ(elmo__store_independent_writes(st), 0);
    if (rc < 0 || !finish) {
        elmo_store_close(st);
        return rc;
    }
    return elmo_store_finish(st);
}

/* ---- checking (rank 0, serial) ----------------------------------------------------------- */

static void check_i64(struct elmo_store *st, const char *name, const int64_t *want, int64_t R) {
    int64_t *got = elmo_xcalloc((size_t)R + 1, sizeof *got);
    CHECK_OK(elmo_store_read_i64(st, name, 0, R, got));
    int bad = 0;
    for (int64_t i = 0; i < R; i++) bad += got[i] != want[i];
    if (bad) fprintf(stderr, "%s: %d wrong values\n", name, bad);
    CHECK_INT_EQ(bad, 0);
    free(got);
}

static void check_u8(struct elmo_store *st, const char *name, const uint8_t *want, int64_t R) {
    uint8_t *got = elmo_xcalloc((size_t)R + 1, 1);
    CHECK_OK(elmo_store_read_u8(st, name, 0, R, got));
    CHECK(R == 0 || memcmp(got, want, (size_t)R) == 0);
    free(got);
}

static bool same_float(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static void check_store(const char *path, const struct synth *s, unsigned outputs, int P,
                        enum elmo_precision prec, const char *regime, int complete) {
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    CHECK_OK(elmo_store_open(&st, path, &info));
    if (!st) return;
    CHECK_INT_EQ(info.complete, complete);
    CHECK_INT_EQ(info.n_sent, s->N);
    CHECK_INT_EQ(info.n_tok, s->T);
    CHECK_INT_EQ(info.outputs, outputs);
    CHECK_INT_EQ(info.P, outputs ? P : 0);
    CHECK_INT_EQ(info.precision, prec);
    CHECK_STR_EQ(info.regime, regime);
    CHECK_STR_EQ(info.version, ELMO_VERSION);
    struct elmo_store_attrs at = attrs_for(regime);
    CHECK_STR_EQ(info.weights_sha256, at.weights_sha256);
    const char *names[] = {"options_json", "job_yaml", "precision", "outputs"};
    const char *want[] = {at.options_json, at.job_yaml, prec == ELMO_PREC_F16 ? "f16" : "f32",
                          NULL};
    for (int i = 0; i < 4; i++) {
        char *v = elmo_store_attr_string(st, names[i]);
        if (want[i]) CHECK_STR_EQ(v, want[i]);
        else CHECK(v != NULL);
        free(v);
    }
    CHECK(elmo_store_attr_string(st, "no_such_attribute") == NULL);

    check_i64(st, "sentences/offset", s->off, s->N + 1);
    check_i64(st, "sentences/line", s->line, s->N);
    check_i64(st, "sentences/id_offset", s->id_off, s->N + 1);
    check_u8(st, "sentences/id_blob", s->id_blob, s->Bi);
    check_i64(st, "sentences/text_offset", s->text_off, s->N + 1);
    check_u8(st, "sentences/text_blob", s->text_blob, s->Bs);
    check_i64(st, "/tokens/text_offset", s->tok_off, s->T + 1);
    check_u8(st, "tokens/text_blob", s->tok_blob, s->Bt);

    for (int k = 0; k < 8; k++) {
        unsigned bit = 1u << k;
        char name[64];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[k].name);
        int nd = 0;
        int64_t dims[3];
        if (!(outputs & bit)) {
            CHECK_INT_EQ(elmo_store_dims(st, name, &nd, dims), ELMO_ERR_ARG);
            continue;
        }
        int64_t R = bit == ELMO_OUT_DEFAULT ? s->N : s->T, W = out_width(bit, P);
        CHECK_OK(elmo_store_dims(st, name, &nd, dims));
        CHECK_INT_EQ(nd, bit == ELMO_OUT_ALL ? 3 : 2);
        CHECK_INT_EQ(dims[0], R);
        CHECK_INT_EQ(dims[1], bit == ELMO_OUT_ALL ? 3 : W);
        if (bit == ELMO_OUT_ALL) CHECK_INT_EQ(dims[2], 2 * P);
        float *got = elmo_xcalloc((size_t)(R * W + 1), sizeof(float));
        CHECK_OK(elmo_store_read_f32(st, name, 0, R, got));
        int bad = 0;
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < W; c++) {
                float v = value(k, r, c);
                if (prec == ELMO_PREC_F16) v = elmo_f16_to_f32(elmo_f32_to_f16(v));
                if (!same_float(got[r * W + c], v) && bad++ < 5)
                    fprintf(stderr, "%s[%lld][%lld] = %.9g, want %.9g\n", name, (long long)r,
                            (long long)c, got[r * W + c], v);
            }
        CHECK_INT_EQ(bad, 0);
        /* a row range in the middle, read on its own */
        if (R > 10) {
            CHECK_OK(elmo_store_read_f32(st, name, R / 2, 3, got));
            float v = value(k, R / 2 + 1, 1);
            if (prec == ELMO_PREC_F16) v = elmo_f16_to_f32(elmo_f32_to_f16(v));
            CHECK(same_float(got[W + 1], v));
        }
        CHECK_INT_EQ(elmo_store_read_f32(st, name, R, 1, got), ELMO_ERR_RANGE);
        free(got);
    }
    int64_t dummy;
    CHECK_INT_EQ(elmo_store_read_i64(st, "embeddings/nope", 0, 0, &dummy), ELMO_ERR_ARG);
    CHECK_INT_EQ(elmo_store_read_i64(st, "sentences/text_blob", 0, 1, &dummy), ELMO_ERR_ARG);
    elmo_store_close(st);
}

/* ---- float16 ----------------------------------------------------------------------------- */

static float bits_f(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void test_f16(void) {
    /* exact values */
    CHECK_INT_EQ(elmo_f32_to_f16(0.0f), 0x0000);
    CHECK_INT_EQ(elmo_f32_to_f16(-0.0f), 0x8000);
    CHECK_INT_EQ(elmo_f32_to_f16(1.0f), 0x3c00);
    CHECK_INT_EQ(elmo_f32_to_f16(-2.0f), 0xc000);
    CHECK_INT_EQ(elmo_f32_to_f16(0.5f), 0x3800);
    CHECK_INT_EQ(elmo_f32_to_f16(65504.0f), 0x7bff);
    CHECK_INT_EQ(elmo_f32_to_f16(0x1p-14f), 0x0400);   /* smallest normal */
    CHECK_INT_EQ(elmo_f32_to_f16(0x1p-24f), 0x0001);   /* smallest subnormal */
    CHECK_INT_EQ(elmo_f32_to_f16(0x3p-24f), 0x0003);
    CHECK_INT_EQ(elmo_f32_to_f16(0x3ffp-24f), 0x03ff); /* largest subnormal */
    /* ties to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
    CHECK_INT_EQ(elmo_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    CHECK_INT_EQ(elmo_f32_to_f16(1.0f + 0x3p-11f), 0x3c02);
    CHECK_INT_EQ(elmo_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01); /* above the tie */
    CHECK_INT_EQ(elmo_f32_to_f16(0x1p-25f), 0x0000);                   /* subnormal tie to 0 */
    CHECK_INT_EQ(elmo_f32_to_f16(0x3p-25f), 0x0002);                   /* 1.5 units: to 2 */
    CHECK_INT_EQ(elmo_f32_to_f16(0x1.000002p-25f), 0x0001);            /* above the tie */
    CHECK_INT_EQ(elmo_f32_to_f16(0x1p-26f), 0x0000);
    CHECK_INT_EQ(elmo_f32_to_f16(0x1.ffcp-15f), 0x0400); /* rounds up into the normals */
    CHECK_INT_EQ(elmo_f32_to_f16(bits_f(0x00000001u)), 0x0000); /* float subnormal */
    CHECK_INT_EQ(elmo_f32_to_f16(-bits_f(0x00000001u)), 0x8000);
    /* overflow */
    CHECK_INT_EQ(elmo_f32_to_f16(65519.0f), 0x7bff); /* below the rounding point */
    CHECK_INT_EQ(elmo_f32_to_f16(65520.0f), 0x7c00); /* the tie rounds to even = inf */
    CHECK_INT_EQ(elmo_f32_to_f16(1e10f), 0x7c00);
    CHECK_INT_EQ(elmo_f32_to_f16(-1e10f), 0xfc00);
    CHECK_INT_EQ(elmo_f32_to_f16(INFINITY), 0x7c00);
    CHECK_INT_EQ(elmo_f32_to_f16(-INFINITY), 0xfc00);
    /* NaN stays NaN (quiet), whatever its payload */
    uint16_t h = elmo_f32_to_f16(NAN);
    CHECK((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
    h = elmo_f32_to_f16(bits_f(0x7f800001u)); /* payload only in low bits */
    CHECK((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
    CHECK(isnan(elmo_f16_to_f32(0x7e00)));
    CHECK(isnan(elmo_f16_to_f32(0xfc01)));
    /* back to float */
    CHECK(elmo_f16_to_f32(0x3c00) == 1.0f);
    CHECK(elmo_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(elmo_f16_to_f32(0x03ff) == 0x3ffp-24f);
    CHECK(elmo_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(elmo_f16_to_f32(0x7c00) == INFINITY);
    CHECK(elmo_f16_to_f32(0xfc00) == -INFINITY);
    CHECK(signbit(elmo_f16_to_f32(0x8000)) && elmo_f16_to_f32(0x8000) == 0.0f);
    /* every non-NaN half survives the round trip */
    int bad = 0;
    for (uint32_t u = 0; u < 0x10000u; u++) {
        uint16_t x = (uint16_t)u;
        if ((x & 0x7c00) == 0x7c00 && (x & 0x3ff)) continue;
        bad += elmo_f32_to_f16(elmo_f16_to_f32(x)) != x;
    }
    CHECK_INT_EQ(bad, 0);
    /* midpoints between neighbouring halves round to the even one (positive normals) */
    bad = 0;
    for (uint32_t u = 0x0400; u < 0x7bff; u++) {
        float lo = elmo_f16_to_f32((uint16_t)u), hi = elmo_f16_to_f32((uint16_t)(u + 1));
        float mid = (lo + hi) / 2; /* exact in float */
        bad += elmo_f32_to_f16(mid) != ((u & 1) ? u + 1 : u);
        bad += elmo_f32_to_f16(nextafterf(mid, INFINITY)) != u + 1;
        bad += elmo_f32_to_f16(nextafterf(mid, 0.0f)) != u;
    }
    CHECK_INT_EQ(bad, 0);
}

/* ---- the cases --------------------------------------------------------------------------- */

static const char *const export_texts[] = {
    "hello world",
    "say \"hi\" \\ back",
    "na\xc3\xafve caf\xc3\xa9",
    "hello world",
    "\xf0\x9f\x98\x80 ok",
    "",
    "tab\there del\x7f ctl\x01 /slash",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88",
};

static void test_bad_writes(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/bad.h5", dir);
    struct synth s;
    synth_make(&s, 20);
    struct elmo_store_layout lay = layout_of(&s, ELMO_OUT_ELMO, 4, ELMO_PREC_F16, 4);
    struct elmo_store_attrs at = attrs_for("stateless");
    struct elmo_store *st = NULL;
    CHECK_OK(elmo_store_create(&st, path, MPI_COMM_WORLD, &lay, &at));
    if (!st) return;
    float row[8] = {0};
    /* out of range on the last rank only: every rank fails, none hangs */
    int64_t r0 = rank == size - 1 ? s.T : 0, n = rank == size - 1 ? 1 : 0;
    int rc = elmo_store_write_f32(st, "embeddings/elmo", r0, n, row);
    CHECK_INT_EQ(rc, ELMO_ERR_ARG);
    if (rank == size - 1) CHECK(strstr(elmo_errmsg(), "outside") != NULL);
    /* wrong type, unknown dataset */
    CHECK_INT_EQ(elmo_store_write_f32(st, "sentences/offset", 0, 0, row), ELMO_ERR_ARG);
    CHECK_INT_EQ(elmo_store_write_i64(st, "embeddings/top", 0, 0, NULL), ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "bad.h5") != NULL && strstr(elmo_errmsg(), "top") != NULL);
    /* still usable */
    CHECK_OK(elmo_store_write_f32(st, "embeddings/elmo", rank == 0 ? 1 : 0, rank == 0 ? 1 : 0,
                                  row));
    elmo_store_close(st);
    /* layouts that differ between ranks are refused */
    if (size > 1) {
        struct elmo_store_layout l2 = lay;
        if (rank == 1) l2.P = 5;
        st = NULL;
        CHECK_INT_EQ(elmo_store_create(&st, path, MPI_COMM_WORLD, &l2, &at), ELMO_ERR_ARG);
        CHECK(st == NULL);
    }
    struct elmo_store_layout l3 = lay;
    l3.compress = 12;
    CHECK_INT_EQ(elmo_store_create(&st, path, MPI_COMM_WORLD, &l3, &at), ELMO_ERR_ARG);
    /* an unwritable path */
    CHECK_INT_EQ(elmo_store_create(&st, "/nonexistent-dir/x.h5", MPI_COMM_WORLD, &lay, &at),
                 ELMO_ERR_HDF5);
    CHECK(strstr(elmo_errmsg(), "/nonexistent-dir/x.h5") != NULL);
    synth_free(&s);
    if (rank == 0) unlink(path);
}

static void test_not_a_store(const char *dir) {
    if (rank != 0) return;
    char path[1024];
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    snprintf(path, sizeof path, "%s/missing.h5", dir);
    CHECK_INT_EQ(elmo_store_open(&st, path, &info), ELMO_ERR_IO);
    snprintf(path, sizeof path, "%s/text.h5", dir);
    FILE *f = fopen(path, "w");
    if (f) fputs("not hdf5\n", f), fclose(f);
    CHECK_INT_EQ(elmo_store_open(&st, path, &info), ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), "not an elmo store") != NULL);
    unlink(path);
    snprintf(path, sizeof path, "%s/plain.h5", dir);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(file >= 0);
    if (file >= 0) H5Fclose(file);
    CHECK_INT_EQ(elmo_store_open(&st, path, &info), ELMO_ERR_FORMAT);
    CHECK(strstr(elmo_errmsg(), "not an elmo store") != NULL);
    CHECK(st == NULL);
    unlink(path);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *keep = argc > 2 && !strcmp(argv[1], "--keep") ? argv[2] : NULL;
    char dir[1024] = "";
    if (keep) snprintf(dir, sizeof dir, "%s", keep);
    else if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/elmo-test-store-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);

    if (rank == 0) test_f16();

    /* the big synthetic layout, every precision and compression */
    const int P = 64;
    struct synth s;
    synth_make(&s, 181);
    char path[1200];
    for (int prec = 0; prec < 2; prec++)
        for (int compress = 0; compress <= 4; compress += 4) {
            snprintf(path, sizeof path, "%s/store_%s_%d.h5", dir, prec ? "f16" : "f32", compress);
            CHECK_OK(make_store(path, &s, 0xffu, P, (enum elmo_precision)prec, compress,
                                "streams=3", true));
            MPI_Barrier(MPI_COMM_WORLD);
            if (rank == 0)
                check_store(path, &s, 0xffu, P, (enum elmo_precision)prec, "streams=3", 1);
        }
    /* closed without finish: complete stays 0 */
    snprintf(path, sizeof path, "%s/incomplete.h5", dir);
    CHECK_OK(make_store(path, &s, ELMO_OUT_ELMO | ELMO_OUT_DEFAULT, P, ELMO_PREC_F16, 4,
                        "stateless", false));
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        check_store(path, &s, ELMO_OUT_ELMO | ELMO_OUT_DEFAULT, P, ELMO_PREC_F16, "stateless", 0);
    synth_free(&s);

    /* no tokens at all: 0-row datasets, empty blobs */
    const char *empties[] = {"", "", ""};
    synth_from_texts(&s, empties, 3);
    snprintf(path, sizeof path, "%s/empty.h5", dir);
    CHECK_OK(make_store(path, &s, 0xffu, 3, ELMO_PREC_F16, 4, "stateless", true));
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) check_store(path, &s, 0xffu, 3, ELMO_PREC_F16, "stateless", 1);
    synth_free(&s);
    /* no sentences, no outputs */
    synth_from_texts(&s, empties, 0);
    snprintf(path, sizeof path, "%s/nothing.h5", dir);
    CHECK_OK(make_store(path, &s, 0, 0, ELMO_PREC_F32, 0, "stateless", true));
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) check_store(path, &s, 0, 0, ELMO_PREC_F32, "stateless", 1);
    synth_free(&s);

    /* small stores for `elmo export` (tests/io/test_store_h5py.sh) */
    synth_from_texts(&s, export_texts, sizeof export_texts / sizeof export_texts[0]);
    const struct { const char *name; unsigned outputs; bool finish; } ex[] = {
        {"export_all.h5", ELMO_OUT_ALL | ELMO_OUT_TOP | ELMO_OUT_AVERAGE | ELMO_OUT_ELMO, true},
        {"export_top.h5", ELMO_OUT_TOP | ELMO_OUT_AVERAGE, true},
        {"export_average.h5", ELMO_OUT_AVERAGE | ELMO_OUT_DEFAULT, true},
        {"export_none.h5", ELMO_OUT_ELMO, true},
        {"export_incomplete.h5", ELMO_OUT_ALL, false},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, ex[i].name);
        CHECK_OK(make_store(path, &s, ex[i].outputs, 3, ELMO_PREC_F32, 1, "streams=2",
                            ex[i].finish));
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0)
            check_store(path, &s, ex[i].outputs, 3, ELMO_PREC_F32, "streams=2", ex[i].finish);
    }
    synth_free(&s);

    test_bad_writes(dir);
    test_not_a_store(dir);

    int failed = check__failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (!keep && rank == 0) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    int rc = 0;
    if (rank == 0) rc = CHECK_REPORT();
    else if (failed) printf("rank %d: %d failed\n", rank, failed);
    MPI_Finalize();
    return rc || any ? 1 : 0;
}

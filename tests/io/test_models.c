/*
 * test_models.c: the shipped-model lookup (io/models): $ELMO_MODEL_DIR first, a directory
 * without the wanted model skipped, and the files of a model directory under both naming
 * conventions, with a clear refusal when they are missing or ambiguous.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/models.h"
#include "model/status.h"
#include "tests/check.h"

static char dir[256];

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    fputs("x", f);
    fclose(f);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/elmo-test-models-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char p[512], out[512], where[64], o[512], w[512];

    /* $ELMO_MODEL_DIR wins when it holds the model */
    snprintf(p, sizeof p, "%s/%s", dir, ELMO_DEFAULT_BILM);
    CHECK(mkdir(p, 0755) == 0);
    setenv("ELMO_MODEL_DIR", dir, 1);
    CHECK_OK(elmo_models_find(ELMO_DEFAULT_BILM, out, sizeof out, where, sizeof where));
    CHECK_STR_EQ(out, p);
    CHECK_STR_EQ(where, "$ELMO_MODEL_DIR");
    /* a model it does not hold is looked for further on, and a failure lists the places */
    int rc = elmo_models_find("no-such-model", out, sizeof out, where, sizeof where);
    CHECK_INT_EQ(rc, ELMO_ERR_IO);
    CHECK(strstr(elmo_errmsg(), "no-such-model") != NULL);
    CHECK(strstr(elmo_errmsg(), dir) != NULL);

    /* DIR/options.json + DIR/weights.hdf5 */
    CHECK(elmo_model_dir_files(p, o, sizeof o, w, sizeof w) == ELMO_ERR_IO);
    CHECK(strstr(elmo_errmsg(), "options.json") != NULL);
    char f[600];
    snprintf(f, sizeof f, "%s/options.json", p), touch(f);
    snprintf(f, sizeof f, "%s/weights.hdf5", p), touch(f);
    CHECK_OK(elmo_model_dir_files(p, o, sizeof o, w, sizeof w));
    snprintf(f, sizeof f, "%s/options.json", p);
    CHECK_STR_EQ(o, f);
    /* the official names, and two of them refused as ambiguous */
    snprintf(p, sizeof p, "%s/official", dir);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(f, sizeof f, "%s/elmo_2x1024_options.json", p), touch(f);
    snprintf(f, sizeof f, "%s/elmo_2x1024_weights.hdf5", p), touch(f);
    CHECK_OK(elmo_model_dir_files(p, o, sizeof o, w, sizeof w));
    CHECK_STR_EQ(w, f);
    snprintf(f, sizeof f, "%s/other_weights.hdf5", p), touch(f);
    CHECK(elmo_model_dir_files(p, o, sizeof o, w, sizeof w) == ELMO_ERR_IO);
    CHECK(strstr(elmo_errmsg(), "several") != NULL);
    CHECK(elmo_model_dir_files("/no/such/dir", o, sizeof o, w, sizeof w) == ELMO_ERR_IO);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_REPORT();
}

/*
 * fuzz_weights.c: the weight loader (elmo_weights_load) on corrupted HDF5 files.  The seed is a
 * valid weight file of a tiny model written by elmo_weights_save (regenerate it with
 * ELMO_FUZZ_WRITE_SEED=PATH fuzz_weights); the options are fixed here.
 *
 * Two modes, chosen by the environment variable ELMO_FUZZ_WEIGHTS:
 *   file (default)  the input is the whole file: every byte, HDF5's metadata included, may be
 *                   corrupted.  Any input must be refused with a documented status and a message
 *                   naming the file, or loaded; either way no HDF5 object may stay open.
 *   data            the input overwrites only the raw data of the datasets of the valid file
 *                   (offsets from H5Dget_offset): the load must succeed with exactly those
 *                   floats, or fail with ELMO_ERR_NAN when one is NaN or infinite.
 * HDF5 1.10 itself is not hardened against corrupted metadata; see tests/fuzz/README.md.
 */
#include <hdf5.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/weights.h"
#include "model/bilm.h"
#include "model/status.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_PARAMS 128

static struct elmo_options tiny;   /* the fixed options of the seed */
static unsigned char *base;        /* the valid file */
static size_t base_len;
static bool data_mode;
static bool verbose;               /* ELMO_FUZZ_VERBOSE set: print every load's status */
static struct region {
    size_t offset, size;           /* raw data of one dataset in the file */
    char name[96];
} regions[MAX_PARAMS];
static int n_regions;

static void tiny_options(struct elmo_options *o) {
    memset(o, 0, sizeof *o);
    o->E = 2;
    o->n_filters = 2;
    o->filter_width[0] = 1, o->filter_count[0] = 2;
    o->filter_width[1] = 2, o->filter_count[1] = 3;
    o->F = 5;
    o->n_highway = 1;
    o->n_characters = 262;
    o->max_chars = ELMO_MAXC;
    o->activation = ELMO_ACT_RELU;
    o->D = 4, o->P = 3, o->L = 1;
    o->cell_clip = 3, o->proj_clip = 3;
    o->skip = true;
    o->has_cnn_proj = o->has_lstm_proj = true;
}

/* Writes the valid file to path; aborts on failure. */
static void write_valid(const char *path) {
    struct elmo_model m;
    memset(&m, 0, sizeof m);
    FUZZ_ASSERT(elmo_model_init(&m, &tiny) == 0, "%s", elmo_errmsg());
    elmo_model_randomize(&m, 7);
    FUZZ_ASSERT(elmo_weights_save(path, &m) == 0, "%s", elmo_errmsg());
    elmo_model_free(&m);
}

/* Finds the raw data of every dataset of the valid file at path. */
static void find_regions(const char *path) {
    struct elmo_model m;
    memset(&m, 0, sizeof m);
    FUZZ_ASSERT(elmo_model_init(&m, &tiny) == 0, "%s", elmo_errmsg());
    struct elmo_param params[MAX_PARAMS];
    int n = elmo_model_params(&m, params, MAX_PARAMS);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    FUZZ_ASSERT(file >= 0, "cannot open %s", path);
    for (int i = 0; i < n; i++) {
        hid_t ds = H5Dopen2(file, params[i].name, H5P_DEFAULT);
        FUZZ_ASSERT(ds >= 0, "%s: no dataset %s", path, params[i].name);
        haddr_t off = H5Dget_offset(ds);
        FUZZ_ASSERT(off != HADDR_UNDEF, "%s: %s is not contiguous", path, params[i].name);
        regions[i].offset = (size_t)off;
        regions[i].size = (size_t)H5Dget_storage_size(ds);
        FUZZ_ASSERT(regions[i].size == sizeof(float) * elmo_param_numel(&params[i]),
                    "%s: %s has %zu bytes", path, params[i].name, regions[i].size);
        snprintf(regions[i].name, sizeof regions[i].name, "%s", params[i].name);
        H5Dclose(ds);
    }
    H5Fclose(file);
    n_regions = n;
    elmo_model_free(&m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    tiny_options(&tiny);
    FUZZ_ASSERT(elmo_options_check(&tiny) == 0, "%s", elmo_errmsg());
    const char *seed = getenv("ELMO_FUZZ_WRITE_SEED");
    if (seed) {
        write_valid(seed);
        printf("fuzz_weights: wrote %s\n", seed);
        exit(0);
    }
    const char *mode = getenv("ELMO_FUZZ_WEIGHTS");
    data_mode = mode && !strcmp(mode, "data");
    verbose = getenv("ELMO_FUZZ_VERBOSE") != NULL;
    if (data_mode) {
        const char *path = fuzz_scratch_write("", 0);
        write_valid(path);
        find_regions(path);
        FILE *f = fopen(path, "rb");
        FUZZ_ASSERT(f != NULL, "cannot read %s", path);
        fseek(f, 0, SEEK_END);
        base_len = (size_t)ftell(f);
        rewind(f);
        base = elmo_xmalloc(base_len);
        FUZZ_ASSERT(fread(base, 1, base_len, f) == base_len, "cannot read %s", path);
        fclose(f);
    }
    return 0;
}

static void check_no_open_objects(void) {
    ssize_t open = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    FUZZ_ASSERT(open == 0, "%zd HDF5 objects left open", open);
}

static void run_file(const unsigned char *data, size_t size) {
    const char *path = fuzz_scratch_write(data, size);
    struct elmo_model m;
    memset(&m, 0, sizeof m);
    m.opt = tiny;
    int rc = elmo_weights_load(path, &m);
    if (verbose) fprintf(stderr, "fuzz_weights: status %d: %s\n", rc, rc ? elmo_errmsg() : "");
    if (rc < 0) {
        FUZZ_ASSERT(rc == ELMO_ERR_HDF5 || rc == ELMO_ERR_FORMAT || rc == ELMO_ERR_SHAPE ||
                        rc == ELMO_ERR_NAN || rc == ELMO_ERR_IO || rc == ELMO_ERR_NOMEM,
                    "undocumented status %d: %s", rc, elmo_errmsg());
        FUZZ_ASSERT(strstr(elmo_errmsg(), path) != NULL, "message without the file: %s",
                    elmo_errmsg());
    } else {
        struct elmo_param params[MAX_PARAMS];
        int n = elmo_model_params(&m, params, MAX_PARAMS);
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < elmo_param_numel(&params[i]); k++)
                FUZZ_ASSERT(isfinite(params[i].data[k]), "%s[%zu] loaded as %g", params[i].name,
                            k, params[i].data[k]);
    }
    elmo_model_free(&m);
    check_no_open_objects();
}

static void run_data(const unsigned char *data, size_t size) {
    unsigned char *file = elmo_xmalloc(base_len);
    memcpy(file, base, base_len);
    size_t used = 0;
    for (int i = 0; i < n_regions && used < size; i++) {
        size_t n = regions[i].size < size - used ? regions[i].size : size - used;
        memcpy(file + regions[i].offset, data + used, n);
        used += n;
    }
    const char *path = fuzz_scratch_write(file, base_len);
    struct elmo_model m;
    memset(&m, 0, sizeof m);
    m.opt = tiny;
    int rc = elmo_weights_load(path, &m);
    bool finite = true;
    for (int i = 0; i < n_regions; i++)
        for (size_t k = 0; k < regions[i].size; k += sizeof(float)) {
            float x;
            memcpy(&x, file + regions[i].offset + k, sizeof x);
            finite = finite && isfinite(x);
        }
    if (!finite) {
        FUZZ_ASSERT(rc == ELMO_ERR_NAN, "a non-finite weight gave status %d: %s", rc,
                    elmo_errmsg());
    } else {
        FUZZ_ASSERT(rc == 0, "finite weights failed: %s", elmo_errmsg());
        struct elmo_param params[MAX_PARAMS];
        int n = elmo_model_params(&m, params, MAX_PARAMS);
        FUZZ_ASSERT(n == n_regions, "%d datasets loaded, %d in the file", n, n_regions);
        for (int i = 0; i < n; i++)
            FUZZ_ASSERT(memcmp(params[i].data, file + regions[i].offset, regions[i].size) == 0,
                        "%s: the loaded floats differ from the file's", params[i].name);
    }
    elmo_model_free(&m);
    free(file);
    check_no_open_objects();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (data_mode) run_data(data, size);
    else run_file(data, size);
    return 0;
}

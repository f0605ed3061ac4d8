/*
 * models.c: the lookup of the shipped models and of a model directory's files (models.h).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "io/models.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/status.h"

#ifndef ELMO_SHARE_DIR
#define ELMO_SHARE_DIR "/usr/local/share/elmo/models"
#endif

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The source tree's models/: the binary lives in BUILD/ (or BUILD/tests/) under the tree. */
static int source_models(char *out, size_t n) {
    char cur[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", cur, sizeof cur - 1);
    if (k <= 0) return -1;
    cur[k] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(cur, '/');
        if (!slash) return -1;
        slash = cur == slash ? slash + 1 : slash;
        *slash = '\0'; /* the directory above the binary, then above that */
        char *above = strrchr(cur, '/');
        if (!above) return -1;
        char cand[PATH_MAX + 32];
        if (snprintf(cand, sizeof cand, "%.*s/models", (int)(above - cur), cur) >=
            (int)sizeof cand)
            return -1;
        if (is_dir(cand) && snprintf(out, n, "%s", cand) < (int)n) return 0;
    }
    return -1;
}

int elmo_models_find(const char *name, char *out, size_t n, char *where, size_t wn) {
    char dirs[3][PATH_MAX];
    const char *labels[3] = {"$ELMO_MODEL_DIR", "installed", "source tree"};
    int have[3] = {0, 0, 0};
    const char *env = getenv("ELMO_MODEL_DIR");
    if (env && env[0]) have[0] = snprintf(dirs[0], sizeof dirs[0], "%s", env) < PATH_MAX;
    have[1] = snprintf(dirs[1], sizeof dirs[1], "%s", ELMO_SHARE_DIR) < PATH_MAX;
    have[2] = source_models(dirs[2], sizeof dirs[2]) == 0;
    char tried[3 * PATH_MAX + 64] = "";
    for (int i = 0; i < 3; i++) {
        if (!have[i]) continue;
        char cand[PATH_MAX + 128];
        if (snprintf(cand, sizeof cand, "%s/%s", dirs[i], name) >= (int)sizeof cand) continue;
        if (is_dir(cand)) {
            if (snprintf(out, n, "%s", cand) >= (int)n)
                return elmo_error(ELMO_ERR_ARG, "model path too long: %s", cand);
            snprintf(where, wn, "%s", labels[i]);
            return ELMO_OK;
        }
        size_t len = strlen(tried);
        snprintf(tried + len, sizeof tried - len, "%s%s", len ? ", " : "", cand);
    }
    return elmo_error(ELMO_ERR_IO,
                      "no model given and the default model %s was not found (tried %s); give "
                      "one with --model DIR (or --options/--weights), or set ELMO_MODEL_DIR",
                      name, tried[0] ? tried : "nothing");
}

/* The one file in dir ending in suffix, into out; 0, -1 none, -2 several. */
static int one_with_suffix(const char *dir, const char *suffix, char *out, size_t n) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int found = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= sl || strcmp(e->d_name + len - sl, suffix) != 0) continue;
        if (found++ == 0) snprintf(out, n, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return found == 1 ? 0 : found == 0 ? -1 : -2;
}

int elmo_model_dir_files(const char *dir, char *options, size_t on, char *weights, size_t wn) {
    if (!is_dir(dir)) return elmo_error(ELMO_ERR_IO, "model directory %s does not exist", dir);
    char o[PATH_MAX + 32], w[PATH_MAX + 32];
    snprintf(o, sizeof o, "%s/options.json", dir);
    snprintf(w, sizeof w, "%s/weights.hdf5", dir);
    if (!is_file(o)) {
        int r = one_with_suffix(dir, "_options.json", o, sizeof o);
        if (r < 0)
            return elmo_error(ELMO_ERR_IO, "model directory %s has %s options.json nor "
                              "*_options.json%s", dir, r == -1 ? "no" : "no single",
                              r == -2 ? " (several: give --options FILE)" : "");
    }
    if (!is_file(w)) {
        int r = one_with_suffix(dir, "_weights.hdf5", w, sizeof w);
        if (r < 0)
            return elmo_error(ELMO_ERR_IO, "model directory %s has %s weights.hdf5 nor "
                              "*_weights.hdf5%s", dir, r == -1 ? "no" : "no single",
                              r == -2 ? " (several: give --weights FILE)" : "");
    }
    if (snprintf(options, on, "%s", o) >= (int)on || snprintf(weights, wn, "%s", w) >= (int)wn)
        return elmo_error(ELMO_ERR_ARG, "model path too long: %s", dir);
    return ELMO_OK;
}

/* Splits an absolute path into its components (in place); returns how many, at most max. */
static int components(char *path, char **comp, int max) {
    int k = 0;
    char *save = NULL;
    for (char *t = strtok_r(path, "/", &save); t && k < max; t = strtok_r(NULL, "/", &save))
        comp[k++] = t;
    return k;
}

int elmo_path_relative(const char *from_dir, const char *to, char *out, size_t n) {
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(from_dir, a))
        return elmo_error(ELMO_ERR_IO, "%s: %s", from_dir, strerror(errno));
    if (!realpath(to, b)) return elmo_error(ELMO_ERR_IO, "%s: %s", to, strerror(errno));
    char *ca[PATH_MAX / 2], *cb[PATH_MAX / 2];
    int na = components(a, ca, PATH_MAX / 2), nb = components(b, cb, PATH_MAX / 2);
    int k = 0;
    while (k < na && k < nb && !strcmp(ca[k], cb[k])) k++;
    size_t used = 0;
    out[0] = '\0';
    for (int i = k; i < na; i++) {
        int w = snprintf(out + used, n - used, "../");
        if (w < 0 || (size_t)w >= n - used)
            return elmo_error(ELMO_ERR_ARG, "relative path too long: %s", to);
        used += (size_t)w;
    }
    for (int i = k; i < nb; i++) {
        int w = snprintf(out + used, n - used, "%s%s", cb[i], i + 1 < nb ? "/" : "");
        if (w < 0 || (size_t)w >= n - used)
            return elmo_error(ELMO_ERR_ARG, "relative path too long: %s", to);
        used += (size_t)w;
    }
    return ELMO_OK;
}

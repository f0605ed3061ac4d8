/*
 * hash_cache.c: the sha256 of model files, remembered by file identity (hash_cache.h).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "io/hash_cache.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/outfile.h"
#include "io/sha256.h"
#include "model/status.h"

/* The longest cache line: the hash, the numbers, an absolute path. */
#define LINE_MAX_BYTES (PATH_MAX + 256)

int elmo_hash_cache_dir(char *dir, size_t cap) {
    const char *env = getenv("ELMO_CACHE_DIR");
    int n;
    if (env) {
        if (!env[0] || !strcmp(env, "off")) return -1;
        n = snprintf(dir, cap, "%s", env);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && xdg[0]) n = snprintf(dir, cap, "%s/elmo", xdg);
        else if (home && home[0]) n = snprintf(dir, cap, "%s/.cache/elmo", home);
        else return -1;
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int elmo_cache_entry(const char *path, const char *prefix, const char *suffix, char *file,
                     size_t fcap, char *ident, size_t icap) {
    char dir[PATH_MAX], abs[PATH_MAX], hex[65];
    struct stat st;
    if (elmo_hash_cache_dir(dir, sizeof dir) != 0 || realpath(path, abs) == NULL ||
        stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    int n =
        snprintf(ident, icap, "dev=%ju ino=%ju size=%jd mtime=%lld.%09ld ctime=%lld.%09ld path=%s",
                 (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (intmax_t)st.st_size,
                 (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                 (long long)st.st_ctim.tv_sec, (long)st.st_ctim.tv_nsec, abs);
    if (n <= 0 || (size_t)n >= icap) return -1;
    struct elmo_sha256 s;
    uint8_t d[32];
    elmo_sha256_init(&s);
    elmo_sha256_update(&s, abs, strlen(abs));
    elmo_sha256_final(&s, d);
    elmo_sha256_hex(d, hex);
    n = snprintf(file, fcap, "%s/%s%s%s", dir, prefix, hex, suffix);
    return n > 0 && (size_t)n < fcap ? 0 : -1;
}

/*
 * The hash recorded in file for exactly this identity: 1 with hex filled, 0 otherwise (no
 * file, another identity, any deviation from the line's form).
 */
static int lookup(const char *file, const char *ident, char hex[65]) {
    static _Thread_local char line[LINE_MAX_BYTES + 2];
    FILE *f = fopen(file, "rb");
    if (!f) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const size_t id_len = strlen(ident);
    /* "sha256=" 64 hex " " ident "\n", nothing else */
    if (n != 7 + 64 + 1 + id_len + 1 || memcmp(line, "sha256=", 7) != 0 || line[71] != ' ' ||
        memcmp(line + 72, ident, id_len) != 0 || line[n - 1] != '\n')
        return 0;
    for (int i = 0; i < 64; i++) {
        char c = line[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    }
    memcpy(hex, line + 7, 64);
    hex[64] = '\0';
    return 1;
}

/* Writes the line aside and renames it over file; failures are ignored (the cache is optional). */
static void record(const char *file, const char *ident, const char hex[65]) {
    char tmp[PATH_MAX + 64];
    if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid()) >= (int)sizeof tmp) return;
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    int ok = fprintf(f, "sha256=%s %s\n", hex, ident) > 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, file) != 0) remove(tmp);
}

int elmo_file_sha256_cached(const char *path, char hex[65]) {
    char file[PATH_MAX + 96], again[PATH_MAX + 96], dir[PATH_MAX];
    static _Thread_local char ident[LINE_MAX_BYTES], now[LINE_MAX_BYTES];
    int cached =
        elmo_cache_entry(path, "sha256-", ".txt", file, sizeof file, ident, sizeof ident) == 0;
    if (cached && lookup(file, ident, hex)) return ELMO_OK;
    ELMO_TRY(elmo_file_sha256(path, hex));
    /* record only a hash of the bytes this identity names: the file did not change meanwhile */
    if (cached &&
        elmo_cache_entry(path, "sha256-", ".txt", again, sizeof again, now, sizeof now) == 0 &&
        !strcmp(ident, now) && elmo_hash_cache_dir(dir, sizeof dir) == 0) {
        /* the cache's directory is private (0700); one that cannot be made only skips the
           record, and its error is not the caller's */
        if (elmo_make_dirs_mode(dir, 0700) == ELMO_OK) record(file, ident, hex);
        else elmo_error_clear();
    }
    return ELMO_OK;
}

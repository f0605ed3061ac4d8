/*
 * outfile.c: validated, locked, write-aside-and-rename outputs (see outfile.h).
 */
#include "io/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/status.h"

int elmo_out_init(struct elmo_out *o, const char *key, const char *path) {
    memset(o, 0, sizeof *o);
    o->key = key;
    o->lock_fd = -1;
    if (!path || !path[0]) return elmo_error(ELMO_ERR_ARG, "`%s` is empty", key);
    if (snprintf(o->path, sizeof o->path, "%s", path) >= (int)sizeof o->path ||
        snprintf(o->partial, sizeof o->partial, "%s.partial", path) >= (int)sizeof o->partial ||
        snprintf(o->lock, sizeof o->lock, "%s.lock", path) >= (int)sizeof o->lock)
        return elmo_error(ELMO_ERR_ARG, "`%s`: path too long: %s", key, path);
    return ELMO_OK;
}

int elmo_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int elmo_check_output_path(const char *key, const char *path, const char *const *inputs, int n) {
    char dir[ELMO_PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return elmo_error(ELMO_ERR_ARG, "`%s`: path too long: %s", key, path);
    const char *d = dirname(dir);
    struct stat st;
    if (stat(d, &st) != 0)
        return elmo_error(ELMO_ERR_ARG, "`%s`: the directory %s of %s does not exist", key, d,
                          path);
    if (!S_ISDIR(st.st_mode))
        return elmo_error(ELMO_ERR_ARG, "`%s`: %s (the directory of %s) is not a directory", key,
                          d, path);
    if (access(d, W_OK | X_OK) != 0)
        return elmo_error(ELMO_ERR_ARG, "`%s`: cannot write in the directory %s of %s: %s", key,
                          d, path, strerror(errno));
    if (lstat(path, &st) == 0) {
        struct stat target;
        if (S_ISLNK(st.st_mode) && stat(path, &target) == 0) st = target;
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
            return elmo_error(ELMO_ERR_ARG,
                              "`%s`: %s exists and is not a regular file (a %s); refusing to "
                              "replace it",
                              key, path,
                              S_ISDIR(st.st_mode)    ? "directory"
                              : S_ISCHR(st.st_mode)  ? "character device"
                              : S_ISBLK(st.st_mode)  ? "block device"
                              : S_ISFIFO(st.st_mode) ? "pipe"
                              : S_ISSOCK(st.st_mode) ? "socket"
                                                     : "special file");
    }
    for (int i = 0; i < n; i++) {
        const char *in = inputs[i];
        if (!in || !in[0] || !strcmp(in, "-")) continue;
        if (elmo_same_file(path, in))
            return elmo_error(ELMO_ERR_ARG,
                              "`%s` %s is the same file as the input %s; refusing to overwrite "
                              "an input",
                              key, path, in);
    }
    return ELMO_OK;
}

int elmo_out_check(const struct elmo_out *o, const char *const *inputs, int n) {
    ELMO_TRY(elmo_check_output_path(o->key, o->path, inputs, n));
    ELMO_TRY(elmo_check_output_path(o->key, o->partial, inputs, n));
    ELMO_TRY(elmo_check_output_path(o->key, o->lock, inputs, n));
    return ELMO_OK;
}

/* The holder's "host pid" line from an open lock file, or "unknown". */
static void read_holder(const char *path, char *out, size_t n) {
    snprintf(out, n, "unknown");
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(out, (int)n, f)) out[strcspn(out, "\n")] = '\0';
    else snprintf(out, n, "unknown");
    fclose(f);
}

int elmo_out_lock(struct elmo_out *o) {
    if (o->lock_fd >= 0) return ELMO_OK;
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = open(o->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return elmo_error(ELMO_ERR_IO, "%s: cannot create the lock file: %s", o->lock,
                              strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK) {
                char holder[256];
                read_holder(o->lock, holder, sizeof holder);
                return elmo_error(ELMO_ERR_STATE,
                                  "%s is in use by another run (host and pid: %s; lock %s); "
                                  "wait for it to finish or stop it",
                                  o->path, holder, o->lock);
            }
            return elmo_error(ELMO_ERR_IO, "%s: flock failed: %s", o->lock, strerror(e));
        }
        /* The holder before us may have removed the file between our open and our flock: the
         * lock counts only if the name still points at the locked inode. */
        struct stat sf, sp;
        if (fstat(fd, &sf) != 0 || stat(o->lock, &sp) != 0 || sf.st_dev != sp.st_dev ||
            sf.st_ino != sp.st_ino) {
            close(fd);
            continue;
        }
        char host[256] = "unknown", line[320];
        if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
        host[sizeof host - 1] = '\0';
        int len = snprintf(line, sizeof line, "%s %ld\n", host, (long)getpid());
        if (ftruncate(fd, 0) != 0 || write(fd, line, (size_t)len) != len) {
            int e = errno;
            unlink(o->lock);
            close(fd);
            return elmo_error(ELMO_ERR_IO, "%s: cannot write the lock file: %s", o->lock,
                              strerror(e));
        }
        o->lock_fd = fd;
        return ELMO_OK;
    }
    return elmo_error(ELMO_ERR_STATE, "%s: the lock file keeps changing; another run is starting",
                      o->lock);
}

void elmo_out_unlock(struct elmo_out *o) {
    if (o->lock_fd < 0) return;
    unlink(o->lock);
    close(o->lock_fd);
    o->lock_fd = -1;
}

FILE *elmo_out_create_partial(struct elmo_out *o) {
    FILE *f = fopen(o->partial, "wb");
    if (!f) {
        elmo_error(ELMO_ERR_IO, "%s: cannot create: %s", o->partial, strerror(errno));
        return NULL;
    }
    o->partial_created = true;
    return f;
}

void elmo_out_claim_partial(struct elmo_out *o) { o->partial_created = true; }

/* fsync of a file by name (data) or of a directory (its entries). */
static int sync_path(const char *path, bool dir) {
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* some file systems refuse fsync on directories; the rename itself is then what we have */
    if (rc != 0 && dir && (errno == EINVAL || errno == EBADF)) rc = 0;
    close(fd);
    return rc;
}

int elmo_commit_file(const char *tmp, const char *path) {
    if (sync_path(tmp, false) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot sync before renaming it to %s: %s", tmp, path,
                          strerror(errno));
    if (rename(tmp, path) != 0)
        return elmo_error(ELMO_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    char dir[ELMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    if (sync_path(dirname(dir), true) != 0)
        return elmo_error(ELMO_ERR_IO, "%s: cannot sync its directory after the rename: %s",
                          path, strerror(errno));
    return ELMO_OK;
}

int elmo_out_commit(struct elmo_out *o) {
    ELMO_TRY(elmo_commit_file(o->partial, o->path));
    o->partial_created = false;
    return ELMO_OK;
}

void elmo_out_abandon(struct elmo_out *o) {
    if (!o->partial_created) return;
    unlink(o->partial);
    o->partial_created = false;
}

int elmo_make_dirs(const char *path) { return elmo_make_dirs_mode(path, 0777); }

int elmo_make_dirs_mode(const char *path, unsigned mode) {
    char buf[ELMO_PATH_MAX];
    if (!path[0]) return elmo_error(ELMO_ERR_ARG, "an empty directory name");
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return elmo_error(ELMO_ERR_ARG, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
            return elmo_error(ELMO_ERR_IO, "%s: cannot create the directory: %s", buf,
                              strerror(errno));
        *p = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return elmo_error(ELMO_ERR_IO, "%s: not a directory", path);
    return ELMO_OK;
}

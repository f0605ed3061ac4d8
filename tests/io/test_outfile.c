/*
 * test_outfile.c: the output discipline (io/outfile): aliasing by inode, special files, missing
 * directories, the lock refusing a second holder, write-aside-and-rename keeping the old output
 * through a failure, and abandon removing only what this run created.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/outfile.h"
#include "model/status.h"
#include "tests/check.h"

static char dir[256];

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(1); }
    fputs(text, f);
    fclose(f);
}

static char *get(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = '\0';
    fclose(f);
    return buf;
}

static void test_aliasing(void) {
    char in[512], out[512], link_[512], rel[512];
    snprintf(in, sizeof in, "%s/c.txt", dir);
    snprintf(link_, sizeof link_, "%s/link.txt", dir);
    snprintf(rel, sizeof rel, "%s/./c.txt", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    put(in, "corpus\n");
    CHECK(symlink(in, link_) == 0);
    const char *inputs[] = {in, NULL, "-", ""};
    CHECK_OK(elmo_check_output_path("output", out, inputs, 4));
    /* the same file under another spelling or through a symlink is refused */
    CHECK(elmo_check_output_path("output", rel, inputs, 4) == ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "same file as the input") != NULL);
    CHECK(elmo_check_output_path("output", link_, inputs, 4) == ELMO_ERR_ARG);
    const char *inputs2[] = {link_};
    CHECK(elmo_check_output_path("output", in, inputs2, 1) == ELMO_ERR_ARG);
    CHECK(elmo_same_file(in, rel) == 1);
    CHECK(elmo_same_file(in, out) == 0);
    /* a derived name that is an input is refused too */
    struct elmo_out o;
    char base[512];
    snprintf(base, sizeof base, "%s/c", dir);
    char partial_in[512];
    snprintf(partial_in, sizeof partial_in, "%s/c.partial", dir);
    put(partial_in, "x");
    const char *inputs3[] = {partial_in};
    CHECK_OK(elmo_out_init(&o, "output", base));
    CHECK(elmo_out_check(&o, inputs3, 1) == ELMO_ERR_ARG);
    char buf[64];
    CHECK_STR_EQ(get(in, buf, sizeof buf), "corpus\n"); /* nothing was touched */
}

static void test_special_files(void) {
    CHECK(elmo_check_output_path("output", "/dev/null", NULL, 0) == ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "not a regular file") != NULL);
    CHECK(elmo_check_output_path("output", dir, NULL, 0) == ELMO_ERR_ARG);
    char p[512];
    snprintf(p, sizeof p, "%s/no/such/dir/out.h5", dir);
    CHECK(elmo_check_output_path("output", p, NULL, 0) == ELMO_ERR_ARG);
    CHECK(strstr(elmo_errmsg(), "does not exist") != NULL);
    snprintf(p, sizeof p, "%s/fifo", dir);
    CHECK(mkfifo(p, 0600) == 0);
    CHECK(elmo_check_output_path("output", p, NULL, 0) == ELMO_ERR_ARG);
}

static void test_lock(void) {
    char out[512];
    snprintf(out, sizeof out, "%s/locked.h5", dir);
    struct elmo_out a, b;
    CHECK_OK(elmo_out_init(&a, "output", out));
    CHECK_OK(elmo_out_init(&b, "output", out));
    CHECK_OK(elmo_out_lock(&a));
    /* a second holder in another process is refused and told who holds it */
    pid_t pid = fork();
    if (pid == 0) {
        int rc = elmo_out_lock(&b);
        _exit(rc == ELMO_ERR_STATE && strstr(elmo_errmsg(), "in use by another run") ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    elmo_out_unlock(&a);
    CHECK(access(a.lock, F_OK) != 0); /* the lock file is gone with the lock */
    CHECK_OK(elmo_out_lock(&b));
    elmo_out_unlock(&b);
}

static void test_commit_and_abandon(void) {
    char out[512], buf[64];
    snprintf(out, sizeof out, "%s/result.txt", dir);
    put(out, "old complete output\n");
    struct elmo_out o;
    CHECK_OK(elmo_out_init(&o, "output", out));
    /* a failed run: the old output survives and the partial goes */
    FILE *f = elmo_out_create_partial(&o);
    CHECK(f != NULL);
    fputs("half", f);
    fclose(f);
    elmo_out_abandon(&o);
    CHECK(access(o.partial, F_OK) != 0);
    CHECK_STR_EQ(get(out, buf, sizeof buf), "old complete output\n");
    /* a partial this run did not create is never removed */
    put(o.partial, "someone else's\n");
    elmo_out_abandon(&o);
    CHECK_STR_EQ(get(o.partial, buf, sizeof buf), "someone else's\n");
    unlink(o.partial);
    /* a complete run replaces the output */
    f = elmo_out_create_partial(&o);
    CHECK(f != NULL);
    fputs("new\n", f);
    fclose(f);
    CHECK_OK(elmo_out_commit(&o));
    CHECK_STR_EQ(get(out, buf, sizeof buf), "new\n");
    CHECK(access(o.partial, F_OK) != 0);
    elmo_out_abandon(&o); /* after a commit, nothing to remove: the output stays */
    CHECK_STR_EQ(get(out, buf, sizeof buf), "new\n");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/elmo-test-outfile-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_aliasing();
    test_special_files();
    test_lock();
    test_commit_and_abandon();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_REPORT();
}

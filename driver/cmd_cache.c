/*
 * cmd_cache.c: `elmo cache [--prune]`: the packed copies of weight files kept in the cache
 * directory (io/pack_cache.h), listed with their state; --prune removes those no job can use
 * (stale, orphan, damaged) and the files of interrupted writes.  Only files named as the cache
 * names them, and with an image's magic, are ever removed; the hashes (small) are left.  Rank 0
 * does the work.
 */
#define _DEFAULT_SOURCE /* gethostname, d_type */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/hash_cache.h"
#include "io/pack_cache.h"
#include "model/status.h"

static const char *const state_names[] = {"live", "stale", "orphan", "damaged", "foreign"};

/* What follows "packed-<64 lowercase hex>.bin" at the start of name (the name of an image,
   io/pack_cache.h), or NULL when name does not start so. */
static const char *after_image_name(const char *name) {
    if (strncmp(name, "packed-", 7) != 0) return NULL;
    for (int i = 7; i < 7 + 64; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return NULL;
    return strncmp(name + 71, ".bin", 4) == 0 ? name + 75 : NULL;
}

/*
 * Whether name is the aside file of an interrupted write on this host:
 * "packed-<hex>.bin.<host>.<pid>.tmp" whose process is gone.
 */
static bool dead_write(const char *name, const char *host) {
    const char *rest = after_image_name(name);
    const size_t hl = strlen(host);
    if (!rest || rest[0] != '.' || strncmp(rest + 1, host, hl) != 0 || rest[1 + hl] != '.')
        return false;
    char *end = NULL;
    long pid = strtol(rest + 2 + hl, &end, 10);
    return pid > 0 && end && !strcmp(end, ".tmp") && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int cache_run(bool prune) {
    char dir[PATH_MAX], host[64] = "host";
    if (elmo_hash_cache_dir(dir, sizeof dir) != 0) {
        printf("the cache is off (ELMO_CACHE_DIR is off or empty, or there is no HOME)\n");
        return 0;
    }
    (void)gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) {
            printf("%s: no cache yet\n", dir);
            return 0;
        }
        return elmo_error(ELMO_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    printf("cache %s\n", dir);
    long long total = 0, kept = 0, freed = 0;
    int n = 0, removed = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        char file[PATH_MAX + 300], path[PATH_MAX];
        snprintf(file, sizeof file, "%s/%s", dir, name);
        const char *rest = after_image_name(name);
        bool image = rest && rest[0] == '\0';
        long long bytes = 0;
        const char *what;
        bool drop;
        if (image) {
            enum elmo_pack_state st = elmo_pack_cache_state(file, path, sizeof path, &bytes);
            what = state_names[st];
            drop = st == ELMO_PACK_STALE || st == ELMO_PACK_ORPHAN || st == ELMO_PACK_DAMAGED;
            n += st != ELMO_PACK_FOREIGN;
            printf("  %-7s %9.1f MiB  %s  (%s)\n", what, (double)bytes / 1048576.0,
                   path[0] ? path : "?", name);
        } else if (dead_write(name, host)) {
            struct stat sb;
            bytes = stat(file, &sb) == 0 ? (long long)sb.st_size : 0;
            what = "partial";
            drop = true;
            printf("  %-7s %9.1f MiB  left by an interrupted write  (%s)\n", what,
                   (double)bytes / 1048576.0, name);
        } else continue;
        total += bytes;
        if (prune && drop) {
            if (unlink(file) == 0) {
                removed++;
                freed += bytes;
                printf("    removed\n");
            } else if (rc == 0)
                rc = elmo_error(ELMO_ERR_IO, "%s: cannot remove: %s", file, strerror(errno));
        } else kept += bytes;
    }
    closedir(d);
    printf("%d packed cop%s, %.1f MiB", n, n == 1 ? "y" : "ies", (double)total / 1048576.0);
    if (prune)
        printf("; removed %d file%s (%.1f MiB), %.1f MiB left", removed, removed == 1 ? "" : "s",
               (double)freed / 1048576.0, (double)kept / 1048576.0);
    printf("\n");
    return rc;
}

int elmo_cmd_cache(int argc, char **argv) {
    int code = ELMO_EXIT_OK;
    if (elmo_rank() == 0) {
        struct elmo_job flags;
        char **pos = elmo_xcalloc((size_t)argc + 2, sizeof *pos);
        int npos = 0;
        code = elmo_tool_flags(ELMO_TOOL_CACHE, argc, argv, &flags, pos, &npos);
        free(pos);
        if (!code && npos != 0) {
            elmo_command_help(elmo_command_of_kind(ELMO_TOOL_CACHE), stderr);
            code = ELMO_EXIT_USAGE;
        } else if (!code) {
            int rc = cache_run(flags.prune);
            if (rc < 0) {
                fflush(stdout);
                fprintf(stderr, "elmo cache: %s\n", elmo_errmsg());
                code = ELMO_EXIT_FAIL;
            }
        }
        fflush(stdout);
    }
    return elmo_rank0_exit(code);
}

/*
 * cmd_store.c: the commands that read a finished store: `elmo info STORE.h5` summarises it and
 * `elmo export --format allennlp STORE.h5 OUT.hdf5` converts it to the layout that
 * `allennlp elmo` writes (io/store_export.h does the conversion).
 *
 * Both read serially.  Under mpirun, rank 0 does the work, the other ranks wait for its verdict
 * and return the same exit code.
 */
#include <errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "io/outfile.h"
#include "io/store.h"
#include "io/store_export.h"
#include "model/status.h"

/* Prints a failure as one line (HDF5's reasons may hold line breaks); returns the exit code. */
static int report(int rc) {
    if (rc < 0) {
        fputs("elmo: error: ", stderr);
        for (const char *m = elmo_errmsg(); *m; m++)
            if (*m != '\n' || m[1]) fputc(*m == '\n' ? ' ' : *m, stderr);
        fputc('\n', stderr);
    }
    return elmo_exit_code(rc);
}

/* ---- elmo info ---------------------------------------------------------------------------- */

static void print_shape(const char *label, struct elmo_store *st, const char *name) {
    int nd = 0;
    int64_t d[3];
    if (elmo_store_dims(st, name, &nd, d) < 0) {
        printf("  %-16s (unreadable: %s)\n", label, elmo_errmsg());
        return;
    }
    char shape[96];
    if (nd == 1) snprintf(shape, sizeof shape, "(%lld)", (long long)d[0]);
    else if (nd == 2)
        snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)d[0], (long long)d[1]);
    else
        snprintf(shape, sizeof shape, "(%lld, %lld, %lld)", (long long)d[0], (long long)d[1],
                 (long long)d[2]);
    printf("  %-16s %s\n", label, shape);
}

/* What the journal of an embed run (driver/embed_journal.c) says about its progress. */
struct progress {
    int64_t plan;     /* shards in the plan, -1 when the journal has no plan line yet */
    int64_t done;     /* distinct shards journalled as done */
    char why[512];    /* set when the journal cannot be read or is damaged */
};

/*
 * Reads STORE.journal: the header line (`elmo-journal N`), `plan M`, and one `done ID ...` line
 * per finished shard (a shard listed twice counts once; a torn last line is ignored, as the
 * job's resume ignores it).  Returns 1 when the journal exists (p filled, p->why set if it is unreadable),
 * 0 when there is none.
 */
static int read_progress(const char *journal, struct progress *p) {
    memset(p, 0, sizeof *p);
    p->plan = -1;
    FILE *f = fopen(journal, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(p->why, sizeof p->why, "%s", strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint8_t *seen = NULL;
    int64_t lineno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] != '\n') break; /* torn last line */
        line[len - 1] = '\0';
        long long a = 0, b = 0;
        if (lineno == 1) {
            int version = 0;
            char extra;
            if (sscanf(line, "elmo-journal %d%c", &version, &extra) != 1 || version < 1) {
                snprintf(p->why, sizeof p->why, "its first line is not 'elmo-journal N'");
                break;
            }
        } else if (p->plan < 0 && sscanf(line, "plan %lld", &a) == 1) {
            if (a < 0 || a > 100000000LL) {
                snprintf(p->why, sizeof p->why, "line %lld: a plan of %lld shards",
                         (long long)lineno, a);
                break;
            }
            p->plan = a;
            seen = calloc((size_t)a + 1, 1);
            if (!seen) {
                snprintf(p->why, sizeof p->why, "out of memory for %lld shards", a);
                break;
            }
        } else if (sscanf(line, "done %lld %lld", &a, &b) >= 1) {
            if (p->plan < 0 || a < 0 || a >= p->plan) {
                snprintf(p->why, sizeof p->why, "line %lld: shard %lld is not in the plan",
                         (long long)lineno, a);
                break;
            }
            if (!seen[a]) p->done++;
            seen[a] = 1;
        }
    }
    if (!p->why[0] && ferror(f)) snprintf(p->why, sizeof p->why, "read error");
    if (!p->why[0] && lineno == 0) snprintf(p->why, sizeof p->why, "it is empty");
    free(seen);
    free(line);
    fclose(f);
    return 1;
}

/*
 * Who holds STORE.lock (outfile.h: "host pid"), as a phrase for the progress line; "" when
 * there is no lock file.  The lock itself is never taken here: a probe would make the job that
 * owns the output fail to start.
 */
static void lock_state(const char *store, char *out, size_t n) {
    char lock[ELMO_PATH_MAX + 8], holder[300] = "", host[256] = "";
    long pid = 0;
    out[0] = '\0';
    snprintf(lock, sizeof lock, "%s.lock", store);
    FILE *f = fopen(lock, "r");
    if (!f) return;
    if (!fgets(holder, sizeof holder, f)) holder[0] = '\0';
    fclose(f);
    char me[256] = "";
    if (sscanf(holder, "%255s %ld", host, &pid) != 2 || pid <= 0) {
        snprintf(out, n, " (its lock file names no host and pid)");
        return;
    }
    if (gethostname(me, sizeof me) != 0) me[0] = '\0';
    me[sizeof me - 1] = '\0';
    if (strcmp(me, host) != 0)
        snprintf(out, n, " (run by pid %ld on host %s)", pid, host);
    else if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
        snprintf(out, n, " (running: pid %ld on this host)", pid);
    else
        snprintf(out, n, " (stopped: pid %ld is gone; rerun the same job to resume)", pid);
}

/* Prints the progress of a run writing `path`; returns 1 when there is a journal. */
static int print_progress(const char *path) {
    char journal[ELMO_PATH_MAX + 16], lock[400];
    struct progress p;
    snprintf(journal, sizeof journal, "%s.journal", path);
    if (!read_progress(journal, &p)) return 0;
    lock_state(path, lock, sizeof lock);
    if (p.why[0])
        printf("run:         in progress, but its journal %s cannot be read (%s)%s\n", journal,
               p.why, lock);
    else if (p.plan < 0)
        printf("run:         in progress: planning (journal %s)%s\n", journal, lock);
    else
        printf("run:         in progress: %lld of %lld shards done (journal %s)%s\n",
               (long long)p.done, (long long)p.plan, journal, lock);
    return 1;
}

/*
 * Summarises the store at path, and the run writing it when STORE.journal exists.  Returns 0
 * when it could say something (a store, complete or not, or a run in progress), else the
 * failure; *complete is set when the store is complete and valid.
 */
static int info_run(const char *path, bool *complete) {
    struct elmo_store *st = NULL;
    struct elmo_store_info info;
    struct stat sb;
    *complete = false;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        /* no store yet: a run that writes STORE.partial and renames it at the end */
        printf("store:       %s (not written yet)\n", path);
        if (print_progress(path)) return 0;
        return elmo_error(ELMO_ERR_IO, "%s: no such store, and no run writing it (no %s.journal)",
                          path, path);
    }
    int rc = elmo_store_open(&st, path, &info);
    if (rc < 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", elmo_errmsg());
        if (print_progress(path)) printf("store:       %s (unreadable)\n", path);
        fflush(stdout);
        return elmo_error(rc, "%s", why);
    }
    const char *bar = "********************************************************************";
    if (!info.complete)
        printf("%s\n*** INCOMPLETE STORE: the job that wrote it did not finish (complete = 0).\n"
               "*** Its rows cannot be trusted; rerun the same job to resume it.\n%s\n",
               bar, bar);
    printf("store:       %s\n", path);
    printf("complete:    %s\n",
           info.complete ? "yes (complete = 1)" : "NO - INCOMPLETE (complete = 0)");
    print_progress(path);
    printf("sentences:   %lld\n", (long long)info.n_sent);
    printf("tokens:      %lld\n", (long long)info.n_tok);
    printf("precision:   %s\n", info.precision == ELMO_PREC_F16 ? "f16" : "f32");
    printf("regime:      %s\n", info.regime[0] ? info.regime : "(not recorded)");
    printf("weights:     sha256 %s\n",
           info.weights_sha256[0] ? info.weights_sha256 : "(not recorded)");
    printf("version:     elmo %s\n", info.version[0] ? info.version : "(not recorded)");
    int64_t k = 0, n = 0;
    int got_k = elmo_store_attr_int64(st, "slice_k", &k);
    int got_n = elmo_store_attr_int64(st, "slice_n", &n);
    if (got_k > 0 && got_n > 0) printf("slice:       %lld of 0..%lld\n", (long long)k,
                                       (long long)n - 1);
    else elmo_error_clear();
    printf("P:           %d\n", info.P);
    printf("outputs:%s\n", info.outputs ? "" : "     (none)");
    for (int i = 0; i < 8; i++) {
        if (!(info.outputs & (1u << i))) continue;
        char name[64];
        snprintf(name, sizeof name, "embeddings/%s", elmo_outputs[i].name);
        print_shape(elmo_outputs[i].name, st, name);
    }
    elmo_store_close(st);
    *complete = info.complete != 0;
    return 0;
}

int elmo_cmd_info(int argc, char **argv) {
    int code = ELMO_EXIT_OK;
    if (elmo_rank() == 0) {
        struct elmo_job flags;
        char **pos = elmo_xcalloc((size_t)argc + 2, sizeof *pos);
        int npos = 0;
        code = elmo_tool_flags(ELMO_TOOL_INFO, argc, argv, &flags, pos, &npos);
        const char *path = pos[0];
        bool check = flags.check;
        free(pos);
        if (code) {
            /* the flag error is printed */
        } else if (npos != 1) {
            elmo_command_help(elmo_command_of_kind(ELMO_TOOL_INFO), stderr);
            code = ELMO_EXIT_USAGE;
        } else {
            bool complete = false;
            int rc = info_run(path, &complete);
            code = report(rc);
            if (rc == 0 && check && !complete) {
                fflush(stdout);
                fprintf(stderr, "elmo info --check: %s is not complete\n", path);
                code = ELMO_EXIT_FAIL;
            }
        }
        fflush(stdout);
    }
    return elmo_rank0_exit(code);
}

/* ---- elmo export --format allennlp ------------------------------------------------------- */

int elmo_cmd_export(int argc, char **argv) {
    int code = ELMO_EXIT_OK;
    if (elmo_rank() == 0) {
        struct elmo_job flags; /* --format: allennlp, the only one, checked by the key table */
        char **pos = elmo_xcalloc((size_t)argc + 2, sizeof *pos);
        int npos = 0;
        code = elmo_tool_flags(ELMO_TOOL_EXPORT, argc, argv, &flags, pos, &npos);
        const char *in = pos[0], *out = pos[1];
        free(pos);
        if (code) {
            /* the flag error is printed */
        } else if (npos != 2) {
            elmo_command_help(elmo_command_of_kind(ELMO_TOOL_EXPORT), stderr);
            code = ELMO_EXIT_USAGE;
        } else {
            bool broken = false;
            code = report(elmo_store_export_allennlp(in, out, &broken));
            if (broken) {
                /* the output is removed and the error printed: stop here (io/store_export.h) */
                fflush(stdout);
                fflush(stderr);
                elmo_abort(code);
            }
        }
        fflush(stdout);
    }
    return elmo_rank0_exit(code);
}

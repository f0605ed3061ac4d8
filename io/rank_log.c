/*
 * rank_log.c: per-rank log files next to a job's output, OUTPUT.logs/rank-NNNNN.log.
 *
 * Every rank appends timestamped lines about its own work (what it ran, how long it took, how
 * it ended) so that a multi-node run can be followed rank by rank after the fact; stderr keeps
 * only rank 0's progress and the one failure message. Files are appended to, so a resumed job
 * keeps the history of its earlier runs. A log that cannot be written is an error at open and
 * is ignored afterwards (a full disk must not turn a finished shard into a failure).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/job.h"
#include "io/rank_log.h"
#include "model/status.h"

static FILE *log_file;
static int log_rank, log_size;

int elmo_rank_log_open(const char *output, int rank, int size) {
    char dir[ELMO_PATH_MAX + 16], path[ELMO_PATH_MAX + 48];
    if (snprintf(dir, sizeof dir, "%s.logs", output) >= (int)sizeof dir)
        return elmo_error(ELMO_ERR_ARG, "%s: path too long for its log directory", output);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return elmo_error(ELMO_ERR_IO, "%s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/rank-%05d.log", dir, rank);
    elmo_rank_log_close();
    log_rank = rank;
    log_size = size;
    log_file = fopen(path, "a");
    if (!log_file) return elmo_error(ELMO_ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

void elmo_rank_log(const char *fmt, ...) {
    if (!log_file) return;
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(log_file, "%s.%03ldZ rank %d/%d: ", stamp, ts.tv_nsec / 1000000L, log_rank, log_size);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log_file, fmt, ap);
    va_end(ap);
    fputc('\n', log_file);
    fflush(log_file);
}

void elmo_rank_log_close(void) {
    if (log_file) fclose(log_file);
    log_file = NULL;
}

/*
 * rank_log.h: per-rank log files next to a job's output, OUTPUT.logs/rank-NNNNN.log.
 *
 * One timestamped line per call, appended to.  elmo_rank_log does nothing before a successful
 * open (and after a close); the driver's failure paths write how a rank ended there too.
 */
#ifndef ELMO_RANK_LOG_H
#define ELMO_RANK_LOG_H

/* Opens (appending) this rank's log for the job writing output; rank of size name the file
 * and every line.  Returns 0 or a negative status (the directory or file cannot be written). */
int elmo_rank_log_open(const char *output, int rank, int size);
void elmo_rank_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void elmo_rank_log_close(void);

#endif /* ELMO_RANK_LOG_H */

/*
 * clock.h: the one monotonic clock of the project, for timings and progress rates.
 */
#ifndef ELMO_CLOCK_H
#define ELMO_CLOCK_H

/* Seconds on CLOCK_MONOTONIC: only differences mean anything.  Thread-safe, never fails. */
double elmo_now(void);

#endif /* ELMO_CLOCK_H */

/*
 * spare_cores.h: the cores of a node's ranks that have run out of work, lent to the ranks of
 * the node still computing.
 *
 * Near the end of a job the ranks finish one by one; the last shard or batch of a rank used to
 * run on its own threads while the cores of the finished ranks idled.  Now a rank that has no
 * more work offers its threads (elmo_spare_offer) and waits without spinning
 * (elmo_spare_barrier); a rank still computing takes spare cores one at a time at the start of
 * a parallel product (elmo_blas_set_lender), up to its share of them (the cores offered so
 * far, split evenly over the node's ranks still computing).  Numbers do not depend on it: the
 * row-stable GEMM gives the same bits on any thread count (model/gemm.h).
 *
 * ELMO_LEND_CORES=0 in the environment turns lending off (for measurements).
 */
#ifndef ELMO_SPARE_CORES_H
#define ELMO_SPARE_CORES_H

#include <mpi.h>

/* Collective over MPI_COMM_WORLD: starts lending for ranks of `threads` GEMM threads each
 * (the count they run with now) and sets this rank's lender.  Failures stop every rank. */
void elmo_spare_start(int threads);

/* This rank has no more work: its threads and the cores it took become spare, and it runs on
 * its own threads again.  Once per start; later calls do nothing. */
void elmo_spare_offer(void);

/* Cores this rank took since the start. */
int elmo_spare_taken(void);

/* The millisecond a rank that waits for others sleeps between tests instead of spinning, so
 * that it leaves its core to the ranks still computing. */
void elmo_spare_nap(void);

/* Collective over comm: a barrier that naps (elmo_spare_nap) between tests. */
void elmo_spare_barrier(MPI_Comm comm);

/* Collective over MPI_COMM_WORLD (after elmo_spare_offer on every rank): ends lending. */
void elmo_spare_stop(void);

#endif /* ELMO_SPARE_CORES_H */

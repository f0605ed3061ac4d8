/*
 * spare_cores.c: lending the cores of finished ranks (see spare_cores.h).
 *
 * The node's counters live in a shared window on the node's rank 0 and are read and changed
 * with atomic operations only: offered (cores offered so far), taken (cores taken so far) and
 * working (ranks not yet finished).  offered - taken cores are free.  A rank that took cores
 * offers them back with its own when it finishes, so a core is never run by two ranks.
 *
 * Ranks are usually bound to their cores (mpirun binds two ranks to one core each, Slurm to
 * the job's cpuset), and a GEMM thread inherits its creator's binding.  So each rank that
 * offers also publishes the CPUs it may run on, and a rank that takes a core widens its main
 * thread's CPUs to its own and every finished rank's before the GEMM starts the thread (which
 * inherits them); it goes back to its own CPUs when it finishes.  Without sched_setaffinity
 * (not Linux) nothing is lent.
 */
#ifdef __linux__
#define _GNU_SOURCE /* sched_getaffinity, CPU_OR */
#endif
#include "driver/spare_cores.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/collective.h"
#include "model/gemm.h"

struct counters {
    int offered, taken, working;
};

/* The node's shared window: the counters, then per node rank whether it has finished and
 * the CPUs it may run on. */
struct node_slot {
    int finished;
#ifdef __linux__
    cpu_set_t cpus;
#endif
};

static struct {
    bool offered, widened;
    int base, extra, node_rank, node_size; /* extra: cores taken (held until the offer) */
    MPI_Comm node;
    MPI_Win win;
    struct counters *c;
    struct node_slot *slot; /* (node_size) after the counters */
#ifdef __linux__
    cpu_set_t own; /* this thread's CPUs at the start */
#endif
} sp = {.node = MPI_COMM_NULL, .win = MPI_WIN_NULL};

/* This thread may run on its own CPUs and those of every rank of the node that finished. */
static void widen(void) {
#ifdef __linux__
    cpu_set_t u = sp.own;
    for (int i = 0; i < sp.node_size; i++)
        if (__atomic_load_n(&sp.slot[i].finished, __ATOMIC_ACQUIRE))
            CPU_OR(&u, &u, &sp.slot[i].cpus);
    if (sched_setaffinity(0, sizeof u, &u) == 0) sp.widened = true;
#endif
}

/* The lender (model/gemm.h): one free core when this rank is under its share. */
static int take(void *ctx, int threads) {
    (void)ctx;
    (void)threads;
    struct counters *c = sp.c;
    int working = __atomic_load_n(&c->working, __ATOMIC_ACQUIRE);
    int offered = __atomic_load_n(&c->offered, __ATOMIC_ACQUIRE);
    if (working < 1) working = 1;
    if (sp.extra >= (offered + working - 1) / working) return 0;
    int t = __atomic_load_n(&c->taken, __ATOMIC_ACQUIRE);
    while (t < offered) {
        if (__atomic_compare_exchange_n(&c->taken, &t, t + 1, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            sp.extra++;
            widen();
            return 1;
        }
    }
    return 0;
}

void elmo_spare_start(int threads) {
    const char *e = getenv("ELMO_LEND_CORES");
    memset(&sp, 0, sizeof sp);
    sp.node = MPI_COMM_NULL;
    sp.win = MPI_WIN_NULL;
    sp.base = threads > 0 ? threads : 1;
    int node_rank = 0, node_size = 1;
    ELMO_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &sp.node));
    ELMO_MPI(MPI_Comm_rank(sp.node, &node_rank));
    ELMO_MPI(MPI_Comm_size(sp.node, &node_size));
    sp.node_rank = node_rank;
    sp.node_size = node_size;
    bool cpus = false;
#ifdef __linux__
    cpus = sched_getaffinity(0, sizeof sp.own, &sp.own) == 0;
#endif
    /* counters, then the slots, each 64-byte aligned */
    const size_t head = (sizeof(struct counters) + 63) / 64 * 64;
    const size_t slot = (sizeof(struct node_slot) + 63) / 64 * 64;
    MPI_Aint bytes = node_rank == 0 ? (MPI_Aint)(head + slot * (size_t)node_size) : 0;
    void *mine = NULL;
    ELMO_MPI(MPI_Win_allocate_shared(bytes, 1, MPI_INFO_NULL, sp.node, &mine, &sp.win));
    MPI_Aint size = 0;
    int disp = 0;
    ELMO_MPI(MPI_Win_shared_query(sp.win, 0, &size, &disp, &sp.c));
    sp.slot = (struct node_slot *)((char *)sp.c + head);
    ELMO_MPI(MPI_Win_lock_all(MPI_MODE_NOCHECK, sp.win));
    if (node_rank == 0) {
        memset(sp.c, 0, (size_t)size);
        __atomic_store_n(&sp.c->working, node_size, __ATOMIC_RELEASE);
    }
    ELMO_MPI(MPI_Win_sync(sp.win));
    ELMO_MPI(MPI_Barrier(sp.node));
    ELMO_MPI(MPI_Win_sync(sp.win));
    if (cpus && node_size > 1 && !(e && strcmp(e, "0") == 0)) elmo_blas_set_lender(take, NULL);
}

void elmo_spare_offer(void) {
    if (!sp.c || sp.offered) return;
    sp.offered = true;
    elmo_blas_set_lender(NULL, NULL);
    if (sp.extra > 0) elmo__pgemm_set_threads(sp.base);
#ifdef __linux__
    if (sp.widened) (void)sched_setaffinity(0, sizeof sp.own, &sp.own);
    sp.widened = false;
    sp.slot[sp.node_rank].cpus = sp.own;
#endif
    __atomic_store_n(&sp.slot[sp.node_rank].finished, 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&sp.c->offered, sp.base + sp.extra, __ATOMIC_ACQ_REL);
    __atomic_fetch_sub(&sp.c->working, 1, __ATOMIC_ACQ_REL);
}

int elmo_spare_taken(void) { return sp.extra; }

void elmo_spare_nap(void) {
    const struct timespec ms = {0, 1000000};
    (void)nanosleep(&ms, NULL);
}

void elmo_spare_barrier(MPI_Comm comm) {
    MPI_Request req;
    ELMO_MPI(MPI_Ibarrier(comm, &req));
    for (;;) {
        int done = 0;
        ELMO_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done) return;
        elmo_spare_nap();
    }
}

void elmo_spare_stop(void) {
    if (!sp.c) return;
    elmo_spare_offer();
    ELMO_MPI(MPI_Win_unlock_all(sp.win));
    ELMO_MPI(MPI_Win_free(&sp.win));
    ELMO_MPI(MPI_Comm_free(&sp.node));
    sp.c = NULL;
}

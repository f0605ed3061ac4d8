/*
 * main.c: the `elmo` program: subcommand dispatch, MPI start-up and shut-down.
 *
 * `elmo --help` and `elmo --version` run without MPI; every other command initialises MPI
 * (a singleton run needs no mpirun) so that the same binary serves 1 or N ranks.
 */
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/commands.h"
#include "model/gemm.h"
#include "model/status.h"

static int world_rank = 0, world_size = 1, mpi_up = 0;

int elmo_rank(void) { return world_rank; }
int elmo_size(void) { return world_size; }

int elmo_agree(int rc) {
    int mine = rc < 0 ? world_rank : INT_MAX, first = INT_MAX;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "MPI_Allreduce failed while agreeing on a status");
        elmo_die(ELMO_ERR_MPI);
    }
    if (first == INT_MAX) return 0;
    return world_rank == first ? rc : ELMO_ERR_REPORTED;
}

int elmo_stop_agreed(void) {
    int mine = elmo_stop_signal(), any = mine;
    if (world_size > 1 &&
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
        elmo_error(ELMO_ERR_MPI, "MPI_Allreduce of the stop flag failed");
        elmo_die(ELMO_ERR_MPI);
    }
    return any;
}

int elmo_exit_code(int status) {
    switch (status) {
    case ELMO_OK: return ELMO_EXIT_OK;
    case ELMO_ERR_ARG:
    case ELMO_ERR_YAML: return ELMO_EXIT_USAGE;
    case ELMO_ERR_INTERRUPTED: return ELMO_EXIT_INTERRUPTED;
    default: return ELMO_EXIT_FAIL;
    }
}

_Noreturn void elmo_die(int status) {
    if (world_size > 1)
        fprintf(stderr, "elmo: error (rank %d of %d): %s\n", world_rank, world_size,
                elmo_errmsg());
    else fprintf(stderr, "elmo: error: %s\n", elmo_errmsg());
    fflush(stderr);
    elmo_rank_log("error: %s", elmo_errmsg());
    if (mpi_up) MPI_Abort(MPI_COMM_WORLD, elmo_exit_code(status));
    exit(elmo_exit_code(status));
}

/* A polling command records the signal and stops at its next unit; any other dies of it. */
static void on_stop_signal(int sig) {
    if (elmo_stop_enabled()) {
        elmo_stop_request(sig);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * OpenBLAS starts its thread pool when the library loads, before main, with one thread per core
 * unless OPENBLAS_NUM_THREADS says otherwise: under a small address-space limit that start can
 * hang, and the threads would compete with MPI ranks.  The program sets the pool to one thread
 * and runs itself again once, so the pool is sized before MPI or any job starts; a job's
 * `threads` key raises the count later.  Returns only when no re-execution was needed or possible.
 */
static void size_blas_pool(char **argv) {
    if (getenv("OPENBLAS_NUM_THREADS") || getenv("ELMO_BLAS_SIZED")) return;
    if (setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0 || setenv("ELMO_BLAS_SIZED", "1", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* no /proc: go on with OpenBLAS's own pool size (the job sets the count it uses) */
}

/* An allocation that may not fail did: one message, then every rank stops (exit 1). */
static void on_oom(void) { elmo_die(ELMO_ERR_NOMEM); }

/* Every job stops the same way on SIGINT, SIGTERM and SIGUSR1; SIGXFSZ becomes EFBIG. */
static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

int main(int argc, char **argv) {
    size_blas_pool(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        elmo_commands_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? ELMO_EXIT_USAGE : ELMO_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("elmo %s (BLAS kernel %s)\n", ELMO_VERSION, elmo_blas_corename());
        return ELMO_EXIT_OK;
    }
    const struct elmo_command *cmd = elmo_command_find(argv[1]);
    if (!cmd) {
        fprintf(stderr, "elmo: unknown command '%s' (elmo --help lists them)\n", argv[1]);
        return ELMO_EXIT_USAGE;
    }

    /* a signal during start-up is kept for the job's first stop point */
    if (cmd->polls) elmo_stop_enable();
    install_signals();
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "elmo: error: MPI_Init failed\n");
        return ELMO_EXIT_FAIL;
    }
    mpi_up = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    /* Errors of MPI calls come back as codes that the callers check and report. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    install_signals(); /* again after MPI_Init, which may install handlers of its own */
    elmo_set_oom_hook(on_oom);

    int code = elmo_command_main(cmd, argc - 1, argv + 1);

    MPI_Finalize();
    return code;
}

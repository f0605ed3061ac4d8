/*
 * main.c: the `elmo` program: subcommand dispatch, MPI start-up and shut-down.
 *
 * `elmo --help` and `elmo --version` run without MPI; every other command initialises MPI
 * (a singleton run needs no mpirun) so that the same binary serves 1 or N ranks.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/collective.h"
#include "driver/commands.h"
#include "model/gemm.h"
#include "model/status.h"

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
    if (elmo_mpi_start(&argc, &argv) != 0) {
        fprintf(stderr, "elmo: error: MPI_Init failed\n");
        return ELMO_EXIT_FAIL;
    }
    install_signals(); /* again after MPI_Init, which may install handlers of its own */
    elmo_set_oom_hook(on_oom);

    int code = elmo_command_main(cmd, argc - 1, argv + 1);

    elmo_mpi_end();
    return code;
}

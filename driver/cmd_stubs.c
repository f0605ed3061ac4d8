/*
 * cmd_stubs.c: commands whose issues have not landed yet.  Each says so and fails; none fakes
 * output.  A command moves to its own file when it is implemented.
 */
#include <stdio.h>

#include "driver/commands.h"
#include "model/status.h"

static int not_yet(const char *what, int issue) {
    if (elmo_rank() == 0)
        fprintf(stderr, "elmo: %s is not implemented yet (issue #%d)\n", what, issue);
    return ELMO_EXIT_FAIL;
}

int elmo_cmd_bench(int argc, char **argv) { return not_yet("bench", 8); }

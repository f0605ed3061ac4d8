/* test_status.c: the status table, messages and prefixes. */
#include "model/status.h"
#include "tests/check.h"

#include <stdlib.h>

int main(void) {
    CHECK_STR_EQ(elmo_strerror(ELMO_OK), "success");
    CHECK_STR_EQ(elmo_strerror(ELMO_ERR_IO), "input/output error");
    CHECK_STR_EQ(elmo_status_name(ELMO_ERR_SHAPE), "ERR_SHAPE");
    CHECK_STR_EQ(elmo_strerror(12345), "unknown status");
    CHECK_INT_EQ(elmo_error(ELMO_ERR_FORMAT, "%s:%d: bad", "f.txt", 3), ELMO_ERR_FORMAT);
    CHECK_STR_EQ(elmo_errmsg(), "f.txt:3: bad");
    CHECK_INT_EQ(elmo_error_prefix(ELMO_ERR_FORMAT, "loading %s: ", "x"), ELMO_ERR_FORMAT);
    CHECK_STR_EQ(elmo_errmsg(), "loading x: f.txt:3: bad");
    elmo_error_clear();
    CHECK_STR_EQ(elmo_errmsg(), "success");
    void *p = elmo_aligned_alloc(100, "test");
    CHECK(p != NULL && ((unsigned long)p % 64) == 0);
    free(p);
    return CHECK_REPORT();
}

/* core/isolate.h: a call in a child process. Its return value and message come back; a crash, or an allocation
   beyond the child's budget, does not take the caller with it. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/isolate.h"
#include "core/mechbench.h"

static int fill_squares(void *arg, char *err, size_t errlen) {
    (void)err, (void)errlen;
    int *out = arg;
    for (int i = 0; i < 8; i++) out[i] = i * i;
    return 0;
}

static int refuse(void *arg, char *err, size_t errlen) {
    return mb_errorf(err, errlen, "refused %d", *(int *)arg);
}

static int segfault(void *arg, char *err, size_t errlen) {
    (void)arg, (void)err, (void)errlen;
    raise(SIGSEGV);
    return 0;
}

static int leave_early(void *arg, char *err, size_t errlen) {
    (void)arg, (void)err, (void)errlen;
    _exit(3);
}

/* Asks malloc for *arg bytes and touches them: -1 "no memory" when malloc says no. */
static int allocate(void *arg, char *err, size_t errlen) {
    const size_t bytes = *(size_t *)arg;
    char *p = malloc(bytes);
    if (!p) return mb_errorf(err, errlen, "no memory for %zu bytes", bytes);
    memset(p, 1, bytes);
    free(p);
    return 0;
}

Test(isolate, results_come_back_through_shared_memory) {
    int *out = mb_shared_alloc(8 * sizeof *out);
    cr_assert_not_null(out);
    char err[256] = "";
    cr_assert_eq(mb_isolated(fill_squares, out, 0, "squares", err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 8; i++) cr_assert_eq(out[i], i * i);
    mb_shared_free(out, 8 * sizeof *out);
}

Test(isolate, the_childs_error_message_is_the_callers) {
    int x = 42;
    char err[256] = "";
    cr_assert_eq(mb_isolated(refuse, &x, 0, "refusal", err, sizeof err), -1);
    cr_assert_str_eq(err, "refused 42");
}

Test(isolate, a_crash_is_an_error_naming_the_signal) {
    char err[256] = "";
    cr_assert_eq(mb_isolated(segfault, NULL, 0, "x.h5: libhdf5 crashed", err, sizeof err), -1);
    cr_assert_str_eq(err, "x.h5: libhdf5 crashed (killed by signal 11, Segmentation fault)");
    cr_assert_eq(mb_isolated(leave_early, NULL, 0, "y crashed", err, sizeof err), -1);
    cr_assert_str_eq(err, "y crashed (the child process exited with status 3)");
}

Test(isolate, the_budget_bounds_what_the_child_may_allocate) {
    size_t bytes = (size_t)3 << 30; /* 3 GiB against a 256 MiB budget: malloc returns NULL in the child */
    char err[256] = "";
    cr_assert_eq(mb_isolated(allocate, &bytes, (size_t)256 << 20, "alloc", err, sizeof err), -1);
    cr_assert_str_eq(err, "no memory for 3221225472 bytes");
    bytes = (size_t)64 << 20; /* within it */
    cr_assert_eq(mb_isolated(allocate, &bytes, (size_t)256 << 20, "alloc", err, sizeof err), 0, "%s", err);
}

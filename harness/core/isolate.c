/* mb_isolated: fork, run, report through shared memory (isolate.h). */
#include "core/isolate.h"
#include "core/mechbench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

void *mb_shared_alloc(size_t bytes) {
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void mb_shared_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 1);
}

/* What the child leaves for its parent. */
struct child_report {
    int returned; /* fn came back (else the child died inside it) */
    int rc;
    char err[1024];
};

/* The child dies of a fatal signal as the kernel delivers it: no sanitizer report and no fuzzer crash file for a
   crash the parent turns into an error. Its address space may grow by at most budget bytes beyond what it has
   (the fork's copy of the parent, with a sanitizer's reserved shadow), so an allocation a corrupt file asks for
   fails inside the library, which reports it, instead of paging in gigabytes. */
static void child_limits(size_t budget) {
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    unsigned long long pages = 0;
    FILE *f = budget ? fopen("/proc/self/statm", "r") : NULL;
    if (f && fscanf(f, "%llu", &pages) == 1) {
        const rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + budget;
        const struct rlimit r = {limit, limit};
        setrlimit(RLIMIT_AS, &r);
    }
    if (f) fclose(f);
}

int mb_isolated(int (*fn)(void *arg, char *err, size_t errlen), void *arg, size_t budget, const char *what,
                char *err, size_t errlen) {
    struct child_report *r = mb_shared_alloc(sizeof *r);
    if (!r) return mb_errorf(err, errlen, "%s: cannot map shared memory: %s", what, strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) {
        mb_shared_free(r, sizeof *r);
        return mb_errorf(err, errlen, "%s: cannot fork: %s", what, strerror(errno));
    }
    if (pid == 0) {
        child_limits(budget);
        r->rc = fn(arg, r->err, sizeof r->err);
        r->returned = 1;
        _exit(0);
    }
    int status = 0;
    pid_t got;
    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    int rc;
    if (got == pid && r->returned) {
        rc = r->rc;
        if (rc) snprintf(err, errlen, "%s", r->err);
    } else if (got == pid && WIFSIGNALED(status)) {
        rc = mb_errorf(err, errlen, "%s (killed by signal %d, %s)", what, WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (got == pid) {
        rc = mb_errorf(err, errlen, "%s (the child process exited with status %d)", what, WEXITSTATUS(status));
    } else {
        rc = mb_errorf(err, errlen, "%s: waitpid: %s", what, strerror(errno));
    }
    mb_shared_free(r, sizeof *r);
    return rc;
}

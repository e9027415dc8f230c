/* A call run in a child process, for libraries that read untrusted input and can crash on it.
 *
 * libhdf5 1.10.8 has memory-safety bugs on crafted files that no check before the call can rule out: `make fuzz`
 * (fuzz_h5tensor) found a NULL memcpy inside H5Dread and metadata that asks malloc for 2^55 bytes, in files of about
 * 2 KiB. `mechbench eval` reads a user's file, so it reads it in a child: a crash there becomes one line of error and
 * the caller goes on. Results travel through memory the parent maps before the fork (mb_shared_alloc). */
#ifndef MB_ISOLATE_H
#define MB_ISOLATE_H

#include <stddef.h>

/* Zeroed memory that a child made by mb_isolated writes and its parent reads (MAP_SHARED | MAP_ANONYMOUS); NULL on
   failure. Free with mb_shared_free and the same size. */
void *mb_shared_alloc(size_t bytes);
void mb_shared_free(void *p, size_t bytes);

/* Runs fn(arg, err, errlen) in a forked child and returns what it returned (0, or -1 with its message in err). When
   the child ends without returning (a signal, an exit from inside a library), -1 with "WHAT (how it ended)" in err:
   WHAT says what crashed ("x.h5: corrupt HDF5 file: libhdf5 crashed reading the values of 'q'"). The child may map
   at most budget more bytes (RLIMIT_AS above its size at the fork; 0: no limit), and dies of a fatal signal without
   a sanitizer's report. fn's outputs must be in mb_shared_alloc memory; anything else it writes stays in the child.
   The child leaves with _exit: no atexit handler and no stdio flush of the parent's buffers runs twice. */
int mb_isolated(int (*fn)(void *arg, char *err, size_t errlen), void *arg, size_t budget, const char *what,
                char *err, size_t errlen);

#endif

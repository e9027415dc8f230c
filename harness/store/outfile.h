/* Output files that are never seen half-written: write to a temporary file next to the target, rename on
 * success (rename within one directory is atomic), remove the temporary on failure. */
#ifndef MB_OUTFILE_H
#define MB_OUTFILE_H

#include <stdio.h>

struct mb_outfile {
    FILE *f;
    char path[4096];
    char tmp[4096 + 32];
};

/* Create "DIR/.NAME.XXXXXX" for path. Returns 0 or -1 with a message. */
int mb_outfile_open(struct mb_outfile *o, const char *path, char *err, size_t errlen);
/* Flush, sync, close and rename onto the target. Returns 0 or -1 with a message (the temporary is removed). */
int mb_outfile_commit(struct mb_outfile *o, char *err, size_t errlen);
/* Close and remove the temporary. */
void mb_outfile_abort(struct mb_outfile *o);
/* A temporary name "DIR/.NAME.PID.tmp" for a file another program writes (gnuplot). */
void mb_outfile_temp_name(const char *path, char *buf, size_t len);
/* mkdir -p of the directory part of path. Returns 0 or -1 with a message. */
int mb_make_parent_dirs(const char *path, char *err, size_t errlen);

#endif

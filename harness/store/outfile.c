/* Atomic output files (see outfile.h). */
#include "store/outfile.h"

#include "core/mechbench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "dir/" (with the slash, "" for none) and the base name of path. */
static void split_path(const char *path, char *dir, size_t dirlen, const char **base) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path + 1) : 0;
    snprintf(dir, dirlen, "%.*s", (int)n, path);
    *base = slash ? slash + 1 : path;
}

void mb_outfile_temp_name(const char *path, char *buf, size_t len) {
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    snprintf(buf, len, "%s.%s.%ld.tmp", dir, base, (long)getpid());
}

int mb_make_parent_dirs(const char *path, char *err, size_t errlen) {
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0777) < 0 && errno != EEXIST)
            return mb_errorf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        *p = '/';
    }
    return 0;
}

int mb_outfile_open(struct mb_outfile *o, const char *path, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    if (!*base) return mb_errorf(err, errlen, "%s: not a file name", path);
    snprintf(o->path, sizeof o->path, "%s", path);
    snprintf(o->tmp, sizeof o->tmp, "%s.%s.XXXXXX", dir, base);
    int fd = mkstemp(o->tmp);
    if (fd < 0) return mb_errorf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    mode_t mask = umask(0); /* mkstemp creates 0600: give the file the usual permissions */
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        close(fd);
        unlink(o->tmp);
        return mb_errorf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    }
    return 0;
}

int mb_outfile_commit(struct mb_outfile *o, char *err, size_t errlen) {
    int failed = fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0;
    int saved = errno;
    if (fclose(o->f) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    o->f = NULL;
    if (!failed && rename(o->tmp, o->path) == 0) return 0;
    if (!failed) saved = errno;
    unlink(o->tmp);
    return mb_errorf(err, errlen, "cannot write %s: %s", o->path, strerror(saved));
}

void mb_outfile_abort(struct mb_outfile *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp[0]) unlink(o->tmp);
}

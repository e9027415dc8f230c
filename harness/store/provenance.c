/* Machine and build provenance (see provenance.h for the keys).
 *
 * Layout: small readers (command output, /proc/cpuinfo fields, environment), one collect function that fills
 * the key/value list in a fixed order, and two consumers (HDF5 attributes, text lines).
 * Build-time facts come from macros set by the Makefile: MB_CFLAGS, MB_BENCHMARK_VERSION. The ISA is the one
 * chosen at start-up (core/isa.h).
 */
#include "store/provenance.h"

#include "core/isa.h"
#include "core/mechbench.h"

#include <cblas.h>
#include <hdf5_hl.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef MB_CFLAGS
#define MB_CFLAGS "unknown"
#endif
#ifndef MB_BENCHMARK_VERSION
#define MB_BENCHMARK_VERSION "unknown"
#endif

static void set_item(struct mb_provenance *p, const char *key, int is_int, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_item(struct mb_provenance *p, const char *key, int is_int, const char *fmt, ...) {
    if (p->count >= MB_PROV_MAX) return;
    struct mb_prov_item *it = &p->items[p->count++];
    it->key = key;
    it->is_int = is_int;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->value, sizeof it->value, fmt, ap);
    va_end(ap);
    if (!it->value[0]) snprintf(it->value, sizeof it->value, "unknown");
}

static void trim_newline(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = '\0';
}

/* First line of a shell command's stdout into buf ("" on failure); returns the number of lines printed. */
static int command_output(const char *cmd, char *buf, size_t len) {
    buf[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (!f) return 0;
    int lines = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (lines++ == 0) snprintf(buf, len, "%s", line);
    }
    int status = pclose(f);
    trim_newline(buf);
    if (status != 0) buf[0] = '\0';
    return status == 0 ? lines : 0;
}

/* Directory of the running executable, single-quoted for the shell. */
static void exe_dir_quoted(char *buf, size_t len) {
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) n = 0;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (slash) *slash = '\0';
    if (!path[0]) snprintf(path, sizeof path, ".");
    size_t used = 0;
    buf[used++] = '\'';
    for (const char *s = path; *s && used + 5 < len; s++) {
        if (*s == '\'') { memcpy(buf + used, "'\\''", 4); used += 4; }
        else buf[used++] = *s;
    }
    buf[used++] = '\'';
    buf[used] = '\0';
}

/* "<sha>" or "<sha>-dirty" (tracked files modified), "unknown" outside a git checkout. */
static void git_commit(char *buf, size_t len) {
    char dir[8192], cmd[8400], sha[128], line[512];
    exe_dir_quoted(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "git -C %s rev-parse HEAD 2>/dev/null", dir);
    if (!command_output(cmd, sha, sizeof sha) || !sha[0]) {
        snprintf(buf, len, "unknown");
        return;
    }
    snprintf(cmd, sizeof cmd, "git -C %s status --porcelain --untracked-files=no 2>/dev/null", dir);
    int dirty = command_output(cmd, line, sizeof line) > 0;
    snprintf(buf, len, "%s%s", sha, dirty ? "-dirty" : "");
}

/* Value of the first "key<tabs>: value" line of /proc/cpuinfo. */
static void cpuinfo_field(const char *key, char *buf, size_t len) {
    buf[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    size_t klen = strlen(key);
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0 || (line[klen] != '\t' && line[klen] != ' ' && line[klen] != ':'))
            continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ') colon++;
        snprintf(buf, len, "%s", colon);
        trim_newline(buf);
        break;
    }
    fclose(f);
}

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && v[0] ? v : fallback;
}

void mb_provenance_collect(struct mb_provenance *p) {
    char buf[MB_PROV_VALUE_LEN];
    p->count = 0;
    set_item(p, "tool", 0, "mechbench");

    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    set_item(p, "created", 0, "%s", buf);

    git_commit(buf, sizeof buf);
    set_item(p, "git_commit", 0, "%s", buf);

    struct utsname u;
    if (uname(&u) == 0) set_item(p, "host", 0, "%s %s", u.nodename, u.release);
    else set_item(p, "host", 0, "unknown");

    cpuinfo_field("model name", buf, sizeof buf);
    set_item(p, "cpu_model", 0, "%s", buf);
    cpuinfo_field("flags", buf, sizeof buf);
    set_item(p, "cpu_flags", 0, "%s", buf);
    set_item(p, "cores", 1, "%ld", sysconf(_SC_NPROCESSORS_ONLN));

    set_item(p, "omp_max_threads", 1, "%d", omp_get_max_threads());
    set_item(p, "omp_num_threads", 0, "%s", env_or("OMP_NUM_THREADS", "unset"));
    set_item(p, "omp_proc_bind", 0, "%s", env_or("OMP_PROC_BIND", "unset"));
    set_item(p, "omp_places", 0, "%s", env_or("OMP_PLACES", "unset"));

#if defined(__GNUC__) && !defined(__clang__)
    set_item(p, "compiler", 0, "gcc %s", __VERSION__); /* gcc's __VERSION__ is the bare number */
#else
    set_item(p, "compiler", 0, "%s", __VERSION__);
#endif
    set_item(p, "cflags", 0, "%s", MB_CFLAGS);
    set_item(p, "isa", 0, "%s", mb_isa_name()); /* the kernel copy that ran (MB_ISA caps it) */
    mb_isa_supported_list(",", buf, sizeof buf);
    set_item(p, "isa_supported", 0, "%s", buf);
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    set_item(p, "hdf5_version", 0, "%u.%u.%u", maj, min, rel);
    set_item(p, "benchmark_version", 0, "%s", MB_BENCHMARK_VERSION);
    const char *ob = openblas_get_config();
    set_item(p, "openblas_config", 0, "%s", ob ? ob : "unknown");
    set_item(p, "openblas_coretype", 0, "%s", env_or("OPENBLAS_CORETYPE", "unset"));
}

const char *mb_provenance_get(const struct mb_provenance *p, const char *key) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i].key, key) == 0) return p->items[i].value;
    return NULL;
}

int mb_h5_set_scalar_attr(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *value) {
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0) return -1;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = attr >= 0 ? H5Awrite(attr, mem_type, value) : -1;
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    return st < 0 ? -1 : 0;
}

int mb_provenance_write_h5(hid_t loc, char *err, size_t errlen) {
    static struct mb_provenance p; /* ~50 kB: keep it off the stack */
    mb_provenance_collect(&p);
    return mb_provenance_write_items(loc, &p, err, errlen);
}

int mb_provenance_write_items(hid_t loc, const struct mb_provenance *p, char *err, size_t errlen) {
    for (int i = 0; i < p->count; i++) {
        const struct mb_prov_item *it = &p->items[i];
        herr_t st;
        if (it->is_int) {
            int64_t v = strtoll(it->value, NULL, 10);
            st = mb_h5_set_scalar_attr(loc, it->key, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
        } else {
            st = H5LTset_attribute_string(loc, ".", it->key, it->value);
        }
        if (st < 0) {
            snprintf(err, errlen, "cannot write provenance attribute '%s'", it->key);
            return -1;
        }
    }
    return 0;
}

void mb_provenance_print(FILE *out) {
    static struct mb_provenance p;
    mb_provenance_collect(&p);
    for (int i = 0; i < p.count; i++) fprintf(out, "%s: %s\n", p.items[i].key, p.items[i].value);
}

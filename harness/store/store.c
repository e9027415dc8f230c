/* HDF5 results store (API and schema in store.h) and the tensor files of `mechbench eval`.
 *
 * Layout of this file:
 *   columns   a table is described by an array of struct col {name, kind, offset, size} into a C record;
 *             the memory compound type (native types, offsets into the record) and the packed file compound
 *             type (little-endian, NUL-padded fixed strings, columns in array order) are both built from it.
 *             /points uses struct point_rec = struct mb_row + the verdict as text, and one column per axis of
 *             axes.def. Readers build the memory type from the columns that exist in the file, so files
 *             written before an axis was added read with that axis = 0.
 *   tables    extendible chunked 1-D datasets: create, append (extend, select, write), count, read.
 *   store     create / open (validation: HDF5 signature, schema_version, datasets) / close; appends flush.
 *   tensors   float32 datasets at the root of plain HDF5 files, written to a temp file and renamed.
 *
 * Crash safety (kill -9 of the writer), measured on HDF5 1.10.8 (sec2 driver, ext4):
 *   - Each append extends and writes /points, then /samples, then calls H5Fflush(H5F_SCOPE_GLOBAL) once.
 *   - Stress loop (a writer appending rows as fast as it can, ~0.1 ms per row, SIGKILLed at a random time
 *     between 20 ms and 1.5 s, i.e. up to ~10^4 rows, so most kills land inside HDF5 calls, many inside
 *     H5Fflush): 300 kills with the default metadata cache, 500 with evictions disabled (this file), 100 with a
 *     4 kB cache that forces evictions between flushes. Every file reopened and every row read back intact.
 *     A durability check (the writer reports each flushed row through a pipe; also in the unit test) never
 *     found a row missing that had been reported flushed. So plain H5Fflush suffices here: kill -9 cannot
 *     stop a write(2) halfway, the page cache keeps what was written, and data the library wrote past the
 *     end-of-file address recorded in the superblock is simply ignored on reopen.
 *   - As a guard we still disable metadata-cache evictions for writers (keep_metadata_until_flush), so that
 *     between flushes only raw chunk data can reach the file and the vulnerable window is H5Fflush itself.
 *   - Not used: SWMR (libver latest + H5F_ACC_SWMR_WRITE). Its superblock keeps an "open for writing" flag that a
 *     killed writer leaves set; h5py and h5dump then refuse the file ("file is already open for write (may use
 *     <h5clear file> ...)", checked) until `h5clear -s`. The default (earliest)
 *     file format has no such flag. No fsync either: power loss is not covered, a killed process is.
 *   - A kill inside the final H5Fflush can lose the last point, or keep its row without its samples; samples
 *     whose point_id has no /points row are trimmed when the file is reopened for writing (--resume).
 *   tests/unit/test_store.c (sigkill_mid_append_keeps_flushed_rows) repeats the kill at six delays.
 * Locking: writers take HDF5's exclusive file lock; readers take none (plotting a running sweep works).
 */
#include "store/store.h"
#include "store/provenance.h"
#include "store/row_schema.h"
#include "core/isolate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERDICT_LEN 16
#define CHUNK_POINTS 64
#define CHUNK_SAMPLES 1024
#define CHUNK_KERNELS 32

/* ============================================================================================== columns */
enum col_kind { COL_I64, COL_I32, COL_F64, COL_STR };

struct col {
    const char *name;
    enum col_kind kind;
    size_t offset; /* into the C record */
    size_t size;   /* bytes in the C record (and in the file: strings keep their length) */
};

#define REC_COL(rec, name, kind, field) {name, kind, offsetof(struct rec, field), sizeof(((struct rec *)0)->field)}

/* /points record: the row as the harness sees it, plus the verdict as text. */
struct point_rec {
    struct mb_row row;
    char verdict[VERDICT_LEN];
};

struct sample_rec {
    int64_t point_id;
    int32_t repetition;
    double seconds;
};

struct kernel_rec {
    char name[MB_NAME_LEN];
    char family[24];
    char mechanism[48];
    char approximates[48];
    int32_t exact;
    char oracle[48];
    char rank_meaning[96];
    char complexity[96];
    char source[128];
    char source_hash[MB_HASH_LEN];
};

#define MAX_COLS (MB_AXIS_COUNT + 40)

static const struct col sample_cols[] = {
    REC_COL(sample_rec, "point_id", COL_I64, point_id),
    REC_COL(sample_rec, "repetition", COL_I32, repetition),
    REC_COL(sample_rec, "seconds", COL_F64, seconds),
};

#define K(name, kind) REC_COL(kernel_rec, #name, kind, name)
static const struct col kernel_cols[] = {
    K(name, COL_STR),         K(family, COL_STR),     K(mechanism, COL_STR),  K(approximates, COL_STR),
    K(exact, COL_I32),        K(oracle, COL_STR),     K(rank_meaning, COL_STR), K(complexity, COL_STR),
    K(source, COL_STR),       K(source_hash, COL_STR),
};
#undef K

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Columns of /points, from the row schema (row_schema.h): numbers and strings at their place in the row, each
 * axis as int64 or double by its kind, the verdict as text in point_rec.verdict. Returns the count. */
static int point_columns(struct col *c) {
    const int n = mb_row_column_count();
    for (int i = 0; i < n; i++) {
        const struct mb_column rc = mb_row_column(i);
        const size_t at = offsetof(struct point_rec, row) + rc.offset;
        switch (rc.type) {
        case MB_COL_I64: c[i] = (struct col){rc.name, COL_I64, at, rc.size}; break;
        case MB_COL_F64: c[i] = (struct col){rc.name, COL_F64, at, rc.size}; break;
        case MB_COL_STR: c[i] = (struct col){rc.name, COL_STR, at, rc.size}; break;
        case MB_COL_AXIS:
            c[i] = (struct col){rc.name, mb_axes[rc.offset].kind == MB_REAL ? COL_F64 : COL_I64,
                                offsetof(struct point_rec, row.point) + mb_axes[rc.offset].offset, 8};
            break;
        case MB_COL_VERDICT:
            c[i] = (struct col){rc.name, COL_STR, offsetof(struct point_rec, verdict), VERDICT_LEN};
            break;
        }
    }
    return n;
}

static hid_t string_type(size_t size, H5T_str_t pad) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, size);
    H5Tset_strpad(t, pad);
    return t;
}

/* Type of one column in memory (native) or in the file (little-endian, NUL-padded strings). */
static hid_t col_type(const struct col *c, int in_file) {
    switch (c->kind) {
    case COL_I64: return H5Tcopy(in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64);
    case COL_I32: return H5Tcopy(in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32);
    case COL_F64: return H5Tcopy(in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE);
    case COL_STR: return string_type(c->size, in_file ? H5T_STR_NULLPAD : H5T_STR_NULLTERM);
    }
    return -1;
}

/* Memory compound type over a record of rec_size bytes. With file_type >= 0, only the columns present in
   file_type are included (HDF5 matches compound members by name). */
static hid_t memory_type(const struct col *c, int n, size_t rec_size, hid_t file_type) {
    hid_t t = H5Tcreate(H5T_COMPOUND, rec_size);
    for (int i = 0; i < n && t >= 0; i++) {
        if (file_type >= 0 && H5Tget_member_index(file_type, c[i].name) < 0) continue;
        hid_t m = col_type(&c[i], 0);
        if (H5Tinsert(t, c[i].name, c[i].offset, m) < 0) { H5Tclose(t); t = -1; }
        H5Tclose(m);
    }
    return t;
}

/* Packed file compound type, columns in array order. */
static hid_t file_type(const struct col *c, int n) {
    size_t size = 0;
    for (int i = 0; i < n; i++) size += c[i].size;
    hid_t t = H5Tcreate(H5T_COMPOUND, size);
    size_t off = 0;
    for (int i = 0; i < n && t >= 0; i++) {
        hid_t m = col_type(&c[i], 1);
        if (H5Tinsert(t, c[i].name, off, m) < 0) { H5Tclose(t); t = -1; }
        H5Tclose(m);
        off += c[i].size;
    }
    return t;
}

/* ============================================================================================== errors */
/* HDF5 reports a failed API call through the "auto" error handler. Ours prints nothing: it keeps the innermost
   message of the error stack ("truncated file: eof = 1000, ...") for our one-line errors, since any later
   successful call (cleanup) clears the stack itself. */
static _Thread_local char last_h5_error[256];

/* One line: a system error's own words when HDF5 quotes one ("file write failed: time = ..., errno = 28, error
   message = 'No space left on device', ..." -> "file write failed: No space left on device"), no newlines. */
static herr_t deepest_cb(unsigned n, const H5E_error2_t *e, void *data) {
    if (n != 0 || !e->desc) return 0;
    char *out = data;
    const char *quoted = strstr(e->desc, "error message = '");
    if (quoted) {
        quoted += strlen("error message = '");
        snprintf(out, sizeof last_h5_error, "%.*s: %.*s", (int)strcspn(e->desc, ":"), e->desc,
                 (int)strcspn(quoted, "'"), quoted);
    } else {
        snprintf(out, sizeof last_h5_error, "%s", e->desc);
    }
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return 0;
}

static herr_t capture_error(hid_t stack, void *data) {
    (void)data;
    H5Ewalk2(stack, H5E_WALK_UPWARD, deepest_cb, last_h5_error);
    return 0;
}

static const char *h5_detail(void) { return last_h5_error[0] ? last_h5_error : "unknown HDF5 error"; }

void mb_store_library_init(void) {
    /* Every file is flushed after each row and closed explicitly; at exit HDF5 would try to close a file whose
       flush failed (a full disk) for ever and print a screenful ("infinite loop closing library"). */
    H5dont_atexit();
}

static void quiet_hdf5(void) {
    H5Eset_auto2(H5E_DEFAULT, capture_error, NULL);
    last_h5_error[0] = '\0';
}

/* ============================================================================================== tables */
static int table_create(hid_t file, const char *name, const struct col *c, int n, hsize_t chunk) {
    hsize_t dims = 0, maxdims = H5S_UNLIMITED;
    hid_t space = H5Screate_simple(1, &dims, &maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t type = file_type(c, n);
    hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Tclose(type);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (d < 0) return -1;
    H5Dclose(d);
    return 0;
}

static int64_t table_count(hid_t dset) {
    hid_t space = H5Dget_space(dset);
    hsize_t n = 0;
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, &n, NULL) == 1;
    if (space >= 0) H5Sclose(space);
    return ok ? (int64_t)n : -1;
}

/* Committed rows. A row of /points (with its /samples) is visible only once complete: after the row and its
   samples are written, the attribute committed_rows of each table is set to its new length, then the file is
   flushed. A write that fails half-way (a full disk, a kill) leaves rows beyond committed_rows: readers never show
   them and a writer opening the file cuts them off. Files without the attribute (schema before it) count every
   row as committed. */
static const char committed_attr[] = "committed_rows";

static int64_t committed_count(hid_t dset) {
    const int64_t n = table_count(dset);
    if (n < 0 || H5Aexists(dset, committed_attr) <= 0) return n;
    long long c = -1;
    hid_t a = H5Aopen(dset, committed_attr, H5P_DEFAULT);
    if (a < 0 || H5Aread(a, H5T_NATIVE_LLONG, &c) < 0) c = -1;
    if (a >= 0) H5Aclose(a);
    return c < 0 ? -1 : c < n ? c : n;
}

static int set_committed(hid_t dset, int64_t rows) {
    const long long v = rows;
    hid_t a = H5Aexists(dset, committed_attr) > 0 ? H5Aopen(dset, committed_attr, H5P_DEFAULT) : -1;
    if (a < 0) {
        hid_t space = H5Screate(H5S_SCALAR);
        a = space < 0 ? -1 : H5Acreate2(dset, committed_attr, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
        if (space >= 0) H5Sclose(space);
    }
    const herr_t st = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_LLONG, &v);
    if (a >= 0) H5Aclose(a);
    return st < 0 ? -1 : 0;
}

/* Rows [start, start + count) of the table as selections in the file and in memory. */
static int table_select(hid_t dset, hsize_t start, hsize_t count, hid_t *fspace, hid_t *mspace) {
    *fspace = H5Dget_space(dset);
    *mspace = H5Screate_simple(1, &count, NULL);
    if (*fspace < 0 || *mspace < 0 || H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0) {
        if (*fspace >= 0) H5Sclose(*fspace);
        if (*mspace >= 0) H5Sclose(*mspace);
        return -1;
    }
    return 0;
}

static int table_append(hid_t dset, hid_t memtype, const void *recs, hsize_t count) {
    int64_t n = table_count(dset);
    if (n < 0) return -1;
    if (count == 0) return 0;
    hsize_t size = (hsize_t)n + count;
    hid_t fspace, mspace;
    if (H5Dset_extent(dset, &size) < 0 || table_select(dset, (hsize_t)n, count, &fspace, &mspace) < 0) return -1;
    herr_t st = H5Dwrite(dset, memtype, mspace, fspace, H5P_DEFAULT, recs);
    H5Sclose(fspace);
    H5Sclose(mspace);
    return st < 0 ? -1 : 0;
}

/* Read rows [start, start + count) into recs (zeroed first: columns missing from the file stay 0). */
static int table_read(hid_t dset, const struct col *c, int ncols, size_t rec_size, hsize_t start, hsize_t count,
                      void *recs) {
    if (count == 0) return 0;
    memset(recs, 0, rec_size * count);
    hid_t ftype = H5Dget_type(dset);
    if (ftype < 0) return -1;
    hid_t mtype = memory_type(c, ncols, rec_size, ftype);
    H5Tclose(ftype);
    if (mtype < 0) return -1;
    int st = -1;
    hid_t fspace, mspace;
    if (H5Tget_nmembers(mtype) == 0) st = 0; /* no known column: all zero */
    else if (table_select(dset, start, count, &fspace, &mspace) == 0) {
        st = H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, recs) < 0 ? -1 : 0;
        H5Sclose(fspace);
        H5Sclose(mspace);
    }
    H5Tclose(mtype);
    return st;
}

/* ============================================================================================== store */
struct mb_store {
    hid_t file, points, samples, kernels;
    hid_t points_mem, samples_mem, kernels_mem; /* full memory types for appends */
    int writable;
    char path[4096];
    int64_t *sample_owner, n_owner; /* merged rounds: samples of point p belong to sample_owner[p] (rows.c) */
    int *sample_round;              /* and were measured in round sample_round[p] (n_round entries) */
    int64_t n_round;
};

/* Metadata cache without evictions: dirty metadata reaches the file only inside H5Fflush (top of this file).
   Evictions require the adaptive resizing off; the cache then grows past max_size if it must. */
static void keep_metadata_until_flush(hid_t fapl) {
    H5AC_cache_config_t cfg = {.version = H5AC__CURR_CACHE_CONFIG_VERSION};
    if (H5Pget_mdc_config(fapl, &cfg) < 0) return;
    cfg.evictions_enabled = 0;
    cfg.incr_mode = H5C_incr__off;
    cfg.flash_incr_mode = H5C_flash_incr__off;
    cfg.decr_mode = H5C_decr__off;
    cfg.set_initial_size = 1;
    cfg.initial_size = 16 * 1024 * 1024;
    if (cfg.max_size < cfg.initial_size) cfg.max_size = cfg.initial_size;
    if (cfg.min_size > cfg.initial_size) cfg.min_size = cfg.initial_size;
    H5Pset_mdc_config(fapl, &cfg);
}

/* File access. Writers take HDF5's exclusive file lock (two writers would corrupt the file); readers take
   none, so the file of a running sweep can be read (plotted) while it grows. File systems without flock are
   tolerated. */
static hid_t store_fapl(int writable) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, writable ? 1 : 0, 1);
    if (writable) keep_metadata_until_flush(fapl);
    return fapl;
}

/* Close the datasets and types (the file itself stays open). */
static void store_close_objects(struct mb_store *s) {
    hid_t *ids[] = {&s->points, &s->samples, &s->kernels};
    for (int i = 0; i < 3; i++)
        if (*ids[i] >= 0) H5Dclose(*ids[i]), *ids[i] = -1;
    hid_t *types[] = {&s->points_mem, &s->samples_mem, &s->kernels_mem};
    for (int i = 0; i < 3; i++)
        if (*types[i] >= 0) H5Tclose(*types[i]), *types[i] = -1;
}

static void store_free(struct mb_store *s) {
    store_close_objects(s);
    if (s->file >= 0) H5Fclose(s->file);
    free(s);
}

static struct mb_store *store_new(const char *path, int writable) {
    struct mb_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->file = s->points = s->samples = s->kernels = -1;
    s->points_mem = s->samples_mem = s->kernels_mem = -1;
    s->writable = writable;
    snprintf(s->path, sizeof s->path, "%s", path);
    return s;
}

/* Open the three datasets and build the append types. */
/* A file we append to must have every column we write: an older file lacking an axis would silently lose it. */
static int check_columns(struct mb_store *s, hid_t dset, const char *table, const struct col *c, int n, char *err,
                         size_t errlen) {
    hid_t ftype = H5Dget_type(dset);
    int missing = -1;
    for (int i = 0; i < n && missing < 0; i++)
        if (H5Tget_member_index(ftype, c[i].name) < 0) missing = i;
    H5Tclose(ftype);
    if (missing < 0) return 0;
    return mb_errorf(err, errlen, "%s: written by an older mechbench (/%s has no column '%s'): cannot append to it",
                     s->path, table, c[missing].name);
}

static int store_attach(struct mb_store *s, char *err, size_t errlen) {
    const char *names[] = {"points", "samples", "kernels"};
    hid_t *ids[] = {&s->points, &s->samples, &s->kernels};
    for (int i = 0; i < 3; i++) {
        if (H5Lexists(s->file, names[i], H5P_DEFAULT) <= 0 || (*ids[i] = H5Dopen2(s->file, names[i], H5P_DEFAULT)) < 0)
            return mb_errorf(err, errlen, "%s: mechbench file without /%s dataset (damaged?)", s->path, names[i]);
        if (table_count(*ids[i]) < 0)
            return mb_errorf(err, errlen, "%s: /%s is not a 1-D table (damaged?)", s->path, names[i]);
    }
    struct col pc[MAX_COLS];
    int np = point_columns(pc);
    if (s->writable && (check_columns(s, s->points, "points", pc, np, err, errlen) < 0 ||
                        check_columns(s, s->samples, "samples", sample_cols, COUNT(sample_cols), err, errlen) < 0 ||
                        check_columns(s, s->kernels, "kernels", kernel_cols, COUNT(kernel_cols), err, errlen) < 0))
        return -1;
    s->points_mem = memory_type(pc, np, sizeof(struct point_rec), -1);
    s->samples_mem = memory_type(sample_cols, COUNT(sample_cols), sizeof(struct sample_rec), -1);
    s->kernels_mem = memory_type(kernel_cols, COUNT(kernel_cols), sizeof(struct kernel_rec), -1);
    if (s->points_mem < 0 || s->samples_mem < 0 || s->kernels_mem < 0)
        return mb_errorf(err, errlen, "%s: cannot build the table types", s->path);
    return 0;
}

/* Create path as an empty file we own (O_EXCL), replacing an old one if overwrite. */
/* Is the file at path held by a writer (HDF5's exclusive flock)? A sweep replacing it with --force would
   otherwise unlink it under the running sweep, which then writes on into a file no one can see. */
static int in_use(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

/* The temporary name the file is created under: a kill while the header is written leaves no stub at path. */
static void temp_name(const char *path, char *buf, size_t len) {
    snprintf(buf, len, "%s.tmp.%ld", path, (long)getpid());
}

/* A writer killed before publishing leaves its temporary: the next create removes those of path whose process is
   gone ("NAME.tmp.PID", no process PID); a live writer's temporary is left alone. */
static void remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1, slash ? path : ".");
    const char *base = slash ? slash + 1 : path;
    const size_t len = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *pid = e->d_name + len + 5;
        if (strncmp(e->d_name, base, len) || strncmp(e->d_name + len, ".tmp.", 5) || !*pid ||
            strspn(pid, "0123456789") != strlen(pid) || strlen(pid) > 9)
            continue;
        if (kill((pid_t)atol(pid), 0) < 0 && errno == ESRCH) unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* Moves the finished header into place: replacing an existing file when overwrite, else only if none exists. */
static int publish(const char *tmp, const char *path, int overwrite, char *err, size_t errlen) {
    if (overwrite ? rename(tmp, path) == 0 : renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    const int e = errno;
    unlink(tmp);
    if (e == EEXIST) return mb_errorf(err, errlen, "%s already exists", path);
    return mb_errorf(err, errlen, "cannot create %s: %s", path, strerror(e));
}

static int flush(struct mb_store *s, char *err, size_t errlen);

/* /hosts/HOST: the provenance of one machine (HOST: the node name) that measured rows of the file (its CPU model and flags, cores,
   compiler, ISA ...), once per host name; every file has its creator's, MPI sweeps and merges add the others. */
static int add_host(hid_t file, const struct mb_provenance *p, char *err, size_t errlen) {
    const char *host = mb_provenance_get(p, "host");
    char name[300];
    snprintf(name, sizeof name, "%s", host && host[0] ? host : "unknown");
    name[strcspn(name, " ")] = '\0'; /* "vm 6.1.0-13-amd64": the node name, as in the rows' host column */
    for (char *c = name; *c; c++)
        if (*c == '/') *c = '_';
    hid_t hosts = H5Lexists(file, "hosts", H5P_DEFAULT) > 0 ? H5Gopen2(file, "hosts", H5P_DEFAULT)
                                                            : H5Gcreate2(file, "hosts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (hosts < 0) return mb_errorf(err, errlen, "cannot create /hosts: %s", h5_detail());
    int rc = 0;
    if (H5Lexists(hosts, name, H5P_DEFAULT) <= 0) {
        hid_t g = H5Gcreate2(hosts, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        rc = g < 0 ? mb_errorf(err, errlen, "cannot create /hosts/%s: %s", name, h5_detail())
                   : mb_provenance_write_items(g, p, err, errlen);
        if (g >= 0) H5Gclose(g);
    }
    H5Gclose(hosts);
    return rc;
}

int mb_store_add_host(struct mb_store *s, const struct mb_provenance *p, char *err, size_t errlen) {
    quiet_hdf5();
    char why[512];
    if (add_host(s->file, p, why, sizeof why) < 0) return mb_errorf(err, errlen, "%s: %s", s->path, why);
    return flush(s, err, errlen);
}

static int write_root_attrs(hid_t file, const struct mb_store_meta *meta, char *err, size_t errlen) {
    int32_t version = MB_SCHEMA_VERSION;
    uint64_t seed = meta ? meta->seed : 0;
    const char *experiment = meta && meta->experiment ? meta->experiment : "";
    const char *ini = meta && meta->ini_text ? meta->ini_text : "";
    if (mb_h5_set_scalar_attr(file, "schema_version", H5T_STD_I32LE, H5T_NATIVE_INT32, &version) < 0 ||
        H5LTset_attribute_string(file, "/", "experiment", experiment) < 0 ||
        H5LTset_attribute_string(file, "/", "ini", ini) < 0 ||
        mb_h5_set_scalar_attr(file, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed) < 0)
        return mb_errorf(err, errlen, "cannot write root attributes");
    static struct mb_provenance p; /* ~50 kB: keep it off the stack */
    mb_provenance_collect(&p);
    if (mb_provenance_write_items(file, &p, err, errlen) < 0) return -1;
    return add_host(file, &p, err, errlen);
}

int mb_store_create(const char *path, const struct mb_store_meta *meta, int overwrite, struct mb_store **out,
                    char *err, size_t errlen) {
    quiet_hdf5();
    *out = NULL;
    if (access(path, F_OK) == 0 && !overwrite) return mb_errorf(err, errlen, "%s already exists", path);
    if (overwrite && in_use(path))
        return mb_errorf(err, errlen, "%s: file is in use by another mechbench process (--force does not replace a "
                         "file a running sweep is writing)", path);
    char tmp[sizeof ((struct mb_store *)0)->path + 32];
    remove_stale_temps(path);
    temp_name(path, tmp, sizeof tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644); /* the plain errno of a missing folder, a full disk */
    if (fd < 0) return mb_errorf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    close(fd);
    struct mb_store *s = store_new(path, 1);
    if (!s) return unlink(tmp), mb_errorf(err, errlen, "out of memory");
    hid_t fapl = store_fapl(1);
    s->file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    char why[512];
    struct col pc[MAX_COLS];
    int np = point_columns(pc);
    int st = s->file < 0 ? mb_errorf(err, errlen, "cannot create %s: %s", path, h5_detail()) : 0;
    if (st == 0 && write_root_attrs(s->file, meta, why, sizeof why) < 0)
        st = mb_errorf(err, errlen, "%s: %s", path, why);
    if (st == 0 && (table_create(s->file, "kernels", kernel_cols, COUNT(kernel_cols), CHUNK_KERNELS) < 0 ||
                    table_create(s->file, "points", pc, np, CHUNK_POINTS) < 0 ||
                    table_create(s->file, "samples", sample_cols, COUNT(sample_cols), CHUNK_SAMPLES) < 0))
        st = mb_errorf(err, errlen, "%s: cannot create tables: %s", path, h5_detail());
    if (st == 0) st = store_attach(s, err, errlen);
    if (st == 0 && (set_committed(s->points, 0) < 0 || set_committed(s->samples, 0) < 0))
        st = mb_errorf(err, errlen, "%s: cannot write committed_rows: %s", path, h5_detail());
    if (st == 0 && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        st = mb_errorf(err, errlen, "%s: cannot flush: %s", path, h5_detail());
    if (st == 0) st = publish(tmp, path, overwrite, err, errlen);
    else unlink(tmp);
    if (st < 0) {
        store_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* schema_version must exist and not be newer than ours. */
static int check_schema(struct mb_store *s, char *err, size_t errlen) {
    if (H5Aexists(s->file, "schema_version") <= 0)
        return mb_errorf(err, errlen, "%s: HDF5 file without mechbench schema (no schema_version attribute)", s->path);
    long long version = 0;
    if (H5LTget_attribute_long_long(s->file, "/", "schema_version", &version) < 0)
        return mb_errorf(err, errlen, "%s: unreadable schema_version attribute", s->path);
    if (version > MB_SCHEMA_VERSION)
        return mb_errorf(err, errlen, "%s: schema_version %lld is newer than this mechbench (%d)", s->path, version,
                    MB_SCHEMA_VERSION);
    if (version < 1) return mb_errorf(err, errlen, "%s: invalid schema_version %lld", s->path, version);
    return 0;
}

/* Repair on opening for writing: cut /points and /samples back to their committed rows (an append that failed
   half-way). Files without committed_rows: a writer killed inside the flush that ends an append may leave that
   point's samples without its /points row; drop such samples (they are a suffix of /samples). */
static int trim_uncommitted(struct mb_store *s) {
    hid_t tables[2] = {s->points, s->samples};
    int changed = 0;
    for (int t = 0; t < 2; t++) {
        const int64_t n = table_count(tables[t]), c = committed_count(tables[t]);
        if (n < 0 || c < 0) return -1;
        hsize_t size = (hsize_t)c;
        if (c < n && H5Dset_extent(tables[t], &size) < 0) return -1;
        changed |= c < n;
    }
    int64_t npoints = table_count(s->points), n = table_count(s->samples), before = n;
    struct sample_rec rec;
    while (n > 0) {
        if (table_read(s->samples, sample_cols, COUNT(sample_cols), sizeof rec, (hsize_t)n - 1, 1, &rec) < 0) return -1;
        if (rec.point_id < npoints) break;
        n--;
    }
    hsize_t size = (hsize_t)n;
    if (n < before && (H5Dset_extent(s->samples, &size) < 0 ||
                       (H5Aexists(s->samples, committed_attr) > 0 && set_committed(s->samples, n) < 0)))
        return -1;
    if (!changed && n == before) return 0;
    return H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0 ? -1 : 0;
}

/* The HDF5 signature at offset 0, 512, 1024, 2048 ... (as H5Fis_hdf5 looks for it, without opening or locking).
   Only a regular file can be one (/dev/zero would be read for ever). */
static int has_hdf5_signature(const char *path) {
    static const char sig[8] = {'\211', 'H', 'D', 'F', '\r', '\n', '\032', '\n'};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) return fclose(f), 0;
    char buf[8];
    int found = 0;
    for (long off = 0; !found && off + 8 <= st.st_size; off = off ? 2 * off : 512) {
        if (fseek(f, off, SEEK_SET) != 0 || fread(buf, 1, 8, f) != 8) break;
        found = memcmp(buf, sig, 8) == 0;
    }
    fclose(f);
    return found;
}

/* H5Fopen with our access properties. A reader retries with the writer's (locking) properties when this
   process already has the file open for writing: HDF5 shares one open file and wants them to match. */
static hid_t open_h5(const char *path, int writable) {
    unsigned flags = writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
    hid_t fapl = store_fapl(writable);
    hid_t f = H5Fopen(path, flags, fapl);
    H5Pclose(fapl);
    if (f < 0 && !writable && strstr(last_h5_error, "locking flag")) {
        fapl = store_fapl(1);
        f = H5Fopen(path, flags, fapl);
        H5Pclose(fapl);
    }
    return f;
}

/* Why H5Fopen failed, in words a user can act on. */
static int open_failure(const char *path, char *err, size_t errlen) {
    const char *detail = h5_detail();
    if (strstr(detail, "unable to lock file"))
        return mb_errorf(err, errlen, "%s: file is in use by another mechbench process (%s)", path, detail);
    return mb_errorf(err, errlen, "%s: not an HDF5 file (truncated or foreign): %s", path, detail);
}

int mb_store_open(const char *path, int writable, struct mb_store **out, char *err, size_t errlen) {
    quiet_hdf5();
    *out = NULL;
    struct stat st;
    if (stat(path, &st) < 0) return mb_errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return mb_errorf(err, errlen, "cannot open %s: Is a directory", path);
    if (access(path, writable ? R_OK | W_OK : R_OK) < 0)
        return mb_errorf(err, errlen, "cannot open %s%s: %s", path, writable ? " for writing" : "", strerror(errno));
    if (!has_hdf5_signature(path)) return mb_errorf(err, errlen, "%s: not an HDF5 file (truncated or foreign)", path);

    struct mb_store *s = store_new(path, writable);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    s->file = open_h5(path, writable);
    int rc = s->file < 0 ? open_failure(path, err, errlen) : 0;
    if (rc == 0) rc = check_schema(s, err, errlen);
    if (rc == 0) rc = store_attach(s, err, errlen);
    if (rc == 0 && writable && trim_uncommitted(s) < 0)
        rc = mb_errorf(err, errlen, "%s: cannot repair /samples after an interrupted write", path);
    if (rc < 0) {
        store_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int mb_store_close(struct mb_store *s, char *err, size_t errlen) {
    if (!s) return 0;
    quiet_hdf5();
    int rc = 0;
    if (s->writable && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        rc = mb_errorf(err, errlen, "%s: cannot flush: %s", s->path, h5_detail());
    store_close_objects(s); /* before H5Fclose, which would otherwise be deferred until they close */
    if (H5Fclose(s->file) < 0 && rc == 0) rc = mb_errorf(err, errlen, "%s: cannot close: %s", s->path, h5_detail());
    free(s->sample_owner);
    free(s->sample_round);
    free(s);
    return rc;
}

static int flush(struct mb_store *s, char *err, size_t errlen) {
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        return mb_errorf(err, errlen, "%s: cannot flush: %s", s->path, h5_detail());
    return 0;
}

static void copy_str(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src ? src : ""); }

int mb_store_add_kernel(struct mb_store *s, const struct mb_kernel *k, char *err, size_t errlen) {
    quiet_hdf5();
    int64_t n = table_count(s->kernels);
    struct kernel_rec *old = n > 0 ? malloc((size_t)n * sizeof *old) : NULL;
    if (n > 0 && !old) return mb_errorf(err, errlen, "out of memory");
    int rc = n < 0 ? -1 : table_read(s->kernels, kernel_cols, COUNT(kernel_cols), sizeof *old, 0, (hsize_t)n, old);
    if (rc < 0) {
        free(old);
        return mb_errorf(err, errlen, "%s: cannot read /kernels", s->path);
    }
    struct kernel_rec rec = {0};
    copy_str(rec.name, sizeof rec.name, k->name);
    copy_str(rec.source_hash, sizeof rec.source_hash, k->source_hash);
    int dup = 0;
    for (int64_t i = 0; i < n && !dup; i++)
        dup = strcmp(old[i].name, rec.name) == 0 && strcmp(old[i].source_hash, rec.source_hash) == 0;
    free(old);
    if (dup) return 0;
    copy_str(rec.family, sizeof rec.family, k->family ? k->family->name : "");
    copy_str(rec.mechanism, sizeof rec.mechanism, k->mechanism);
    copy_str(rec.approximates, sizeof rec.approximates, k->approximates);
    rec.exact = k->approximates == NULL;
    copy_str(rec.oracle, sizeof rec.oracle, k->mechanism);
    copy_str(rec.rank_meaning, sizeof rec.rank_meaning, k->rank_meaning);
    copy_str(rec.complexity, sizeof rec.complexity, k->complexity);
    copy_str(rec.source, sizeof rec.source, k->source);
    if (table_append(s->kernels, s->kernels_mem, &rec, 1) < 0)
        return mb_errorf(err, errlen, "%s: cannot append to /kernels: %s", s->path, h5_detail());
    return flush(s, err, errlen);
}

int mb_store_append(struct mb_store *s, struct mb_row *row, char *err, size_t errlen) {
    quiet_hdf5();
    int64_t n = committed_count(s->points);
    if (n < 0) return mb_errorf(err, errlen, "%s: cannot read /points", s->path);
    struct point_rec rec;
    rec.row = *row;
    rec.row.point_id = n;
    int v = row->verdict >= 0 && row->verdict < MB_VERDICT_COUNT ? (int)row->verdict : MB_ERROR;
    copy_str(rec.verdict, sizeof rec.verdict, mb_verdict_names[v]);
    if (table_append(s->points, s->points_mem, &rec, 1) < 0)
        return mb_errorf(err, errlen, "%s: cannot append to /points: %s", s->path, h5_detail());
    row->point_id = n;

    int ns = row->samples && row->n_samples > 0 ? row->n_samples : 0;
    struct sample_rec *sr = ns ? malloc((size_t)ns * sizeof *sr) : NULL;
    if (ns && !sr) return mb_errorf(err, errlen, "out of memory");
    for (int i = 0; i < ns; i++)
        sr[i] = (struct sample_rec){.point_id = n, .repetition = i, .seconds = row->samples[i]};
    int rc = table_append(s->samples, s->samples_mem, sr, (hsize_t)ns);
    free(sr);
    if (rc < 0) return mb_errorf(err, errlen, "%s: cannot append to /samples: %s", s->path, h5_detail());
    /* the row and its samples first, then the commit: a failure before this point leaves them invisible */
    if (flush(s, err, errlen)) return -1;
    if (set_committed(s->points, n + 1) < 0 || set_committed(s->samples, table_count(s->samples)) < 0)
        return mb_errorf(err, errlen, "%s: cannot commit the row: %s", s->path, h5_detail());
    return flush(s, err, errlen);
}

static enum mb_verdict verdict_lookup(const char *name) {
    for (int v = 0; v < MB_VERDICT_COUNT; v++)
        if (strcmp(mb_verdict_names[v], name) == 0) return (enum mb_verdict)v;
    return MB_ERROR;
}

int mb_store_read_rows(struct mb_store *s, struct mb_row **rows, int64_t *count, char *err, size_t errlen) {
    quiet_hdf5();
    *rows = NULL;
    *count = 0;
    int64_t n = committed_count(s->points);
    if (n < 0) return mb_errorf(err, errlen, "%s: cannot read /points", s->path);
    if (n == 0) return 0;
    struct point_rec *recs = malloc((size_t)n * sizeof *recs);
    struct mb_row *out = malloc((size_t)n * sizeof *out);
    struct col pc[MAX_COLS];
    int np = point_columns(pc);
    if (!recs || !out) {
        free(recs);
        free(out);
        return mb_errorf(err, errlen, "out of memory (%lld rows)", (long long)n);
    }
    if (table_read(s->points, pc, np, sizeof *recs, 0, (hsize_t)n, recs) < 0) {
        free(recs);
        free(out);
        return mb_errorf(err, errlen, "%s: cannot read /points: %s", s->path, h5_detail());
    }
    for (int64_t i = 0; i < n; i++) {
        out[i] = recs[i].row;
        out[i].verdict = verdict_lookup(recs[i].verdict);
        out[i].n_samples = 0;
        out[i].samples = NULL;
    }
    free(recs);
    *rows = out;
    *count = n;
    return 0;
}

int mb_store_read_samples(struct mb_store *s, int64_t point_id, double **samples, int *count, char *err,
                          size_t errlen) {
    return mb_store_read_samples_rounds(s, point_id, samples, NULL, count, err, errlen);
}

int mb_store_read_samples_rounds(struct mb_store *s, int64_t point_id, double **samples, int **rounds, int *count,
                                 char *err, size_t errlen) {
    quiet_hdf5();
    *samples = NULL;
    if (rounds) *rounds = NULL;
    *count = 0;
    int *round_out = NULL;
    int64_t n = committed_count(s->samples);
    if (n < 0) return mb_errorf(err, errlen, "%s: cannot read /samples", s->path);
    enum { BLOCK = 16384 };
    struct sample_rec *buf = malloc(BLOCK * sizeof *buf);
    double *out = NULL;
    int used = 0, cap = 0;
    if (!buf) return mb_errorf(err, errlen, "out of memory");
    for (int64_t start = 0; start < n; start += BLOCK) {
        hsize_t len = (hsize_t)(n - start < BLOCK ? n - start : BLOCK);
        if (table_read(s->samples, sample_cols, COUNT(sample_cols), sizeof *buf, (hsize_t)start, len, buf) < 0) {
            free(buf);
            free(out);
            return mb_errorf(err, errlen, "%s: cannot read /samples", s->path);
        }
        for (hsize_t i = 0; i < len; i++) {
            const int64_t p = buf[i].point_id;
            if ((p >= 0 && p < s->n_owner ? s->sample_owner[p] : p) != point_id) continue;
            if (used == cap) {
                cap = cap ? 2 * cap : 16;
                double *grown = realloc(out, (size_t)cap * sizeof *out);
                int *grown_rounds = rounds ? realloc(round_out, (size_t)cap * sizeof *round_out) : NULL;
                if (grown) out = grown;
                if (grown_rounds) round_out = grown_rounds;
                if (!grown || (rounds && !grown_rounds)) {
                    free(buf);
                    free(out);
                    free(round_out);
                    return mb_errorf(err, errlen, "out of memory");
                }
            }
            if (rounds) round_out[used] = p >= 0 && p < s->n_round ? s->sample_round[p] : 0;
            out[used++] = buf[i].seconds;
        }
    }
    free(buf);
    *samples = out;
    if (rounds) *rounds = round_out;
    *count = used;
    return 0;
}

void mb_store_set_sample_owners(struct mb_store *s, int64_t *owner, int64_t n) {
    free(s->sample_owner);
    s->sample_owner = owner;
    s->n_owner = owner ? n : 0;
}

void mb_store_set_sample_rounds(struct mb_store *s, int *round_of, int64_t n) {
    free(s->sample_round);
    s->sample_round = round_of;
    s->n_round = round_of ? n : 0;
}

/* String value of an attribute of class string (fixed or variable length). */
static int read_string_attr(hid_t attr, hid_t type, char *buf, size_t len) {
    if (H5Tis_variable_str(type) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        herr_t st = H5Aread(attr, mt, &v);
        H5Tclose(mt);
        if (st < 0) return -1;
        snprintf(buf, len, "%s", v ? v : "");
        H5free_memory(v);
        return 0;
    }
    size_t size = H5Tget_size(type);
    char *tmp = calloc(size + 1, 1);
    if (!tmp) return -1;
    herr_t st = H5Aread(attr, type, tmp);
    if (st == 0) snprintf(buf, len, "%s", tmp);
    free(tmp);
    return st < 0 ? -1 : 0;
}

int mb_store_attr(struct mb_store *s, const char *name, char *buf, size_t len) {
    quiet_hdf5();
    if (len) buf[0] = '\0';
    if (H5Aexists(s->file, name) <= 0) return -1;
    hid_t attr = H5Aopen(s->file, name, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : -1;
    int rc = -1;
    if (type >= 0) {
        H5T_class_t cls = H5Tget_class(type);
        long long iv;
        double dv;
        if (cls == H5T_STRING) rc = read_string_attr(attr, type, buf, len);
        else if (cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE) {
            unsigned long long uv;
            if ((rc = H5Aread(attr, H5T_NATIVE_ULLONG, &uv) < 0 ? -1 : 0) == 0) snprintf(buf, len, "%llu", uv);
        } else if (cls == H5T_INTEGER) {
            if ((rc = H5Aread(attr, H5T_NATIVE_LLONG, &iv) < 0 ? -1 : 0) == 0) snprintf(buf, len, "%lld", iv);
        } else if (cls == H5T_FLOAT) {
            if ((rc = H5Aread(attr, H5T_NATIVE_DOUBLE, &dv) < 0 ? -1 : 0) == 0) snprintf(buf, len, "%.17g", dv);
        }
        H5Tclose(type);
    }
    if (attr >= 0) H5Aclose(attr);
    if (rc < 0 && len) buf[0] = '\0';
    return rc;
}

/* ============================================================================================== tensors */
struct name_list {
    char *buf;
    size_t len, used;
};

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    struct name_list *l = data;
    int w = snprintf(l->buf + l->used, l->len - l->used, "%s%s", l->used ? ", " : "", name);
    if (w > 0) l->used = l->used + (size_t)w < l->len ? l->used + (size_t)w : l->len - 1;
    return 0;
}

static void root_names(hid_t file, char *buf, size_t len) {
    struct name_list l = {buf, len, 0};
    buf[0] = '\0';
    H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb, &l);
    if (!buf[0]) snprintf(buf, len, "nothing");
}

static int root_names_here(const char *path, char *buf, size_t len, char *err, size_t errlen) {
    quiet_hdf5();
    buf[0] = '\0';
    if (access(path, R_OK) < 0) return mb_errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    if (!has_hdf5_signature(path)) return mb_errorf(err, errlen, "%s: not an HDF5 file (truncated or foreign)", path);
    hid_t file = open_h5(path, 0);
    if (file < 0) return open_failure(path, err, errlen);
    struct name_list l = {buf, len, 0};
    H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb, &l);
    H5Fclose(file);
    for (char *c = buf; *c; c++) /* list_cb separates with ", " */
        if (*c == ' ') memmove(c, c + 1, strlen(c));
    return 0;
}

/* Shape of a float32/float64 or integer dataset of rank <= MB_MAX_DIMS into t; *integer = it holds integers
   (PyTorch's int64 indices), read exactly only while they fit float32's 24-bit significand. */
static int tensor_shape(hid_t d, const char *path, struct mb_tensor *t, int *integer, char *err, size_t errlen) {
    hid_t type = H5Dget_type(d);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    size_t size = type >= 0 ? H5Tget_size(type) : 0;
    if (type >= 0) H5Tclose(type);
    *integer = cls == H5T_INTEGER;
    if ((cls != H5T_FLOAT || (size != 4 && size != 8)) && cls != H5T_INTEGER)
        return mb_errorf(err, errlen, "%s: dataset '%s' is not float32, float64 or an integer type", path, t->name);
    hid_t space = H5Dget_space(d);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[MB_MAX_DIMS];
    if (rank >= 0 && rank <= MB_MAX_DIMS) H5Sget_simple_extent_dims(space, dims, NULL);
    if (space >= 0) H5Sclose(space);
    if (rank < 0 || rank > MB_MAX_DIMS)
        return mb_errorf(err, errlen, "%s: dataset '%s' has rank %d (at most %d allowed)", path, t->name, rank,
                    MB_MAX_DIMS);
    /* the element count, overflow-checked, before anything is allocated (a chunked, unallocated dataset can
       declare any shape in a tiny file) */
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++)
        if (__builtin_mul_overflow(numel, (uint64_t)dims[i], &numel) || numel > MB_TENSOR_MAX_ELEMENTS)
            return mb_errorf(err, errlen, "%s: dataset '%s' is too large (more than 2^%d elements)", path, t->name,
                             MB_TENSOR_MAX_ELEMENTS_LOG2);
    t->ndim = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = (int64_t)dims[i];
    return 0;
}

/* Reads an integer dataset into t->data (numel floats), refusing a value float32 cannot hold exactly. */
static int read_integers(hid_t d, const char *path, struct mb_tensor *t, int64_t numel, char *err, size_t errlen) {
    int64_t *values = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *values);
    if (!values) return mb_errorf(err, errlen, "%s: cannot allocate a buffer for '%s'", path, t->name);
    int rc = 0;
    if (numel > 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
        rc = mb_errorf(err, errlen, "%s: cannot read '%s': %s", path, t->name, h5_detail());
    for (int64_t i = 0; rc == 0 && i < numel; i++) {
        if (values[i] > (INT64_C(1) << 24) || values[i] < -(INT64_C(1) << 24))
            rc = mb_errorf(err, errlen, "%s: dataset '%s' holds the integer %lld at element %lld: float32 holds integers "
                           "exactly only up to 2^24 = 16777216", path, t->name, (long long)values[i], (long long)i);
        else t->data[i] = (float)values[i];
    }
    free(values);
    return rc;
}

/* Opens dataset t->name of the file at path and reads its shape into t (tensor_shape's checks): 0 with *file and
   *d open (close both), or -1 with a message and nothing open. */
static int open_tensor(const char *path, struct mb_tensor *t, hid_t *file, hid_t *d, int *integer, char *err,
                       size_t errlen) {
    quiet_hdf5();
    *file = *d = -1;
    if (access(path, R_OK) < 0) return mb_errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    if (!has_hdf5_signature(path)) return mb_errorf(err, errlen, "%s: not an HDF5 file (truncated or foreign)", path);
    *file = open_h5(path, 0);
    if (*file < 0) return open_failure(path, err, errlen);
    int rc = 0;
    if (H5Lexists(*file, t->name, H5P_DEFAULT) <= 0) {
        char names[512];
        root_names(*file, names, sizeof names);
        rc = mb_errorf(err, errlen, "%s: no dataset '%s' (found: %s)", path, t->name, names);
    }
    if (rc == 0 && (*d = H5Dopen2(*file, t->name, H5P_DEFAULT)) < 0)
        rc = mb_errorf(err, errlen, "%s: '%s' is not a dataset", path, t->name);
    if (rc == 0) rc = tensor_shape(*d, path, t, integer, err, errlen);
    if (rc < 0) {
        if (*d >= 0) H5Dclose(*d);
        H5Fclose(*file);
        *file = *d = -1;
    }
    return rc;
}

static int tensor_shape_here(const char *path, struct mb_tensor *t, char *err, size_t errlen) {
    hid_t file, d;
    int integer;
    if (open_tensor(path, t, &file, &d, &integer, err, errlen)) return -1;
    H5Dclose(d);
    H5Fclose(file);
    return 0;
}

/* Reads dataset t->name into t->data, which holds the numel floats of the shape the caller read before. */
static int read_tensor_here(const char *path, struct mb_tensor *t, int64_t numel, char *err, size_t errlen) {
    hid_t file, d;
    int integer = 0, rc = 0;
    struct mb_tensor now = *t;
    if (open_tensor(path, &now, &file, &d, &integer, err, errlen)) return -1;
    if (mb_tensor_numel(&now) != numel)
        rc = mb_errorf(err, errlen, "%s: dataset '%s' changed its shape while being read", path, t->name);
    else if (integer) rc = read_integers(d, path, t, numel, err, errlen);
    else if (numel > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0)
        rc = mb_errorf(err, errlen, "%s: cannot read '%s': %s", path, t->name, h5_detail());
    H5Dclose(d);
    H5Fclose(file);
    return rc;
}

/* ----------------------------------------------------------------------------------- read in a child process */
/* A user's tensor file is read in a child process (core/isolate.h): libhdf5 1.10.8 crashes on some crafted files
   (fuzz_h5tensor: a NULL memcpy in H5Dread), and eval must answer those with one line, as it does any corrupt
   file. The shape, the names and the values come back through shared memory; the values are then copied into an
   mb_alloc buffer 64 MiB at a time, each piece unmapped once copied, so the file's tensor is held about once. */
static int isolate_reads = 1;

void mb_h5_isolate_reads(int on) { isolate_reads = on; }

struct tensor_job {
    const char *path;
    struct mb_tensor *t; /* in shared memory: its shape (and data) come back */
    int64_t numel;
    char *names; /* in shared memory */
    size_t len;
};

static int shape_job(void *arg, char *err, size_t errlen) {
    struct tensor_job *j = arg;
    return tensor_shape_here(j->path, j->t, err, errlen);
}

static int read_job(void *arg, char *err, size_t errlen) {
    struct tensor_job *j = arg;
    return read_tensor_here(j->path, j->t, j->numel, err, errlen);
}

static int names_job(void *arg, char *err, size_t errlen) {
    struct tensor_job *j = arg;
    return root_names_here(j->path, j->names, j->len, err, errlen);
}

/* libhdf5's own memory in the child: its caches and, for a chunked dataset, up to two chunks of the tensor's
   size (one compressed); 1 GiB beyond that. A corrupt file asking for more gets libhdf5's allocation error. */
static int in_child(int (*job)(void *, char *, size_t), struct tensor_job *j, const char *reading, char *err,
                    size_t errlen) {
    char what[1024];
    snprintf(what, sizeof what, "%s: corrupt HDF5 file: libhdf5 crashed reading %s", j->path, reading);
    const size_t budget = ((size_t)1 << 30) + 2 * (size_t)j->numel * sizeof(float);
    return mb_isolated(job, j, budget, what, err, errlen);
}

int mb_h5_root_names(const char *path, char *buf, size_t len, char *err, size_t errlen) {
    if (!isolate_reads) return root_names_here(path, buf, len, err, errlen);
    buf[0] = '\0';
    struct tensor_job j = {.path = path, .names = mb_shared_alloc(len), .len = len};
    if (!j.names) return mb_errorf(err, errlen, "%s: cannot map shared memory", path);
    const int rc = in_child(names_job, &j, "its root group", err, errlen);
    if (rc == 0) snprintf(buf, len, "%s", j.names);
    mb_shared_free(j.names, len);
    return rc;
}

int mb_h5_tensor_shape(const char *path, struct mb_tensor *t, char *err, size_t errlen) {
    if (!isolate_reads) return tensor_shape_here(path, t, err, errlen);
    struct tensor_job j = {.path = path, .t = mb_shared_alloc(sizeof *t)};
    if (!j.t) return mb_errorf(err, errlen, "%s: cannot map shared memory", path);
    *j.t = *t;
    char reading[600];
    snprintf(reading, sizeof reading, "the shape of '%s'", t->name);
    const int rc = in_child(shape_job, &j, reading, err, errlen);
    if (rc == 0) {
        t->ndim = j.t->ndim;
        memcpy(t->shape, j.t->shape, sizeof t->shape);
    }
    mb_shared_free(j.t, sizeof *t);
    return rc;
}

int mb_h5_read_tensor(const char *path, struct mb_tensor *t, char *err, size_t errlen) {
    t->data = NULL;
    if (mb_h5_tensor_shape(path, t, err, errlen)) return -1;
    const int64_t numel = mb_tensor_numel(t);
    const size_t bytes = (size_t)numel * sizeof(float);
    float *data = mb_alloc(bytes > 64 ? bytes : 64);
    if (!data) return mb_errorf(err, errlen, "%s: cannot allocate %zu bytes for '%s'", path, bytes, t->name);
    int rc;
    if (!isolate_reads) {
        t->data = data;
        rc = read_tensor_here(path, t, numel, err, errlen);
    } else {
        struct tensor_job j = {.path = path, .t = mb_shared_alloc(sizeof *t), .numel = numel};
        float *shared = mb_shared_alloc(bytes);
        if (!j.t || !shared) {
            rc = mb_errorf(err, errlen, "%s: cannot map %zu bytes of shared memory for '%s'", path, bytes, t->name);
        } else {
            *j.t = *t;
            j.t->data = shared;
            char reading[600];
            snprintf(reading, sizeof reading, "the values of '%s'", t->name);
            rc = in_child(read_job, &j, reading, err, errlen);
        }
        const size_t piece = (size_t)64 << 20; /* a multiple of the page size */
        for (size_t at = 0; shared && at < bytes; at += piece) {
            const size_t n = bytes - at < piece ? bytes - at : piece;
            if (rc == 0) memcpy((char *)data + at, (char *)shared + at, n);
            mb_shared_free((char *)shared + at, n);
        }
        if (shared && bytes == 0) mb_shared_free(shared, 0);
        mb_shared_free(j.t, sizeof *t);
        t->data = data;
    }
    if (rc < 0) {
        mb_free(data);
        t->data = NULL;
    }
    return rc;
}

static int write_tensor(hid_t file, const struct mb_tensor *t) {
    hsize_t dims[MB_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) dims[i] = (hsize_t)t->shape[i];
    hid_t space = t->ndim > 0 ? H5Screate_simple(t->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(file, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    if (d < 0) return -1;
    int rc = mb_tensor_numel(t) > 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0;
    H5Dclose(d);
    if (rc == 0 && t->dims && t->dims[0] && H5LTset_attribute_string(file, t->name, "dims", t->dims) < 0) rc = 1;
    return rc ? -1 : 0;
}

/* "key=value" lines as string attributes of the root group. */
static int write_line_attrs(hid_t file, const char *attrs, char *err, size_t errlen) {
    for (const char *s = attrs; s && *s;) {
        const char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char line[4096];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), s);
        s += len + (end ? 1 : 0);
        if (!line[0]) continue;
        char *eq = strchr(line, '=');
        if (!eq || eq == line) return mb_errorf(err, errlen, "bad attribute line '%s' (expected key=value)", line);
        *eq = '\0';
        if (H5LTset_attribute_string(file, "/", line, eq + 1) < 0)
            return mb_errorf(err, errlen, "cannot write attribute '%s'", line);
    }
    return 0;
}

int mb_h5_write_tensors(const char *path, const struct mb_tensor *ts, int count, const char *attrs, char *err,
                        size_t errlen) {
    quiet_hdf5();
    char tmp[4200], why[512];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return mb_errorf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    close(fd);
    hid_t fapl = store_fapl(1);
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    int rc = file < 0 ? mb_errorf(err, errlen, "cannot create %s: %s", tmp, h5_detail()) : 0;
    for (int i = 0; i < count && rc == 0; i++)
        if (write_tensor(file, &ts[i]) < 0)
            rc = mb_errorf(err, errlen, "%s: cannot write tensor '%s': %s", path, ts[i].name, h5_detail());
    if (rc == 0 && write_line_attrs(file, attrs, why, sizeof why) < 0) rc = mb_errorf(err, errlen, "%s: %s", path, why);
    if (file >= 0 && H5Fclose(file) < 0 && rc == 0) rc = mb_errorf(err, errlen, "cannot close %s", tmp);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = mb_errorf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0) unlink(tmp);
    return rc;
}

/* ============================================================================================== merge helpers */
int mb_store_read_all_samples(struct mb_store *s, int64_t **point_ids, double **seconds, int64_t *count, char *err,
                              size_t errlen) {
    quiet_hdf5();
    *point_ids = NULL;
    *seconds = NULL;
    *count = 0;
    int64_t n = committed_count(s->samples);
    if (n < 0) return mb_errorf(err, errlen, "%s: cannot read /samples", s->path);
    struct sample_rec *recs = malloc((size_t)(n + 1) * sizeof *recs);
    int64_t *ids = malloc((size_t)(n + 1) * sizeof *ids);
    double *sec = malloc((size_t)(n + 1) * sizeof *sec);
    if (!recs || !ids || !sec) return free(recs), free(ids), free(sec), mb_errorf(err, errlen, "out of memory");
    if (n > 0 && table_read(s->samples, sample_cols, COUNT(sample_cols), sizeof *recs, 0, (hsize_t)n, recs) < 0) {
        free(recs), free(ids), free(sec);
        return mb_errorf(err, errlen, "%s: cannot read /samples", s->path);
    }
    for (int64_t i = 0; i < n; i++) ids[i] = recs[i].point_id, sec[i] = recs[i].seconds;
    free(recs);
    *point_ids = ids;
    *seconds = sec;
    *count = n;
    return 0;
}

int mb_store_copy_kernels(struct mb_store *dst, struct mb_store *src, char *err, size_t errlen) {
    quiet_hdf5();
    int64_t ns = table_count(src->kernels), nd = table_count(dst->kernels);
    struct kernel_rec *a = malloc((size_t)(ns + 1) * sizeof *a), *b = malloc((size_t)(nd + 1) * sizeof *b);
    int rc = !a || !b ? mb_errorf(err, errlen, "out of memory") : 0;
    if (rc == 0 && (ns < 0 || nd < 0 ||
                    (ns > 0 && table_read(src->kernels, kernel_cols, COUNT(kernel_cols), sizeof *a, 0, (hsize_t)ns, a) < 0) ||
                    (nd > 0 && table_read(dst->kernels, kernel_cols, COUNT(kernel_cols), sizeof *b, 0, (hsize_t)nd, b) < 0)))
        rc = mb_errorf(err, errlen, "%s: cannot read /kernels", src->path);
    for (int64_t i = 0; i < ns && rc == 0; i++) {
        int dup = 0;
        for (int64_t j = 0; j < nd && !dup; j++)
            dup = strcmp(a[i].name, b[j].name) == 0 && strcmp(a[i].source_hash, b[j].source_hash) == 0;
        if (!dup && table_append(dst->kernels, dst->kernels_mem, &a[i], 1) < 0)
            rc = mb_errorf(err, errlen, "%s: cannot append to /kernels: %s", dst->path, h5_detail());
    }
    free(a);
    free(b);
    return rc ? rc : flush(dst, err, errlen);
}

struct attr_copy {
    hid_t to;
    int failed;
};

static herr_t copy_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)info;
    struct attr_copy *c = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t type = a < 0 ? -1 : H5Aget_type(a), space = a < 0 ? -1 : H5Aget_space(a);
    size_t size = type < 0 || space < 0 ? 0 : H5Tget_size(type) * (size_t)H5Sget_simple_extent_npoints(space);
    void *buf = size ? malloc(size) : NULL;
    hid_t b = -1;
    if (!buf || H5Aread(a, type, buf) < 0 || H5Aexists(c->to, name) > 0 ||
        (b = H5Acreate2(c->to, name, type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 || H5Awrite(b, type, buf) < 0)
        c->failed |= H5Aexists(c->to, name) <= 0; /* an attribute already there is kept, not an error */
    if (b >= 0) H5Aclose(b);
    free(buf);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (a >= 0) H5Aclose(a);
    return 0;
}

static herr_t copy_host_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    hid_t *to = data;
    if (H5Lexists(*to, name, H5P_DEFAULT) <= 0) H5Ocopy(g, name, *to, name, H5P_DEFAULT, H5P_DEFAULT);
    return 0;
}

int mb_store_keep_shard(struct mb_store *dst, struct mb_store *src, int index, const char *source, char *err,
                        size_t errlen) {
    quiet_hdf5();
    char name[32];
    snprintf(name, sizeof name, "%d", index);
    hid_t shards = H5Lexists(dst->file, "shards", H5P_DEFAULT) > 0
                       ? H5Gopen2(dst->file, "shards", H5P_DEFAULT)
                       : H5Gcreate2(dst->file, "shards", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = shards < 0 ? -1 : H5Gcreate2(shards, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    struct attr_copy c = {.to = g};
    int rc = g < 0 || H5Aiterate2(src->file, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, copy_attr_cb, &c) < 0 || c.failed ||
                     H5LTset_attribute_string(g, ".", "source", source) < 0
                 ? mb_errorf(err, errlen, "%s: cannot keep the provenance of %s: %s", dst->path, source, h5_detail())
                 : 0;
    if (rc == 0 && H5Lexists(src->file, "hosts", H5P_DEFAULT) > 0) {
        hid_t from = H5Gopen2(src->file, "hosts", H5P_DEFAULT);
        hid_t to = H5Lexists(dst->file, "hosts", H5P_DEFAULT) > 0
                       ? H5Gopen2(dst->file, "hosts", H5P_DEFAULT)
                       : H5Gcreate2(dst->file, "hosts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (from < 0 || to < 0 || H5Literate(from, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, copy_host_cb, &to) < 0)
            rc = mb_errorf(err, errlen, "%s: cannot copy /hosts of %s: %s", dst->path, source, h5_detail());
        if (from >= 0) H5Gclose(from);
        if (to >= 0) H5Gclose(to);
    }
    if (g >= 0) H5Gclose(g);
    if (shards >= 0) H5Gclose(shards);
    return rc ? rc : flush(dst, err, errlen);
}

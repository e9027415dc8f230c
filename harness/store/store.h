/* HDF5 results store: one self-describing file per experiment (schema in DESIGN.md and README.md).
 *
 *   /            attributes: schema_version, experiment, ini, created, git_commit, host, cpu_model, cpu_flags,
 *                cores, omp_*, compiler, cflags, hdf5_version, benchmark_version, openblas_config,
 *                openblas_coretype, seed, tool = "mechbench"
 *   /hosts/HOST  a group per machine that measured rows (attributes as the root's provenance: cpu_model, cpu_flags,
 *                cores, isa ...): the creator's, plus every MPI worker's host and every merged shard's hosts
 *   /shards/I    merged files only: every root attribute of input file I (its own provenance), source = its path
 *   /kernels     compound table: name, family, mechanism, approximates, exact, oracle, rank_meaning, complexity,
 *                source, source_hash
 *   /points      extendible compound table, one row per (kernel, point, round): struct mb_row flattened, one
 *                column per axis (named as the axis), verdict as a string, round (0.. of sweep --rounds)
 *   /samples     extendible compound table: point_id, repetition, seconds
 *
 * Rows are appended and flushed one by one: a killed writer leaves every finished point readable.
 * All functions return 0 on success or -1 with a one-line message in err.
 */
#ifndef MB_STORE_H
#define MB_STORE_H

#include "core/mechbench.h"

struct mb_store;

struct mb_store_meta {
    const char *experiment; /* name */
    const char *ini_text;   /* full .ini text ("" for `mechbench run`) */
    uint64_t seed;
};

/* Create a new file (fails if it exists unless overwrite), write provenance attributes. */
int mb_store_create(const char *path, const struct mb_store_meta *meta, int overwrite, struct mb_store **out,
                    char *err, size_t errlen);
/* Open an existing mechbench file for appending (--resume) or reading. Rejects foreign, truncated or
   newer-schema files with a clear message. */
int mb_store_open(const char *path, int writable, struct mb_store **out, char *err, size_t errlen);
int mb_store_close(struct mb_store *s, char *err, size_t errlen);

/* Record a kernel in /kernels (no-op if a row with the same name and source_hash exists). */
int mb_store_add_kernel(struct mb_store *s, const struct mb_kernel *k, char *err, size_t errlen);
/* Append row (sets row->point_id) and its row->samples to /samples, then flush the file. */
int mb_store_append(struct mb_store *s, struct mb_row *row, char *err, size_t errlen);

/* Add /hosts/HOST (HOST = p's "host") with every item of p as attributes, unless the file has that host already. */
struct mb_provenance;
int mb_store_add_host(struct mb_store *s, const struct mb_provenance *p, char *err, size_t errlen);

/* Read every row of /points (samples not loaded: rows[i].samples = NULL). Free with free(). */
int mb_store_read_rows(struct mb_store *s, struct mb_row **rows, int64_t *count, char *err, size_t errlen);
/* Samples of one point (malloc'd array of seconds). */
int mb_store_read_samples(struct mb_store *s, int64_t point_id, double **samples, int *count, char *err,
                          size_t errlen);
/* Merged rounds (rows.c): from now on, mb_store_read_samples(s, q) returns the samples of every point p with
   owner[p] == q (points p >= n: their own). Takes ownership of owner (malloc'd; NULL clears). */
void mb_store_set_sample_owners(struct mb_store *s, int64_t *owner, int64_t n);
/* The same samples with, in (*rounds)[i] (malloc'd, may be NULL when count is 0), the round of the row sample i was
   measured in: round_of[p] of its point p as given to mb_store_set_sample_rounds, 0 without it. */
int mb_store_read_samples_rounds(struct mb_store *s, int64_t point_id, double **samples, int **rounds, int *count,
                                 char *err, size_t errlen);
/* round_of[p]: the round of point p's row (rows.c, with the owners). Takes ownership (malloc'd; NULL clears). */
void mb_store_set_sample_rounds(struct mb_store *s, int *round_of, int64_t n);
/* A string attribute of the root group (e.g. "cpu_model"), copied into buf; "" when absent. */
int mb_store_attr(struct mb_store *s, const char *name, char *buf, size_t len);

/* Merging (store/merge.c): every committed sample (point_id[i], seconds[i]), in file order; free both. */
int mb_store_read_all_samples(struct mb_store *s, int64_t **point_id, double **seconds, int64_t *count, char *err,
                              size_t errlen);
/* Copy src's /kernels rows that dst lacks (same name and source_hash). */
int mb_store_copy_kernels(struct mb_store *dst, struct mb_store *src, char *err, size_t errlen);
/* Keep src's provenance in dst: /shards/INDEX gets every root attribute of src plus source = its path, and
   the /hosts groups of src that dst lacks are copied. */
int mb_store_keep_shard(struct mb_store *dst, struct mb_store *src, int index, const char *source, char *err,
                        size_t errlen);

/* Tensors for `mechbench eval`: float32 datasets at the root of a plain HDF5 file. The three readers below open the
   user's file in a child process (core/isolate.h), so that libhdf5 crashing on a crafted file is an error
   ("PATH: corrupt HDF5 file: libhdf5 crashed reading ...") and not the end of the caller. mb_h5_isolate_reads(0)
   reads in the calling process: only for files HDF5 itself wrote (the fuzzer does, to see its coverage). */
void mb_h5_isolate_reads(int on);
int mb_h5_root_names(const char *path, char *buf, size_t len, char *err, size_t errlen); /* "q,k,v" */
/* Call before any other store function (the CLI's main does): HDF5 does not close files at exit (ours are
   flushed and closed explicitly; one whose flush failed stays as the last commit left it). */
void mb_store_library_init(void);
int mb_h5_read_tensor(const char *path, struct mb_tensor *t, char *err, size_t errlen); /* by t->name; allocates */
/* Only the shape of dataset t->name into t (validated and size-capped as the reader does); allocates nothing. */
int mb_h5_tensor_shape(const char *path, struct mb_tensor *t, char *err, size_t errlen);
/* Write outputs to a new file atomically (temp file + rename). attrs: "key=value" lines added as attributes. */
int mb_h5_write_tensors(const char *path, const struct mb_tensor *ts, int count, const char *attrs, char *err,
                        size_t errlen);

#endif

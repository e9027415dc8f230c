/* Machine and build provenance: where and how a result was produced.
 *
 * Collected once per process into a list of key/value pairs (keys below), written as root attributes of every
 * results file and printed by `mechbench machine` / `describe`:
 *   tool, created (UTC ISO-8601), git_commit, host, cpu_model, cpu_flags, cores, omp_max_threads,
 *   omp_num_threads, omp_proc_bind, omp_places, compiler, cflags, isa (the kernel copy chosen at run time:
 *   portable, avx2 or avx512), isa_supported (what this CPU can run, e.g. "portable,avx2,avx512"), hdf5_version,
 *   benchmark_version, openblas_config, openblas_coretype
 * "cores" and "omp_max_threads" are integers (integer attributes in HDF5); the rest are strings.
 */
#ifndef MB_PROVENANCE_H
#define MB_PROVENANCE_H

#include <stdio.h>
#include <hdf5.h>

#define MB_PROV_MAX 24
#define MB_PROV_VALUE_LEN 2048 /* cpu_flags is the longest (~1.5 kB on AVX-512 machines) */

struct mb_prov_item {
    const char *key;
    int is_int;                    /* stored as an integer attribute */
    char value[MB_PROV_VALUE_LEN]; /* always set (decimal text for integers) */
};

struct mb_provenance {
    int count;
    struct mb_prov_item items[MB_PROV_MAX];
};

/* Fill p (runs `git` through popen, reads /proc/cpuinfo). Never fails: unknown values read "unknown". */
void mb_provenance_collect(struct mb_provenance *p);
/* Value of key, or NULL. */
const char *mb_provenance_get(const struct mb_provenance *p, const char *key);
/* Collect and write every item as an attribute of loc (a file or group id). Returns 0 or -1 with a message. */
int mb_provenance_write_h5(hid_t loc, char *err, size_t errlen);
/* Write every item of p as an attribute of loc (a file or group id). Returns 0 or -1 with a message. */
int mb_provenance_write_items(hid_t loc, const struct mb_provenance *p, char *err, size_t errlen);
/* A scalar numeric attribute of loc (h5py reads a number, not a 1-element array), replacing an old one.
   file_type e.g. H5T_STD_I64LE, mem_type the matching native type of *value. Returns 0 or -1. */
int mb_h5_set_scalar_attr(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *value);
/* Collect and print "key: value" lines. */
void mb_provenance_print(FILE *out);

#endif

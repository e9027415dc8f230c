/* Experiment files (.ini, read with libinih).
 *
 *   [experiment]
 *   name = demo                      ; required
 *   description = quadratic vs linear attention
 *   kernels = attention.softmax.*, attention.linear.elu   ; globs, used by the implicit sweep
 *   out = results/demo.h5
 *   seed = 42
 *   repetitions = 5                  ; Google Benchmark repetitions per point (>= 1)
 *   rounds = 1                       ; interleaved rounds: every point once, then all again (sweep --rounds)
 *   min_time = 0.05                  ; seconds per repetition
 *   max_mem = 8G                     ; skip points whose modelled memory exceeds this (K, M, G suffixes)
 *   budget = 170                     ; seconds for the whole sweep; points predicted to overrun are skipped
 *   check_rows = 256                 ; output rows checked against the oracle per point (0 = all)
 *
 *   [axes]                           ; defaults for every sweep; one key per axis of harness/axes.def
 *   n = 128:16384:x2                 ; geometric range (inclusive)
 *   d = 32, 64, 128                  ; list
 *   block = 0:256:+64                ; arithmetic range
 *   causal = 0, 1
 *   params = key=value;key2=value2   ; free-form parameters of every point
 *
 *   [sweep linformer]                ; optional, any number: its own kernels, axes override [axes]
 *   kernels = attention.linformer
 *   rank = 16:256:x2
 *
 * Without [sweep ...] sections, the [experiment] kernels with [axes] form the one sweep.
 */
#ifndef MB_EXPERIMENT_H
#define MB_EXPERIMENT_H

#include "core/mechbench.h"

#define MB_MAX_SWEEPS 32
#define MB_MAX_VALUES 256

struct mb_axis_values {
    int count;                    /* 0 = not given: the family default is used */
    double values[MB_MAX_VALUES];
};

struct mb_sweep {
    char name[64];
    char kernels[512];            /* comma-separated globs */
    struct mb_axis_values axes[MB_AXIS_COUNT];
    char params[MB_PARAMS_LEN];
};

struct mb_experiment {
    char name[64];
    char description[256];
    char out[512];                /* default output path ("" = results/<name>.h5) */
    uint64_t seed;                /* default 42 */
    int repetitions;              /* default 5 */
    int rounds;                   /* default 1 */
    double min_time;              /* default 0.05 s */
    double max_mem;               /* bytes; default 0 = half of physical memory */
    double budget;                /* seconds; 0 = unlimited */
    int64_t check_rows;           /* default 256 */
    int n_sweeps;
    struct mb_sweep sweeps[MB_MAX_SWEEPS];
    char *ini_text;               /* the whole file, malloc'd */
};

/* The combinations of a sweep's axis values, as an odometer over index[MB_AXIS_COUNT] (start all zero; axes in
   axes.def order, the last turning fastest). mb_sweep_point: the point at index (the given axes set, params text
   copied, unparsed; *given = the mask of the axes with values). mb_sweep_next: advance; 0 when all were seen. */
void mb_sweep_point(const struct mb_sweep *s, const int *index, struct mb_point *p, uint64_t *given);
int mb_sweep_next(const struct mb_sweep *s, int *index);

/* Parse path into e. On error: -1 and "FILE:LINE: what is wrong (what is allowed)" in err. */
int mb_experiment_load(const char *path, struct mb_experiment *e, char *err, size_t errlen);
/* Same, from a string (name is used in messages). */
int mb_experiment_parse(const char *text, const char *name, struct mb_experiment *e, char *err, size_t errlen);
void mb_experiment_free(struct mb_experiment *e);

/* Parse one axis value list: "64", "1,2,4", "128:16384:x2", "0:256:+64". Returns count or -1 with message. */
int mb_parse_values(const char *text, enum mb_axis_kind kind, double *values, int max, char *err, size_t errlen);
/* Parse a size with optional K/M/G/T suffix (powers of 1024). Returns 0 or -1. */
int mb_parse_bytes(const char *text, double *bytes);

#endif

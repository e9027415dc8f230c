/* mechbench core types: points, tensors, workloads, families, kernels, results.
 *
 * Two levels (ggml/BLIS style):
 *   a FAMILY owns the workload (inputs from a seed, tensor layout), the double-precision oracle of every
 *            mechanism it hosts, the error metrics and the default tolerance;
 *   a KERNEL is one implementation of one mechanism of a family: setup (untimed, allocates), run (timed: no
 *            allocation, no I/O, no failure path), teardown, and its FLOP / byte / workspace models.
 * Every family and kernel is listed once in kernels/kernels.def; harness/registry.c expands it into the table.
 */
#ifndef MECHBENCH_H
#define MECHBENCH_H

#include <stddef.h>
#include <stdint.h>

#define MB_SCHEMA_VERSION 3 /* 2: task_score column; 3: items, items_per_second, items_unit, round, host and
                              mpi_rank columns */
#define MB_NAME_LEN 64     /* kernel names, including the terminating NUL */
#define MB_PARAMS_LEN 128  /* free-form "key=value;..." parameters of a point */
#define MB_MESSAGE_LEN 160 /* verdict message */
#define MB_HASH_LEN 17     /* 16 hex digits + NUL */
#define MB_UNIT_LEN 24     /* an items model's unit ("records", "state updates"), including the NUL */
#define MB_MAX_TENSORS 16
#define MB_MAX_DIMS 6
/* The largest tensor a file may declare (elements); checked with overflow-safe arithmetic before allocating. */
#define MB_TENSOR_MAX_ELEMENTS_LOG2 36
#define MB_TENSOR_MAX_ELEMENTS (UINT64_C(1) << MB_TENSOR_MAX_ELEMENTS_LOG2)
#define MB_UNUSED __attribute__((unused)) /* a parameter a callback's signature has but this callback ignores */

/* ---------------------------------------------------------------------------------------------- axes */
enum mb_axis_kind { MB_INT, MB_BOOL, MB_REAL };

enum mb_axis {
#define MB_AXIS(name, kind, help) MB_AXIS_##name,
#include "core/axes.def"
#undef MB_AXIS
    MB_AXIS_COUNT
};

#define MB_CTYPE_INT int64_t
#define MB_CTYPE_BOOL int64_t
#define MB_CTYPE_REAL double

/* ---------------------------------------------------------------------------------------------- parameters */
/* A `--param` key, declared by a family, a kernel or a probe the way axes are declared. Values are parsed once,
 * before setup, into the point's typed values (read them with mb_param_int/real/bool/enum); the stored text
 * p->params is normalised: every declared key, sorted, defaults filled in ("features=iid;inputs=random;qk_std=1"). */
/* INTS: a list of 1..MB_PARAM_MAX_INTS integers in [min, max], comma-separated ("64" or "48,64", F.interpolate's
 * size), or "none" (the default: no list; def is ignored). */
enum mb_param_type { MB_PARAM_INT, MB_PARAM_REAL, MB_PARAM_BOOL, MB_PARAM_ENUM, MB_PARAM_INTS };
struct mb_param_decl {
    const char *name;
    enum mb_param_type type;
    double def;         /* default (ENUM: index into values; BOOL: 0 or 1; INTS: none) */
    double min, max;    /* INT, REAL: allowed range, inclusive */
    const char *values; /* ENUM: the allowed values, '|'-separated: "orthogonal|iid" */
    const char *help;   /* one line */
};
#define MB_MAX_PARAMS 12
#define MB_PARAM_NAME_LEN 24 /* "recompute_scale_factor" */
#define MB_PARAM_MAX_INTS 3
struct mb_param_value {
    char name[MB_PARAM_NAME_LEN];
    enum mb_param_type type;
    double value; /* INT and BOOL: an integer; ENUM: the index of the value; INTS: the count (0 = none) */
    int64_t ints[MB_PARAM_MAX_INTS]; /* INTS: the values */
};

/* One point of a sweep: a value for every axis (0 where the family or kernel does not read it) plus the declared
 * parameters. Field names are the axis names: p->n, p->d, p->causal ... */
struct mb_point {
#define MB_AXIS(name, kind, help) MB_CTYPE_##kind name;
#include "core/axes.def"
#undef MB_AXIS
    char params[MB_PARAMS_LEN];         /* normalised text, stored in /points */
    int n_values;                       /* parsed values of params (0 = not parsed yet) */
    struct mb_param_value values[MB_MAX_PARAMS];
};

struct mb_axis_info {
    const char *name;
    enum mb_axis_kind kind;
    size_t offset; /* into struct mb_point */
    const char *help;
};
extern const struct mb_axis_info mb_axes[MB_AXIS_COUNT];
#define MB_AXIS_BIT(a) (UINT64_C(1) << (MB_AXIS_##a))

double mb_point_get(const struct mb_point *p, enum mb_axis a);
void mb_point_set(struct mb_point *p, enum mb_axis a, double v);
int mb_axis_lookup(const char *name); /* index or -1 */
/* "4096", "0.001": an axis value as text. */
void mb_axis_value_format(int axis, double v, char *buf, size_t len);
/* "n=4096 d=64 heads=8 causal=1": the axes in mask (skipping zero-valued ones), for messages and tables */
void mb_point_format(const struct mb_point *p, uint64_t mask, char *buf, size_t len);
/* Typed values of the point's declared parameters. REQUIRES: the point was parsed (mb_params_parse, or
   mb_point_complete) and `name` is declared with that type; a violation aborts with the name (a contract bug). */
int64_t mb_param_int(const struct mb_point *p, const char *name);
double mb_param_real(const struct mb_point *p, const char *name);
int mb_param_bool(const struct mb_point *p, const char *name);
int mb_param_enum(const struct mb_point *p, const char *name); /* index into the declared values */
/* INTS: copies up to max values into out and returns how many the list has (0 = none). */
int mb_param_ints(const struct mb_point *p, const char *name, int64_t *out, int max);
/* Set key=value in a parsed point's normalised text and mark it unparsed (the caller parses it again, which checks
   the value). Returns 0, or -1 when the point has no such key. */
int mb_param_set(struct mb_point *p, const char *key, const char *value);

/* ---------------------------------------------------------------------------------------------- tensors */
struct mb_tensor {
    const char *name;             /* PyTorch-style argument name: "q", "k", "v", "out" */
    int ndim;
    int64_t shape[MB_MAX_DIMS];   /* row-major, PyTorch layout */
    const char *dims;             /* shape names, e.g. "batch,heads,n,d" */
    float *data;                  /* 64-byte aligned, owned by the workload */
};
int64_t mb_tensor_numel(const struct mb_tensor *t);
/* Set t's name, dims text and shape (the first ndim of d0..d3); t->data is left alone. */
void mb_tensor_set(struct mb_tensor *t, const char *name, const char *dims, int ndim, int64_t d0, int64_t d1,
                   int64_t d2, int64_t d3);

struct mb_family;
struct mb_kernel;

/* The inputs and outputs of one point, allocated by the family. */
struct mb_workload {
    const struct mb_family *family;
    struct mb_point point;
    uint64_t seed;
    int n_inputs, n_outputs;
    struct mb_tensor inputs[MB_MAX_TENSORS];
    struct mb_tensor outputs[MB_MAX_TENSORS];
};
struct mb_tensor *mb_workload_tensor(struct mb_workload *w, const char *name); /* input or output by name */
/* Fill t with N(mean, std^2) draws (GSL MT19937 seeded with seed * 1000003 + stream, ziggurat): the same numbers
   for the same (seed, stream). */
void mb_fill_normal(struct mb_tensor *t, uint64_t seed, uint64_t stream, double mean, double std);
/* For `mechbench eval`: inputs[0..count) must all have `ndim` dimensions and the shape of inputs[0].
   Returns 0, or -1 naming the first tensor that differs and the expected layout (dims of inputs[0]). */
int mb_inputs_same_shape(const struct mb_workload *w, int count, int ndim, const char *family, char *err,
                         size_t errlen);

/* Fill the axes that are 0 and not in `given` (MB_AXIS_BIT mask) with the family defaults; zero the axes the
   kernel does not read; parse p->params if not parsed yet (keys k does not declare are dropped). */
void mb_point_complete(const struct mb_kernel *k, struct mb_point *p, uint64_t given);
/* Allocate w's tensors for w->family / w->point (layout first) and fill inputs from seed. */
int mb_workload_create(struct mb_workload *w, const struct mb_family *f, const struct mb_point *p, uint64_t seed,
                       char *err, size_t errlen);
int mb_workload_alloc(struct mb_workload *w, char *err, size_t errlen); /* allocate after layout */
void mb_workload_free(struct mb_workload *w);
double mb_workload_bytes(const struct mb_workload *w);

/* ---------------------------------------------------------------------------------------------- errors */
/* Error of got (float) against want (double), accumulated over the checked elements:
 *   max_abs = max |got - want|, rel_l2 = ||got - want|| / ||want||, nmse = sum (got-want)^2 / sum want^2. */
struct mb_errors {
    double max_abs, rel_l2, nmse;
    int64_t checked; /* elements compared; 0 = not measured */
    double sum_sq_diff, sum_sq_ref; /* accumulators (not stored) */
};
void mb_errors_reset(struct mb_errors *e);
void mb_errors_add(struct mb_errors *e, const float *got, const double *want, int64_t count);
void mb_errors_finish(struct mb_errors *e);
void mb_errors_merge(struct mb_errors *into, const struct mb_errors *from); /* before finish */

struct mb_check_opts {
    int64_t sample_rows; /* rows (independent outputs) to check; <= 0 = all */
    uint64_t seed;       /* which rows are sampled */
};

/* ---------------------------------------------------------------------------------------------- family */
struct mb_axis_rule {
    enum mb_axis axis;
    double def, min, max; /* default value and allowed range (inclusive) */
};

struct mb_mechanism {
    const char *name;        /* "softmax", "linear.elu" */
    const char *formula;     /* one line of math */
    double tolerance;        /* rel_l2 allowed for fp32 kernels of this mechanism vs the double oracle */
    void (*oracle)(void);    /* the family's oracle of this mechanism (family-specific signature, cast by the family) */
};

struct mb_kernel;

/* ---------------------------------------------------------------------------------------------- probes */
/* A probe measures a quantity that is not a kernel timing (a spectrum, a recall rate, an estimator's MSE) for
 * the claims runner: one value per x along its axis, with per-trial samples. Families declare their probes. */
#define MB_PROBE_MAX_POINTS 64
struct mb_probe_series {
    int count;
    double x[MB_PROBE_MAX_POINTS];
    double y[MB_PROBE_MAX_POINTS];          /* median over the trials (mean when `mean`) */
    double *samples[MB_PROBE_MAX_POINTS];   /* per-trial values (malloc'd) */
    int ns[MB_PROBE_MAX_POINTS];
    int mean;                               /* y is the mean of the samples */
};
/* y[i] = the median of samples[i][0..ns[i]). Returns 0 or -1 (out of memory). */
int mb_probe_median(struct mb_probe_series *s, int i);
void mb_probe_series_free(struct mb_probe_series *s);
/* The probe called name in any family, or NULL. */
const struct mb_probe *mb_probe_find(const char *name);

struct mb_probe {
    const char *name;        /* "performer_mse" */
    const char *x_axis;      /* the axis it runs along ("rank", "n", "d", "scale") */
    const char *summary;     /* what it measures, how (one paragraph) */
    const struct mb_param_decl *params; int n_params;    /* its variant parameters */
    /* One value (or per-trial samples) per x in xs at base (its other axes; params parsed): fills out->x, y,
       samples, ns, count. Returns 0 or -1 with a message. */
    int (*run)(const struct mb_probe *probe, const struct mb_point *base, const double *xs, int nx, uint64_t seed,
               struct mb_probe_series *out, char *err, size_t errlen);
};

/* ---------------------------------------------------------------------------------------------- tools */
/* A family's calculator behind a subcommand of its own (`mechbench params MODEL`: the peft family's fine-tuning
 * memory calculator; later `rf NET`, `tfrecord`): no kernel, no timing. The tool parses its own arguments and fills
 * a report of rows and notes; harness/cli prints it (the library never prints). */
#define MB_REPORT_MAX_ROWS 256 /* `rf resnet152`: one row per layer */
#define MB_REPORT_MAX_NOTES 16
#define MB_REPORT_MAX_GRIDS 8
struct mb_report_row {
    char label[48];  /* "trainable parameters" */
    char value[48];  /* "18,874,368" */
    char unit[128];  /* "L r (d_in + d_out) ...": unit, formula or qualifier, may be empty */
};
/* A map the CLI draws as a heat map (harness/plot/heatmap.h) at path.png and path.svg: e.g. `rf --erf`. */
struct mb_report_grid {
    char path[256];       /* output stem */
    char title[160];
    char x_label[48], y_label[48], value_label[64];
    int rows, cols;
    double x0, y0;        /* the coordinates of column 0 and row 0 (unit steps) */
    double *values;       /* rows x cols, row-major, row 0 at the bottom; owned by the report */
};
struct mb_report {
    char title[160];
    int n_rows, n_notes;  /* rows or notes past the maximum are dropped (a tool bug; the tests see it) */
    struct mb_report_row rows[MB_REPORT_MAX_ROWS];
    char notes[MB_REPORT_MAX_NOTES][320];  /* the stated assumptions and sources, one sentence each */
    int n_grids;
    struct mb_report_grid grids[MB_REPORT_MAX_GRIDS];
    /* Raw text lines (`tfrecord cat`: JSON lines), before the title and rows. With `line` set (the CLI sets it),
       each line is handed on as it is made, in constant memory; else they are kept in text (freed by
       mb_report_free). */
    void (*line)(void *ctx, const char *text);
    void *line_ctx;
    char *text;
    size_t text_len, text_cap;
    int failed;           /* set with run's -1 when the input is bad rather than the usage (exit 1, not 2) */
};
void mb_report_row(struct mb_report *r, const char *label, const char *unit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mb_report_note(struct mb_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add a grid of rows x cols zeros to fill (labels and x0, y0 set by the caller); NULL when full or out of memory. */
struct mb_report_grid *mb_report_grid(struct mb_report *r, const char *path, const char *title, int rows, int cols);
/* Append one raw text line (no newline in fmt). */
void mb_report_line(struct mb_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free the grids' values and the kept text (a report is reused only after this). */
void mb_report_free(struct mb_report *r);

struct mb_tool {
    const char *name;     /* the subcommand: "params" */
    const char *usage;    /* its usage, first line "params MODEL [--method ...]"; `mechbench NAME --help` prints it */
    const char *summary;  /* one line for `mechbench --help` */
    /* argv[0] is the tool's name. Returns 0 with *out filled, or -1 with one line naming the bad value and what is
       allowed (a usage error: exit 2). */
    int (*run)(int argc, char **argv, struct mb_report *out, char *err, size_t errlen);
};
/* The tool called name in any family, or NULL. */
const struct mb_tool *mb_tool_find(const char *name);

struct mb_family {
    const char *name;        /* "attention" */
    const char *summary;
    const struct mb_axis_rule *axes; int n_axes;         /* the axes this family reads */
    const char *n_meaning;   /* what the n axis counts here when not a sequence length ("records"), or NULL */
    const struct mb_param_decl *params; int n_params;    /* --param keys of every kernel of the family */
    const struct mb_probe *probes; int n_probes;         /* measurements for claims beyond timings */
    const struct mb_mechanism *mechanisms; int n_mechanisms;
    /* Fill w->inputs/outputs names and shapes for point p (no allocation). Returns 0 or -1 with a message. */
    int (*layout)(struct mb_workload *w, char *err, size_t errlen);
    /* Fill the (allocated) inputs deterministically from w->seed. */
    void (*fill)(struct mb_workload *w);
    /* Derive the point's axes from the shapes of input tensors read from a file (mechbench eval).
       Tensor shapes are in w->inputs; sets w->point fields. Returns 0 or -1 with a message. */
    int (*point_from_inputs)(struct mb_workload *w, char *err, size_t errlen);
    /* Compare the kernel's outputs in w with the double-precision oracle of `mechanism`. */
    int (*check)(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                 const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen);
    /* Optional, for `mechbench eval`: `present` lists the datasets of the user's file ("u,delta,A,B,C,D"). A family
       that accepts several namings (the Mamba module's and selective_scan_ref's) picks one by setting w->point's
       params (mb_param_set; the caller re-parses and lays out again), or refuses a mixed file in its own words.
       Returns 0 or -1 with a message. */
    int (*choose_inputs)(struct mb_workload *w, const char *present, char *err, size_t errlen);
    /* Optional: a task metric of the kernel's outputs on task inputs selected by the point's params (e.g.
       attention's inputs=recall: retrieval accuracy). 1 = *score set, 0 = no task on these inputs, -1 = error. */
    int (*task)(const struct mb_kernel *k, const struct mb_workload *w, const struct mb_check_opts *opts,
                double *score, char *err, size_t errlen);
    const struct mb_tool *tools; int n_tools;            /* optional: its calculators (subcommands) */
};

const struct mb_mechanism *mb_family_mechanism(const struct mb_family *f, const char *name);
/* Validate p against the family's axis rules; axes the family does not read must be 0. */
int mb_family_validate(const struct mb_family *f, const struct mb_point *p, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------- kernel */
/* Kernel flags. LAST_ROW: a decode step; it produces only the last output row of each head (the new token,
 * attending to a cache of n keys); the oracle checks only those rows. */
#define MB_KERNEL_LAST_ROW 1u

struct mb_kernel {
    const char *name;          /* family.mechanism.impl: "attention.softmax.naive" */
    const char *aliases;       /* other names of this very kernel (comma-separated), or NULL: listed, resolvable by
                                  name, measured once under `name` */
    const struct mb_family *family;
    const char *mechanism;     /* the formula it computes exactly (its own oracle) */
    const char *approximates;  /* exact mechanism it approximates, or NULL when it is exact */
    const char *summary;       /* one line: what it does, how */
    const char *complexity;    /* "O(n^2 d) time, O(n^2) memory" */
    uint64_t axes;             /* MB_AXIS_BIT mask of the axes it reads */
    const char *rank_meaning;  /* meaning of the rank axis, NULL when it does not read rank */
    const char *source;        /* source file */
    const char *source_hash;   /* hash of its source and its family's, set by the build */
    double tolerance;          /* rel_l2 override; 0 = the mechanism's */
    unsigned flags;            /* MB_KERNEL_* */
    const struct mb_param_decl *params; int n_params;   /* --param keys of this kernel (besides the family's) */
    const void *variant;       /* typed data for a family's shared code: one implementation, several kernels */
    /* The functions receive their own descriptor (k->variant, k->name). Points are parsed (typed params set). */
    /* 0 = supported, else 1 with the reason (NULL: always supported) */
    int (*supports)(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);
    /* Untimed: allocate workspace, precompute. Returns 0 or -1 with a message; *state is passed to run. */
    int (*setup)(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
    void (*run)(void *state);  /* timed: writes w's outputs; no allocation, no I/O, no failure path */
    void (*teardown)(void *state);
    double (*flops)(const struct mb_kernel *k, const struct mb_point *p);           /* FLOPs of one run */
    double (*bytes)(const struct mb_kernel *k, const struct mb_point *p);           /* compulsory traffic of one run */
    double (*workspace_bytes)(const struct mb_kernel *k, const struct mb_point *p); /* peak bytes allocated by setup */
    /* Optional items model, for a throughput in the unit the kernel's users count in (beside GFLOP/s and GB/s):
       items(k, p) = how many items one run processes (> 0), items_unit = what one item is, plural, lower case,
       shorter than MB_UNIT_LEN: "records" (a TFRecord reader), "values", "rows", "state updates" (a scan's
       B L d_inner N), "tokens". The row then holds items, items_per_second = items / median time, and the unit.
       NULL (both): no items model; the row's items and items_per_second are 0 and its unit is "" (as in files
       written before schema 3). The registry test requires both or neither. */
    double (*items)(const struct mb_kernel *k, const struct mb_point *p);
    const char *items_unit;
};

/* Callers use these, not the slots: they parse an unparsed point's params first and handle NULL slots. */
int mb_kernel_supports(const struct mb_kernel *k, const struct mb_point *p, char *why, size_t len);
int mb_kernel_setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
double mb_kernel_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_kernel_bytes(const struct mb_kernel *k, const struct mb_point *p);
double mb_kernel_workspace(const struct mb_kernel *k, const struct mb_point *p);
double mb_kernel_items(const struct mb_kernel *k, const struct mb_point *p); /* 0 without an items model */

/* Parse "key=value;key=value" against the declarations of k (its family's and its own) into p: every declared
 * key gets a typed value (the default when absent) and p->params the normalised text. flags: MB_PARAMS_LENIENT
 * drops keys k does not declare (a sweep's params that are meant for other kernels of the sweep). Returns 0, or -1
 * with one line naming the bad key or value and what is allowed. */
#define MB_PARAMS_LENIENT 1u
int mb_params_parse(const struct mb_kernel *k, const char *text, unsigned flags, struct mb_point *p, char *err,
                    size_t errlen);
/* Parse p's own text leniently when it is not parsed yet (points built by hand, rows read back); callers that must
   refuse bad params call mb_params_parse first. */
void mb_params_ensure(const struct mb_kernel *k, struct mb_point *p);
/* The same against any lists of declarations (probes): owner names them in messages. */
int mb_params_parse_decls(const struct mb_param_decl *const *lists, const int *counts, int n_lists, const char *owner,
                          const char *text, unsigned flags, struct mb_point *p, char *err, size_t errlen);
/* For a sweep over kernels matching `patterns`: every key must be declared by at least one of them and its value
   valid for each that declares it. Returns 0 or -1 with one line. */
int mb_params_validate_for(const char *patterns, const char *text, char *err, size_t errlen);
/* "name  int 1..4096 (default 1)  help": one declaration as a line of `describe`. */
void mb_param_describe(const struct mb_param_decl *d, char *buf, size_t len);
/* k's declaration of parameter name (its family's or its own), or NULL. */
const struct mb_param_decl *mb_param_decl_of(const struct mb_kernel *k, const char *name);

/* In a kernel descriptor: `MB_KERNEL_SOURCE,` fills .source and .source_hash (the build passes MB_SOURCE_HASH). */
#ifndef MB_SOURCE_HASH
#define MB_SOURCE_HASH "unknown"
#endif
#define MB_KERNEL_SOURCE .source = __FILE__, .source_hash = MB_SOURCE_HASH

/* ---------------------------------------------------------------------------------------------- registry */
/* The tables of the ISA chosen at start-up (core/isa.h: the best the CPU supports, capped by MB_ISA). */
extern const struct mb_family *const *mb_families;
extern const int mb_n_families;
extern const struct mb_kernel *const *mb_kernels;
extern const int mb_n_kernels;
const char *mb_isa_name(void); /* the chosen ISA: "portable", "avx2" or "avx512" */
const struct mb_kernel *mb_kernel_find(const char *name); /* by name or alias */
const struct mb_family *mb_family_find(const char *name);
/* glob (fnmatch) or comma-separated globs, matched against names and aliases: fills out[] with the matching
   kernels in table order, each once; returns count */
int mb_kernel_match(const char *patterns, const struct mb_kernel **out, int max);
/* Does name match one of the comma-separated patterns (globs; "attention" or "attention." = everything below)? */
int mb_name_matches(const char *patterns, const char *name);

/* ---------------------------------------------------------------------------------------------- results */
enum mb_verdict { MB_PASS, MB_FAIL, MB_UNSUPPORTED, MB_SKIPPED_BUDGET, MB_ERROR, MB_VERDICT_COUNT };
extern const char *const mb_verdict_names[MB_VERDICT_COUNT]; /* "pass" "fail" "unsupported" "skipped-budget" "error" */

/* The start of the message of a lost point's error row: the process measuring it died (an MPI worker). Such a row
   is not a measurement: `sweep --resume` measures the point again and `merge` does not count it as a duplicate. */
#define MB_LOST_PREFIX "lost: "

/* One row of /points: one kernel at one point. */
struct mb_row {
    int64_t point_id;               /* row index in /points, links /samples */
    char kernel[MB_NAME_LEN];
    char family[24];
    char source_hash[MB_HASH_LEN];
    struct mb_point point;
    int64_t iterations;             /* per repetition */
    int64_t repetitions;
    double time_mean, time_median, time_min, time_max, time_stddev, time_cv; /* seconds per run */
    double flops, bytes;            /* models, per run */
    double gflops, gbps;            /* from the models and the median time */
    double workspace_bytes;         /* modelled peak workspace */
    double input_bytes;             /* inputs + outputs of the point */
    double items;                   /* the kernel's items model, per run (0: none; see struct mb_kernel .items) */
    double items_per_second;        /* items / median time (0: no items model) */
    char items_unit[MB_UNIT_LEN];   /* "records", "state updates", ... ("": no items model) */
    struct mb_errors own;           /* vs the kernel's own formula */
    struct mb_errors exact;         /* vs the exact mechanism it approximates (== own for exact kernels) */
    double task_score;              /* the family's task metric on task inputs (e.g. recall accuracy), else NaN */
    double tolerance;
    enum mb_verdict verdict;
    char message[MB_MESSAGE_LEN];
    double started;                 /* unix time */
    int64_t round;                  /* 0-based round of an interleaved sweep (sweep --rounds); 0 without rounds */
    int rounds;                     /* rows from mb_results_load: rounds merged into this row (1 = one); else 0 */
    char host[64];                  /* the machine that measured the row */
    int64_t mpi_rank;               /* its MPI rank (0 outside MPI) */
    int n_samples;
    double *samples;                /* per-repetition seconds per run (not owned by the row) */
};

/* ---------------------------------------------------------------------------------------------- util */
/* The one number syntax of every command line, experiment, claim and --param: decimal notation ("64", "1e-3",
   "-2.5"), finite; no hex, nan, inf or spaces. Returns 0 and *v, or -1. */
int mb_parse_number(const char *s, double *v);
/* The machine's physical memory in bytes (the ceiling of every memory budget). */
double mb_physical_memory(void);
/* NaN and Inf values in t->data: their count, and the index of the first in *first (-1 when none). */
int64_t mb_tensor_count_nonfinite(const struct mb_tensor *t, int64_t *first);
void *mb_alloc(size_t bytes);       /* 64-byte aligned (2 MiB and huge pages from 2 MiB up), zeroed; NULL on failure */
void mb_free(void *p);
uint64_t mb_splitmix64(uint64_t *state);
/* The threads a parallel region of `flops` should wake: one per MB_MIN_FLOPS_PER_THREAD of work, at least 1, at most
   `threads` (a kernel passes omp_get_max_threads(), a cost model the point's threads); the rule of PyTorch's
   at::parallel_for grain and OpenBLAS's GEMM_MULTITHREAD_THRESHOLD. A fork-join costs 1-2 us when both vCPUs run;
   when the hypervisor gives the two vCPUs one core, every join waits for the idle vCPU to be scheduled: 0.5 ms
   measured for a 1 us call (softmax at n = 8, 2 threads), which made 2-thread crossovers at small n noise. Below the
   grain a region runs on the calling thread alone. Tests that check the parallel split at small sizes set the grain
   to 0 (every region gets all threads). */
#define MB_MIN_FLOPS_PER_THREAD 1e6
int mb_team_for(double flops, int64_t threads);
void mb_set_min_flops_per_thread(double flops); /* 0: no grain; not thread-safe, set before kernels run */
double mb_now(void);                /* monotonic seconds */
double mb_wall_clock(void);         /* unix time */
int mb_errorf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4))); /* returns -1 */
/* A bug in the caller (ggml's GGML_ASSERT): keep the message in mb_contract_message and abort(); the library does
   not print it, the CLI's SIGABRT handler does. */
extern char mb_contract_message[512];
void mb_contract_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

/* The runner: workloads, one measured point (time + accuracy -> struct mb_row), and whole sweeps. */
#ifndef MB_RUNNER_H
#define MB_RUNNER_H

#include "run/experiment.h"
#include "run/gbench.h"
#include "core/mechbench.h"

struct mb_store;

struct mb_run_opts {
    int repetitions;     /* Google Benchmark repetitions */
    double min_time;     /* seconds per repetition */
    uint64_t seed;       /* inputs and oracle row sample */
    double max_mem;      /* bytes: inputs + modelled workspace above this -> skipped-budget */
    int64_t check_rows;  /* oracle rows per point (<= 0 = all) */
};
void mb_run_opts_default(struct mb_run_opts *o);

/* Start a row for k at p: names, hashes, models, tolerance; verdict MB_ERROR until measured. */
void mb_row_init(struct mb_row *row, const struct mb_kernel *k, const struct mb_point *p);
/* Decide without running whether k can run at p: 0, or 1 with row->verdict/message set (unsupported,
   skipped-budget). A point the family rejects is an error (-1, message in err). */
int mb_row_admit(struct mb_row *row, const struct mb_kernel *k, const struct mb_run_opts *o, char *err,
                 size_t errlen);
/* Set up k on w, time it, check it against the oracles: fills row (verdict pass/fail/error).
   samples: room for o->repetitions doubles, stored in row->samples. A row that arrives checked (row->own.checked > 0:
   a sweep's later round of a point, given the errors of the point's first round) is timed only: its errors and task
   score are kept, and its verdict follows from them. */
void mb_measure(struct mb_row *row, const struct mb_kernel *k, struct mb_workload *w, const struct mb_run_opts *o,
                double *samples);
/* Run k once on w (no timing) and check it: used by eval. Returns 0 or -1. */
int mb_run_once(const struct mb_kernel *k, struct mb_workload *w, char *err, size_t errlen);

/* What a sweep reports while it runs (the library never prints: the caller decides what to show). */
enum mb_sweep_event_kind {
    MB_SWEEP_RESUMED,  /* before the first point: `stored` of `total` points are already in `out` */
    MB_SWEEP_POINT,    /* a point finished and was stored: row, done of todo, eta */
    MB_SWEEP_FINISHED, /* the end (not after a failure): rows[0..done) measured in this run, elapsed; complete = 0
                          when interrupted or the file could not be closed */
    MB_SWEEP_NOTE,     /* a warning or remark for the user: message */
};
struct mb_sweep_event {
    enum mb_sweep_event_kind kind;
    const char *out;           /* the results file */
    int64_t total;             /* points of the experiment */
    int64_t stored;            /* points already present (resume) */
    int64_t todo;              /* points to measure in this run */
    int64_t done;              /* points measured so far */
    const struct mb_row *row;  /* POINT: the finished row */
    double eta;                /* POINT: predicted seconds for the remaining points */
    const struct mb_row *rows; /* FINISHED: the rows measured in this run, in order (samples not kept) */
    double elapsed;            /* FINISHED: seconds */
    int complete;              /* FINISHED: 1 = every point was done and the file closed */
    const char *message;       /* NOTE: the text */
};

/* One (kernel, point) of a sweep, in plan order, with its modelled cost: seconds at nominal rates
   (mb_sweep_item_cost), used to order MPI work (largest first) and to balance shards. */
struct mb_sweep_item {
    const struct mb_kernel *k;
    struct mb_point p;
    double cost;
    int64_t round; /* 0-based interleaved round (sweep --rounds); 0 when planned */
};
/* Every (kernel, point) of the experiment (n outermost, kernels innermost, duplicates removed), costs set.
   Free *items with free(). Returns 0 or -1 with a message. */
int mb_sweep_plan(const struct mb_experiment *e, struct mb_sweep_item **items, int64_t *count, char *err,
                  size_t errlen);
/* Modelled seconds of one item: repetitions x max(min_time, flops / 10 GFLOP/s + bytes / 10 GB/s). Only the ratios
   between items matter (ordering, balance), not the absolute value. */
double mb_sweep_item_cost(const struct mb_sweep_item *it, int repetitions, double min_time);

/* Measures items one after another, reusing one workload while consecutive items share it. Zero-initialise, set o
   and samples (room for o->repetitions doubles). */
struct mb_measurer {
    const struct mb_run_opts *o;
    double *samples;
    struct mb_workload w;
    int have_workload;
};
/* Measure it into row (initialised and admitted): verdict pass/fail, or error when its inputs cannot be made. */
void mb_measurer_item(struct mb_measurer *m, const struct mb_sweep_item *it, struct mb_row *row, char *err,
                      size_t errlen);
void mb_measurer_free(struct mb_measurer *m);

/* Where a sweep's admitted points are measured. The default (exec = NULL) measures each in this process when it is
   submitted; harness/run/mpi_sweep.c hands them to worker ranks and reports rows as they come back. The sweep owns
   the file: every row, whoever measured it, goes through mb_sweep_sink_row. */
struct mb_sweep_sink;
/* Store the finished row of item (append + flush, history, progress). Returns 0 or -1 (message in err). */
int mb_sweep_sink_row(struct mb_sweep_sink *sink, int64_t item, struct mb_row *row, char *err, size_t errlen);
/* Set by SIGINT (and SIGTERM when mb_sweep_opts.stop_on_sigterm): an executor that waits polls it. */
int mb_sweep_interrupted(void);
struct mb_sweep_exec {
    void *ctx;
    int parallel; /* points measured at once (ETA divides by it) */
    /* Measure items[item] (row already initialised); the row may be stored now or from a later call. */
    int (*submit)(void *ctx, struct mb_sweep_sink *sink, int64_t item, const struct mb_row *row, char *err,
                  size_t errlen);
    /* Wait for every submitted point; interrupted: store the points still out as lost error rows. */
    int (*drain)(void *ctx, struct mb_sweep_sink *sink, int interrupted, char *err, size_t errlen);
};
struct mb_sweep_opts {
    const char *out;     /* output file */
    int resume, force;
    double max_mem;      /* 0 = the experiment's */
    double budget;       /* < 0 = the experiment's */
    int rounds;          /* interleaved rounds (sweep.c); 0 = the experiment's */
    void (*on_event)(void *ctx, const struct mb_sweep_event *ev); /* NULL: report nothing */
    void *ctx;           /* passed to on_event */
    int shard, n_shards; /* n_shards > 1: measure shard (1-based) of n_shards only (mb_shard_select) */
    int largest_first;   /* measure in decreasing modelled cost (MPI) instead of plan order */
    int stop_on_sigterm; /* SIGTERM stops the sweep as SIGINT does (an MPI job being torn down) */
    const struct mb_sweep_exec *exec; /* NULL: measure here */
    void (*on_file)(void *ctx, struct mb_store *store); /* optional: called once the output file is open */
    void *file_ctx;
};
/* The most (kernel, point) items one experiment may expand to, over all its sweeps (before duplicates merge), and
   the most (kernel, point, round) measurements after rounds: planning costs ~40 us per point (a million: ~40 s, a
   few hundred MB), and an experiment beyond that is a mistake or belongs in several files (sweep --shard). */
#define MB_SWEEP_MAX_POINTS (1 << 20)
/* Run the experiment into opts->out. Returns 0, 1 (failure, message in err), 130 (interrupted). */
int mb_sweep_run(const struct mb_experiment *e, const struct mb_sweep_opts *opts, char *err, size_t errlen);
/* The run options of experiment e (repetitions, min_time, seed, check_rows, max_mem; max_mem > 0 overrides). */
void mb_sweep_run_opts(const struct mb_experiment *e, double max_mem, struct mb_run_opts *o);

/* Shards (harness/run/shard.c): items sorted by decreasing cost are dealt greedily to the least-loaded of n bins
   (ties: the lowest bin), a deterministic, balanced partition; keep bin `shard` (1-based), in plan order. */
int mb_shard_select(struct mb_sweep_item *items, int64_t *count, int shard, int n_shards, char *err, size_t errlen);
/* The same greedy deal over n_bins: loads[i] = modelled seconds of bin i (dynamic largest-first hand-out behaves as
   this list schedule when costs are exact). Returns 0 or -1 (out of memory). */
int mb_shard_loads(const struct mb_sweep_item *items, int64_t count, int n_bins, double *loads);
/* Stable sort by decreasing cost. */
int mb_sweep_sort_largest_first(struct mb_sweep_item *items, int64_t count);

#endif

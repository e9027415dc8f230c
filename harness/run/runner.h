/* The runner: workloads, one measured point (time + accuracy -> struct mb_row), and whole sweeps. */
#ifndef MB_RUNNER_H
#define MB_RUNNER_H

#include "run/experiment.h"
#include "run/gbench.h"
#include "core/mechbench.h"

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
   samples: room for o->repetitions doubles, stored in row->samples. */
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
};
struct mb_sweep_opts {
    const char *out;     /* output file */
    int resume, force;
    double max_mem;      /* 0 = the experiment's */
    double budget;       /* < 0 = the experiment's */
    int rounds;          /* interleaved rounds (sweep.c); 0 = the experiment's */
    void (*on_event)(void *ctx, const struct mb_sweep_event *ev); /* NULL: report nothing */
    void *ctx;           /* passed to on_event */
};
/* The most (kernel, point) items one experiment may expand to, over all its sweeps (before duplicates merge). */
#define MB_SWEEP_MAX_POINTS 16384
/* Run the experiment into opts->out. Returns 0, 1 (failure, message in err), 130 (interrupted). */
int mb_sweep_run(const struct mb_experiment *e, const struct mb_sweep_opts *opts, char *err, size_t errlen);

#endif

/* Sweeps: expand an experiment into (kernel, point) items, skip what the results file already holds (--resume),
 * admit each item against the memory and time budgets, measure it, append and flush its row, report progress.
 *
 * Order: the cartesian product of the axes with n outermost (every kernel gets its small points first, so an
 * interrupted sweep is still useful), kernels innermost (one workload is shared by the kernels of a point).
 * Time budget: a point is skipped when its predicted wall time (the kernel's last measured point scaled by the
 * FLOP model, times the repetitions) exceeds what is left. SIGINT stops after the current point.
 *
 * Rounds (--rounds R, `rounds = R`): the whole list of items is measured R times, round after round (A B C, A B C,
 * ...), so ratios between kernels come from the same minutes on a machine whose speed drifts. Each round of a point
 * is its own /points row with its `round` column (0..R-1) and its own samples, appended and committed as any row:
 * an interrupted sweep keeps every finished round, and --resume skips the (kernel, point, round) rows present.
 * Readers (mb_results_load: plot, export, compare, fit, claims) merge the rounds of a point into one row over
 * the pooled samples (store/rows.c).
 */
#include "run/runner.h"
#include "store/store.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct item {
    const struct mb_kernel *k;
    struct mb_point p;
    int64_t round; /* 0-based interleaved round */
};

struct item_list {
    struct item *items;
    int64_t count, cap;
};

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once; finished points are already flushed */
}

static int same_point(const struct mb_point *a, const struct mb_point *b) {
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++)
        if (mb_point_get(a, (enum mb_axis)ax) != mb_point_get(b, (enum mb_axis)ax)) return 0;
    return strcmp(a->params, b->params) == 0;
}

/* One workload serves every kernel and thread count at the same point. */
static int same_workload(const struct mb_workload *w, const struct item *it) {
    struct mb_point a = w->point, b = it->p;
    a.threads = b.threads = 0;
    return w->family == it->k->family && same_point(&a, &b);
}

static int list_add(struct item_list *l, const struct mb_kernel *k, const struct mb_point *p) {
    for (int64_t i = 0; i < l->count; i++) /* dedupe: axes a kernel ignores are zeroed, so points can repeat */
        if (l->items[i].k == k && same_point(&l->items[i].p, p)) return 0;
    if (l->count == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        struct item *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = (struct item){k, *p, 0};
    return 0;
}

/* The expanded list (round 0) repeated as rounds 1..rounds-1 after it: all points once, then all again. */
static int repeat_rounds(struct item_list *l, int rounds) {
    if (rounds <= 1 || l->count == 0) return 0;
    struct item *grown = realloc(l->items, (size_t)(l->count * rounds) * sizeof *grown);
    if (!grown) return -1;
    l->items = grown;
    for (int r = 1; r < rounds; r++)
        for (int64_t i = 0; i < l->count; i++) {
            grown[r * l->count + i] = grown[i];
            grown[r * l->count + i].round = r;
        }
    l->count *= rounds;
    l->cap = l->count;
    return 0;
}

/* Every combination of the sweep's axis values (axes in axes.def order, the first outermost) x kernels, at most
   MB_SWEEP_MAX_POINTS in all: counted before anything is expanded (three axes of 256 values each are 16.7M
   points, whose expansion and dedupe ran for hours before one was measured). */
static int expand_sweep(const struct mb_sweep *s, struct item_list *l, char *err, size_t errlen) {
    const struct mb_kernel *kernels[512];
    int nk = mb_kernel_match(s->kernels, kernels, 512);
    if (nk == 0) return mb_errorf(err, errlen, "sweep '%s': kernels = %s matches no kernel (see mechbench list)",
                                  s->name, s->kernels);
    if (nk > 512) return mb_errorf(err, errlen, "sweep '%s': more than 512 kernels match", s->name);
    double points = nk;
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        if (s->axes[a].count) points *= s->axes[a].count;
    if ((double)l->count + points > MB_SWEEP_MAX_POINTS)
        return mb_errorf(err, errlen, "sweep '%s': %.0f points (%d kernels x the axes' values)%s, more than %d "
                         "(use fewer values or kernels, or split the experiment)", s->name, points, nk,
                         l->count ? " after the earlier sweeps' points" : "", MB_SWEEP_MAX_POINTS);
    int index[MB_AXIS_COUNT] = {0};
    do {
        struct mb_point base;
        uint64_t given;
        mb_sweep_point(s, index, &base, &given);
        for (int i = 0; i < nk; i++) {
            struct mb_point p = base;
            uint64_t declared = MB_AXIS_BIT(threads);
            for (int r = 0; r < kernels[i]->family->n_axes; r++) declared |= UINT64_C(1) << kernels[i]->family->axes[r].axis;
            for (int a = 0; a < MB_AXIS_COUNT; a++) /* axes of other families in a mixed experiment */
                if (!(declared & (UINT64_C(1) << a))) mb_point_set(&p, (enum mb_axis)a, 0);
            /* params meant for other kernels of the sweep are dropped, as axes a kernel does not read */
            if (mb_params_parse(kernels[i], s->params, MB_PARAMS_LENIENT, &p, err, errlen)) {
                char detail[MB_MESSAGE_LEN];
                snprintf(detail, sizeof detail, "%s", err);
                return mb_errorf(err, errlen, "sweep '%s': %s", s->name, detail);
            }
            mb_point_complete(kernels[i], &p, given);
            if (mb_family_validate(kernels[i]->family, &p, err, errlen)) {
                char detail[MB_MESSAGE_LEN];
                snprintf(detail, sizeof detail, "%s", err);
                return mb_errorf(err, errlen, "sweep '%s', kernel %s: %s", s->name, kernels[i]->name, detail);
            }
            if (list_add(l, kernels[i], &p)) return mb_errorf(err, errlen, "out of memory expanding the sweep");
        }
    } while (mb_sweep_next(s, index));
    return 0;
}

static int already_stored(const struct mb_row *rows, int64_t n_rows, const struct item *it) {
    for (int64_t i = 0; i < n_rows; i++)
        if (strcmp(rows[i].kernel, it->k->name) == 0 && strcmp(rows[i].source_hash, it->k->source_hash) == 0 &&
            rows[i].round == it->round && same_point(&rows[i].point, &it->p))
            return 1;
    return 0;
}

/* Last measured (flops, seconds) per kernel, for time predictions. */
struct history {
    const struct mb_kernel *k;
    double flops, seconds;
};

static double predict_seconds(const struct history *h, int nh, const struct mb_kernel *k, double flops,
                              const struct mb_run_opts *o) {
    double per_run = 0;
    for (int i = 0; i < nh; i++)
        if (h[i].k == k && h[i].flops > 0) per_run = h[i].seconds * flops / h[i].flops;
    double per_rep = per_run > o->min_time ? per_run : o->min_time;
    return o->repetitions * per_rep * 1.1 + per_run; /* + gbench's iteration estimate and the oracle check */
}

static int open_output(const struct mb_experiment *e, const struct mb_sweep_opts *so, struct mb_store **store,
                       struct mb_row **old_rows, int64_t *n_old, char *err, size_t errlen) {
    *old_rows = NULL;
    *n_old = 0;
    int exists = access(so->out, F_OK) == 0;
    if (exists && so->resume) {
        /* checked read-only first: a refused --resume leaves the file as it was (an RDWR open rewrites it) */
        if (mb_store_open(so->out, 0, store, err, errlen)) return -1;
        char isa[32]; /* files written before the attribute existed are accepted */
        if (mb_store_attr(*store, "isa", isa, sizeof isa) == 0 && isa[0] && strcmp(isa, mb_isa_name()) != 0) {
            char ignored[64];
            mb_store_close(*store, ignored, sizeof ignored);
            return mb_errorf(err, errlen, "%s was measured with isa=%s but this run uses isa=%s (set MB_ISA=%s or use "
                             "--force)", so->out, isa, mb_isa_name(), isa);
        }
        /* the rows of one file come from one experiment and seed: appending another's would mix them */
        char name[256] = "", seed[32] = "", want_seed[32];
        snprintf(want_seed, sizeof want_seed, "%llu", (unsigned long long)e->seed);
        mb_store_attr(*store, "experiment", name, sizeof name);
        mb_store_attr(*store, "seed", seed, sizeof seed);
        if (strcmp(name, e->name) != 0 || (seed[0] && strcmp(seed, want_seed) != 0)) {
            char ignored[64];
            mb_store_close(*store, ignored, sizeof ignored);
            return mb_errorf(err, errlen, "%s holds experiment '%s' (seed %s); this is '%s' (seed %s): --resume continues "
                             "the same experiment only (use another --out, or --force to replace it)", so->out, name,
                             seed[0] ? seed : "?", e->name, want_seed);
        }
        if (mb_store_close(*store, err, errlen) || mb_store_open(so->out, 1, store, err, errlen)) return -1;
        return mb_store_read_rows(*store, old_rows, n_old, err, errlen);
    }
    if (exists && !so->force)
        return mb_errorf(err, errlen, "%s exists (use --resume to continue it or --force to replace it)", so->out);
    struct mb_store_meta meta = {.experiment = e->name, .ini_text = e->ini_text ? e->ini_text : "", .seed = e->seed};
    return mb_store_create(so->out, &meta, so->force, store, err, errlen);
}

int mb_sweep_run(const struct mb_experiment *e, const struct mb_sweep_opts *so, char *err, size_t errlen) {
    struct mb_run_opts o;
    mb_run_opts_default(&o);
    o.repetitions = e->repetitions;
    o.min_time = e->min_time;
    o.seed = e->seed;
    o.check_rows = e->check_rows;
    if (e->max_mem > 0) o.max_mem = e->max_mem;
    if (so->max_mem > 0) o.max_mem = so->max_mem;
    double budget = so->budget >= 0 ? so->budget : e->budget;

    struct item_list items = {0};
    for (int s = 0; s < e->n_sweeps; s++)
        if (expand_sweep(&e->sweeps[s], &items, err, errlen)) return free(items.items), 2; /* the .ini's fault */
    if (repeat_rounds(&items, so->rounds > 0 ? so->rounds : e->rounds))
        return free(items.items), mb_errorf(err, errlen, "out of memory repeating the sweep's rounds"), 1;

    struct mb_store *store;
    struct mb_row *old_rows;
    int64_t n_old;
    if (open_output(e, so, &store, &old_rows, &n_old, err, errlen)) return free(items.items), 1;
    for (int64_t i = 0; i < items.count; i++)
        if (mb_store_add_kernel(store, items.items[i].k, err, errlen)) goto fail;

    int64_t todo = 0, done = 0, skipped_stored = 0;
    char *pending = calloc((size_t)items.count + 1, 1);
    struct history *hist = calloc((size_t)mb_n_kernels + 1, sizeof *hist);
    double *samples = calloc((size_t)o.repetitions, sizeof *samples);
    if (!pending || !hist || !samples) {
        mb_errorf(err, errlen, "out of memory");
        goto fail_alloc;
    }
    for (int64_t i = 0; i < items.count; i++) {
        pending[i] = !already_stored(old_rows, n_old, &items.items[i]);
        todo += pending[i];
    }
    skipped_stored = items.count - todo;
    struct mb_sweep_event ev = {.out = so->out, .total = items.count, .stored = skipped_stored, .todo = todo};
    if (skipped_stored && so->on_event) {
        ev.kind = MB_SWEEP_RESUMED;
        so->on_event(so->ctx, &ev);
    }

    int nh = 0;
    for (int i = 0; i < mb_n_kernels; i++) hist[nh++].k = mb_kernels[i];
    interrupted = 0;
    void (*previous)(int) = signal(SIGINT, on_sigint);
    const double t0 = mb_now();
    struct mb_workload w = {0};
    int have_workload = 0, status = 0;
    struct mb_row *finished = calloc((size_t)todo + 1, sizeof *finished);
    if (!finished) {
        mb_errorf(err, errlen, "out of memory");
        status = 1;
    }

    for (int64_t i = 0; i < items.count && !status; i++) {
        if (!pending[i]) continue;
        if (interrupted) {
            status = 130;
            break;
        }
        const struct item *it = &items.items[i];
        struct mb_row row;
        mb_row_init(&row, it->k, &it->p);
        row.round = it->round;
        int admit = mb_row_admit(&row, it->k, &o, err, errlen);
        if (admit < 0) {
            status = 1;
            break;
        }
        double elapsed = mb_now() - t0;
        if (admit == 0 && budget > 0) {
            double predicted = predict_seconds(hist, nh, it->k, row.flops, &o);
            if (elapsed + predicted > budget) {
                row.verdict = MB_SKIPPED_BUDGET;
                snprintf(row.message, sizeof row.message, "predicted %.1f s exceeds the %.1f s left of the budget",
                         predicted, budget - elapsed > 0 ? budget - elapsed : 0);
                admit = 1;
            }
        }
        if (admit == 0) {
            if (have_workload && !same_workload(&w, it)) {
                mb_workload_free(&w);
                have_workload = 0;
            }
            if (!have_workload) {
                if (mb_workload_create(&w, it->k->family, &it->p, o.seed, err, errlen)) {
                    row.verdict = MB_ERROR;
                    snprintf(row.message, sizeof row.message, "%s", err);
                } else {
                    have_workload = 1;
                }
            }
            if (have_workload) mb_measure(&row, it->k, &w, &o, samples);
            for (int h = 0; h < nh; h++)
                if (hist[h].k == it->k && row.verdict <= MB_FAIL) {
                    hist[h].flops = row.flops;
                    hist[h].seconds = row.time_median;
                }
        }
        if (mb_store_append(store, &row, err, errlen)) {
            status = 1;
            break;
        }
        row.samples = NULL;
        finished[done++] = row;
        if (so->on_event) {
            double remaining = 0;
            for (int64_t j = i + 1; j < items.count; j++)
                if (pending[j]) remaining += predict_seconds(hist, nh, items.items[j].k, mb_kernel_flops(items.items[j].k, &items.items[j].p), &o);
            ev.kind = MB_SWEEP_POINT;
            ev.done = done;
            ev.row = &finished[done - 1];
            ev.eta = remaining;
            so->on_event(so->ctx, &ev);
        }
    }
    if (have_workload) mb_workload_free(&w);
    signal(SIGINT, previous);

    free(pending);
    free(hist);
    free(samples);
    free(old_rows);
    free(items.items);
    char close_err[256];
    int close_failed = mb_store_close(store, close_err, sizeof close_err) != 0;
    if (status != 1 && so->on_event) { /* the summary: after an interruption too */
        ev.kind = MB_SWEEP_FINISHED;
        ev.done = done;
        ev.row = NULL;
        ev.rows = finished;
        ev.elapsed = mb_now() - t0;
        ev.complete = status == 0 && !close_failed;
        so->on_event(so->ctx, &ev);
    }
    free(finished);
    if (close_failed && status == 0) {
        snprintf(err, errlen, "%s", close_err);
        return 1;
    }
    if (status == 130)
        snprintf(err, errlen, "interrupted: %lld points stored in %s; rerun with --resume to finish",
                 (long long)(done + skipped_stored), so->out);
    return status;

fail_alloc:
    free(pending);
    free(hist);
    free(samples);
fail:
    free(old_rows);
    free(items.items);
    mb_store_close(store, NULL, 0);
    return 1;
}

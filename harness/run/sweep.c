/* Sweeps: expand an experiment into (kernel, point) items, skip what the results file already holds (--resume),
 * admit each item against the memory and time budgets, measure it, append and flush its row, report progress.
 *
 * Order: the cartesian product of the axes with n outermost (every kernel gets its small points first, so an
 * interrupted sweep is still useful), kernels innermost (one workload is shared by the kernels of a point).
 * Time budget: a point is skipped when its predicted wall time (the kernel's last measured point scaled by the
 * FLOP model, times the repetitions) exceeds what is left. SIGINT stops after the current point.
 *
 * Plan -> (shard) -> (largest first) -> skip stored -> admit -> executor -> sink. The executor measures admitted
 * points: here, in order (the default), or on MPI worker ranks (run/mpi_sweep.c), which return rows in any order.
 * Every row, measured or not, goes through the one sink (mb_sweep_sink_row): append + flush, the time history for
 * predictions, the progress event with its ETA (divided by the executor's parallelism). Shards: run/shard.c.
 *
 * Rounds (--rounds R, `rounds = R`): the planned list (after sharding and ordering) is measured R times, round after
 * round (A B C, A B C, ...), so ratios between kernels come from the same minutes on a machine whose speed drifts.
 * Each round of a point is its own /points row with its `round` column (0..R-1) and its own samples, appended and
 * committed as any row: an interrupted sweep keeps every finished round, and --resume skips the (kernel, point,
 * round) rows present. Readers (mb_results_load: plot, export, compare, fit, claims) merge the rounds of a point
 * into one row over the pooled samples (store/rows.c). The oracle check runs in a point's first round only: a later
 * round of it measured by the same process carries the first round's errors (same inputs, same code; a check can
 * cost more than the timing, e.g. the Mamba oracle re-scans every channel in double).
 */
#include "run/runner.h"
#include "store/rows.h"
#include "store/store.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct item_list {
    struct mb_sweep_item *items;
    int64_t count, cap;
    int64_t *slots;    /* open-addressing hash set of item indices (-1 empty), nslots a power of two > 2 count */
    uint64_t *hashes;  /* the hash of each slot's item: probes compare items only when hashes are equal */
    int64_t nslots;
};

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    interrupted = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once; finished points are already flushed */
}
int mb_sweep_interrupted(void) { return interrupted; }

static int same_point(const struct mb_point *a, const struct mb_point *b) {
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++)
        if (mb_point_get(a, (enum mb_axis)ax) != mb_point_get(b, (enum mb_axis)ax)) return 0;
    return strcmp(a->params, b->params) == 0;
}

/* One workload serves every kernel and thread count at the same point. */
static int same_workload(const struct mb_workload *w, const struct mb_sweep_item *it) {
    struct mb_point a = w->point, b = it->p;
    a.threads = b.threads = 0;
    return w->family == it->k->family && same_point(&a, &b);
}

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser: every input bit moves every output bit */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static uint64_t item_hash(const struct mb_kernel *k, const struct mb_point *p, int64_t round) {
    uint64_t h = mix64((uint64_t)(uintptr_t)k ^ ((uint64_t)round << 48));
    for (int ax = 0; ax < MB_AXIS_COUNT; ax++) {
        double v = mb_point_get(p, (enum mb_axis)ax);
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        h = mix64(h ^ bits);
    }
    for (const char *c = p->params; *c; c++) h = h * 31 + (unsigned char)*c;
    return mix64(h);
}

static int64_t *list_slot(struct item_list *l, const struct mb_kernel *k, const struct mb_point *p, int64_t round,
                          uint64_t h) {
    for (uint64_t i = h & (uint64_t)(l->nslots - 1);; i = (i + 1) & (uint64_t)(l->nslots - 1)) {
        int64_t *s = &l->slots[i];
        if (*s < 0 || (l->hashes[i] == h && l->items[*s].k == k && l->items[*s].round == round &&
                       same_point(&l->items[*s].p, p)))
            return s;
    }
}

/* Add (k, p, round) unless present: axes a kernel ignores are zeroed, so points can repeat. O(1) expected (hash
   set). */
static int list_add(struct item_list *l, const struct mb_kernel *k, const struct mb_point *p, int64_t round) {
    if (2 * (l->count + 1) >= l->nslots) {
        int64_t n = l->nslots ? 2 * l->nslots : 1024;
        int64_t *slots = malloc((size_t)n * sizeof *slots);
        uint64_t *hashes = malloc((size_t)n * sizeof *hashes);
        if (!slots || !hashes) return free(slots), free(hashes), -1;
        free(l->slots);
        free(l->hashes);
        l->slots = slots;
        l->hashes = hashes;
        l->nslots = n;
        for (int64_t i = 0; i < n; i++) slots[i] = -1;
        for (int64_t i = 0; i < l->count; i++) {
            const struct mb_sweep_item *it = &l->items[i];
            const uint64_t h = item_hash(it->k, &it->p, it->round);
            int64_t *s = list_slot(l, it->k, &it->p, it->round, h);
            *s = i;
            l->hashes[s - l->slots] = h;
        }
    }
    const uint64_t h = item_hash(k, p, round);
    int64_t *slot = list_slot(l, k, p, round, h);
    if (*slot >= 0) return 0;
    if (l->count == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        struct mb_sweep_item *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        l->items = grown;
        l->cap = cap;
    }
    *slot = l->count;
    l->hashes[slot - l->slots] = h;
    l->items[l->count++] = (struct mb_sweep_item){.k = k, .p = *p, .round = round};
    return 0;
}

static void list_free_index(struct item_list *l) {
    free(l->slots);
    free(l->hashes);
    l->slots = NULL;
    l->hashes = NULL;
    l->nslots = 0;
}

/* The planned list (round 0) repeated as rounds 1..rounds-1 after it: all points once, then all again. */
static int repeat_rounds(struct item_list *l, int rounds, char *err, size_t errlen) {
    if (rounds <= 1 || l->count == 0) return 0;
    if ((double)l->count * rounds > MB_SWEEP_MAX_POINTS)
        return mb_errorf(err, errlen, "%lld points x %d rounds are more than %d measurements (use fewer rounds or "
                         "points, or split the experiment)", (long long)l->count, rounds, MB_SWEEP_MAX_POINTS), 2;
    struct mb_sweep_item *grown = realloc(l->items, (size_t)(l->count * rounds) * sizeof *grown);
    if (!grown) return mb_errorf(err, errlen, "out of memory repeating the sweep's rounds"), 1;
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

/* The (kernel, point) items of every sweep of e, at most MB_SWEEP_MAX_POINTS in all: counted before anything is
   expanded (three axes of 256 values each are 16.7M points, whose expansion ran for hours before one was measured). */
static int count_points(const struct mb_experiment *e, char *err, size_t errlen) {
    double total = 0;
    for (int i = 0; i < e->n_sweeps; i++) {
        const struct mb_sweep *s = &e->sweeps[i];
        const struct mb_kernel *kernels[1];
        const int nk = mb_kernel_match(s->kernels, kernels, 1);
        double points = nk;
        for (int a = 0; a < MB_AXIS_COUNT; a++)
            if (s->axes[a].count) points *= s->axes[a].count;
        if (total + points > MB_SWEEP_MAX_POINTS)
            return mb_errorf(err, errlen, "sweep '%s': %.0f points (%d kernels x the axes' values)%s, more than %d "
                             "(use fewer values or kernels, or split the experiment)", s->name, points, nk,
                             total > 0 ? " after the earlier sweeps' points" : "", MB_SWEEP_MAX_POINTS);
        total += points;
    }
    return 0;
}

/* Every combination of the sweep's axis values (axes in axes.def order, the first outermost) x kernels. */
static int expand_sweep(const struct mb_sweep *s, struct item_list *l, char *err, size_t errlen) {
    const struct mb_kernel *kernels[512];
    int nk = mb_kernel_match(s->kernels, kernels, 512);
    if (nk == 0) return mb_errorf(err, errlen, "sweep '%s': kernels = %s matches no kernel (see mechbench list)",
                                  s->name, s->kernels);
    if (nk > 512) return mb_errorf(err, errlen, "sweep '%s': more than 512 kernels match", s->name);
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
            if (list_add(l, kernels[i], &p, 0)) return mb_errorf(err, errlen, "out of memory expanding the sweep");
        }
    } while (mb_sweep_next(s, index));
    return 0;
}

/* The (kernel, point)s the file holds already with the kernel's current source hash, as a hash set. A lost point
   (its worker died) is not held: --resume measures it again. Returns 0 or -1 (out of memory). */
static int stored_set(const struct mb_row *rows, int64_t n_rows, struct item_list *set) {
    for (int64_t i = 0; i < n_rows; i++) {
        const struct mb_kernel *k = mb_kernel_find(rows[i].kernel);
        if (k && strcmp(rows[i].source_hash, k->source_hash) == 0 &&
            strncmp(rows[i].message, MB_LOST_PREFIX, sizeof MB_LOST_PREFIX - 1) != 0 && list_add(set, k, &rows[i].point, rows[i].round))
            return -1;
    }
    return 0;
}

static int already_stored(struct item_list *set, const struct mb_sweep_item *it) {
    return set->count > 0 && *list_slot(set, it->k, &it->p, it->round, item_hash(it->k, &it->p, it->round)) >= 0;
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
        /* a file without one committed row holds no finished measurement: it is created again rather than repaired
           (a full disk during the first row can leave an uncommitted tail whose chunks lie past the file's end) */
        struct mb_row *committed = NULL;
        int64_t n_committed = 0;
        if (mb_store_read_rows(*store, &committed, &n_committed, err, errlen)) {
            char ignored[64];
            mb_store_close(*store, ignored, sizeof ignored);
            return -1;
        }
        free(committed);
        if (mb_store_close(*store, err, errlen)) return -1;
        if (n_committed > 0) {
            if (mb_store_open(so->out, 1, store, err, errlen)) return -1;
            return mb_store_read_rows(*store, old_rows, n_old, err, errlen);
        }
    }
    if (exists && !so->force && !so->resume)
        return mb_errorf(err, errlen, "%s exists (use --resume to continue it or --force to replace it)", so->out);
    struct mb_store_meta meta = {.experiment = e->name, .ini_text = e->ini_text ? e->ini_text : "", .seed = e->seed};
    return mb_store_create(so->out, &meta, so->force || (exists && so->resume), store, err, errlen);
}

double mb_sweep_item_cost(const struct mb_sweep_item *it, int repetitions, double min_time) {
    const double run = mb_kernel_flops(it->k, &it->p) / 1e10 + mb_kernel_bytes(it->k, &it->p) / 1e10;
    return (repetitions > 0 ? repetitions : 1) * (run > min_time ? run : min_time);
}

int mb_sweep_plan(const struct mb_experiment *e, struct mb_sweep_item **items, int64_t *count, char *err,
                  size_t errlen) {
    struct item_list l = {0};
    if (count_points(e, err, errlen)) return -1;
    for (int s = 0; s < e->n_sweeps; s++)
        if (expand_sweep(&e->sweeps[s], &l, err, errlen)) return list_free_index(&l), free(l.items), -1;
    list_free_index(&l);
    for (int64_t i = 0; i < l.count; i++) l.items[i].cost = mb_sweep_item_cost(&l.items[i], e->repetitions, e->min_time);
    *items = l.items;
    *count = l.count;
    return 0;
}

void mb_sweep_run_opts(const struct mb_experiment *e, double max_mem, struct mb_run_opts *o) {
    mb_run_opts_default(o);
    o->repetitions = e->repetitions;
    o->min_time = e->min_time;
    o->seed = e->seed;
    o->check_rows = e->check_rows;
    if (e->max_mem > 0) o->max_mem = e->max_mem;
    if (max_mem > 0) o->max_mem = max_mem;
}

/* The sweep's side of an executor: the file, the predictions, the progress. */
struct mb_sweep_sink {
    const struct mb_sweep_opts *so;
    const struct mb_run_opts *o;
    struct mb_store *store;
    const struct mb_sweep_item *items;
    int64_t count, next; /* items[next..) are not yet handed out */
    const char *pending;
    struct history *hist;
    int nh, parallel;
    struct mb_row *finished; /* rows stored in this run */
    int64_t done;
    int64_t per_round;       /* items of one round: items[r * per_round + i] is round r of item i */
    int64_t *checked;        /* by item of round 0: its measured row in finished[], or -1 */
    struct mb_sweep_event ev;
};

int mb_sweep_sink_row(struct mb_sweep_sink *sk, int64_t item, struct mb_row *row, char *err, size_t errlen) {
    const struct mb_sweep_item *it = &sk->items[item];
    for (int h = 0; h < sk->nh; h++)
        if (sk->hist[h].k == it->k && row->verdict <= MB_FAIL && row->flops > 0) {
            sk->hist[h].flops = row->flops;
            sk->hist[h].seconds = row->time_median;
        }
    if (mb_store_append(sk->store, row, err, errlen)) return -1;
    row->samples = NULL;
    if (it->round == 0 && mb_row_measured(row)) sk->checked[item % sk->per_round] = sk->done;
    sk->finished[sk->done++] = *row;
    if (sk->so->on_event) {
        double remaining = 0;
        for (int64_t j = sk->next; j < sk->count; j++)
            if (sk->pending[j])
                remaining += predict_seconds(sk->hist, sk->nh, sk->items[j].k, mb_kernel_flops(sk->items[j].k, &sk->items[j].p), sk->o);
        sk->ev.kind = MB_SWEEP_POINT;
        sk->ev.done = sk->done;
        sk->ev.row = &sk->finished[sk->done - 1];
        sk->ev.eta = remaining / (sk->parallel > 0 ? sk->parallel : 1);
        sk->so->on_event(sk->so->ctx, &sk->ev);
    }
    return 0;
}

void mb_measurer_item(struct mb_measurer *m, const struct mb_sweep_item *it, struct mb_row *row, char *err,
                      size_t errlen) {
    if (m->have_workload && !same_workload(&m->w, it)) {
        mb_workload_free(&m->w);
        m->have_workload = 0;
    }
    if (!m->have_workload) {
        if (mb_workload_create(&m->w, it->k->family, &it->p, m->o->seed, err, errlen)) {
            row->verdict = MB_ERROR;
            snprintf(row->message, sizeof row->message, "%s", err);
        } else {
            m->have_workload = 1;
        }
    }
    if (m->have_workload) mb_measure(row, it->k, &m->w, m->o, m->samples);
}

void mb_measurer_free(struct mb_measurer *m) {
    if (m->have_workload) mb_workload_free(&m->w);
    m->have_workload = 0;
}

/* The default executor: measure in this process when submitted. */
struct local_exec {
    const struct mb_sweep_item *items;
    struct mb_measurer m;
};

static int local_submit(void *ctx, struct mb_sweep_sink *sink, int64_t item, const struct mb_row *init, char *err,
                        size_t errlen) {
    struct local_exec *x = ctx;
    struct mb_row row = *init;
    mb_measurer_item(&x->m, &x->items[item], &row, err, errlen);
    return mb_sweep_sink_row(sink, item, &row, err, errlen);
}

static int local_drain(void *ctx, struct mb_sweep_sink *sink, int stopped, char *err, size_t errlen) {
    (void)ctx, (void)sink, (void)stopped, (void)err, (void)errlen;
    return 0;
}

int mb_sweep_run(const struct mb_experiment *e, const struct mb_sweep_opts *so, char *err, size_t errlen) {
    struct mb_run_opts o;
    mb_sweep_run_opts(e, so->max_mem, &o);
    double budget = so->budget >= 0 ? so->budget : e->budget;

    struct item_list items = {0};
    if (mb_sweep_plan(e, &items.items, &items.count, err, errlen)) return 2; /* the .ini's fault (or out of memory) */
    if (so->n_shards > 1 && mb_shard_select(items.items, &items.count, so->shard, so->n_shards, err, errlen))
        return free(items.items), 1;
    if (so->largest_first && mb_sweep_sort_largest_first(items.items, items.count))
        return free(items.items), mb_errorf(err, errlen, "out of memory"), 1;
    const int64_t per_round = items.count;
    int rounds_rc = repeat_rounds(&items, so->rounds > 0 ? so->rounds : e->rounds, err, errlen);
    if (rounds_rc) return free(items.items), rounds_rc;

    struct mb_store *store;
    struct mb_row *old_rows;
    int64_t n_old;
    if (open_output(e, so, &store, &old_rows, &n_old, err, errlen)) return free(items.items), 1;
    for (int64_t i = 0; i < items.count; i++)
        if (mb_store_add_kernel(store, items.items[i].k, err, errlen)) goto fail;
    if (so->on_file) so->on_file(so->file_ctx, store);

    int64_t todo = 0, skipped_stored = 0;
    char *pending = calloc((size_t)items.count + 1, 1);
    struct history *hist = calloc((size_t)mb_n_kernels + 1, sizeof *hist);
    double *samples = calloc((size_t)o.repetitions, sizeof *samples);
    if (!pending || !hist || !samples) {
        mb_errorf(err, errlen, "out of memory");
        goto fail_alloc;
    }
    struct item_list stored = {0};
    if (stored_set(old_rows, n_old, &stored)) {
        list_free_index(&stored), free(stored.items);
        mb_errorf(err, errlen, "out of memory");
        goto fail_alloc;
    }
    for (int64_t i = 0; i < items.count; i++) {
        pending[i] = !already_stored(&stored, &items.items[i]);
        todo += pending[i];
    }
    list_free_index(&stored);
    free(stored.items);
    skipped_stored = items.count - todo;
    struct local_exec local = {.items = items.items, .m = {.o = &o, .samples = samples}};
    const struct mb_sweep_exec local_exec = {.ctx = &local, .parallel = 1, .submit = local_submit, .drain = local_drain};
    const struct mb_sweep_exec *x = so->exec ? so->exec : &local_exec;
    struct mb_sweep_sink sk = {.so = so, .o = &o, .store = store, .items = items.items, .count = items.count,
                               .pending = pending, .hist = hist, .parallel = x->parallel,
                               .ev = {.out = so->out, .total = items.count, .stored = skipped_stored, .todo = todo}};
    if (skipped_stored && so->on_event) {
        sk.ev.kind = MB_SWEEP_RESUMED;
        so->on_event(so->ctx, &sk.ev);
    }

    for (int i = 0; i < mb_n_kernels; i++) hist[sk.nh++].k = mb_kernels[i];
    interrupted = 0;
    void (*previous)(int) = signal(SIGINT, on_sigint);
    void (*previous_term)(int) = so->stop_on_sigterm ? signal(SIGTERM, on_sigint) : SIG_DFL;
    const double t0 = mb_now();
    int status = 0;
    sk.finished = calloc((size_t)todo + 1, sizeof *sk.finished);
    sk.per_round = per_round > 0 ? per_round : 1;
    sk.checked = malloc((size_t)sk.per_round * sizeof *sk.checked);
    for (int64_t i = 0; sk.checked && i < sk.per_round; i++) sk.checked[i] = -1;
    if (!sk.finished || !sk.checked) {
        mb_errorf(err, errlen, "out of memory");
        status = 1;
    }

    for (int64_t i = 0; i < items.count && !status; i++) {
        if (!pending[i]) continue;
        if (interrupted) {
            status = 130;
            break;
        }
        sk.next = i + 1;
        const struct mb_sweep_item *it = &items.items[i];
        struct mb_row row;
        mb_row_init(&row, it->k, &it->p);
        row.round = it->round;
        const int64_t first = it->round > 0 ? sk.checked[i % sk.per_round] : -1;
        if (first >= 0) { /* checked in round 0 (see the top of this file) */
            row.own = sk.finished[first].own;
            row.exact = sk.finished[first].exact;
            row.task_score = sk.finished[first].task_score;
        }
        int admit = mb_row_admit(&row, it->k, &o, err, errlen);
        if (admit < 0) {
            status = 1;
            break;
        }
        double elapsed = mb_now() - t0;
        if (admit == 0 && budget > 0) {
            double predicted = predict_seconds(hist, sk.nh, it->k, row.flops, &o);
            if (elapsed + predicted > budget) {
                row.verdict = MB_SKIPPED_BUDGET;
                snprintf(row.message, sizeof row.message, "predicted %.1f s exceeds the %.1f s left of the budget",
                         predicted, budget - elapsed > 0 ? budget - elapsed : 0);
                admit = 1;
            }
        }
        int rc = admit == 0 ? x->submit(x->ctx, &sk, i, &row, err, errlen) : mb_sweep_sink_row(&sk, i, &row, err, errlen);
        if (rc) status = 1;
    }
    if (status != 1 && x->drain(x->ctx, &sk, interrupted, err, errlen)) status = 1;
    if (status == 0 && interrupted) status = 130;
    mb_measurer_free(&local.m);
    signal(SIGINT, previous);
    if (so->stop_on_sigterm) signal(SIGTERM, previous_term);

    free(pending);
    free(hist);
    free(samples);
    free(old_rows);
    free(items.items);
    char close_err[256];
    int close_failed = mb_store_close(store, close_err, sizeof close_err) != 0;
    if (status != 1 && so->on_event) { /* the summary: after an interruption too */
        sk.ev.kind = MB_SWEEP_FINISHED;
        sk.ev.done = sk.done;
        sk.ev.row = NULL;
        sk.ev.rows = sk.finished;
        sk.ev.elapsed = mb_now() - t0;
        sk.ev.complete = status == 0 && !close_failed;
        so->on_event(so->ctx, &sk.ev);
    }
    free(sk.finished);
    free(sk.checked);
    if (close_failed && status == 0) {
        snprintf(err, errlen, "%s", close_err);
        return 1;
    }
    if (status == 130)
        snprintf(err, errlen, "interrupted: %lld points stored in %s; rerun with --resume to finish",
                 (long long)(sk.done + skipped_stored), so->out);
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

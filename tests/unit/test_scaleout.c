/* Scale-out planning: shards partition a sweep deterministically and in balance (run/shard.c), and a simulated
 * 100,000-point sweep over 64 ranks: planning time, modelled max/mean load per rank, rank 0's row-write
 * throughput (printed with cr_log_info; times are reported, never asserted). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/experiment.h"
#include "run/runner.h"
#include "store/store.h"

static const char *const big_ini =
    "[experiment]\nname = scale\nkernels = attention.softmax.naive, attention.linear.elu\nrepetitions = 3\n"
    "min_time = 0.01\n[axes]\nn = 16:8192:x2\nd = 1:250:+1\nheads = 1:20:+1\nbatch = 1\nthreads = 1\n";
static const char *const small_ini =
    "[experiment]\nname = small\nkernels = attention.softmax.naive, attention.linear.elu, attention.softmax.flash\n"
    "repetitions = 2\nmin_time = 0.001\n[axes]\nn = 16:4096:x2\nd = 16, 64\nheads = 1, 4\nbatch = 1\nthreads = 1, 2\n";

static struct mb_experiment *load(const char *text) {
    struct mb_experiment *e = calloc(1, sizeof *e);
    char err[512];
    cr_assert_eq(mb_experiment_parse(text, "test.ini", e, err, sizeof err), 0, "%s", err);
    return e;
}

static void plan(const struct mb_experiment *e, struct mb_sweep_item **items, int64_t *n) {
    char err[512];
    cr_assert_eq(mb_sweep_plan(e, items, n, err, sizeof err), 0, "%s", err);
}

Test(scaleout, shards_partition_the_plan_once_each_and_balanced) {
    struct mb_experiment *e = load(small_ini);
    struct mb_sweep_item *all;
    int64_t n;
    plan(e, &all, &n);
    cr_assert_gt(n, 50);
    for (int shards = 1; shards <= 5; shards++) {
        int *seen = calloc((size_t)n, sizeof *seen);
        double total = 0, max = 0;
        for (int s = 1; s <= shards; s++) {
            struct mb_sweep_item *part = malloc((size_t)n * sizeof *part);
            memcpy(part, all, (size_t)n * sizeof *part);
            int64_t m = n;
            char err[256];
            cr_assert_eq(mb_shard_select(part, &m, s, shards, err, sizeof err), 0, "%s", err);
            double load = 0;
            for (int64_t i = 0, j = 0; i < m; i++) { /* a subsequence of the plan, in plan order */
                while (j < n && memcmp(&all[j], &part[i], sizeof *part) != 0) j++;
                cr_assert_lt(j, n, "shard %d/%d: item %lld out of plan order", s, shards, (long long)i);
                seen[j]++;
                load += part[i].cost;
            }
            total += load;
            if (load > max) max = load;
            free(part);
        }
        for (int64_t i = 0; i < n; i++) cr_assert_eq(seen[i], 1, "%d shards: item %lld in %d shards", shards, (long long)i, seen[i]);
        double largest = 0;
        for (int64_t i = 0; i < n; i++) largest = all[i].cost > largest ? all[i].cost : largest;
        /* list scheduling: the last item went to the least-loaded shard, so max <= mean + the largest item */
        cr_assert_leq(max, total / shards + largest * (1 + 1e-12), "%d shards: max %g, mean %g", shards, max,
                      total / shards);
        free(seen);
    }
    char err[256];
    int64_t m = n;
    cr_assert_eq(mb_shard_select(all, &m, 3, 2, err, sizeof err), -1);
    cr_assert(strstr(err, "shard 3/2: expected i/N with 1 <= i <= N"), "%s", err);
    free(all);
    mb_experiment_free(e);
    free(e);
}

Test(scaleout, largest_first_is_a_stable_decreasing_order) {
    struct mb_experiment *e = load(small_ini);
    struct mb_sweep_item *items;
    int64_t n;
    plan(e, &items, &n);
    cr_assert_eq(mb_sweep_sort_largest_first(items, n), 0);
    for (int64_t i = 1; i < n; i++) cr_assert_geq(items[i - 1].cost, items[i].cost, "item %lld", (long long)i);
    free(items);
    mb_experiment_free(e);
    free(e);
}

Test(scaleout, simulated_100k_points_over_64_ranks, .timeout = 600) {
    struct mb_experiment *e = load(big_ini);
    struct mb_sweep_item *items;
    int64_t n;
    double t0 = mb_now();
    plan(e, &items, &n);
    cr_assert_eq(mb_sweep_sort_largest_first(items, n), 0);
    const double t_plan = mb_now() - t0;
    cr_assert_eq(n, 100000, "%lld points", (long long)n);
    double loads[64], total = 0, max = 0;
    t0 = mb_now();
    cr_assert_eq(mb_shard_loads(items, n, 64, loads), 0);
    const double t_deal = mb_now() - t0;
    for (int r = 0; r < 64; r++) {
        total += loads[r];
        if (loads[r] > max) max = loads[r];
    }
    const double mean = total / 64;
    cr_assert_lt(max / mean, 1.01, "modelled max/mean load %.4f", max / mean); /* LPT: max <= mean + one item */

    /* rank 0's write path: append + flush per row, as rows come back from workers */
    char dir[] = "/tmp/mb_scale_XXXXXX", path[64], err[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/rows.h5", dir);
    struct mb_store_meta meta = {.experiment = "scale", .ini_text = big_ini, .seed = 42};
    struct mb_store *s;
    cr_assert_eq(mb_store_create(path, &meta, 0, &s, err, sizeof err), 0, "%s", err);
    const int rows = 2000;
    double samples[3] = {1e-3, 1.1e-3, 0.9e-3};
    t0 = mb_now();
    for (int i = 0; i < rows; i++) {
        struct mb_row row;
        mb_row_init(&row, items[i].k, &items[i].p);
        row.verdict = MB_PASS;
        row.samples = samples;
        row.n_samples = 3;
        cr_assert_eq(mb_store_append(s, &row, err, sizeof err), 0, "%s", err);
    }
    const double t_write = mb_now() - t0;
    cr_assert_eq(mb_store_close(s, err, sizeof err), 0, "%s", err);
    unlink(path);
    rmdir(dir);
    cr_log_info("scale: plan of %lld points (expand, dedupe, cost, largest-first sort) %.3f s; deal over 64 ranks "
                "%.3f s; modelled load per rank max/mean = %.4f (mean %.1f s); rank 0 writes %.0f rows/s (append + "
                "flush each, 3 samples per row) -> 100k rows take %.0f s of rank 0",
                (long long)n, t_plan, t_deal, max / mean, mean, rows / t_write, n / (rows / t_write));
    free(items);
    mb_experiment_free(e);
    free(e);
}

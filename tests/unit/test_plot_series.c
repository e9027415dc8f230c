/* Grouping rows into plot series: varying axes, series keys and labels, sorting and de-duplication by x. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/panels.h"
#include "store/rows.h"

static struct mb_row rows[16];
static const struct mb_row *ptrs[16];
static int n_rows;

static struct mb_row *add(const char *kernel, int64_t n, int64_t causal, int64_t threads, int64_t rank,
                          double median) {
    struct mb_row *r = &rows[n_rows];
    memset(r, 0, sizeof *r);
    r->point_id = n_rows;
    snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
    r->point.n = n;
    r->point.d = 64;
    r->point.causal = causal;
    r->point.threads = threads;
    r->point.rank = rank;
    r->time_median = median;
    r->verdict = MB_PASS;
    ptrs[n_rows] = r;
    n_rows++;
    return r;
}

static void reset(void) { n_rows = 0; }

TestSuite(series, .init = reset);

Test(series, measured_verdicts) {
    struct mb_row r = {0};
    r.verdict = MB_PASS;
    cr_assert(mb_row_measured(&r));
    r.verdict = MB_FAIL;
    cr_assert(mb_row_measured(&r));
    r.verdict = MB_UNSUPPORTED;
    cr_assert_not(mb_row_measured(&r));
    r.verdict = MB_SKIPPED_BUDGET;
    cr_assert_not(mb_row_measured(&r));
    r.verdict = MB_ERROR;
    cr_assert_not(mb_row_measured(&r));
}

Test(series, varying_axes) {
    add("a", 128, 0, 1, 0, 1);
    add("a", 256, 1, 1, 0, 1);
    add("b", 128, 0, 1, 0, 1);
    int pv = -1;
    uint64_t v = mb_rows_varying(ptrs, n_rows, &pv);
    cr_assert_eq(v, MB_AXIS_BIT(n) | MB_AXIS_BIT(causal));
    cr_assert_eq(pv, 0);
    snprintf(rows[2].point.params, sizeof rows[2].point.params, "k=1");
    mb_rows_varying(ptrs, n_rows, &pv);
    cr_assert_eq(pv, 1);
    cr_assert_eq(mb_rows_varying(ptrs, 1, NULL), 0, "one row varies nothing");
}

Test(series, key_keeps_bool_zero_skips_other_zero) {
    struct mb_point p = {0};
    p.causal = 0;
    p.threads = 2;
    p.rank = 0;
    p.eps = 0.5;
    char buf[128];
    mb_series_key(&p, MB_AXIS_BIT(causal) | MB_AXIS_BIT(threads) | MB_AXIS_BIT(rank) | MB_AXIS_BIT(eps), 0, buf,
                  sizeof buf);
    cr_assert_str_eq(buf, "causal=0 threads=2 eps=0.5");
    snprintf(p.params, sizeof p.params, "x=1");
    mb_series_key(&p, MB_AXIS_BIT(threads), 1, buf, sizeof buf);
    cr_assert_str_eq(buf, "threads=2 x=1");
    mb_series_key(&p, 0, 0, buf, sizeof buf);
    cr_assert_str_eq(buf, "");
}

Test(series, group_by_kernel_and_varying_axes_sorted_by_x) {
    add("attention.softmax.naive", 512, 0, 2, 0, 3);
    add("attention.softmax.naive", 128, 0, 2, 0, 1);
    add("attention.linear.elu", 128, 1, 1, 0, 4);
    add("attention.softmax.naive", 256, 0, 2, 0, 2);
    add("attention.linear.elu", 128, 0, 1, 0, 5);
    add("attention.softmax.naive", 128, 0, 1, 0, 6);
    uint64_t vary = mb_rows_varying(ptrs, n_rows, NULL);
    struct mb_series_set set;
    char err[128];
    cr_assert_eq(mb_series_group(ptrs, n_rows, MB_AXIS_n, vary, 0, &set, err, sizeof err), 0);
    cr_assert_eq(set.key_mask, MB_AXIS_BIT(causal) | MB_AXIS_BIT(threads), "x is never part of the key");
    cr_assert_eq(set.count, 4);
    /* sorted by kernel name, then by the key axes */
    cr_assert_str_eq(set.series[0].label, "attention.linear.elu causal=0 threads=1");
    cr_assert_str_eq(set.series[1].label, "attention.linear.elu causal=1 threads=1");
    cr_assert_str_eq(set.series[2].label, "attention.softmax.naive causal=0 threads=1");
    cr_assert_str_eq(set.series[3].label, "attention.softmax.naive causal=0 threads=2");
    const struct mb_series *s = &set.series[3];
    cr_assert_eq(s->count, 3);
    cr_assert_eq(s->rows[0]->point.n, 128);
    cr_assert_eq(s->rows[1]->point.n, 256);
    cr_assert_eq(s->rows[2]->point.n, 512);
    cr_assert_str_eq(s->kernel, "attention.softmax.naive");
    cr_assert_str_eq(s->key, "causal=0 threads=2");
    mb_series_free(&set);
    cr_assert_eq(set.count, 0);
}

Test(series, constant_axes_stay_out_of_labels_rank_stays_in) {
    add("attention.linformer", 128, 0, 1, 64, 1);
    add("attention.linformer", 256, 0, 1, 64, 2);
    add("attention.softmax.naive", 128, 0, 1, 0, 1);
    add("attention.softmax.naive", 256, 0, 1, 0, 3);
    struct mb_series_set set;
    char err[128];
    cr_assert_eq(mb_series_group(ptrs, n_rows, MB_AXIS_n, mb_rows_varying(ptrs, n_rows, NULL), 0, &set, err,
                                 sizeof err), 0);
    cr_assert_eq(set.count, 2);
    cr_assert_str_eq(set.series[0].label, "attention.linformer rank=64");
    cr_assert_str_eq(set.series[1].label, "attention.softmax.naive");
    mb_series_free(&set);
}

Test(series, repeated_x_keeps_the_last_row) {
    add("k", 128, 0, 1, 0, 1);
    add("k", 256, 0, 1, 0, 2);
    add("k", 128, 0, 1, 0, 9); /* re-measured later (resume) */
    struct mb_series_set set;
    char err[128];
    cr_assert_eq(mb_series_group(ptrs, n_rows, MB_AXIS_n, MB_AXIS_BIT(n), 0, &set, err, sizeof err), 0);
    cr_assert_eq(set.count, 1);
    cr_assert_eq(set.series[0].count, 2);
    cr_assert_eq(set.series[0].rows[0]->time_median, 9);
    cr_assert_eq(set.series[0].rows[1]->time_median, 2);
    mb_series_free(&set);
}

Test(series, params_split_series_when_they_vary) {
    add("k", 128, 0, 1, 0, 1);
    add("k", 128, 0, 1, 0, 2);
    snprintf(rows[1].point.params, sizeof rows[1].point.params, "mode=fast");
    int pv;
    uint64_t vary = mb_rows_varying(ptrs, n_rows, &pv);
    struct mb_series_set set;
    char err[128];
    cr_assert_eq(mb_series_group(ptrs, n_rows, MB_AXIS_n, vary, pv, &set, err, sizeof err), 0);
    cr_assert_eq(set.count, 2);
    cr_assert_str_eq(set.series[0].label, "k");
    cr_assert_str_eq(set.series[1].label, "k mode=fast");
    mb_series_free(&set);
}

Test(series, empty_input) {
    struct mb_series_set set;
    char err[128];
    cr_assert_eq(mb_series_group(ptrs, 0, MB_AXIS_n, 0, 0, &set, err, sizeof err), 0);
    cr_assert_eq(set.count, 0);
    mb_series_free(&set);
}

Test(series, labels_keep_only_the_params_that_differ) {
    add("k", 128, 0, 1, 0, 1);
    add("k", 128, 0, 1, 0, 2);
    add("other", 128, 0, 1, 0, 3);
    snprintf(rows[0].point.params, sizeof rows[0].point.params, "act=relu;m=1;size=none");
    snprintf(rows[1].point.params, sizeof rows[1].point.params, "act=relu;m=2;size=none");
    snprintf(rows[2].point.params, sizeof rows[2].point.params, "m=2;stride=0");
    int pv;
    uint64_t vary = mb_rows_varying(ptrs, n_rows, &pv);
    struct mb_series_set set;
    char err[128];
    cr_assert_eq(mb_series_group(ptrs, n_rows, MB_AXIS_n, vary, pv, &set, err, sizeof err), 0);
    cr_assert_eq(set.count, 3);
    cr_assert_str_eq(set.series[0].label, "k m=1");
    cr_assert_str_eq(set.series[1].label, "k m=2");
    cr_assert_str_eq(set.series[2].label, "other m=2");
    mb_series_free(&set);
}

/* ---------------------------------------------------------------------------------------------- small multiples */
Test(panels, twelve_series_split_by_d_with_one_style_per_label) {
    const char *kernels[12], *keys[12];
    static const char *const ks[3] = {"d=32 threads=1", "d=64 threads=1", "d=128 threads=1"};
    static const char *const ks2[3] = {"d=32 threads=2", "d=64 threads=2", "d=128 threads=2"};
    for (int i = 0; i < 12; i++) {
        kernels[i] = i < 6 ? "attention.softmax.naive" : "attention.linear.elu";
        keys[i] = (i % 2 ? ks2 : ks)[(i / 2) % 3];
    }
    struct mb_panels *p = mb_panels_make(12, kernels, keys);
    cr_assert_not_null(p);
    cr_assert_eq(p->n_panels, 3, "one panel per d, got %d", p->n_panels);
    cr_assert_eq(p->cols, 3);
    for (int i = 0; i < 12; i++) {
        int per = 0;
        for (int j = 0; j < 12; j++) per += p->panel[j] == p->panel[i];
        cr_assert_eq(per, 4);
        cr_assert(strstr(p->title[p->panel[i]], "d="), "title '%s'", p->title[p->panel[i]]);
        cr_assert_null(strstr(p->label[i], "d="), "the panel says d, not the legend: '%s'", p->label[i]);
    }
    /* the same kernel and threads keep one style in every panel; different ones differ */
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 12; j++)
            cr_assert_eq(p->style[i] == p->style[j], strcmp(p->label[i], p->label[j]) == 0);
    mb_panels_free(p);
}

Test(panels, eighteen_kernels_grouped_by_family_at_most_six) {
    static const char *const names[18] = {
        "attention.efficient", "attention.efficient_scaling", "attention.linear.cos", "attention.linear.elu",
        "attention.linear.elu_chunked", "attention.linear.elu_rnn", "attention.linformer", "attention.performer",
        "attention.reformer_lsh", "attention.softmax.decode", "attention.softmax.flash", "attention.softmax.naive",
        "attention.sparse.atrous", "attention.sparse.fixed", "attention.sparse.local", "attention.sparse.strided",
        "attention.sparse.topk", "attention.taylor"};
    const char *keys[18];
    for (int i = 0; i < 18; i++) keys[i] = "";
    struct mb_panels *p = mb_panels_make(18, names, keys);
    cr_assert_not_null(p);
    cr_assert_geq(p->n_panels, 3);
    for (int q = 0; q < p->n_panels; q++) {
        int per = 0;
        for (int i = 0; i < 18; i++) per += p->panel[i] == q;
        cr_assert(per >= 1 && per <= MB_PANEL_SERIES, "panel %d has %d series", q, per);
    }
    cr_assert_eq(p->panel[12], p->panel[16], "the sparse kernels share a panel");
    /* 18 distinct styles: no two series look alike */
    char seen[18][64];
    for (int i = 0; i < 18; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        mb_plot_style(f, p->style[i], 0);
        fclose(f);
        snprintf(seen[i], sizeof seen[i], "%s", buf);
        free(buf);
        for (int j = 0; j < i; j++) cr_assert_str_neq(seen[i], seen[j]);
    }
    mb_panels_free(p);
}

Test(panels, few_series_stay_in_one_panel) {
    const char *kernels[3] = {"a.x", "a.y", "b.z"}, *keys[3] = {"d=64", "d=64", "d=128"};
    struct mb_panels *p = mb_panels_make(3, kernels, keys);
    cr_assert_eq(p->n_panels, 1);
    cr_assert_str_eq(p->label[2], "b.z d=128");
    mb_panels_free(p);
}

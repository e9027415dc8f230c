/* HDF5 results store (harness/store.c) and provenance (harness/provenance.c).
 *
 * Every test runs in its own mkdtemp directory (fixture), removed afterwards. Files that the store must reject
 * or tolerate (foreign, truncated, older schema without some axis columns, newer schema) are built by hand with
 * the HDF5 API. The crash test forks a writer and kills it with SIGKILL in the middle of its appends.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/provenance.h"
#include "store/store.h"

/* ---------------------------------------------------------------------------------------------- fixture */
static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/mb_store_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_dir(void) { nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

TestSuite(store, .init = make_dir, .fini = remove_dir);

static const char *in_dir(const char *name) {
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

/* ---------------------------------------------------------------------------------------------- rows */
/* A row where every stored field has a value derived from i and distinct from the other fields. */
static void fill_row(struct mb_row *r, int i, double *samples, int n_samples) {
    memset(r, 0, sizeof *r);
    snprintf(r->kernel, sizeof r->kernel, "attention.softmax.impl%d", i);
    snprintf(r->family, sizeof r->family, "family%d", i);
    snprintf(r->source_hash, sizeof r->source_hash, "%016x", 0xabc000u + (unsigned)i);
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        mb_point_set(&r->point, (enum mb_axis)a, mb_axes[a].kind == MB_REAL ? 0.25 + a + 100.0 * i : 1 + a + 100 * i);
    snprintf(r->point.params, sizeof r->point.params, "mode=%d;tag=x", i);
    r->iterations = 1000 + i;
    r->repetitions = 2000 + i;
    double base = 1.0 + i;
    double *f[] = {&r->time_mean, &r->time_median, &r->time_min, &r->time_max, &r->time_stddev, &r->time_cv,
                   &r->flops, &r->bytes, &r->gflops, &r->gbps, &r->workspace_bytes, &r->input_bytes,
                   &r->own.max_abs, &r->own.rel_l2, &r->own.nmse, &r->exact.max_abs, &r->exact.rel_l2,
                   &r->exact.nmse, &r->tolerance, &r->started, &r->items, &r->items_per_second};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) *f[k] = base * 1e-3 + (double)k * 0.125;
    r->own.checked = 3000 + i;
    r->exact.checked = 4000 + i;
    r->verdict = (enum mb_verdict)(i % MB_VERDICT_COUNT);
    snprintf(r->message, sizeof r->message, "message of row %d", i);
    snprintf(r->items_unit, sizeof r->items_unit, "unit%d", i);
    for (int k = 0; k < n_samples; k++) samples[k] = 1e-3 * i + 1e-6 * k;
    r->n_samples = n_samples;
    r->samples = samples;
}

static void assert_row_eq(const struct mb_row *got, const struct mb_row *want) {
    cr_assert_eq(got->point_id, want->point_id);
    cr_assert_str_eq(got->kernel, want->kernel);
    cr_assert_str_eq(got->family, want->family);
    cr_assert_str_eq(got->source_hash, want->source_hash);
    for (int a = 0; a < MB_AXIS_COUNT; a++)
        cr_assert_eq(mb_point_get(&got->point, (enum mb_axis)a), mb_point_get(&want->point, (enum mb_axis)a),
                     "axis %s", mb_axes[a].name);
    cr_assert_str_eq(got->point.params, want->point.params);
    cr_assert_eq(got->iterations, want->iterations);
    cr_assert_eq(got->repetitions, want->repetitions);
    cr_assert_eq(got->time_mean, want->time_mean);
    cr_assert_eq(got->time_median, want->time_median);
    cr_assert_eq(got->time_min, want->time_min);
    cr_assert_eq(got->time_max, want->time_max);
    cr_assert_eq(got->time_stddev, want->time_stddev);
    cr_assert_eq(got->time_cv, want->time_cv);
    cr_assert_eq(got->flops, want->flops);
    cr_assert_eq(got->bytes, want->bytes);
    cr_assert_eq(got->gflops, want->gflops);
    cr_assert_eq(got->gbps, want->gbps);
    cr_assert_eq(got->workspace_bytes, want->workspace_bytes);
    cr_assert_eq(got->input_bytes, want->input_bytes);
    cr_assert_eq(got->items, want->items);
    cr_assert_eq(got->items_per_second, want->items_per_second);
    cr_assert_str_eq(got->items_unit, want->items_unit);
    cr_assert_eq(got->own.max_abs, want->own.max_abs);
    cr_assert_eq(got->own.rel_l2, want->own.rel_l2);
    cr_assert_eq(got->own.nmse, want->own.nmse);
    cr_assert_eq(got->own.checked, want->own.checked);
    cr_assert_eq(got->exact.max_abs, want->exact.max_abs);
    cr_assert_eq(got->exact.rel_l2, want->exact.rel_l2);
    cr_assert_eq(got->exact.nmse, want->exact.nmse);
    cr_assert_eq(got->exact.checked, want->exact.checked);
    cr_assert_eq(got->tolerance, want->tolerance);
    cr_assert_eq(got->verdict, want->verdict);
    cr_assert_str_eq(got->message, want->message);
    cr_assert_eq(got->started, want->started);
    cr_assert_null(got->samples);
}

static struct mb_store *create_store(const char *path) {
    struct mb_store_meta meta = {.experiment = "unit", .ini_text = "[sweep]\nkernels = *\n", .seed = 1234567890123ULL};
    struct mb_store *s = NULL;
    char err[512];
    cr_assert_eq(mb_store_create(path, &meta, 0, &s, err, sizeof err), 0, "%s", err);
    return s;
}

static void close_store(struct mb_store *s) {
    char err[512];
    cr_assert_eq(mb_store_close(s, err, sizeof err), 0, "%s", err);
}

/* ---------------------------------------------------------------------------------------------- round trip */
Test(store, rows_round_trip_every_field) {
    const char *path = in_dir("r.h5");
    struct mb_store *s = create_store(path);
    char err[512];
    struct mb_row want[4];
    double samples[4][8];
    for (int i = 0; i < 4; i++) {
        fill_row(&want[i], i, samples[i], 3 + i);
        want[i].point_id = 99; /* set by append */
        cr_assert_eq(mb_store_append(s, &want[i], err, sizeof err), 0, "%s", err);
        cr_assert_eq(want[i].point_id, i);
    }
    close_store(s);

    cr_assert_eq(mb_store_open(path, 0, &s, err, sizeof err), 0, "%s", err);
    struct mb_row *rows;
    int64_t n;
    cr_assert_eq(mb_store_read_rows(s, &rows, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++) assert_row_eq(&rows[i], &want[i]);
    free(rows);
    close_store(s);
}

Test(store, samples_are_linked_by_point_id) {
    const char *path = in_dir("s.h5");
    struct mb_store *s = create_store(path);
    char err[512];
    int counts[3] = {3, 0, 5};
    double samples[3][8];
    for (int i = 0; i < 3; i++) {
        struct mb_row r;
        fill_row(&r, i, samples[i], counts[i]);
        cr_assert_eq(mb_store_append(s, &r, err, sizeof err), 0, "%s", err);
    }
    for (int i = 0; i < 3; i++) {
        double *got;
        int c;
        cr_assert_eq(mb_store_read_samples(s, i, &got, &c, err, sizeof err), 0, "%s", err);
        cr_assert_eq(c, counts[i]);
        for (int k = 0; k < c; k++) cr_assert_eq(got[k], samples[i][k]);
        free(got);
    }
    close_store(s);

    /* h5py-style access: the repetition index is stored too */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hsize_t nrec, nfields;
    cr_assert_geq(H5TBget_table_info(f, "samples", &nfields, &nrec), 0);
    cr_assert_eq(nrec, 8);
    cr_assert_eq(nfields, 3);
    H5Fclose(f);
}

Test(store, attributes_and_provenance) {
    const char *path = in_dir("a.h5");
    close_store(create_store(path));
    struct mb_store *s;
    char err[512], buf[4096];
    cr_assert_eq(mb_store_open(path, 0, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_store_attr(s, "tool", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "mechbench");
    cr_assert_eq(mb_store_attr(s, "experiment", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "unit");
    cr_assert_eq(mb_store_attr(s, "ini", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "[sweep]\nkernels = *\n");
    cr_assert_eq(mb_store_attr(s, "schema_version", buf, sizeof buf), 0);
    char version[16];
    snprintf(version, sizeof version, "%d", MB_SCHEMA_VERSION);
    cr_assert_str_eq(buf, version);
    cr_assert_eq(mb_store_attr(s, "seed", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "1234567890123");
    cr_assert_eq(mb_store_attr(s, "created", buf, sizeof buf), 0);
    cr_assert_eq(strlen(buf), 20, "created = '%s'", buf);
    cr_assert_eq(buf[19], 'Z');
    cr_assert_eq(mb_store_attr(s, "hdf5_version", buf, sizeof buf), 0);
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    char want[64];
    snprintf(want, sizeof want, "%u.%u.%u", maj, min, rel);
    cr_assert_str_eq(buf, want);
    cr_assert_eq(mb_store_attr(s, "cores", buf, sizeof buf), 0);
    cr_assert_gt(atoi(buf), 0);
    const char *keys[] = {"git_commit", "host", "cpu_model", "cpu_flags", "omp_max_threads", "omp_num_threads",
                          "omp_proc_bind", "omp_places", "compiler", "cflags", "benchmark_version",
                          "openblas_config", "openblas_coretype"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cr_assert_eq(mb_store_attr(s, keys[i], buf, sizeof buf), 0, "%s", keys[i]);
        cr_assert_gt(strlen(buf), 0, "%s", keys[i]);
    }
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    cr_assert_eq(mb_store_attr(s, "openblas_coretype", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, coretype && *coretype ? coretype : "unset");
    cr_assert_eq(mb_store_attr(s, "no_such_attribute", buf, sizeof buf), -1);
    cr_assert_str_eq(buf, "");
    close_store(s);
}

Test(store, provenance_lines) {
    struct mb_provenance *p = malloc(sizeof *p);
    mb_provenance_collect(p);
    cr_assert_str_eq(mb_provenance_get(p, "tool"), "mechbench");
    cr_assert_not_null(mb_provenance_get(p, "openblas_config"));
    cr_assert_null(mb_provenance_get(p, "nope"));
    free(p);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    mb_provenance_print(out);
    fclose(out);
    cr_assert_not_null(strstr(text, "tool: mechbench\n"));
    cr_assert_not_null(strstr(text, "\nhdf5_version: 1."));
    cr_assert_not_null(strstr(text, "\ngit_commit: "));
    free(text);
}

/* ---------------------------------------------------------------------------------------------- kernels */
struct kernel_view {
    char name[64], hash[17], approximates[48], oracle[48];
    int exact;
};

static int read_kernels(const char *path, struct kernel_view *out, int max) {
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(struct kernel_view));
    const char *names[] = {"name", "source_hash", "approximates", "oracle"};
    size_t offs[] = {offsetof(struct kernel_view, name), offsetof(struct kernel_view, hash),
                     offsetof(struct kernel_view, approximates), offsetof(struct kernel_view, oracle)};
    size_t sizes[] = {64, 17, 48, 48};
    for (int i = 0; i < 4; i++) {
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, sizes[i]);
        H5Tinsert(mt, names[i], offs[i], st);
        H5Tclose(st);
    }
    H5Tinsert(mt, "exact", offsetof(struct kernel_view, exact), H5T_NATIVE_INT);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "kernels", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    cr_assert_leq(n, (hsize_t)max);
    cr_assert_geq(H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), 0);
    H5Sclose(sp), H5Dclose(d), H5Fclose(f), H5Tclose(mt);
    return (int)n;
}

Test(store, kernels_table_skips_duplicates) {
    const char *path = in_dir("k.h5");
    struct mb_store *s = create_store(path);
    struct mb_family fam = {.name = "attention"};
    struct mb_kernel exact = {.name = "attention.softmax.naive", .family = &fam, .mechanism = "softmax",
                              .complexity = "O(n^2 d)", .source = "kernels/attention/softmax_naive.c",
                              .source_hash = "0123456789abcdef"};
    struct mb_kernel approx = {.name = "attention.linear.elu", .family = &fam, .mechanism = "linear.elu",
                               .approximates = "softmax", .rank_meaning = "feature map size",
                               .source_hash = "fedcba9876543210"};
    struct mb_kernel changed = exact;
    changed.source_hash = "1111111111111111";
    char err[512];
    const struct mb_kernel *seq[] = {&exact, &exact, &approx, &changed, &approx, &exact};
    for (int i = 0; i < 6; i++) cr_assert_eq(mb_store_add_kernel(s, seq[i], err, sizeof err), 0, "%s", err);
    close_store(s);

    struct kernel_view k[8];
    cr_assert_eq(read_kernels(path, k, 8), 3);
    cr_assert_str_eq(k[0].name, "attention.softmax.naive");
    cr_assert_str_eq(k[0].hash, "0123456789abcdef");
    cr_assert_eq(k[0].exact, 1);
    cr_assert_str_eq(k[0].approximates, "");
    cr_assert_str_eq(k[0].oracle, "softmax");
    cr_assert_str_eq(k[1].name, "attention.linear.elu");
    cr_assert_eq(k[1].exact, 0);
    cr_assert_str_eq(k[1].approximates, "softmax");
    cr_assert_str_eq(k[1].oracle, "linear.elu");
    cr_assert_str_eq(k[2].name, "attention.softmax.naive");
    cr_assert_str_eq(k[2].hash, "1111111111111111");
}

/* ---------------------------------------------------------------------------------------------- old files */
/* A schema-1 file written before most axes existed: /points has only a few columns. */
static void write_old_file(const char *path, int schema_version) {
    struct old_point {
        int64_t point_id;
        char kernel[64];
        int64_t n, d;
        double time_median;
        char verdict[16];
    } rows[2] = {{0, "attention.softmax.naive", 512, 64, 0.5, "pass"},
                 {1, "attention.linear.elu", 1024, 32, 0.25, "fail"}};
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5LTset_attribute_int(f, "/", "schema_version", &schema_version, 1);
    hid_t str64 = H5Tcopy(H5T_C_S1), str16 = H5Tcopy(H5T_C_S1);
    H5Tset_size(str64, 64);
    H5Tset_size(str16, 16);
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof rows[0]);
    H5Tinsert(t, "point_id", offsetof(struct old_point, point_id), H5T_NATIVE_INT64);
    H5Tinsert(t, "kernel", offsetof(struct old_point, kernel), str64);
    H5Tinsert(t, "n", offsetof(struct old_point, n), H5T_NATIVE_INT64);
    H5Tinsert(t, "d", offsetof(struct old_point, d), H5T_NATIVE_INT64);
    H5Tinsert(t, "time_median", offsetof(struct old_point, time_median), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "verdict", offsetof(struct old_point, verdict), str16);
    hsize_t two = 2, zero = 0, unlim = H5S_UNLIMITED, chunk = 16;
    hid_t sp = H5Screate_simple(1, &two, &unlim), sp0 = H5Screate_simple(1, &zero, &unlim);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(f, "points", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    H5Dclose(d);
    hid_t st = H5Tcreate(H5T_COMPOUND, 16); /* samples {point_id, seconds} */
    H5Tinsert(st, "point_id", 0, H5T_NATIVE_INT64);
    H5Tinsert(st, "seconds", 8, H5T_NATIVE_DOUBLE);
    H5Dclose(H5Dcreate2(f, "samples", st, sp0, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    hid_t kt = H5Tcreate(H5T_COMPOUND, 64);
    H5Tinsert(kt, "name", 0, str64);
    H5Dclose(H5Dcreate2(f, "kernels", kt, sp0, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    H5Tclose(kt), H5Tclose(st), H5Tclose(t), H5Tclose(str64), H5Tclose(str16);
    H5Pclose(dcpl), H5Sclose(sp), H5Sclose(sp0), H5Fclose(f);
}

Test(store, old_file_with_missing_axis_columns_reads) {
    const char *path = in_dir("old.h5");
    write_old_file(path, 1);
    struct mb_store *s;
    char err[512];
    cr_assert_eq(mb_store_open(path, 0, &s, err, sizeof err), 0, "%s", err);
    struct mb_row *rows;
    int64_t n;
    cr_assert_eq(mb_store_read_rows(s, &rows, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(rows[1].kernel, "attention.linear.elu");
    cr_assert_eq(rows[1].point.n, 1024);
    cr_assert_eq(rows[1].point.d, 32);
    cr_assert_eq(rows[1].time_median, 0.25);
    cr_assert_eq(rows[0].verdict, MB_PASS);
    cr_assert_eq(rows[1].verdict, MB_FAIL);
    cr_assert_eq(rows[1].point.heads, 0);
    cr_assert_eq(rows[1].point.alpha, 0);
    cr_assert_eq(rows[1].time_mean, 0);
    cr_assert_str_eq(rows[1].family, "");
    cr_assert_str_eq(rows[1].message, "");
    cr_assert_eq(rows[1].items, 0); /* before schema 3: no items model */
    cr_assert_eq(rows[1].items_per_second, 0);
    cr_assert_str_eq(rows[1].items_unit, "");
    free(rows);
    double *smp;
    int c;
    cr_assert_eq(mb_store_read_samples(s, 0, &smp, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c, 0);
    close_store(s);

    /* appending would silently drop the missing columns: refused */
    cr_assert_eq(mb_store_open(path, 1, &s, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "old.h5: written by an older mechbench (/points has no column 'family')"), "%s",
                       err);
}

/* ---------------------------------------------------------------------------------------------- rejects */
static void expect_open_error(const char *path, const char *substring) {
    struct mb_store *s = (struct mb_store *)0x1;
    char err[512] = "";
    cr_assert_eq(mb_store_open(path, 0, &s, err, sizeof err), -1);
    cr_assert_null(s);
    cr_assert_not_null(strstr(err, substring), "error '%s' lacks '%s'", err, substring);
    cr_assert_null(strchr(err, '\n'), "error '%s' is not one line", err);
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    if (len) cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

Test(store, rejects_bad_files_with_clear_messages) {
    const char *good = in_dir("good.h5");
    struct mb_store *s = create_store(good);
    char err[512];
    double smp[4];
    for (int i = 0; i < 50; i++) {
        struct mb_row r;
        fill_row(&r, i, smp, 4);
        cr_assert_eq(mb_store_append(s, &r, err, sizeof err), 0, "%s", err);
    }
    close_store(s);

    static char head[1000];
    FILE *f = fopen(good, "rb");
    cr_assert_eq(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    const char *trunc = in_dir("trunc.h5");
    write_bytes(trunc, head, sizeof head);
    expect_open_error(trunc, "trunc.h5: not an HDF5 file (truncated or foreign)");

    const char *text = in_dir("text.h5");
    write_bytes(text, "kernel,n\nsoftmax,4\n", 19);
    expect_open_error(text, "text.h5: not an HDF5 file (truncated or foreign)");

    const char *empty = in_dir("empty.h5");
    write_bytes(empty, "", 0);
    expect_open_error(empty, "empty.h5: not an HDF5 file (truncated or foreign)");

    expect_open_error(in_dir("missing.h5"), "missing.h5: No such file or directory");

    const char *plain = in_dir("plain.h5");
    H5Fclose(H5Fcreate(plain, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    expect_open_error(plain, "plain.h5: HDF5 file without mechbench schema (no schema_version attribute)");

    const char *newer = in_dir("newer.h5");
    write_old_file(newer, 7);
    expect_open_error(newer, "newer.h5: schema_version 7 is newer than this mechbench (3)");
}

Test(store, create_respects_overwrite) {
    const char *path = in_dir("o.h5");
    struct mb_store *s = create_store(path);
    char err[512];
    double smp[2];
    struct mb_row r;
    fill_row(&r, 0, smp, 2);
    cr_assert_eq(mb_store_append(s, &r, err, sizeof err), 0, "%s", err);
    close_store(s);

    struct mb_store_meta meta = {.experiment = "again"};
    s = (struct mb_store *)0x1;
    cr_assert_eq(mb_store_create(path, &meta, 0, &s, err, sizeof err), -1);
    cr_assert_null(s);
    cr_assert_not_null(strstr(err, "o.h5 already exists"), "%s", err);

    struct mb_row *rows;
    int64_t n;
    cr_assert_eq(mb_store_open(path, 0, &s, err, sizeof err), 0, "%s", err); /* untouched */
    cr_assert_eq(mb_store_read_rows(s, &rows, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 1);
    free(rows);
    close_store(s);

    cr_assert_eq(mb_store_create(path, &meta, 1, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_store_read_rows(s, &rows, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 0);
    char buf[64];
    mb_store_attr(s, "experiment", buf, sizeof buf);
    cr_assert_str_eq(buf, "again");
    close_store(s);

    cr_assert_eq(mb_store_create("/nonexistent/x.h5", &meta, 0, &s, err, sizeof err), -1);
    cr_assert_str_eq(err, "cannot create /nonexistent/x.h5: No such file or directory");
    cr_assert_eq(mb_store_create("/nonexistent/x.h5", &meta, 1, &s, err, sizeof err), -1);
    cr_assert_str_eq(err, "cannot create /nonexistent/x.h5: No such file or directory");
}

Test(store, reopen_for_append_continues_and_trims_orphan_samples) {
    const char *path = in_dir("resume.h5");
    struct mb_store *s = create_store(path);
    char err[512];
    double smp[3][4];
    struct mb_row r;
    fill_row(&r, 0, smp[0], 2);
    cr_assert_eq(mb_store_append(s, &r, err, sizeof err), 0, "%s", err);
    close_store(s);

    /* simulate a writer killed after writing samples of point 1 but before its /points row */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "samples", H5P_DEFAULT);
    hsize_t size = 3, start = 2, one = 1;
    H5Dset_extent(d, &size);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
    struct { int64_t point_id; double seconds; } orphan = {1, 42.0};
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof orphan);
    H5Tinsert(t, "point_id", 0, H5T_NATIVE_INT64);
    H5Tinsert(t, "seconds", 8, H5T_NATIVE_DOUBLE);
    cr_assert_geq(H5Dwrite(d, t, ms, fs, H5P_DEFAULT, &orphan), 0);
    H5Tclose(t), H5Sclose(fs), H5Sclose(ms), H5Dclose(d), H5Fclose(f);

    cr_assert_eq(mb_store_open(path, 1, &s, err, sizeof err), 0, "%s", err);
    fill_row(&r, 1, smp[1], 3);
    cr_assert_eq(mb_store_append(s, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.point_id, 1);
    double *got;
    int c;
    cr_assert_eq(mb_store_read_samples(s, 1, &got, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c, 3);
    for (int k = 0; k < 3; k++) cr_assert_eq(got[k], smp[1][k]);
    free(got);
    cr_assert_eq(mb_store_read_samples(s, 0, &got, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c, 2);
    free(got);
    close_store(s);
}

/* ---------------------------------------------------------------------------------------------- crash */
/* Child: create the store, append rows forever, write one byte to the pipe after each row from the 10th on
   is flushed (the parent waits for the first byte, then counts them all after the kill). */
static void crash_writer(const char *path, int fd) {
    struct mb_store_meta meta = {.experiment = "crash"};
    struct mb_store *s;
    char err[512];
    if (mb_store_create(path, &meta, 1, &s, err, sizeof err) < 0) _exit(2);
    for (int i = 0; i < 1000000; i++) {
        double smp[6];
        struct mb_row r;
        fill_row(&r, i, smp, 1 + i % 6);
        if (mb_store_append(s, &r, err, sizeof err) < 0) _exit(3);
        if (i >= 9 && write(fd, "x", 1) != 1) _exit(4);
    }
    _exit(0);
}

static int64_t check_crashed_file(const char *path, int64_t flushed) {
    struct mb_store *s;
    char err[512];
    cr_assert_eq(mb_store_open(path, 0, &s, err, sizeof err), 0, "%s", err);
    struct mb_row *rows;
    int64_t n;
    cr_assert_eq(mb_store_read_rows(s, &rows, &n, err, sizeof err), 0, "%s", err);
    cr_assert_geq(n, flushed, "%lld rows flushed before the kill, %lld in the file", (long long)flushed, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        struct mb_row want;
        double smp[6], *got;
        int c;
        fill_row(&want, (int)i, smp, 1 + (int)i % 6);
        want.point_id = i;
        assert_row_eq(&rows[i], &want);
        cr_assert_eq(mb_store_read_samples(s, i, &got, &c, err, sizeof err), 0, "%s", err);
        /* the last point's samples may be lost with it in the final, interrupted flush */
        if (i < n - 1 || c) cr_assert_eq(c, want.n_samples, "point %lld", (long long)i);
        for (int k = 0; k < c; k++) cr_assert_eq(got[k], smp[k]);
        free(got);
    }
    free(rows);
    close_store(s);
    return n;
}

Test(store, sigkill_mid_append_keeps_flushed_rows, .timeout = 120) {
    const char *path = in_dir("crash.h5");
    int delays_us[] = {0, 300, 2000, 15000, 60000, 150000};
    for (size_t t = 0; t < sizeof delays_us / sizeof delays_us[0]; t++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            crash_writer(path, fds[1]);
        }
        close(fds[1]);
        char c;
        cr_assert_eq(read(fds[0], &c, 1), 1, "writer failed before row 10");
        usleep((useconds_t)delays_us[t]);
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer ended before the kill");
        int64_t flushed = 1;
        char buf[4096];
        for (ssize_t got; (got = read(fds[0], buf, sizeof buf)) > 0;) flushed += got;
        close(fds[0]);
        int64_t n = check_crashed_file(path, flushed + 9);
        cr_log_info("kill %d us after row 10: %lld rows flushed, %lld intact rows", delays_us[t],
                    (long long)flushed + 9, (long long)n);
    }
}

/* ---------------------------------------------------------------------------------------------- tensors */
static int count_entries(const char *path) {
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(store, tensors_round_trip_atomically) {
    const char *path = in_dir("out.h5");
    float a[2 * 3 * 4], b[5];
    for (int i = 0; i < 24; i++) a[i] = 0.5f * (float)i - 3.0f;
    for (int i = 0; i < 5; i++) b[i] = (float)i * 1e-3f;
    struct mb_tensor ts[2] = {
        {.name = "a", .ndim = 3, .shape = {2, 3, 4}, .dims = "batch,n,d", .data = a},
        {.name = "b", .ndim = 1, .shape = {5}, .data = b},
    };
    char err[512];
    cr_assert_eq(mb_h5_write_tensors(path, ts, 2, "kernel=attention.softmax.naive\n\nseed=7\n", err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(count_entries(dir), 1, "a temporary file was left behind");

    struct mb_tensor t = {.name = "a"};
    cr_assert_eq(mb_h5_read_tensor(path, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.ndim, 3);
    cr_assert_eq(t.shape[0], 2);
    cr_assert_eq(t.shape[1], 3);
    cr_assert_eq(t.shape[2], 4);
    cr_assert_arr_eq(t.data, a, sizeof a);
    mb_free(t.data);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char buf[64];
    cr_assert_geq(H5LTget_attribute_string(f, "/", "kernel", buf), 0);
    cr_assert_str_eq(buf, "attention.softmax.naive");
    cr_assert_geq(H5LTget_attribute_string(f, "/", "seed", buf), 0);
    cr_assert_str_eq(buf, "7");
    cr_assert_geq(H5LTget_attribute_string(f, "a", "dims", buf), 0);
    cr_assert_str_eq(buf, "batch,n,d");
    H5Fclose(f);

    t = (struct mb_tensor){.name = "q"};
    cr_assert_eq(mb_h5_read_tensor(path, &t, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "out.h5: no dataset 'q' (found: a, b)"), "%s", err);
    cr_assert_null(t.data);

    cr_assert_eq(mb_h5_write_tensors(in_dir("x.h5"), ts, 1, "novalue\n", err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "bad attribute line 'novalue'"), "%s", err);
    cr_assert_eq(count_entries(dir), 1, "a failed write left a file behind");
    cr_assert_eq(mb_h5_write_tensors("/nonexistent/y.h5", ts, 1, "", err, sizeof err), -1);
    cr_assert_str_eq(err, "cannot create /nonexistent/y.h5: No such file or directory");
}

Test(store, tensor_read_converts_float64_and_integers_exactly) {
    const char *path = in_dir("in.h5");
    double q[6] = {1.5, -2.25, 3.0, 1e-8, 0.0, 7.0};
    long long iv[3] = {1, 16777216, -3}, big[2] = {5, 16777217};
    hsize_t qd[2] = {2, 3}, id = 3, bd = 2;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5LTmake_dataset_double(f, "q", 2, qd, q);
    H5LTmake_dataset(f, "idx", 1, &id, H5T_NATIVE_LLONG, iv);
    H5LTmake_dataset(f, "big", 1, &bd, H5T_NATIVE_LLONG, big);
    H5LTmake_dataset_string(f, "text", "not a tensor");
    H5Fclose(f);
    struct mb_tensor t = {.name = "q"};
    char err[512];
    cr_assert_eq(mb_h5_read_tensor(path, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.ndim, 2);
    for (int i = 0; i < 6; i++) cr_assert_eq(t.data[i], (float)q[i]);
    mb_free(t.data);
    t = (struct mb_tensor){.name = "idx"}; /* PyTorch's int64 indices: exact up to 2^24 */
    cr_assert_eq(mb_h5_read_tensor(path, &t, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 3; i++) cr_assert_eq(t.data[i], (float)iv[i]);
    mb_free(t.data);
    t = (struct mb_tensor){.name = "big"};
    cr_assert_eq(mb_h5_read_tensor(path, &t, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "in.h5: dataset 'big' holds the integer 16777217 at element 1"), "%s", err);
    t = (struct mb_tensor){.name = "text"};
    cr_assert_eq(mb_h5_read_tensor(path, &t, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "dataset 'text' is not float32, float64 or an integer type"), "%s", err);
    t = (struct mb_tensor){.name = "q"};
    cr_assert_eq(mb_h5_read_tensor(in_dir("nope.h5"), &t, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "nope.h5: No such file or directory"), "%s", err);
}

/* A file of the HDF5 fuzz corpus written without its first byte (the fuzz target's mode) to in_dir(name). */
static const char *corpus_file(const char *name) {
    char src[512];
    snprintf(src, sizeof src, "fuzz/corpus/h5tensor/%s", name);
    FILE *in = fopen(src, "rb");
    cr_assert_not_null(in, "%s not found (run the tests from the repository root)", src);
    static char bytes[1 << 16];
    const size_t n = fread(bytes, 1, sizeof bytes, in);
    fclose(in);
    const char *path = in_dir(name);
    FILE *out = fopen(path, "wb");
    cr_assert_not_null(out);
    cr_assert_eq(fwrite(bytes + 1, 1, n - 1, out), n - 1);
    fclose(out);
    return path;
}

Test(store, tensor_readers_survive_files_that_crash_libhdf5) {
    /* libhdf5 1.10.8 dies of SIGSEGV on these (found by make fuzz): a NULL memcpy in H5Dread, and a crash while
       the dataset's shape is read. The readers run it in a child process and report one line. */
    char err[512];
    struct mb_tensor t = {.name = "q"};
    cr_assert_eq(mb_h5_read_tensor(corpus_file("crash-h5dread-null-memcpy"), &t, err, sizeof err), -1);
    cr_assert_null(t.data);
    cr_assert_not_null(strstr(err, "crash-h5dread-null-memcpy: corrupt HDF5 file: libhdf5 crashed reading the "
                                   "values of 'q' (killed by signal 11, Segmentation fault)"), "%s", err);
    t = (struct mb_tensor){.name = "q"};
    cr_assert_eq(mb_h5_tensor_shape(corpus_file("crash-shape-segv"), &t, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "crash-shape-segv: corrupt HDF5 file: libhdf5 crashed reading the shape of 'q' "
                                   "(killed by signal 11"), "%s", err);
    /* read in this process (for files HDF5 wrote), the same file would kill the test: checked in a child here */
    const pid_t pid = fork();
    if (pid == 0) {
        mb_h5_isolate_reads(0);
        signal(SIGSEGV, SIG_DFL);
        t = (struct mb_tensor){.name = "q"};
        mb_h5_read_tensor(in_dir("crash-h5dread-null-memcpy"), &t, err, sizeof err);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "the file no longer crashes libhdf5 (status %d): "
              "this test's premise is gone", status);
}

Test(store, tensor_read_refuses_a_declared_shape_too_large_before_allocating) {
    /* a chunked, never-written dataset: a tiny file that declares 65536 x 1024 x 16777216 x 4096 floats */
    const char *path = in_dir("huge.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {65536, 1024, 16777216, 4096}, chunk[4] = {1, 1, 1, 16};
    hid_t space = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    hid_t d = H5Dcreate2(f, "q", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(space), H5Fclose(f);
    struct mb_tensor t = {.name = "q"};
    char err[512];
    cr_assert_eq(mb_h5_read_tensor(path, &t, err, sizeof err), -1);
    cr_assert_null(t.data);
    cr_assert_not_null(strstr(err, "huge.h5: dataset 'q' is too large (more than 2^36 elements)"), "%s", err);
}

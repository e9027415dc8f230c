/* mechbench merge: join results files of one experiment (merge.h).
 *
 * Checks before writing anything: every input opens as a mechbench file, has the first input's experiment name,
 * .ini text and seed, and no (kernel, point, round) appears in two inputs (duplicates are found by sorting "kernel|point"
 * keys: O(R log R) for R rows). Then the rows are appended input by input in their order, each with its samples
 * (grouped by their old point_id once per input, relinked to the new one by the append).
 */
#include "store/merge.h"
#include "store/outfile.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_LEN (MB_NAME_LEN + 512 + MB_PARAMS_LEN + 32)

struct input {
    const char *path;
    struct mb_store *store;
    struct mb_row *rows;
    int64_t count;
};

struct key {
    const char *text;
    int input;
    int64_t row;
};

static int is_lost(const struct mb_row *r) {
    return strncmp(r->message, MB_LOST_PREFIX, sizeof MB_LOST_PREFIX - 1) == 0;
}

static int compare_keys(const void *a, const void *b) {
    const struct key *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : x->input - y->input;
}

/* Refuse experiments that differ and points present in two inputs. */
static int check_inputs(struct input *in, int n, char *err, size_t errlen) {
    char name0[256] = "", seed0[32] = "", name[256], seed[32];
    mb_store_attr(in[0].store, "experiment", name0, sizeof name0);
    mb_store_attr(in[0].store, "seed", seed0, sizeof seed0);
    static char ini0[1 << 16], ini[1 << 16];
    mb_store_attr(in[0].store, "ini", ini0, sizeof ini0);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        name[0] = seed[0] = ini[0] = 0;
        mb_store_attr(in[i].store, "experiment", name, sizeof name);
        mb_store_attr(in[i].store, "seed", seed, sizeof seed);
        mb_store_attr(in[i].store, "ini", ini, sizeof ini);
        if (strcmp(name, name0) != 0 || strcmp(seed, seed0) != 0)
            return mb_errorf(err, errlen, "%s holds experiment '%s' (seed %s) but %s holds '%s' (seed %s): merge joins "
                             "files of one experiment only", in[i].path, name, seed, in[0].path, name0, seed0);
        if (strcmp(ini, ini0) != 0)
            return mb_errorf(err, errlen, "%s and %s are both experiment '%s' but from different .ini texts: merge "
                             "joins files of one experiment only", in[i].path, in[0].path, name0);
        total += in[i].count;
    }
    struct key *keys = malloc((size_t)(total + 1) * sizeof *keys);
    char *text = malloc((size_t)(total + 1) * KEY_LEN);
    if (!keys || !text) return free(keys), free(text), mb_errorf(err, errlen, "out of memory");
    int64_t m = 0;
    for (int i = 0; i < n; i++)
        for (int64_t r = 0; r < in[i].count; r++) {
            const struct mb_row *row = &in[i].rows[r];
            if (is_lost(row)) continue;
            char *t = text + (size_t)m * KEY_LEN, point[512];
            mb_point_format(&row->point, ~UINT64_C(0), point, sizeof point);
            snprintf(t, KEY_LEN, "%s %s %s round=%lld", row->kernel, point, row->point.params, (long long)row->round);
            keys[m++] = (struct key){t, i, r};
        }
    qsort(keys, (size_t)m, sizeof *keys, compare_keys);
    int rc = 0;
    for (int64_t k = 1; k < m && rc == 0; k++)
        if (keys[k].input != keys[k - 1].input && strcmp(keys[k].text, keys[k - 1].text) == 0) {
            const struct mb_row *row = &in[keys[k].input].rows[keys[k].row];
            char point[512];
            mb_point_format(&row->point, ~UINT64_C(0), point, sizeof point);
            rc = mb_errorf(err, errlen, "%s and %s both hold %s %s: duplicate point (the same shard twice?); merge "
                           "refuses overlapping files", in[keys[k - 1].input].path, in[keys[k].input].path, row->kernel,
                           point);
        }
    free(keys);
    free(text);
    return rc;
}

/* Append input's rows to out, each with its samples. */
static int copy_rows(struct mb_store *out, struct input *in, struct mb_merge_report *rep, char *err, size_t errlen) {
    int64_t *ids, n;
    double *seconds;
    if (mb_store_read_all_samples(in->store, &ids, &seconds, &n, err, errlen)) return -1;
    /* samples of point p at sorted[start[p] .. start[p + 1]) */
    int64_t *start = calloc((size_t)in->count + 2, sizeof *start);
    double *sorted = malloc((size_t)(n + 1) * sizeof *sorted);
    int rc = !start || !sorted ? mb_errorf(err, errlen, "out of memory") : 0;
    if (rc == 0) {
        for (int64_t i = 0; i < n; i++)
            if (ids[i] >= 0 && ids[i] < in->count) start[ids[i] + 2]++;
        for (int64_t p = 0; p < in->count; p++) start[p + 2] += start[p + 1];
        for (int64_t i = 0; i < n; i++) /* stable: repetitions keep their order */
            if (ids[i] >= 0 && ids[i] < in->count) sorted[start[ids[i] + 1]++] = seconds[i];
    }
    for (int64_t r = 0; r < in->count && rc == 0; r++) {
        struct mb_row row = in->rows[r];
        const int64_t old = row.point_id;
        row.samples = old >= 0 && old < in->count ? sorted + start[old] : NULL;
        row.n_samples = row.samples ? (int)(start[old + 1] - start[old]) : 0;
        rc = mb_store_append(out, &row, err, errlen);
        rep->rows++;
        rep->samples += row.n_samples;
    }
    free(start);
    free(sorted);
    free(ids);
    free(seconds);
    return rc;
}

int mb_merge(const char *const *inputs, int n, const char *out, int overwrite, struct mb_merge_report *report,
             char *err, size_t errlen) {
    struct mb_merge_report rep = {.inputs = n};
    if (n < 1) return mb_errorf(err, errlen, "nothing to merge: give one or more results files");
    if (access(out, F_OK) == 0 && !overwrite)
        return mb_errorf(err, errlen, "%s exists (use --force to replace it)", out);
    for (int i = 0; i < n; i++)
        if (strcmp(inputs[i], out) == 0) return mb_errorf(err, errlen, "%s is both an input and the output", out);
    struct input *in = calloc((size_t)n, sizeof *in);
    if (!in) return mb_errorf(err, errlen, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        in[i].path = inputs[i];
        rc = mb_store_open(inputs[i], 0, &in[i].store, err, errlen);
        if (rc == 0) rc = mb_store_read_rows(in[i].store, &in[i].rows, &in[i].count, err, errlen);
    }
    if (rc == 0) rc = check_inputs(in, n, err, errlen);

    char tmp[4200];
    mb_outfile_temp_name(out, tmp, sizeof tmp);
    struct mb_store *dst = NULL;
    if (rc == 0) {
        static char name[256], ini[1 << 16], seed[32];
        mb_store_attr(in[0].store, "experiment", name, sizeof name);
        mb_store_attr(in[0].store, "ini", ini, sizeof ini);
        mb_store_attr(in[0].store, "seed", seed, sizeof seed);
        struct mb_store_meta meta = {.experiment = name, .ini_text = ini, .seed = strtoull(seed, NULL, 10)};
        unlink(tmp);
        rc = mb_store_create(tmp, &meta, 0, &dst, err, errlen);
    }
    for (int i = 0; i < n && rc == 0; i++) {
        rc = mb_store_keep_shard(dst, in[i].store, i, in[i].path, err, errlen);
        if (rc == 0) rc = mb_store_copy_kernels(dst, in[i].store, err, errlen);
        if (rc == 0) rc = copy_rows(dst, &in[i], &rep, err, errlen);
    }
    for (int i = 0; i < n; i++) {
        free(in[i].rows);
        if (in[i].store) mb_store_close(in[i].store, NULL, 0);
    }
    free(in);
    if (dst) {
        char close_err[512];
        if (mb_store_close(dst, close_err, sizeof close_err) && rc == 0) rc = mb_errorf(err, errlen, "%s", close_err);
    }
    if (rc == 0) {
        const int moved = overwrite ? rename(tmp, out) : renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE);
        if (moved != 0) rc = mb_errorf(err, errlen, "cannot create %s: %s", out, strerror(errno));
    }
    if (rc) unlink(tmp);
    else if (report) *report = rep;
    return rc;
}

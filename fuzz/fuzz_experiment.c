/* libFuzzer target: the experiment-file parser (harness/run/experiment.c) from .ini text to the points of its
 * sweeps. `make fuzz` builds it with clang -fsanitize=fuzzer,address,undefined: experiment.c, params.c and util.c
 * are compiled into the target (instrumented); the rest of the library (registry, kernels, HDF5 store) is the
 * normal build's objects. Seed corpus: fuzz/corpus/experiment/ (the repository's experiments and regressions).
 *
 * Input: the bytes are the file's text (cut at the first NUL, as mb_experiment_load refuses NULs). Checked:
 * - a failure leaves one line "NAME:LINE: ..." or "NAME: ..." (no newline, not empty) and e->ini_text freed;
 * - a success gives 1..MB_MAX_SWEEPS sweeps, each axis with 0..MB_MAX_VALUES values that are finite and >= 0,
 *   integer axes holding integers, booleans 0 or 1, and kernels that are non-empty;
 * - the odometer (mb_sweep_next) visits exactly the product of the axis counts, checked on sweeps of at most
 *   1 << 14 points (larger ones are counted, not walked), and every point holds the axis values at its index.
 * A violation traps, so the fuzzer reports it with its input. A parse that loops (a range that makes no progress)
 * is a hang: libFuzzer's -timeout reports it. */
#include "run/experiment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WALK_MAX (1 << 14)

static void check_error(const char *err) {
    if (!err[0] || strchr(err, '\n') || strncmp(err, "fuzz.ini:", 9) != 0) __builtin_trap();
}

static void check_axis(const struct mb_axis_values *v, enum mb_axis_kind kind) {
    if (v->count < 0 || v->count > MB_MAX_VALUES) __builtin_trap();
    for (int i = 0; i < v->count; i++) {
        double x = v->values[i];
        if (!isfinite(x) || x < 0) __builtin_trap();
        if (kind == MB_INT && x != floor(x)) __builtin_trap();
        if (kind == MB_BOOL && x != 0 && x != 1) __builtin_trap();
    }
}

static void check_sweep(const struct mb_sweep *s) {
    if (!s->kernels[0] || !memchr(s->kernels, '\0', sizeof s->kernels) || !memchr(s->params, '\0', sizeof s->params))
        __builtin_trap();
    double points = 1;
    for (int a = 0; a < MB_AXIS_COUNT; a++) {
        check_axis(&s->axes[a], mb_axes[a].kind);
        if (s->axes[a].count) points *= s->axes[a].count;
    }
    if (points > WALK_MAX) return;
    int index[MB_AXIS_COUNT] = {0};
    long visited = 0;
    do {
        struct mb_point p;
        uint64_t given;
        mb_sweep_point(s, index, &p, &given);
        for (int a = 0; a < MB_AXIS_COUNT; a++) {
            int has = s->axes[a].count > 0;
            if (has != (int)((given >> a) & 1)) __builtin_trap();
            if (has && (index[a] < 0 || index[a] >= s->axes[a].count)) __builtin_trap();
        }
        if (++visited > (long)points) __builtin_trap();
    } while (mb_sweep_next(s, index));
    if (visited != (long)points) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct mb_experiment e;
    char err[512];
    err[0] = '\0';
    if (mb_experiment_parse(text, "fuzz.ini", &e, err, sizeof err) != 0) {
        check_error(err);
        if (e.ini_text) __builtin_trap();
    } else {
        if (e.n_sweeps < 1 || e.n_sweeps > MB_MAX_SWEEPS || !e.ini_text || strcmp(e.ini_text, text)) __builtin_trap();
        if (e.repetitions < 1 || !(e.min_time > 0) || e.max_mem < 0 || e.budget < 0 || e.check_rows < 0)
            __builtin_trap();
        for (int i = 0; i < e.n_sweeps; i++) check_sweep(&e.sweeps[i]);
        mb_experiment_free(&e);
    }
    free(text);
    return 0;
}
